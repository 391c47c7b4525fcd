import CLua
import CLuaShim
import Logging
import PhoenixProtocol

/// The Swift functions behind `phx.push`, `phx.broadcast`… (and `print`, `require`'s loader).
///
/// Each is called through the C trampoline (`hs_push_swift_function`): it returns the number of
/// results it pushed, or -1 after pushing an error message, and the trampoline raises that message
/// from C with the Lua caller's `file:line:` prefix. Nothing here may raise a Lua error itself.
enum Native: Int32, CaseIterable {
    case push, broadcast, broadcastFrom, socketRef, replyTo, sendAfter, cancelTimer, log, loadLibrary
    case tokenSign, tokenVerify, jwtVerify
    case presenceTrack, presenceUpdate, presenceUntrack, presenceList, presenceFill
    case httpRequest, jsonEncode, jsonDecode, kvGet, kvSet, kvIncr, kvDelete, kvPush, kvRange
    case rate

    /// The name in the prelude's `natives` table.
    var luaName: String {
        switch self {
        case .push: return "push"
        case .broadcast: return "broadcast"
        case .broadcastFrom: return "broadcast_from"
        case .socketRef: return "socket_ref"
        case .replyTo: return "reply_to"
        case .sendAfter: return "send_after"
        case .cancelTimer: return "cancel_timer"
        case .log: return "log"
        case .loadLibrary: return "load_library"
        case .tokenSign: return "token_sign"
        case .tokenVerify: return "token_verify"
        case .jwtVerify: return "jwt_verify"
        case .presenceTrack: return "presence_track"
        case .presenceUpdate: return "presence_update"
        case .presenceUntrack: return "presence_untrack"
        case .presenceList: return "presence_list"
        case .presenceFill: return "presence_fill"
        case .httpRequest: return "http_request"
        case .jsonEncode: return "json_encode"
        case .jsonDecode: return "json_decode"
        case .kvGet: return "kv_get"
        case .kvSet: return "kv_set"
        case .kvIncr: return "kv_incr"
        case .kvDelete: return "kv_delete"
        case .kvPush: return "kv_push"
        case .kvRange: return "kv_range"
        case .rate: return "rate"
        }
    }
}

/// The finalizer of a box (`hs_push_box`): drops the reference the box held. Touches no Lua state.
let releaseBoxedObject: @convention(c) (UnsafeMutableRawPointer?) -> Void = { pointer in
    guard let pointer else { return }
    Unmanaged<AnyObject>.fromOpaque(pointer).release()
}

/// The single C entry point for every native; finds the VM through the allocator's bookkeeping.
let luaRuntimeNativeEntry: hs_swift_fn = { state, fnid in
    guard let state, let owner = hs_get_state(state).pointee.owner, let native = Native(rawValue: fnid) else {
        return -1
    }
    let vm = Unmanaged<LuaVM>.fromOpaque(owner).takeUnretainedValue()
    // A native called from a coroutine (a spec's test body, a script's coroutine.wrap) finds its
    // arguments on that thread's stack, not the main one: operate on the caller's thread meanwhile.
    let saved = vm.L
    vm.L = state
    defer { vm.L = saved }
    return vm.callNative(native)
}

extension LuaVM {
    /// Pushes `message` and returns -1: the trampoline raises it.
    func fail(_ message: String) -> Int32 {
        pushString(message)
        return -1
    }

    /// The channel whose socket table is at `index`, if it is one.
    func channel(forSocketAt index: Int32) -> ChannelID? {
        guard lua_type(L, index) == LUA_TTABLE else { return nil }
        let absolute = lua_absindex(L, index)
        hs_getref(L, internals.sockets)
        lua_pushvalue(L, absolute)
        lua_rawget(L, -2)
        defer { hs_pop(L, 2) }
        guard hs_isinteger(L, -1) != 0 else { return nil }
        let id = ChannelID(rawValue: UInt64(bitPattern: hs_tointeger(L, -1)))
        return channels[id] != nil ? id : nil
    }

    /// Reads a userdata handle (timer or socket_ref) holding one UInt64.
    private func handle(at index: Int32, metatable: Int32) -> UInt64? {
        guard lua_type(L, index) == LUA_TUSERDATA, hasMetatable(at: index, ref: metatable),
            let raw = lua_touserdata(L, index)
        else { return nil }
        return raw.load(as: UInt64.self)
    }

    /// Pushes a userdata handle holding `value` with the given metatable and `uservalues` slots.
    private func pushHandle(_ value: UInt64, metatable: Int32, uservalues: Int32 = 0) {
        if let raw = lua_newuserdatauv(L, MemoryLayout<UInt64>.size, uservalues) {
            raw.storeBytes(of: value, as: UInt64.self)
        }
        hs_getref(L, metatable)
        lua_setmetatable(L, -2)
    }

    func callNative(_ native: Native) -> Int32 {
        let name = native.luaName
        switch native {
        case .push, .broadcast, .broadcastFrom, .replyTo, .presenceTrack, .presenceUpdate, .presenceUntrack:
            sendsThisCallback += 1
            if sendsThisCallback > limits.maxSendsPerCallback {
                return fail("more than \(limits.maxSendsPerCallback) messages sent in one callback")
            }
        default:
            break
        }
        switch native {
        case .httpRequest:
            return httpRequest()
        case .jsonEncode, .jsonDecode:
            return json(native)
        case .kvGet, .kvSet, .kvIncr, .kvDelete, .kvPush, .kvRange:
            return keyValue(native)
        case .push, .broadcast, .broadcastFrom:
            guard let id = channel(forSocketAt: 1), let state = channels[id] else {
                return fail("bad argument #1 to '\(name)' (socket expected, got \(describe(at: 1)))")
            }
            guard !state.joining else {
                return fail("push/broadcast/reply not allowed in join (use phx.send_after(socket, 0, msg) and handle_info)")
            }
            guard let event = string(at: 2) else {
                return fail("bad argument #2 to '\(name)' (string expected, got \(describe(at: 2)))")
            }
            if native == .push, let listing = presenceListing(at: 3) {
                state.host?.push(id, event: event, listing: listing)  // sent as encoded once per change
                return 0
            }
            let payload: Payload
            do {
                payload = try readPayload(at: 3, path: "payload")
            } catch {
                return fail("bad argument #3 to '\(name)' (\(error))")
            }
            switch native {
            case .push: state.host?.push(id, event: event, payload: payload)
            default: state.host?.broadcast(id, event: event, payload: payload, excludeSelf: native == .broadcastFrom)
            }
            return 0

        case .socketRef:
            guard let id = channel(forSocketAt: 1), let state = channels[id] else {
                return fail("bad argument #1 to 'socket_ref' (socket expected, got \(describe(at: 1)))")
            }
            guard let ref = state.currentRef else {
                return fail("socket_ref is only valid inside handle_in")
            }
            pushHandle(id.rawValue, metatable: internals.refMT, uservalues: 1)
            push(ref)
            lua_setiuservalue(L, -2, 1)
            return 1

        case .replyTo:
            guard let raw = handle(at: 1, metatable: internals.refMT) else {
                return fail("bad argument #1 to 'reply_to' (socket_ref expected, got \(describe(at: 1)))")
            }
            guard let status = string(at: 2) else {
                return fail("bad argument #2 to 'reply_to' (string expected, got \(describe(at: 2)))")
            }
            let response: JSONValue
            do {
                response = lua_type(L, 3) <= LUA_TNIL ? .emptyObject : try readObject(at: 3, path: "payload")
            } catch {
                return fail("bad argument #3 to 'reply_to' (\(error))")
            }
            _ = lua_getiuservalue(L, 1, 1)
            let ref = (try? readJSON(at: -1, path: "ref")) ?? .null
            hs_pop(L, 1)
            let id = ChannelID(rawValue: raw)
            // A reply for a channel that has gone away goes nowhere, as in Phoenix.
            channels[id]?.host?.asyncReply(id, ref: ref, status: status, response: response)
            return 0

        case .sendAfter:
            guard let id = channel(forSocketAt: 1), let state = channels[id] else {
                return fail("bad argument #1 to 'send_after' (socket expected, got \(describe(at: 1)))")
            }
            guard lua_type(L, 2) == LUA_TNUMBER, hs_tonumber(L, 2) >= 0, hs_tonumber(L, 2).isFinite else {
                return fail("bad argument #2 to 'send_after' (milliseconds expected: a number >= 0)")
            }
            let milliseconds = Int(min(hs_tonumber(L, 2).rounded(.up), Double(Int32.max)))
            let timer = TimerID(rawValue: nextTimer)
            nextTimer += 1
            lua_pushvalue(L, 3)
            let message = hs_ref(L)
            timers[timer] = (id, message)
            channels[id]?.timers.insert(timer)
            state.host?.scheduleTimer(id, timer: timer, afterMilliseconds: milliseconds)
            pushHandle(timer.rawValue, metatable: internals.timerMT)
            return 1

        case .cancelTimer:
            guard let raw = handle(at: 1, metatable: internals.timerMT) else {
                return fail("bad argument #1 to 'cancel_timer' (timer expected, got \(describe(at: 1)))")
            }
            let timer = TimerID(rawValue: raw)
            let pending = timers[timer]
            if let pending {
                let host = channels[pending.channel]?.host
                forgetTimer(timer)
                host?.cancelTimer(timer)
            }
            lua_pushboolean(L, pending != nil ? 1 : 0)
            return 1

        case .log:
            let message = string(at: 1) ?? ""
            var metadata: Logger.Metadata = [:]
            if let running = runningScript {
                metadata["script"] = .string(running.path)
                if let topic = running.topic { metadata["topic"] = .string(topic) }
            }
            logger.info("\(message)", metadata: metadata)
            return 0

        case .loadLibrary:
            guard let module = string(at: 1) else {
                return fail("bad argument #1 to 'require' (string expected)")
            }
            let valid = !module.isEmpty && module.split(separator: ".", omittingEmptySubsequences: false).allSatisfy {
                !$0.isEmpty && $0.allSatisfy { $0 == "_" || $0 == "-" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }
            }
            guard valid, let source = scripts.library(named: module) else {
                lua_pushnil(L)
                pushString("module '\(module)' not found (require loads only channels/lib/<name>.lua)")
                return 2
            }
            librariesLoaded.insert(module)
            guard loadChunk(source.text, chunkName: "@" + source.path) == LUA_OK else {
                lua_pushnil(L)
                hs_insert(L, -2)
                return 2
            }
            return 1

        case .tokenSign:
            return tokenSign()

        case .rate:
            return rate()

        case .tokenVerify:
            return tokenVerify()
        case .jwtVerify:
            return jwtVerify()

        case .presenceTrack, .presenceUpdate, .presenceUntrack:
            return changePresence(native)

        case .presenceList:
            return listPresence()

        case .presenceFill:
            return fillPresenceList()
        }
    }

    /// `phx.presence.track(socket, key, meta, topic?)`, `update(…)` and `untrack(socket, key, topic?)`.
    private func changePresence(_ native: Native) -> Int32 {
        let name = String(native.luaName.dropFirst("presence_".count))
        guard let id = channel(forSocketAt: 1), let state = channels[id] else {
            return fail("bad argument #1 to '\(name)' (socket expected, got \(describe(at: 1)))")
        }
        guard !state.joining else {
            return fail("phx.presence.\(name) is not allowed in join "
                + "(use phx.send_after(socket, 0, msg) and call it in handle_info, as Phoenix does)")
        }
        let key: String
        switch lua_type(L, 2) {
        case LUA_TSTRING:
            key = string(at: 2) ?? ""
        case LUA_TNUMBER:  // Phoenix lists keys as strings: user 42 is "42"
            lua_pushvalue(L, 2)
            key = string(converting: -1)
            hs_pop(L, 1)
        default:
            return fail("bad argument #2 to '\(name)' (key expected: a string or a number, got \(describe(at: 2)))")
        }
        let change: PresenceChange
        let topicIndex: Int32
        if native == .presenceUntrack {
            change = .untrack
            topicIndex = 3
        } else {
            var meta: [String: JSONValue] = [:]
            if lua_type(L, 3) > LUA_TNIL {
                do {
                    if case .object(let fields) = try readObject(at: 3, path: "meta") { meta = fields }
                } catch {
                    return fail("bad argument #3 to '\(name)' (\(error))")
                }
            }
            change = native == .presenceTrack ? .track(meta: meta) : .update(meta: meta)
            topicIndex = 4
        }
        var topic: String?
        if lua_type(L, topicIndex) > LUA_TNIL {
            guard let given = string(at: topicIndex), !given.isEmpty else {
                return fail("bad argument #\(topicIndex) to '\(name)' (topic string expected, got \(describe(at: topicIndex)))")
            }
            topic = given
        }
        let result = state.host?.changePresence(id, topic: topic, key: key, change) ?? .failure(.unavailable)
        switch result {
        case .success(let ref?):
            pushString(ref)
            return 1
        case .success(nil):
            lua_pushboolean(L, 1)
            return 1
        case .failure(let refusal):
            lua_pushnil(L)
            pushString(refusal.rawValue)
            return 2
        }
    }

    /// `phx.presence.list(socket_or_topic)`: a proxy for the topic's shared list (see `SandboxPrelude`).
    private func listPresence() -> Int32 {
        let topic: String
        if let id = channel(forSocketAt: 1), let state = channels[id] {
            topic = state.topic
        } else if let given = string(at: 1), !given.isEmpty {
            topic = given
        } else {
            return fail("bad argument #1 to 'list' (socket or topic expected, got \(describe(at: 1)))")
        }
        guard let presence else { return fail("phx.presence.list: this VM has no presence tracker") }
        let listing = presence.list(topic: topic)
        lua_createtable(L, 0, 0)
        hs_getref(L, internals.listMT)
        lua_setmetatable(L, -2)
        hs_getref(L, internals.lists)
        lua_pushvalue(L, -2)
        hs_push_box(L, Unmanaged.passRetained(listing as AnyObject).toOpaque(), internals.boxMT)
        lua_rawset(L, -3)
        hs_pop(L, 1)
        return 1
    }

    /// The value at `index` as Lua's `tostring` writes it; a number is converted in place (pass a copy).
    private func string(converting index: Int32) -> String {
        var length = 0
        guard let pointer = hs_tostring(L, index, &length) else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: pointer, count: length), as: UTF8.self)
    }

    /// The shared list behind an untouched `phx.presence.list` proxy at `index`; nil for anything else.
    func presenceListing(at index: Int32) -> PresenceListing? {
        guard lua_type(L, index) == LUA_TTABLE, hasMetatable(at: index, ref: internals.listMT) else { return nil }
        let absolute = lua_absindex(L, index)
        hs_getref(L, internals.lists)
        lua_pushvalue(L, absolute)
        lua_rawget(L, -2)
        defer { hs_pop(L, 2) }
        guard lua_type(L, -1) == LUA_TUSERDATA, let object = hs_box_object(L, -1) else { return nil }
        return Unmanaged<AnyObject>.fromOpaque(object).takeUnretainedValue() as? PresenceListing
    }

    /// Copies a proxy's list into the proxy itself, which becomes a plain `phx.object` (first use).
    private func fillPresenceList() -> Int32 {
        guard let listing = presenceListing(at: 1) else { return 0 }
        hs_getref(L, internals.lists)
        lua_pushvalue(L, 1)
        lua_pushnil(L)
        lua_rawset(L, -3)  // the box goes with the next collection
        hs_pop(L, 1)
        if case .object(let members) = listing.value {
            for (key, member) in members {
                pushString(key)
                push(member)
                lua_rawset(L, 1)
            }
        }
        hs_getref(L, internals.objectMT)
        lua_setmetatable(L, 1)
        return 0
    }

    /// Forgets a pending timer (its message ref and its channel's record of it).
    func forgetTimer(_ timer: TimerID) {
        guard let pending = timers.removeValue(forKey: timer) else { return }
        hs_unref(L, pending.message)
        channels[pending.channel]?.timers.remove(timer)
    }
}
