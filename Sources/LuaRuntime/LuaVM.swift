import CLua
import Foundation
import CLuaShim
import Logging
import PhoenixProtocol
import RateLimiting

/// One Lua state holding every channel joined on one event loop.
///
/// Not thread-safe: create one per event loop and call it only on that loop (the OpenResty
/// model). Every callback runs as a coroutine with a fresh instruction budget per resume slice;
/// a failing or runaway callback yields `.crashed(ScriptError)` and the VM stays usable for all
/// other channels. A callback that waits for I/O returns `.suspended` and finishes later
/// (`LuaVM+Coroutines`). Entry points must not be called re-entrantly from `ChannelHost` methods.
public final class LuaVM {
    /// The Lua thread being operated on: the main state, or, while a native runs, the thread
    /// (coroutine) that called it. `mainState` is the state itself.
    var L: OpaquePointer
    let mainState: OpaquePointer
    let limits: LuaLimits
    let logger: Logger
    /// Where current script versions and `require` modules come from.
    public let scripts: ScriptProvider
    /// `phx.node`.
    public let node: String
    /// The node name a VM gets unless told otherwise.
    public static let defaultNode = "hello_sockets@127.0.0.1"
    /// Where `phx.presence.list` reads (the node's presence tracker); nil: `phx.presence` is unavailable.
    public var presence: PresenceDirectory?

    /// Registry refs to the prelude's private values.
    struct Internals {
        var null: Int32 = 0, arrayMT: Int32 = 0, objectMT: Int32 = 0, binaryMT: Int32 = 0
        var resultMT: Int32 = 0, timerMT: Int32 = 0, refMT: Int32 = 0, sockets: Int32 = 0, instantiate: Int32 = 0
        var makeEnv: Int32 = 0
        var resetLoaded: Int32 = 0
        /// `phx.presence.list` proxies: their metatable, the weak table proxy → box, the boxes' metatable.
        var listMT: Int32 = 0, lists: Int32 = 0, boxMT: Int32 = 0
    }
    var internals = Internals()

    /// A script instantiated in this VM: its module table and what it declared.
    struct LoadedModule {
        var version: ScriptVersion
        var ref: Int32
        var topics: [TopicPattern]
        var intercepts: Set<String>
    }
    var modules: [String: LoadedModule] = [:]

    /// The Swift side of one joined channel. A class: every callback looks it up, and copying a struct of
    /// this size out of the dictionary cost a dozen retains per message.
    final class ChannelState {
        let scriptName: String
        let scriptPath: String
        let topic: String
        let socketRef: Int32
        /// Strong, released by `free`: a weak reference would give every socket a side table, and each
        /// retain of it on the fan-out path would take the slow path.
        var host: ChannelHost?
        var joining = true
        /// The ref of the message being handled; set only during handle_in (for phx.socket_ref).
        var currentRef: JSONValue?
        var timers: Set<TimerID> = []
        /// `phx.rate` buckets by key.
        var rateBuckets: [String: TokenBucket] = [:]
        /// The script version this channel last ran (hot reload: `migrate` runs when it changes).
        var version: ScriptVersion = .initial
        /// The key of its callback waiting for I/O, if one is.
        var suspension: UInt64?

        init(scriptName: String, scriptPath: String, topic: String, socketRef: Int32, host: ChannelHost) {
            self.scriptName = scriptName
            self.scriptPath = scriptPath
            self.topic = topic
            self.socketRef = socketRef
            self.host = host
        }
    }
    var channels: [ChannelID: ChannelState] = [:]
    var timers: [TimerID: (channel: ChannelID, message: Int32)] = [:]
    var nextChannel: UInt64 = 1
    var nextTimer: UInt64 = 1
    /// Set while an entry point runs; guards against re-entrant calls from host callbacks.
    var busy = false
    /// Messages sent by the running callback (bounded by `limits.maxSendsPerCallback`).
    var sendsThisCallback = 0
    /// Hot reload: the provider's `libraryGeneration` this VM's `require` cache was filled under.
    var libraryGeneration = 0
    /// Every `lib/` module this VM has loaded through `require` (a scratch VM's list is the
    /// dependencies of the script it validated, transitive ones included).
    var librariesLoaded: Set<String> = []
    /// The script whose code is running (for `print`'s log metadata).
    var runningScript: (path: String, topic: String?)?
    /// The Lua spec runner's table (`SpecPrelude`), once a spec file was loaded in this VM.
    var specRunner: Int32?

    /// The event loop, HTTP and key-value store callbacks reach (`ScriptServices`).
    public let services: ScriptServices
    /// Callbacks waiting for I/O, by key; and which callback each pending operation will resume.
    var suspensions: [UInt64: Suspension] = [:]
    var waitingOn: [UInt64: UInt64] = [:]
    var nextSuspension: UInt64 = 1
    var nextWait: UInt64 = 1
    /// Coroutines that finished cleanly, ready for the next callback (with their registry refs).
    var idleThreads: [(OpaquePointer, Int32)] = []
    /// The coroutine of the callback running now (natives may wait only on it), and what the
    /// native that yielded it waits for.
    var runningThread: OpaquePointer?
    var pendingWait: Wait?
    /// `beginShutdown` was called: nothing may wait any more.
    var shuttingDown = false
    /// Run when the entry point in progress leaves (`leave()`).
    var afterLeave: [() -> Void] = []
    /// `phx.http.request`s in flight from this VM (bounded by `HTTPPolicy.maxConcurrentPerVM`).
    var httpInFlight = 0

    /// Creates a VM: opens Lua with the counting allocator, installs the sandbox and `phx`.
    /// Throws a `.misuse` ScriptError if Lua cannot be opened or the prelude fails.
    public init(
        scripts: ScriptProvider,
        limits: LuaLimits = LuaLimits(),
        node: String = LuaVM.defaultNode,
        logger: Logger = Logger(label: "LuaRuntime"),
        services: ScriptServices = .none
    ) throws {
        guard let state = hs_open(limits.memoryLimit, Int64(limits.instructionBudget)) else {
            throw ScriptError(kind: .misuse, script: "", message: "cannot open a Lua state (out of memory)")
        }
        self.L = state
        self.mainState = state
        self.limits = limits
        self.scripts = scripts
        self.node = node
        self.logger = logger
        self.services = services
        hs_get_state(L).pointee.owner = Unmanaged.passUnretained(self).toOpaque()
        try installPrelude()
    }

    deinit {
        hs_close(mainState)
    }

    /// Bytes currently allocated by this VM.
    public var memoryUsed: Int { hs_memory_used(L) }

    /// Number of channels alive in this VM.
    public var channelCount: Int { channels.count }

    private func installPrelude() throws {
        let status = loadChunk(SandboxPrelude.source, chunkName: SandboxPrelude.chunkName)
        guard status == LUA_OK else {
            let message = string(at: -1) ?? "?"
            throw ScriptError(kind: .misuse, script: "phx", message: "prelude: \(message)")
        }
        hs_newtable(L)
        for native in Native.allCases {
            hs_push_swift_function(L, luaRuntimeNativeEntry, native.rawValue)
            lua_setfield(L, -2, native.luaName)
        }
        pushString(node)
        guard hs_call(L, 2, 1) == LUA_OK, lua_type(L, -1) == LUA_TTABLE else {
            let message = string(at: -1) ?? "?"
            hs_pop(L, 1)
            throw ScriptError(kind: .misuse, script: "phx", message: "prelude: \(message)")
        }
        func ref(_ field: String) -> Int32 {
            lua_getfield(L, -1, field)
            return hs_ref(L)
        }
        internals = Internals(
            null: ref("null"), arrayMT: ref("array_mt"), objectMT: ref("object_mt"), binaryMT: ref("binary_mt"),
            resultMT: ref("result_mt"), timerMT: ref("timer_mt"), refMT: ref("ref_mt"), sockets: ref("sockets"),
            instantiate: ref("instantiate"), makeEnv: ref("make_env"), resetLoaded: ref("reset_loaded"),
            listMT: ref("list_mt"), lists: ref("lists"))
        hs_pop(L, 1)
        hs_push_box_metatable(L, releaseBoxedObject)
        internals.boxMT = hs_ref(L)
    }

    // MARK: - Loading scripts

    /// Compiles text (never binary) as a chunk named `@path`; the function or message is on top.
    func loadChunk(_ text: String, chunkName: String) -> Int32 {
        var bytes = Array(text.utf8)
        bytes.append(0)  // keeps the buffer non-empty; the length passed excludes it
        return bytes.withUnsafeBufferPointer { buffer in
            buffer.baseAddress.map { base in
                base.withMemoryRebound(to: CChar.self, capacity: buffer.count) {
                    hs_load(L, $0, buffer.count - 1, chunkName)
                }
            } ?? LUA_ERRMEM
        }
    }

    /// Compiles and runs a script in this VM, returning its validated module.
    /// `requireJoin` is false for `socket.lua`, which has no topic and no join.
    func instantiate(_ source: ScriptSource, requireJoin: Bool) -> Result<LoadedModule, ScriptError> {
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        let status = loadChunk(source.text, chunkName: "@" + source.path)
        guard status == LUA_OK else {
            return .failure(ScriptError(kind: .load, script: source.path, message: string(at: -1) ?? "load failed"))
        }
        hs_getref(L, internals.instantiate)
        hs_insert(L, -2)
        runningScript = (source.path, nil)
        defer { runningScript = nil }
        let callStatus = hs_call(L, 1, 1)
        guard callStatus == LUA_OK else {
            var error = scriptError(status: callStatus, path: source.path, topic: nil)
            error.kind = error.kind == .runtime ? .load : error.kind
            recoverAfterError()
            return .failure(error)
        }
        guard lua_type(L, -1) == LUA_TTABLE else {
            return .failure(ScriptError(
                kind: .load, script: source.path,
                message: "\(source.path): the script must return a table (got \(typeName(at: -1)))"))
        }
        do {
            let topics = try readTopics(source: source, required: requireJoin)
            if requireJoin {
                guard field("join", ofTableAt: -1) == LUA_TFUNCTION else {
                    throw ScriptError(
                        kind: .load, script: source.path,
                        message: "\(source.path): the returned table needs a join(topic, payload, socket) function")
                }
                hs_pop(L, 1)
            }
            let intercepts = try readIntercepts(source: source)
            lua_pushvalue(L, -1)
            let ref = hs_ref(L)
            return .success(LoadedModule(version: source.version, ref: ref, topics: topics, intercepts: intercepts))
        } catch let error as ScriptError {
            return .failure(error)
        } catch {
            return .failure(ScriptError(kind: .load, script: source.path, message: "\(error)"))
        }
    }

    private func readTopics(source: ScriptSource, required: Bool) throws -> [TopicPattern] {
        defer { hs_pop(L, 1) }
        let bad = ScriptError(
            kind: .load, script: source.path,
            message: "\(source.path): `topic` must be a topic (\"room:lobby\"), a prefix ending in * (\"room:*\") or a list of them")
        switch field("topic", ofTableAt: -1) {
        case LUA_TNIL where !required:
            return []
        case LUA_TSTRING:
            guard let text = string(at: -1), let pattern = TopicPattern(text) else { throw bad }
            return [pattern]
        case LUA_TTABLE:
            var patterns: [TopicPattern] = []
            let count = lua_rawlen(L, -1)
            guard count > 0 else { throw bad }
            for i in 1...Int64(count) {
                lua_rawgeti(L, -1, i)
                defer { hs_pop(L, 1) }
                guard lua_type(L, -1) == LUA_TSTRING, let text = string(at: -1), let p = TopicPattern(text) else {
                    throw bad
                }
                patterns.append(p)
            }
            return patterns
        default:
            throw bad
        }
    }

    private func readIntercepts(source: ScriptSource) throws -> Set<String> {
        defer { hs_pop(L, 1) }
        let type = field("intercept", ofTableAt: -1)
        if type == LUA_TNIL { return [] }
        let bad = ScriptError(
            kind: .load, script: source.path, message: "\(source.path): `intercept` must be a list of event names")
        guard type == LUA_TTABLE else { throw bad }
        var events: Set<String> = []
        let count = lua_rawlen(L, -1)
        if count == 0 { return [] }
        for i in 1...Int64(count) {
            lua_rawgeti(L, -1, i)
            defer { hs_pop(L, 1) }
            guard lua_type(L, -1) == LUA_TSTRING, let event = string(at: -1) else { throw bad }
            events.insert(event)
        }
        return events
    }

    /// The module for the current version of a script, instantiating it in this VM when the
    /// provider has a newer version than the one loaded (this is where hot reload takes effect).
    func currentModule(named name: String, fallback: ChannelScript? = nil) -> Result<LoadedModule, ScriptError> {
        currentModule(named: name, registered: scripts.script(named: name), fallback: fallback)
    }

    /// As above, with the provider's current script already looked up (`registered`, nil when it has none).
    func currentModule(
        named name: String, registered: ChannelScript?, fallback: ChannelScript? = nil
    ) -> Result<LoadedModule, ScriptError> {
        guard let script = registered ?? fallback else {
            return .failure(ScriptError(kind: .misuse, script: name, message: "no script named \(name)"))
        }
        if let loaded = modules[name], loaded.version == script.version { return .success(loaded) }
        let generation = scripts.libraryGeneration
        if generation != libraryGeneration {
            // A lib/ module changed: new instantiations must not reuse the old cached modules.
            hs_getref(L, internals.resetLoaded)
            if hs_call(L, 0, 0) != LUA_OK { hs_pop(L, 1) }
            libraryGeneration = generation
        }
        let result = instantiate(script.source, requireJoin: name != ChannelRegistry.socketScriptName)
        if case .success(let module) = result {
            if let old = modules[name] { hs_unref(L, old.ref) }
            modules[name] = module
            if modules[name] != nil, script.version.rawValue > 1 {
                logger.info("loaded \(script.path) \(script.version)")
            }
        }
        return result
    }

    // MARK: - Errors

    /// Builds a ScriptError from a failed hs_call whose message (with traceback) is on top.
    func scriptError(status: Int32, path: String, topic: String?) -> ScriptError {
        let state = hs_get_state(L).pointee
        if state.exceeded != 0 {
            return ScriptError(
                kind: .instructionBudget, script: path, topic: topic,
                message: "\(path): instruction budget exceeded (\(limits.instructionBudget) instructions)")
        }
        let text = string(at: -1) ?? "(error object is a \(typeName(at: -1)) value)"
        if status == LUA_ERRMEM || (state.mem_refused != 0 && text.hasPrefix("not enough memory")) {
            return ScriptError(
                kind: .memory, script: path, topic: topic,
                message: "\(path): memory limit exceeded (\(limits.memoryLimitDescription))")
        }
        if let range = text.range(of: "\nstack traceback:\n") {
            return ScriptError(
                kind: .runtime, script: path, topic: topic, message: String(text[..<range.lowerBound]),
                traceback: "stack traceback:\n" + text[range.upperBound...])
        }
        return ScriptError(kind: .runtime, script: path, topic: topic, message: text)
    }

    /// After a failed call: reclaim what the script left behind so the next callback starts clean.
    func recoverAfterError() {
        hs_gc_collect(L)
    }

    // MARK: - Small stack helpers (none of them can raise)

    /// Pushes `table[name]` (raw) for the table at `index`; returns the value's type.
    @discardableResult
    func field(_ name: String, ofTableAt index: Int32) -> Int32 {
        let table = lua_absindex(L, index)
        pushString(name)
        return lua_rawget(L, table)
    }

    func pushString(_ s: String) {
        var s = s
        s.withUTF8 { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in
                _ = lua_pushlstring(L, chars.baseAddress, chars.count)
            }
        }
    }

    /// The string at `index` when it is a string (numbers are not converted), as UTF-8 if valid.
    func string(at index: Int32) -> String? {
        withStringBytes(at: index) { String(decoding: $0, as: UTF8.self) }  // invalid sequences become U+FFFD
    }

    /// The string at `index` when it is a string of valid UTF-8 (the JSON conversions refuse anything else).
    func validString(at index: Int32) -> String? {
        withStringBytes(at: index) { bytes in
            // Decoding straight from Lua's buffer (no array, no generic validation): it repairs what is invalid,
            // so a string whose bytes came out changed was not valid.
            let string = String(decoding: bytes, as: UTF8.self)
            return string.utf8.elementsEqual(bytes) ? string : nil
        }
    }

    /// Runs `body` on the bytes of the string at `index` (numbers are not converted), in Lua's own buffer.
    private func withStringBytes<T>(at index: Int32, _ body: (UnsafeBufferPointer<UInt8>) -> T?) -> T? {
        guard lua_type(L, index) == LUA_TSTRING else { return nil }
        var length = 0
        guard let pointer = hs_tostring(L, index, &length) else { return nil }
        return pointer.withMemoryRebound(to: UInt8.self, capacity: length) {
            body(UnsafeBufferPointer(start: $0, count: length))
        }
    }

    /// The raw bytes of the string at `index`, without converting numbers.
    func bytes(at index: Int32) -> [UInt8]? {
        withStringBytes(at: index) { Array($0) }
    }

    func typeName(at index: Int32) -> String {
        String(cString: lua_typename(L, lua_type(L, index)))
    }

    /// True when the value at `index` has exactly the metatable stored at registry `ref`.
    func hasMetatable(at index: Int32, ref: Int32) -> Bool {
        guard lua_getmetatable(L, index) != 0 else { return false }
        hs_getref(L, ref)
        let same = lua_rawequal(L, -1, -2) != 0
        hs_pop(L, 2)
        return same
    }

    /// True when the value at `index` is the `phx.null` sentinel.
    func isNull(at index: Int32) -> Bool {
        let absolute = lua_absindex(L, index)
        hs_getref(L, internals.null)
        defer { hs_pop(L, 1) }
        return lua_rawequal(L, absolute, -1) != 0
    }
}
