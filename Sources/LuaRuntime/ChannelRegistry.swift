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

    /// Loads and validates the scripts in `directory`. Throws the first `ScriptError` (`.load`):
    /// a syntax error (`channels/x.lua:3: …`), a script without `topic`/`join`, or two scripts
    /// claiming one pattern (the message names both files).
    public init(directory: URL, displayPrefix: String? = nil, limits: LuaLimits = LuaLimits()) throws {
        self.directory = directory
        self.displayPrefix = displayPrefix ?? directory.standardizedFileURL.lastPathComponent
        self.limits = limits
        let fm = FileManager.default
        let libDirectory = directory.appendingPathComponent("lib")
        if let enumerator = fm.enumerator(at: libDirectory, includingPropertiesForKeys: nil) {
            for case let url as URL in enumerator where url.pathExtension == "lua" {
                let relative = url.standardizedFileURL.path.dropFirst(libDirectory.standardizedFileURL.path.count + 1)
                let name = relative.dropLast(4).replacingOccurrences(of: "/", with: ".")
                let text = try Self.read(url, path: "\(self.displayPrefix)/lib/\(relative)")
                libraries[name] = ScriptSource(path: "\(self.displayPrefix)/lib/\(relative)", text: text)
            }
        }
        let files = try fm.contentsOfDirectory(atPath: directory.path).filter {
            $0.hasSuffix(".lua") && !$0.hasSuffix("_test.lua")
        }.sorted()
        for file in files {
            let name = String(file.dropLast(4))
            let path = "\(self.displayPrefix)/\(file)"
            let text = try Self.read(directory.appendingPathComponent(file), path: path)
            let script = try validate(name: name, source: ScriptSource(path: path, text: text))
            try install(script)
        }
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

    public func library(named name: String) -> ScriptSource? {
        lock.lock()
        defer { lock.unlock() }
        return libraries[name]
    }

    // MARK: - Loading and reloading

    /// Validates new source for the script `name` and swaps it in with the next version number;
    /// channels pick it up at their next callback. On error the previous version stays. This is
    /// the hook for hot reload (a file watcher calls it).
    @discardableResult
    public func update(name: String, text: String) throws -> ChannelScript {
        let previous = script(named: name)
        let path = previous?.path ?? "\(displayPrefix)/\(name).lua"
        let version = previous?.version.next ?? .initial
        let script = try validate(name: name, source: ScriptSource(path: path, text: text, version: version))
        try install(script)
        return script
    }

    /// Compiles and runs a script in a scratch VM; returns what the router needs to know.
    private func validate(name: String, source: ScriptSource) throws -> ChannelScript {
        let vm = try LuaVM(scripts: self, limits: limits, logger: Logger(label: "LuaRuntime.validate"))
        switch vm.instantiate(source, requireJoin: name != Self.socketScriptName) {
        case .success(let module):
            return ChannelScript(name: name, source: source, topics: module.topics, intercepts: module.intercepts)
        case .failure(let error):
            throw error
        }
    }

    /// Installs a validated script, refusing a pattern another script already claims.
    private func install(_ script: ChannelScript) throws {
        lock.lock()
        defer { lock.unlock() }
        if script.name == Self.socketScriptName {
            socket = script
            return
        }
        for other in channelScripts.values where other.name != script.name {
            if let clash = script.topics.first(where: { other.topics.contains($0) }) {
                throw ScriptError(
                    kind: .load, script: script.path,
                    message: "\(other.path) and \(script.path) both claim topic \"\(clash)\"")
            }
        }
        channelScripts[script.name] = script
    }
}
