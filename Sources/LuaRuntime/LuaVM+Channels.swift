import CLua
import CLuaShim
import PhoenixProtocol

/// The channel lifecycle the server drives: join, handle_in, handle_out, handle_info (timers),
/// terminate, plus `socket.lua`'s connect. Mirrors Phoenix.Channel's callbacks and return shapes.
extension LuaVM {
    /// Runs the script's `join(topic, payload, socket)`. On `.ok` the channel lives on under the
    /// returned id; on `.error` or `.crashed` nothing is kept (timers started in join are cancelled).
    /// On `.suspended` the join waits (the id is returned; messages for the channel must wait too)
    /// and its result reaches `host.callbackFinished(id, .join(…))` later.
    public func join(
        script: ChannelScript, topic: String, payload: Payload, joinRef: JSONValue, socket: SocketContext,
        host: ChannelHost
    ) -> (ChannelID?, JoinResult) {
        guard enter() else { return (nil, .crashed(reentrancyError(script.path, topic))) }
        defer { leave() }
        let module: LoadedModule
        switch currentModule(named: script.name, fallback: script) {
        case .success(let m): module = m
        case .failure(var error):
            error.topic = topic
            return (nil, .crashed(error))
        }
        let path = scripts.script(named: script.name)?.path ?? script.path
        let id = ChannelID(rawValue: nextChannel)
        nextChannel += 1
        let socketRef = makeSocketTable(id: id, topic: topic, joinRef: joinRef, socket: socket)
        channels[id] = ChannelState(
            scriptName: script.name, scriptPath: path, topic: topic, socketRef: socketRef, host: host)
        channels[id]?.version = module.version

        let outcome = invoke(module, "join", path: path, topic: topic) {
            pushString(topic)
            push(payload)
            hs_getref(L, socketRef)
            return 3
        }
        if case .suspended(let key) = outcome {
            onFinish(key, channel: id) { [unowned self] outcome in
                let host = channels[id]?.host
                return .host(host, id, .join(joinResult(id, outcome, path: path, topic: topic)))
            }
            return (id, .suspended)
        }
        let result = joinResult(id, outcome, path: path, topic: topic)
        if case .ok = result { return (id, result) }
        return (nil, result)
    }

    /// Maps join's outcome to its result; frees the channel unless it joined.
    private func joinResult(_ id: ChannelID, _ outcome: Outcome, path: String, topic: String) -> JoinResult {
        switch outcome {
        case .missing, .suspended:
            free(id)
            return .crashed(ScriptError(kind: .runtime, script: path, topic: topic, message: "\(path): no join function"))
        case .failed(let error):
            free(id)
            return .crashed(error)
        case .returned(let top, let site):
            defer { lua_settop(L, top) }
            let reply = readReply(site: site, callback: "join", topic: topic, allowed: "phx.ok(reply?) or phx.error(reply)")
            switch reply {
            case .success(let r?) where r.status == "ok":
                channels[id]?.joining = false
                return .ok(r.response)
            case .success(let r?) where r.status == "error":
                free(id)
                return .error(r.response)
            case .success:
                free(id)
                return .crashed(invalid(site, topic, "join must return phx.ok(reply?) or phx.error(reply)"))
            case .failure(let error):
                free(id)
                return .crashed(error)
            }
        }
    }

    /// Runs `handle_in(event, payload, socket)` for a message pushed by the client with `ref`.
    public func handleIn(_ id: ChannelID, event: String, payload: Payload, ref: JSONValue) -> CallbackResult {
        channels[id]?.currentRef = ref
        let result = callback(id, "handle_in", allowReply: true) { socketRef in
            pushString(event)
            push(payload)
            hs_getref(L, socketRef)
            return 3
        }
        // Like Phoenix: socket_ref is valid only in handle_in (a waiting one keeps it until it returns).
        if case .suspended = result {} else { channels[id]?.currentRef = nil }
        return result
    }

    /// True when the channel's script lists `event` in its `intercept` field (so a broadcast of it
    /// must go through `handleOut` instead of the fastlane).
    /// Asked for every subscriber of every broadcast: nothing is copied out of the channel's state.
    public func intercepts(_ id: ChannelID, event: String) -> Bool {
        guard let scriptName = channels[id]?.scriptName else { return false }
        if let intercepts = scripts.intercepts(event, script: scriptName) { return intercepts }
        return modules[scriptName]?.intercepts.contains(event) ?? false
    }

    /// Runs `handle_out(event, payload, socket)` for an intercepted broadcast.
    public func handleOut(_ id: ChannelID, event: String, payload: Payload) -> CallbackResult {
        callback(id, "handle_out", allowReply: false) { socketRef in
            pushString(event)
            push(payload)
            hs_getref(L, socketRef)
            return 2 + 1
        }
    }

    /// Delivers a `phx.send_after` timer: runs `handle_info(msg, socket)`. A cancelled or unknown
    /// timer is ignored (`.noreply`).
    public func fireTimer(_ id: ChannelID, timer: TimerID) -> CallbackResult {
        guard let pending = timers[timer], pending.channel == id else { return .noreply }
        hs_getref(L, pending.message)
        let message = hs_ref(L)  // keep the message alive past forgetTimer
        forgetTimer(timer)
        defer { hs_unref(L, message) }
        return callback(id, "handle_info", allowReply: false, missingIsNoreply: true) { socketRef in
            hs_getref(L, message)
            hs_getref(L, socketRef)
            return 2
        }
    }

    /// Runs `terminate(reason, socket)` if the script defines it (errors are logged, not returned),
    /// then frees the channel. Reasons as in Phoenix: "normal", "shutdown", "shutdown:left",
    /// "shutdown:closed", or the reason given to `phx.stop`. Returns false when terminate waits:
    /// the channel is freed when it finishes (`host.callbackFinished(id, .terminated)`).
    ///
    /// Called while another callback runs (a connection that broke during that callback's push), it
    /// runs once that callback returned, and also ends as `.terminated`.
    @discardableResult
    public func terminate(_ id: ChannelID, reason: String) -> Bool {
        guard channels[id] != nil else { return true }
        if busy {
            afterLeave.append { [unowned self] in
                guard let host = channels[id]?.host else { return }
                if terminate(id, reason: reason) { host.callbackFinished(id, .terminated) }
            }
            return false
        }
        let result = callback(id, "terminate", allowReply: false, missingIsNoreply: true, anyResult: true) { socketRef in
            pushString(reason)
            hs_getref(L, socketRef)
            return 2
        }
        if case .suspended = result { return false }
        terminated(id, result)
        return true
    }

    /// After terminate: logs its failure, frees the channel.
    private func terminated(_ id: ChannelID, _ result: CallbackResult) {
        if case .crashed(let error) = result, let state = channels[id] {
            logger.error("terminate failed: \(error)", metadata: ["script": .string(state.scriptPath), "topic": .string(state.topic)])
        }
        free(id)
    }

    /// Frees a channel without running `terminate` (after a crash, as Phoenix does not trap exits).
    /// A callback of it still waiting is dropped.
    public func discard(_ id: ChannelID) {
        free(id)
    }

    /// Runs `socket.lua`'s `connect(params, connect_info)` then `id(socket)`. Without a `socket`
    /// script every connection is accepted with empty assigns and no id. `.suspended`: connect
    /// waits; its result goes to `completion` later (on the VM's loop). `completion` is not
    /// called for a result returned directly.
    public func connect(
        params: JSONValue, connectInfo: JSONValue, completion: @escaping (ConnectResult) -> Void
    ) -> ConnectResult {
        let name = ChannelRegistry.socketScriptName
        guard let script = scripts.script(named: name) else { return .ok(assigns: .emptyObject, id: nil) }
        guard enter() else { return .crashed(reentrancyError(script.path, nil)) }
        defer { leave() }
        let module: LoadedModule
        switch currentModule(named: name) {
        case .success(let m): module = m
        case .failure(let error): return .crashed(error)
        }
        let outcome = invoke(module, "connect", path: script.path, topic: nil) {
            push(params)
            push(connectInfo)
            return 2
        }
        if case .suspended(let key) = outcome {
            onFinish(key, channel: nil) { [unowned self] outcome in
                .connect(completion, connectResult(outcome, module: module, path: script.path, params: params))
            }
            return .suspended
        }
        return connectResult(outcome, module: module, path: script.path, params: params)
    }

    /// Maps connect's outcome to its result, running `id(socket)` (which cannot wait) when it accepted.
    private func connectResult(_ outcome: Outcome, module: LoadedModule, path: String, params: JSONValue) -> ConnectResult {
        var assigns = JSONValue.emptyObject
        switch outcome {
        case .missing:
            break
        case .suspended:
            return .crashed(ScriptError(kind: .misuse, script: path, message: "\(path): connect suspended twice"))
        case .failed(let error):
            return .crashed(error)
        case .returned(let top, let site):
            defer { lua_settop(L, top) }
            switch readReply(site: site, callback: "connect", topic: nil, allowed: "phx.ok(assigns?) or phx.error(reason?)") {
            case .success(let r?) where r.status == "ok": assigns = r.response
            case .success(let r?) where r.status == "error": return .error(r.response)
            case .success: return .crashed(invalid(site, nil, "connect must return phx.ok(assigns?) or phx.error(reason?)"))
            case .failure(let error): return .crashed(error)
            }
        }
        switch invoke(module, "id", path: path, topic: nil, suspendable: false, push: {
            lua_createtable(L, 0, 2)
            push(params)
            lua_setfield(L, -2, "params")
            push(assigns)
            lua_setfield(L, -2, "assigns")
            return 1
        }) {
        case .missing, .suspended:
            return .ok(assigns: assigns, id: nil)
        case .failed(let error):
            return .crashed(error)
        case .returned(let top, let site):
            defer { lua_settop(L, top) }
            if lua_type(L, -1) == LUA_TNIL || isNull(at: -1) { return .ok(assigns: assigns, id: nil) }
            guard let id = string(at: -1) else {
                return .crashed(invalid(site, nil, "id must return a string or nil, got \(describe(at: -1))"))
            }
            return .ok(assigns: assigns, id: id)
        }
    }

    // MARK: - Machinery

    func enter() -> Bool {
        guard !busy else { return false }
        busy = true
        sendsThisCallback = 0
        return true
    }

    /// The VM is free again; work that had to wait for it (a terminate asked for meanwhile) runs now.
    func leave() {
        busy = false
        while !afterLeave.isEmpty, !busy { afterLeave.removeFirst()() }
    }

    private func reentrancyError(_ path: String, _ topic: String?) -> ScriptError {
        ScriptError(
            kind: .misuse, script: path, topic: topic,
            message: "LuaVM called re-entrantly from a ChannelHost method; defer the call to the event loop")
    }

    /// Where a callback is defined, for "wrong return shape" errors: `channels/ping.lua:12`.
    /// Only the stack slot of a copy of the called function: its file and line are looked up
    /// (`describe(_:)`) when an error needs them, not on every call.
    struct CallSite {
        var functionIndex: Int32
    }

    /// The file and line of the function a call site called (valid until the stack is reset to the call's `top`).
    func describe(_ site: CallSite) -> (path: String, line: Int) {
        var buffer = [CChar](repeating: 0, count: 256)
        let line = hs_function_info(L, site.functionIndex, &buffer, buffer.count)
        return (String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self), Int(line))
    }

    enum Outcome {
        /// The callback returned; its result is on top. Reset the stack to `top` when done.
        case returned(top: Int32, site: CallSite)
        case failed(ScriptError)
        case missing
        /// The callback waits (`suspensions[key]`); the entry point sets where its result goes (`onFinish`).
        case suspended(UInt64)
    }

    /// Calls `module[name](args…)` with a fresh budget: as a coroutine that may wait
    /// (`suspendable`), else straight through under `lua_pcall`. `push` pushes the arguments and
    /// returns how many.
    func invoke(
        _ module: LoadedModule, _ name: String, path: String, topic: String?, suspendable: Bool = true,
        push: () -> Int32
    ) -> Outcome {
        let top = lua_gettop(L)
        hs_getref(L, module.ref)
        let type = field(name, ofTableAt: -1)
        hs_remove(L, -2)
        guard type == LUA_TFUNCTION else {
            lua_settop(L, top)
            return .missing
        }
        // Keep a copy of the function below the call: the call site of error messages, resolved lazily.
        lua_pushvalue(L, -1)
        let site = CallSite(functionIndex: lua_gettop(L) - 1)
        let nargs = push()
        if suspendable {
            return runCoroutine(nargs: nargs, top: top, site: site, path: path, topic: topic, callback: name)
        }
        runningScript = (path, topic)
        defer { runningScript = nil }
        let status = hs_call(L, nargs, 1)
        guard status == LUA_OK else {
            let error = scriptError(status: status, path: path, topic: topic)
            lua_settop(L, top)
            recoverAfterError()
            return .failed(error)
        }
        return .returned(top: top, site: site)
    }

    /// Runs a channel callback and maps its result. `allowReply`: handle_in may reply;
    /// handle_out/handle_info may only noreply or stop (Phoenix's shapes).
    private func callback(
        _ id: ChannelID, _ name: String, allowReply: Bool, missingIsNoreply: Bool = false, anyResult: Bool = false,
        push: (Int32) -> Int32
    ) -> CallbackResult {
        guard let state = channels[id] else {
            return .crashed(ScriptError(kind: .misuse, script: "", message: "\(name): unknown channel \(id)"))
        }
        guard state.suspension == nil else {
            return .crashed(ScriptError(
                kind: .misuse, script: state.scriptPath, topic: state.topic,
                message: "\(name) called while the channel's previous callback waits (deliver it from the mailbox)"))
        }
        guard enter() else { return .crashed(reentrancyError(state.scriptPath, state.topic)) }
        defer { leave() }
        let module: LoadedModule
        let registered = scripts.script(named: state.scriptName)  // once: it takes the registry's lock
        switch currentModule(named: state.scriptName, registered: registered) {
        case .success(let m): module = m
        case .failure(var error):
            error.topic = state.topic
            return .crashed(error)
        }
        let path = registered?.path ?? state.scriptPath
        if module.version != state.version, let error = migrate(id, state: state, to: module, path: path) {
            return .crashed(error)
        }
        let outcome = invoke(module, name, path: path, topic: state.topic, push: { push(state.socketRef) })
        let topic = state.topic
        if case .suspended(let key) = outcome {
            onFinish(key, channel: id) { [unowned self] outcome in
                let host = channels[id]?.host
                let result = callbackResult(
                    outcome, name, path: path, topic: topic, allowReply: allowReply, missingIsNoreply: missingIsNoreply,
                    anyResult: anyResult)
                switch name {
                case "terminate":
                    terminated(id, result)
                    return .host(host, id, .terminated)
                case "handle_in":
                    channels[id]?.currentRef = nil
                default:
                    break
                }
                return .host(host, id, .callback(result))
            }
            return .suspended
        }
        return callbackResult(
            outcome, name, path: path, topic: topic, allowReply: allowReply, missingIsNoreply: missingIsNoreply,
            anyResult: anyResult)
    }

    /// Maps a callback's outcome to its result.
    private func callbackResult(
        _ outcome: Outcome, _ name: String, path: String, topic: String, allowReply: Bool, missingIsNoreply: Bool,
        anyResult: Bool
    ) -> CallbackResult {
        switch outcome {
        case .missing, .suspended:
            if missingIsNoreply {
                if name == "handle_info" { logger.warning("\(path) has no handle_info; message dropped", metadata: ["topic": .string(topic)]) }
                return .noreply
            }
            return .crashed(ScriptError(kind: .runtime, script: path, topic: topic, message: "\(path): no \(name) function"))
        case .failed(let error):
            return .crashed(error)
        case .returned(let top, let site):
            defer { lua_settop(L, top) }
            if anyResult { return .noreply }
            return readCallbackResult(site: site, callback: name, topic: topic, allowReply: allowReply)
        }
    }

    /// Hot reload: the channel's first callback on a new version of its script. Runs the new
    /// module's optional `migrate(assigns, old_version)` once; a table it returns becomes the
    /// channel's `socket.assigns` (nil keeps them). A crash in migrate crashes the channel.
    private func migrate(_ id: ChannelID, state: ChannelState, to module: LoadedModule, path: String) -> ScriptError? {
        let old = state.version  // before the update: `state` is the channel's own (a class)
        state.version = module.version
        switch invoke(module, "migrate", path: path, topic: state.topic, suspendable: false, push: {
            hs_getref(L, state.socketRef)
            field("assigns", ofTableAt: -1)
            hs_remove(L, -2)
            lua_pushinteger(L, Int64(old.rawValue))
            return 2
        }) {
        case .missing, .suspended:
            return nil
        case .failed(let error):
            return error
        case .returned(let top, let site):
            defer { lua_settop(L, top) }
            switch lua_type(L, -1) {
            case LUA_TNIL:
                break
            case LUA_TTABLE:
                hs_getref(L, state.socketRef)
                lua_pushvalue(L, -2)
                lua_setfield(L, -2, "assigns")
                hs_pop(L, 1)
            default:
                return invalid(site, state.topic, "migrate returned \(describe(at: -1)); expected new assigns (a table) or nothing")
            }
            logger.info(
                "migrated \(path) \(old) -> \(module.version)",
                metadata: ["topic": .string(state.topic)])
            return nil
        }
    }

    /// The script name of a live channel.
    public func scriptName(of id: ChannelID) -> String? { channels[id]?.scriptName }

    /// Hot reload: forgets this VM's instance of a script removed from the provider (its live
    /// channels must have been closed first; they would crash at their next callback anyway).
    public func unload(scriptNamed name: String) {
        guard let module = modules.removeValue(forKey: name) else { return }
        hs_unref(L, module.ref)
    }

    private func invalid(_ site: CallSite, _ topic: String?, _ message: String) -> ScriptError {
        let (path, line) = describe(site)
        return ScriptError(kind: .invalidResult, script: path, topic: topic, message: "\(path):\(line): \(message)")
    }

    /// Reads the result on top as a reply (`phx.ok/error/reply`): nil when it is not one.
    private func readReply(site: CallSite, callback: String, topic: String?, allowed: String) -> Result<ReplyValue?, ScriptError> {
        guard lua_type(L, -1) == LUA_TTABLE, hasMetatable(at: -1, ref: internals.resultMT) else {
            return .failure(invalid(site, topic, "\(callback) returned \(describe(at: -1)); expected \(allowed)"))
        }
        field("kind", ofTableAt: -1)
        let kind = string(at: -1)
        hs_pop(L, 1)
        guard kind == "reply" else { return .success(nil) }
        return readReplyFields(site: site, callback: callback, topic: topic).map { $0 }
    }

    /// Reads `status` and `payload` of the reply result on top.
    private func readReplyFields(site: CallSite, callback: String, topic: String?) -> Result<ReplyValue, ScriptError> {
        field("status", ofTableAt: -1)
        let status = string(at: -1) ?? "ok"
        hs_pop(L, 1)
        field("payload", ofTableAt: -1)
        defer { hs_pop(L, 1) }
        if lua_type(L, -1) == LUA_TNIL { return .success(ReplyValue(status: status, response: .emptyObject)) }
        do {
            return .success(ReplyValue(status: status, response: try readObject(at: -1, path: "reply")))
        } catch {
            return .failure(invalid(site, topic, "\(callback) reply: \(error)"))
        }
    }

    private func readCallbackResult(site: CallSite, callback: String, topic: String, allowReply: Bool) -> CallbackResult {
        if lua_type(L, -1) == LUA_TNIL { return .noreply }
        let allowed = allowReply
            ? "phx.reply/ok/error(...), phx.noreply(), phx.stop(reason, reply?) or nothing"
            : "phx.noreply(), phx.stop(reason) or nothing"
        guard lua_type(L, -1) == LUA_TTABLE, hasMetatable(at: -1, ref: internals.resultMT) else {
            return .crashed(invalid(site, topic, "\(callback) returned \(describe(at: -1)); expected \(allowed)"))
        }
        field("kind", ofTableAt: -1)
        let kind = string(at: -1)
        hs_pop(L, 1)
        switch kind {
        case "noreply":
            return .noreply
        case "reply" where allowReply:
            switch readReplyFields(site: site, callback: callback, topic: topic) {
            case .success(let r): return .reply(status: r.status, response: r.response)
            case .failure(let error): return .crashed(error)
            }
        case "stop":
            field("reason", ofTableAt: -1)
            let reason = string(at: -1) ?? "normal"
            hs_pop(L, 1)
            guard field("reply", ofTableAt: -1) != LUA_TNIL else {
                hs_pop(L, 1)
                return .stop(reason: reason, reply: nil)
            }
            defer { hs_pop(L, 1) }
            guard allowReply else {
                return .crashed(invalid(site, topic, "\(callback) cannot reply; expected \(allowed)"))
            }
            switch readReplyFields(site: site, callback: callback, topic: topic) {
            case .success(let r): return .stop(reason: reason, reply: r)
            case .failure(let error): return .crashed(error)
            }
        default:
            return .crashed(invalid(site, topic, "\(callback) returned a phx.\(kind ?? "?") result; expected \(allowed)"))
        }
    }

    /// Builds the channel's `socket` table, registers it as this channel's, returns a registry ref.
    private func makeSocketTable(id: ChannelID, topic: String, joinRef: JSONValue, socket: SocketContext) -> Int32 {
        lua_createtable(L, 0, 5)
        pushString(topic)
        lua_setfield(L, -2, "topic")
        push(joinRef)
        lua_setfield(L, -2, "join_ref")
        if let socketID = socket.id {
            pushString(socketID)
            lua_setfield(L, -2, "id")
        }
        push(socket.params)
        lua_setfield(L, -2, "params")
        push(socket.assigns)
        lua_setfield(L, -2, "assigns")
        hs_getref(L, internals.sockets)
        lua_pushvalue(L, -2)
        lua_pushinteger(L, Int64(bitPattern: id.rawValue))
        lua_rawset(L, -3)
        hs_pop(L, 1)
        return hs_ref(L)
    }

    /// Frees a channel: its timers (cancelled with the host), its socket table.
    private func free(_ id: ChannelID) {
        guard let state = channels[id] else { return }
        dropSuspension(of: id)
        for timer in state.timers {
            forgetTimer(timer)
            state.host?.cancelTimer(timer)
        }
        hs_getref(L, internals.sockets)
        hs_getref(L, state.socketRef)
        lua_pushnil(L)
        lua_rawset(L, -3)
        hs_pop(L, 1)
        hs_unref(L, state.socketRef)
        channels[id] = nil
    }
}
