import CLua
import CLuaShim
import Foundation
import PhoenixProtocol

/// Callbacks as coroutines (OpenResty's cosockets): every suspendable callback runs in a Lua
/// thread of its own. A native that has to wait (`phx.http.request`, a Redis-backed `phx.kv`)
/// starts its operation, records what it waits for and returns `HS_YIELD`; the C trampoline then
/// yields the thread (the longjmp never crosses a Swift frame). The answer comes back through
/// `services.executor` on the VM's loop, is pushed onto the thread and resumes it for another
/// slice with a fresh instruction budget. When the callback finally returns, its result reaches
/// whoever is waiting for it (the `ChannelHost`, or a connect completion).
extension LuaVM {
    /// A callback waiting for an answer.
    struct Suspension {
        var thread: OpaquePointer
        var threadRef: Int32
        /// The callback function (a `CallSite` for wrong-result messages once it returns).
        var functionRef: Int32
        var path: String
        var topic: String?
        /// `handle_in`, `join`…, for messages.
        var callback: String
        var channel: ChannelID?
        /// What it waits for now.
        var wait: Wait?
        /// The callback timeout's timer.
        var deadline: ScriptCancellable?
        /// Maps the callback's final outcome to its result and says where it goes. Runs inside the
        /// VM (the outcome's values are on the stack); the delivery runs after the VM is free again.
        var finish: (Outcome) -> Delivery
    }

    /// One operation a suspended callback waits for.
    struct Wait {
        var id: UInt64
        /// `phx.http.request GET http://…`.
        var what: String
        /// Where the script called it: `channels/room.lua:12`.
        var site: String
        var cancel: ScriptCancellable?
    }

    /// Where a finished suspended callback's result goes.
    enum Delivery {
        case host(ChannelHost?, ChannelID, SuspendedResult)
        case connect((ConnectResult) -> Void, ConnectResult)
        case nothing

        func deliver() {
            switch self {
            case .host(let host, let id, let result): host?.callbackFinished(id, result)
            case .connect(let completion, let result): completion(result)
            case .nothing: break
            }
        }
    }

    /// The coroutine pool's size: threads that finished cleanly are reused (no allocation per callback).
    static let idleThreadLimit = 32

    // MARK: Running

    /// Runs the function at `top + 1` of the main stack (a copy of it, the call site, sits at
    /// `site`) with the `nargs` arguments above it, as a coroutine.
    func runCoroutine(nargs: Int32, top: Int32, site: CallSite, path: String, topic: String?, callback: String) -> Outcome {
        guard let (thread, ref) = takeThread() else {
            lua_settop(L, top)
            return .failed(ScriptError(
                kind: .memory, script: path, topic: topic, message: "\(path): no memory for \(callback)'s coroutine"))
        }
        lua_xmove(L, thread, nargs + 1)
        return slice(thread, ref, nargs: nargs, top: top, site: site, path: path, topic: topic, callback: callback,
                     suspended: nil)
    }

    /// One resume slice. On return the main stack is back at `top`, except after `.returned`
    /// (the callback function at `site` and its first result on top, as `invoke` leaves them).
    private func slice(
        _ thread: OpaquePointer, _ ref: Int32, nargs: Int32, top: Int32, site: CallSite, path: String, topic: String?,
        callback: String, suspended key: UInt64?
    ) -> Outcome {
        runningThread = thread
        runningScript = (path, topic)
        pendingWait = nil
        var results: Int32 = 0
        let status = hs_resume(thread, mainState, nargs, &results)
        runningThread = nil
        runningScript = nil
        switch status {
        case LUA_OK:
            if results > 0 {
                lua_pushvalue(thread, lua_gettop(thread) - results + 1)
                lua_xmove(thread, L, 1)
            } else {
                lua_pushnil(L)
            }
            lua_settop(thread, 0)
            releaseThread(thread, ref)
            return .returned(top: top, site: site)
        case LUA_YIELD:
            lua_settop(thread, 0)
            guard let wait = pendingWait else {
                // coroutine.yield called at the callback's own level: not ours to resume.
                let position = position(in: thread, level: 1) ?? path
                dropThread(ref)
                lua_settop(L, top)
                return .failed(ScriptError(
                    kind: .runtime, script: path, topic: topic,
                    message: "\(position): coroutine.yield outside a coroutine the script created (\(callback) cannot yield)"))
            }
            pendingWait = nil
            let id: UInt64
            if let key {
                id = key
                suspensions[key]?.wait = wait
            } else {
                id = nextSuspension
                nextSuspension += 1
                lua_pushvalue(L, site.functionIndex)
                let functionRef = hs_ref(L)
                var suspension = Suspension(
                    thread: thread, threadRef: ref, functionRef: functionRef, path: path, topic: topic,
                    callback: callback, channel: nil, wait: wait, deadline: nil, finish: { _ in .nothing })
                suspension.deadline = services.schedule(services.callbackTimeoutMilliseconds) { [weak self] in
                    self?.timeOut(id)
                }
                suspensions[id] = suspension
            }
            waitingOn[wait.id] = id
            lua_settop(L, top)
            return .suspended(id)
        default:
            lua_xmove(thread, L, 1)
            let error = scriptError(status: status, path: path, topic: topic)
            dropThread(ref)
            lua_settop(L, top)
            recoverAfterError()
            return .failed(error)
        }
    }

    /// Sets what happens when the suspended callback `key` finishes (the entry point that started it calls this).
    func onFinish(_ key: UInt64, channel: ChannelID?, _ finish: @escaping (Outcome) -> Delivery) {
        suspensions[key]?.finish = finish
        suspensions[key]?.channel = channel
        if let channel { channels[channel]?.suspension = key }
    }

    // MARK: Waiting (called by natives)

    /// Why the running native cannot wait here, or nil when it can.
    func cannotWait(_ name: String) -> String? {
        if shuttingDown { return "\(name) cannot wait: the server is shutting down" }
        guard let running = runningThread, running == L, lua_isyieldable(L) != 0 else {
            return "\(name) can only wait in a callback itself (join, handle_in, handle_out, handle_info, terminate, "
                + "connect), not while a script loads, in migrate or id, inside a coroutine of the script's own, "
                + "a metamethod or an iterator"
        }
        return nil
    }

    /// Records that the running callback waits for operation `id`, and returns `HS_YIELD` for the native to return.
    func suspend(_ id: UInt64, what: String, site: String, cancel: ScriptCancellable?) -> Int32 {
        pendingWait = Wait(id: id, what: what, site: site, cancel: cancel)
        return HS_YIELD
    }

    /// A new id for an operation a callback will wait for.
    func makeWaitID() -> UInt64 {
        defer { nextWait += 1 }
        return nextWait
    }

    /// Resumes the callback waiting for operation `wait` (on the VM's loop), with what `push`
    /// pushes (onto the callback's thread) as the results of the native call. Nothing happens when
    /// the callback timed out or its channel went away meanwhile.
    func resume(_ wait: UInt64, push: @escaping (LuaVM) -> Int32) {
        guard let key = waitingOn.removeValue(forKey: wait), var suspension = suspensions[key] else {
            return  // the callback timed out or its channel went away meanwhile
        }
        guard enter() else {
            // Never expected (answers arrive through the executor): try again once the VM is free.
            waitingOn[wait] = key
            services.executor { [weak self] in self?.resume(wait, push: push) }
            return
        }
        suspension.wait = nil
        suspensions[key] = suspension
        let top = lua_gettop(L)
        hs_getref(L, suspension.functionRef)
        let site = CallSite(functionIndex: top + 1)
        let saved = L
        L = suspension.thread
        let count = push(self)
        L = saved
        let outcome = slice(
            suspension.thread, suspension.threadRef, nargs: count, top: top, site: site, path: suspension.path,
            topic: suspension.topic, callback: suspension.callback, suspended: key)
        var delivery = Delivery.nothing
        if case .suspended = outcome {
            // waits again
        } else {
            end(key, threadDisposed: true)  // the slice returned its thread to the pool, or dropped it
            delivery = suspension.finish(outcome)
        }
        lua_settop(L, top)
        leave()
        delivery.deliver()
    }

    /// The callback timeout: the callback is abandoned and ends as a crash.
    private func timeOut(_ key: UInt64) {
        guard let suspension = suspensions[key] else { return }
        let waiting = suspension.wait.map { ", still waiting here for \($0.what)" } ?? ""
        let position = suspension.wait?.site ?? suspension.path
        let error = ScriptError(
            kind: .timeout, script: suspension.path, topic: suspension.topic,
            message: "\(position): \(suspension.callback) did not finish within "
                + "\(services.callbackTimeoutMilliseconds) ms (--lua-callback-timeout)\(waiting)")
        abandon(key, ending: error)
    }

    /// Ends a suspended callback before it finished: its result is `.failed(error)`.
    private func abandon(_ key: UInt64, ending error: ScriptError) {
        guard let suspension = suspensions[key] else { return }
        suspension.wait?.cancel?.cancel()
        end(key, threadDisposed: false)
        guard enter() else {
            services.executor { suspension.finish(.failed(error)).deliver() }
            return
        }
        let delivery = suspension.finish(.failed(error))
        leave()
        delivery.deliver()
    }

    /// Forgets a suspension (finished, timed out or abandoned). A thread the last slice did not
    /// dispose of (back to the pool when it finished, dropped when it failed) is dropped here: it
    /// may be in any state (suspended mid-call), so the collector has it. Never twice: a ref
    /// released twice would hand one registry slot to two owners.
    private func end(_ key: UInt64, threadDisposed: Bool) {
        guard let suspension = suspensions.removeValue(forKey: key) else { return }
        if let wait = suspension.wait { waitingOn[wait.id] = nil }
        suspension.deadline?.cancel()
        hs_unref(L, suspension.functionRef)
        if let channel = suspension.channel, channels[channel]?.suspension == key { channels[channel]?.suspension = nil }
        if !threadDisposed { dropThread(suspension.threadRef) }
    }

    /// Drops the suspended callback of a channel that is going away without its result (hot reload
    /// deleted its script, or the channel is discarded): nothing is delivered.
    func dropSuspension(of channel: ChannelID) {
        guard let key = channels[channel]?.suspension, let suspension = suspensions[key] else { return }
        suspension.wait?.cancel?.cancel()
        end(key, threadDisposed: false)
    }

    /// Server shutdown: from now on nothing may wait (a native that would fails with an error), and
    /// callbacks waiting now are abandoned; each ends as a crash naming where it waited. Returns how many.
    @discardableResult
    public func beginShutdown() -> Int {
        shuttingDown = true
        let keys = suspensions.keys.sorted()
        for key in keys {
            guard let suspension = suspensions[key] else { continue }
            let position = suspension.wait?.site ?? suspension.path
            let what = suspension.wait.map { " waiting for \($0.what)" } ?? ""
            abandon(key, ending: ScriptError(
                kind: .timeout, script: suspension.path, topic: suspension.topic,
                message: "\(position): \(suspension.callback) abandoned at shutdown\(what)"))
        }
        return keys.count
    }

    /// Callbacks waiting right now.
    public var suspendedCount: Int { suspensions.count }

    /// True while the channel's callback waits (its later messages must wait too: the mailbox).
    public func isSuspended(_ channel: ChannelID) -> Bool { channels[channel]?.suspension != nil }

    // MARK: Threads

    private func takeThread() -> (OpaquePointer, Int32)? {
        if let idle = idleThreads.popLast() { return idle }
        guard let thread = lua_newthread(L) else { return nil }
        return (thread, hs_ref(L))
    }

    private func releaseThread(_ thread: OpaquePointer, _ ref: Int32) {
        if idleThreads.count < Self.idleThreadLimit { idleThreads.append((thread, ref)) } else { hs_unref(L, ref) }
    }

    private func dropThread(_ ref: Int32) {
        hs_unref(L, ref)
    }

    /// `chunk:line` of the Lua function `level` levels up the thread's stack.
    func position(in thread: OpaquePointer, level: Int32) -> String? {
        var buffer = [CChar](repeating: 0, count: 256)
        guard hs_where(thread, level, &buffer, buffer.count) != 0 else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// The final result of a callback that waited, delivered to its `ChannelHost`.
public enum SuspendedResult: Sendable, Equatable {
    /// The channel's `join` finished (on `.error` and `.crashed` the channel is gone from the VM).
    case join(JoinResult)
    /// `handle_in`, `handle_out` or `handle_info` finished, as the host had started it.
    case callback(CallbackResult)
    /// `terminate` finished (or failed, which is logged); the channel is gone from the VM.
    case terminated
}
