import CLua
import Foundation
import Logging

/// The channel scripts of one folder and the topic router over them.
///
/// Loads every `*.lua` directly in the folder except `*_test.lua` (Lua specs), `socket.lua`
/// (the optional connect hook, kept apart) and the `lib/` folder (modules for `require`).
/// Loading compiles and runs each script once in a scratch VM to validate it and learn its
/// `topic` and `intercept`; every `LuaVM` then instantiates scripts in its own state. Thread-safe:
/// VMs on every event loop read it; `update` swaps in a new version (hot reload).
public final class ChannelRegistry: ScriptProvider, @unchecked Sendable {
    /// The name of the connect-hook script (`socket.lua`).
    public static let socketScriptName = "socket"

    /// The folder the scripts came from.
    public let directory: URL
    /// What paths in messages start with, e.g. `channels` for `channels/ping.lua`.
    public let displayPrefix: String
    /// The limits the validation VM runs with (use the server's).
    public let limits: LuaLimits

    private let lock = NSLock()  // guards the three dictionaries (read on every event loop)
    private var channelScripts: [String: ChannelScript] = [:]
    private var socket: ChannelScript?
    private var libraries: [String: ScriptSource] = [:]
    /// Hot reload: the last version of each removed script, so a re-added file keeps counting up.
    private var retiredVersions: [String: ScriptVersion] = [:]
    private var generation = 0

    /// Loads and validates the scripts in `directory`. Throws the first `ScriptError` (`.load`):
    /// a syntax error (`channels/x.lua:3: …`), a script without `topic`/`join`, or two scripts
    /// claiming one pattern (the message names both files).
    public convenience init(directory: URL, displayPrefix: String? = nil, limits: LuaLimits = LuaLimits()) throws {
        try self.init(directory: directory, displayPrefix: displayPrefix, limits: limits, onError: { throw $0 })
    }

    /// Every load problem of the scripts in `directory`, not just the first (`hello-sockets check`): each
    /// script that does not compile or load, and each pair claiming one topic. Empty when all load.
    public static func problems(in directory: URL, displayPrefix: String? = nil, limits: LuaLimits = LuaLimits()) -> [Error] {
        var problems: [Error] = []
        _ = try? ChannelRegistry(directory: directory, displayPrefix: displayPrefix, limits: limits) { problems.append($0) }
        return problems
    }

    /// Loads what loads; each problem goes to `onError`, which may throw to stop there.
    private init(directory: URL, displayPrefix: String?, limits: LuaLimits, onError: (Error) throws -> Void) throws {
        self.directory = directory
        self.displayPrefix = displayPrefix ?? Self.displayPrefix(for: directory)
        self.limits = limits
        let fm = FileManager.default
        let libDirectory = directory.appendingPathComponent("lib")
        if let enumerator = fm.enumerator(at: libDirectory, includingPropertiesForKeys: nil) {
            for case let url as URL in enumerator where url.pathExtension == "lua" {
                let relative = url.standardizedFileURL.path.dropFirst(libDirectory.standardizedFileURL.path.count + 1)
                let name = relative.dropLast(4).replacingOccurrences(of: "/", with: ".")
                do {
                    let text = try Self.read(url, path: "\(self.displayPrefix)/lib/\(relative)")
                    libraries[name] = ScriptSource(path: "\(self.displayPrefix)/lib/\(relative)", text: text)
                } catch {
                    try onError(error)
                }
            }
        }
        let files: [String]
        do {
            files = try fm.contentsOfDirectory(atPath: directory.path).filter {
                $0.hasSuffix(".lua") && !$0.hasSuffix("_test.lua")
            }.sorted()
        } catch {
            try onError(error)
            return
        }
        for file in files {
            let name = String(file.dropLast(4))
            let path = "\(self.displayPrefix)/\(file)"
            do {
                let text = try Self.read(directory.appendingPathComponent(file), path: path)
                let script = try validate(name: name, source: ScriptSource(path: path, text: text))
                try install(script)
            } catch {
                try onError(error)
            }
        }
    }

    /// How paths under `directory` read in messages: as given when it was given as a relative path
    /// (`examples/chat/channels`, `./channels` as `channels`), else by the folder's name (`channels`), which
    /// keeps log lines short for a server started with an absolute path.
    public static func displayPrefix(for directory: URL) -> String {
        guard directory.baseURL != nil else { return directory.standardizedFileURL.lastPathComponent }
        var path = Substring(directory.relativePath)
        while path.hasPrefix("./") { path = path.dropFirst(2).drop { $0 == "/" } }
        while path.count > 1 && path.hasSuffix("/") { path = path.dropLast() }
        return path.isEmpty || path == "." ? directory.standardizedFileURL.lastPathComponent : String(path)
    }

    private static func read(_ url: URL, path: String) throws -> String {
        do {
            return try String(contentsOf: url, encoding: .utf8)
        } catch {
            throw ScriptError(kind: .load, script: path, message: "\(path): cannot read: \(error.localizedDescription)")
        }
    }

    // MARK: - Routing

    /// The script for a topic: an exact pattern beats a prefix; a longer prefix beats a shorter one.
    public func route(_ topic: String) -> ChannelScript? {
        lock.lock()
        defer { lock.unlock() }
        var best: (script: ChannelScript, length: Int)?
        for script in channelScripts.values {
            for pattern in script.topics {
                switch pattern {
                case .exact(let t) where t == topic:
                    return script
                case .prefix(let p) where topic.hasPrefix(p) && p.count >= (best?.length ?? -1):
                    best = (script, p.count)
                default:
                    break
                }
            }
        }
        return best?.script
    }

    /// Every channel script (not `socket.lua`), sorted by name.
    public var scripts: [ChannelScript] {
        lock.lock()
        defer { lock.unlock() }
        return channelScripts.values.sorted { $0.name < $1.name }
    }

    /// `socket.lua`, when the folder has one.
    public var socketScript: ChannelScript? {
        lock.lock()
        defer { lock.unlock() }
        return socket
    }

    public func script(named name: String) -> ChannelScript? {
        lock.lock()
        defer { lock.unlock() }
        return name == Self.socketScriptName ? socket : channelScripts[name]
    }

    public func intercepts(_ event: String, script name: String) -> Bool? {
        lock.lock()
        defer { lock.unlock() }
        guard let intercepts = channelScripts[name]?.intercepts else { return nil }
        return !intercepts.isEmpty && intercepts.contains(event)  // most scripts intercept nothing: no hashing
    }

    public func library(named name: String) -> ScriptSource? {
        lock.lock()
        defer { lock.unlock() }
        return libraries[name]
    }


    /// Bumped whenever a `lib/` module changes; see `ScriptProvider.libraryGeneration`.
    public var libraryGeneration: Int {
        lock.lock()
        defer { lock.unlock() }
        return generation
    }

    /// Every `lib/` module name (`util`, `sub.mod`).
    public var libraryNames: [String] {
        lock.lock()
        defer { lock.unlock() }
        return libraries.keys.sorted()
    }

    // MARK: - Loading and reloading

    /// Validates new source for the script `name` and swaps it in with the next version number;
    /// channels pick it up at their next callback. On error the previous version stays. This is
    /// the hook for hot reload (a file watcher calls it).
    @discardableResult
    public func update(name: String, text: String) throws -> ChannelScript {
        let script = try validate(name: name, source: ScriptSource(path: path(of: name), text: text, version: nextVersion(of: name)))
        try install(script)
        return script
    }

    /// The display path of the script `name`: `channels/ping.lua`.
    public func path(of name: String) -> String {
        script(named: name)?.path ?? "\(displayPrefix)/\(name).lua"
    }

    /// The display path of the `lib/` module `name`: `channels/lib/sub/mod.lua` for `sub.mod`.
    public func libraryPath(of name: String) -> String {
        library(named: name)?.path ?? "\(displayPrefix)/lib/\(name.replacingOccurrences(of: ".", with: "/")).lua"
    }

    private func nextVersion(of name: String) -> ScriptVersion {
        lock.lock()
        defer { lock.unlock() }
        let current = name == Self.socketScriptName ? socket : channelScripts[name]
        return current?.version.next ?? retiredVersions[name]?.next ?? .initial
    }

    /// Hot reload: unregisters the script `name` (its file was deleted) and returns it; its topics
    /// stop routing at once. Joined channels must be closed by the caller. `socket` removes the
    /// connect hook (new connections are then accepted as without one).
    @discardableResult
    public func remove(name: String) -> ChannelScript? {
        lock.lock()
        defer { lock.unlock() }
        let removed: ChannelScript?
        if name == Self.socketScriptName {
            removed = socket
            socket = nil
        } else {
            removed = channelScripts.removeValue(forKey: name)
        }
        if let removed { retiredVersions[name] = removed.version }
        return removed
    }

    /// Hot reload of a `lib/` module (`text` nil: the file was deleted). Compiles the module, then
    /// revalidates every script that required it at load time (directly or through another
    /// module) against the new module; only when all of them load is anything swapped in: the
    /// module, and a new version of each dependent, in one step. Returns the dependents'
    /// new versions. Throws the first error (the module's syntax error, or a dependent's load
    /// error naming that script); then nothing changed.
    @discardableResult
    public func updateLibrary(name: String, text: String?) throws -> [ChannelScript] {
        let path = libraryPath(of: name)
        let source = text.map { ScriptSource(path: path, text: $0, version: (library(named: name)?.version.next ?? .initial)) }
        if let source {
            let vm = try LuaVM(scripts: self, limits: limits, logger: Logger(label: "LuaRuntime.validate"))
            guard vm.loadChunk(source.text, chunkName: "@" + path) == LUA_OK else {
                throw ScriptError(kind: .load, script: path, message: vm.string(at: -1) ?? "\(path): load failed")
            }
        }
        let staged = StagedLibrary(base: self, name: name, source: source)
        let dependents = ([socketScript].compactMap { $0 } + scripts).filter { $0.dependencies.contains(name) }
        var reloaded: [ChannelScript] = []
        for dependent in dependents {
            let next = ScriptSource(path: dependent.path, text: dependent.source.text, version: dependent.version.next)
            reloaded.append(try validate(name: dependent.name, source: next, provider: staged))
        }
        lock.lock()
        defer { lock.unlock() }
        for script in reloaded where script.name != Self.socketScriptName {
            if let clash = clash(for: script, ignoring: Set(reloaded.map(\.name))) { throw clash }
        }
        libraries[name] = source
        generation += 1
        for script in reloaded {
            if script.name == Self.socketScriptName { socket = script } else { channelScripts[script.name] = script }
        }
        return reloaded
    }

    /// Compiles and runs a script in a scratch VM; returns what the router needs to know.
    private func validate(name: String, source: ScriptSource, provider: ScriptProvider? = nil) throws -> ChannelScript {
        let vm = try LuaVM(scripts: provider ?? self, limits: limits, logger: Logger(label: "LuaRuntime.validate"))
        switch vm.instantiate(source, requireJoin: name != Self.socketScriptName) {
        case .success(let module):
            return ChannelScript(
                name: name, source: source, topics: module.topics, intercepts: module.intercepts,
                dependencies: vm.librariesLoaded)
        case .failure(let error):
            throw error
        }
    }

    /// The refusal when `script` claims a pattern another script (not in `ignoring`) claims. Call locked.
    private func clash(for script: ChannelScript, ignoring: Set<String> = []) -> ScriptError? {
        for other in channelScripts.values where other.name != script.name && !ignoring.contains(other.name) {
            if let clash = script.topics.first(where: { other.topics.contains($0) }) {
                return ScriptError(
                    kind: .load, script: script.path,
                    message: "\(other.path) and \(script.path) both claim topic \"\(clash)\"")
            }
        }
        return nil
    }

    /// Installs a validated script, refusing a pattern another script already claims.
    private func install(_ script: ChannelScript) throws {
        lock.lock()
        defer { lock.unlock() }
        if script.name == Self.socketScriptName {
            socket = script
            return
        }
        if let clash = clash(for: script) { throw clash }
        channelScripts[script.name] = script
    }
}

/// The registry as it would be with one `lib/` module replaced (or removed): what dependents
/// are revalidated against before a module change is committed.
private final class StagedLibrary: ScriptProvider, @unchecked Sendable {
    let base: ChannelRegistry
    let name: String
    let source: ScriptSource?

    init(base: ChannelRegistry, name: String, source: ScriptSource?) {
        self.base = base
        self.name = name
        self.source = source
    }

    func script(named name: String) -> ChannelScript? { base.script(named: name) }
    func library(named name: String) -> ScriptSource? { name == self.name ? source : base.library(named: name) }
}
