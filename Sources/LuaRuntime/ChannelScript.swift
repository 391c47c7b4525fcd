/// A script's version: 1 when first loaded, +1 for every successful reload of the same name.
public struct ScriptVersion: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The raw number.
    public let rawValue: Int
    /// Wraps a raw number.
    public init(rawValue: Int) { self.rawValue = rawValue }
    /// The version of a script loaded for the first time.
    public static let initial = ScriptVersion(rawValue: 1)
    /// The next version.
    public var next: ScriptVersion { ScriptVersion(rawValue: rawValue + 1) }
    public static func < (a: ScriptVersion, b: ScriptVersion) -> Bool { a.rawValue < b.rawValue }
    public var description: String { "v\(rawValue)" }
}

/// A topic a channel script claims: an exact topic (`"ping"`) or a prefix (`"wild:*"`).
public enum TopicPattern: Hashable, Sendable, CustomStringConvertible {
    /// Matches this topic only.
    case exact(String)
    /// Matches every topic starting with this prefix (the pattern without its trailing `*`).
    case prefix(String)

    /// Parses `"ping"` or `"wild:*"`; a `*` anywhere but at the end is not a pattern.
    public init?(_ text: String) {
        if text.hasSuffix("*") {
            let prefix = String(text.dropLast())
            guard !prefix.contains("*") else { return nil }
            self = .prefix(prefix)
        } else {
            guard !text.isEmpty, !text.contains("*") else { return nil }
            self = .exact(text)
        }
    }

    /// True when `topic` matches.
    public func matches(_ topic: String) -> Bool {
        switch self {
        case .exact(let t): return topic == t
        case .prefix(let p): return topic.hasPrefix(p)
        }
    }

    public var description: String {
        switch self {
        case .exact(let t): return t
        case .prefix(let p): return p + "*"
        }
    }
}

/// Lua source text and the name errors and tracebacks use for it.
public struct ScriptSource: Sendable, Equatable {
    /// The display path, used as the chunk name: `channels/ping.lua`.
    public var path: String
    /// The Lua source.
    public var text: String
    /// The version of this text.
    public var version: ScriptVersion

    /// A source with the given fields.
    public init(path: String, text: String, version: ScriptVersion = .initial) {
        self.path = path
        self.text = text
        self.version = version
    }
}

/// A validated channel script: its source plus what the router needs to know.
///
/// Channels refer to their script by `name`, and each callback asks the `ScriptProvider` for the
/// current version, so swapping a new version into the registry takes effect at the next callback.
///
/// Immutable and shared: a class, because every callback takes the current one from the registry (a struct of
/// this size cost half a dozen retains per copy).
public final class ChannelScript: Sendable, Equatable {
    /// The file name without `.lua` (`ping`); `socket` for `socket.lua`.
    public let name: String
    /// Source, display path and version.
    public let source: ScriptSource
    /// The topics it claims (its `topic` field: a string or a list of strings). Empty for `socket.lua`.
    public let topics: [TopicPattern]
    /// Events listed in its `intercept` field.
    public let intercepts: Set<String>
    /// The `lib/` modules it required while loading, transitive ones included (hot reload
    /// reloads it when one of them changes).
    public let dependencies: Set<String>

    /// The display path, `channels/ping.lua`.
    public var path: String { source.path }
    /// The version.
    public var version: ScriptVersion { source.version }

    /// A script with the given fields (normally built by `ChannelRegistry`).
    public init(
        name: String, source: ScriptSource, topics: [TopicPattern], intercepts: Set<String>,
        dependencies: Set<String> = []
    ) {
        self.name = name
        self.source = source
        self.topics = topics
        self.intercepts = intercepts
        self.dependencies = dependencies
    }

    public static func == (a: ChannelScript, b: ChannelScript) -> Bool {
        a === b || (a.name == b.name && a.source == b.source && a.topics == b.topics && a.intercepts == b.intercepts
            && a.dependencies == b.dependencies)
    }
}

/// Where a `LuaVM` finds the current version of a script and the modules `require` may load.
/// `ChannelRegistry` is the real one. Called on the VM's event loop; must be thread-safe.
public protocol ScriptProvider: AnyObject, Sendable {
    /// The current version of the channel script (or `socket`) with this name.
    func script(named name: String) -> ChannelScript?
    /// The module `require(name)` loads: `<channels>/lib/<name>.lua`, or nil.
    func library(named name: String) -> ScriptSource?
    /// Bumped whenever a `lib/` module changes (hot reload): a VM then empties its `require`
    /// cache before instantiating a script again. 0 for providers that never change libraries.
    var libraryGeneration: Int { get }
    /// Whether the current version of script `name` lists `event` in its `intercept` field (nil: no such
    /// script). Asked once per subscriber of every broadcast: a provider answers without copying the script.
    func intercepts(_ event: String, script name: String) -> Bool?
}

extension ScriptProvider {
    public var libraryGeneration: Int { 0 }

    public func intercepts(_ event: String, script name: String) -> Bool? {
        script(named: name).map { $0.intercepts.contains(event) }
    }
}
