import Dispatch
import PhoenixProtocol

/// Identifies one joined channel inside one `LuaVM`. Unique per VM, never reused.
public struct ChannelID: Hashable, Sendable, CustomStringConvertible {
    /// The raw number.
    public let rawValue: UInt64
    /// Wraps a raw number.
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public var description: String { "channel#\(rawValue)" }
}

/// Identifies one timer started by `phx.send_after`. Unique per VM, never reused.
public struct TimerID: Hashable, Sendable, CustomStringConvertible {
    /// The raw number.
    public let rawValue: UInt64
    /// Wraps a raw number.
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public var description: String { "timer#\(rawValue)" }
}

/// What a channel script sees of the Phoenix socket it joins through (`socket.id`,
/// `socket.params`, the initial `socket.assigns`).
public struct SocketContext: Sendable, Equatable {
    /// The socket id from `socket.lua`'s `id(socket)`, or nil.
    public var id: String?
    /// The connect params (the WebSocket URL's query parameters), normally an object.
    public var params: JSONValue
    /// The assigns set at connect time (`phx.ok(assigns)` from `socket.lua`'s `connect`).
    public var assigns: JSONValue

    /// A context with the given fields.
    public init(id: String? = nil, params: JSONValue = .emptyObject, assigns: JSONValue = .emptyObject) {
        self.id = id
        self.params = params
        self.assigns = assigns
    }
}

/// The outcome of a channel's `join`.
public enum JoinResult: Sendable, Equatable {
    /// `phx.ok(reply?)`: the join succeeded; reply `ok` with this response (`{}` by default).
    case ok(JSONValue)
    /// `phx.error(reply)`: the join was refused; reply `error` with this response.
    case error(JSONValue)
    /// The script raised, overran a limit or returned a wrong shape ("join crashed").
    case crashed(ScriptError)
    /// The join waits for I/O; its result comes through `ChannelHost.callbackFinished`.
    case suspended
}

/// A reply to send for a pushed message: `phx_reply` with this status and response.
public struct ReplyValue: Sendable, Equatable {
    /// `"ok"`, `"error"` or any other status the script chose.
    public var status: String
    /// The response object.
    public var response: JSONValue
    /// A reply with the given fields.
    public init(status: String, response: JSONValue) {
        self.status = status
        self.response = response
    }
}

/// The outcome of `handle_in`, `handle_out` or `handle_info`.
public enum CallbackResult: Sendable, Equatable {
    /// Nothing to send (`phx.noreply()` or no return value).
    case noreply
    /// Send `phx_reply` with this status and response (handle_in only).
    case reply(status: String, response: JSONValue)
    /// Stop the channel: send the reply if any, then `phx_close` when `isCleanStop(reason)`,
    /// else `phx_error`; then call `vm.terminate(id, reason:)`.
    case stop(reason: String, reply: ReplyValue?)
    /// The script raised or overran a limit: send `phx_error`, then call `vm.discard(id)`.
    case crashed(ScriptError)
    /// The callback waits for I/O; its result comes through `ChannelHost.callbackFinished`, and the
    /// channel's other messages must wait until then (its mailbox).
    case suspended
}

/// The outcome of `socket.lua`'s `connect` and `id`.
public enum ConnectResult: Sendable, Equatable {
    /// Accept the connection with these assigns and this socket id.
    case ok(assigns: JSONValue, id: String?)
    /// Refuse the connection (HTTP 403), with the script's reason (`{}` by default).
    case error(JSONValue)
    /// The script failed; refuse the connection and log the error.
    case crashed(ScriptError)
    /// `connect` waits for I/O; its result goes to the completion given to `LuaVM.connect`.
    case suspended
}

/// True when a stop reason means a clean close (`phx_close`): `normal`, `shutdown` or
/// `shutdown:<anything>`. Any other reason means `phx_error`, as in Phoenix.
public func isCleanStop(_ reason: String) -> Bool {
    reason == "normal" || reason == "shutdown" || reason.hasPrefix("shutdown:")
}

/// The server's side of a channel, implemented by the Phoenix socket that owns the channel.
///
/// The VM calls these (but `callbackFinished`) synchronously while a Lua callback runs, on the VM's
/// event loop. They must not call back into the same `LuaVM` synchronously (a broadcast that reaches an intercepting
/// channel on this loop must be delivered later, e.g. with `eventLoop.execute`): re-entrant calls
/// are refused with a `.misuse` error.
public protocol ChannelHost: AnyObject {
    /// `phx.push`: send `[join_ref, null, topic, event, payload]` to this channel's client.
    func push(_ channel: ChannelID, event: String, payload: Payload)
    /// `phx.broadcast` (`excludeSelf == false`) or `phx.broadcast_from` (`true`) on the channel's topic.
    func broadcast(_ channel: ChannelID, event: String, payload: Payload, excludeSelf: Bool)
    /// `phx.reply_to`: a late reply to the message whose ref is `ref`.
    func asyncReply(_ channel: ChannelID, ref: JSONValue, status: String, response: JSONValue)
    /// `phx.send_after`: call `vm.fireTimer(channel, timer:)` after this many milliseconds.
    func scheduleTimer(_ channel: ChannelID, timer: TimerID, afterMilliseconds: Int)
    /// `phx.cancel_timer`, or the channel ended: forget this timer (firing it later is harmless).
    func cancelTimer(_ timer: TimerID)
    /// `phx.presence.track/update/untrack` for this channel under `key` on `topic` (nil: the channel's
    /// own topic). Returns the new `phx_ref` (track, update) or nil (untrack).
    func changePresence(_ channel: ChannelID, topic: String?, key: String, _ change: PresenceChange)
        -> Result<String?, PresenceRefusal>
    /// `phx.push(socket, event, phx.presence.list(…))`: a listing pushed as it is, so the host can send
    /// bytes it encoded once for every channel that pushes the same list.
    func push(_ channel: ChannelID, event: String, listing: PresenceListing)
    /// A callback that returned `.suspended` finished. Called on the VM's loop with the VM free
    /// again: the host may run the channel's next message from here.
    func callbackFinished(_ channel: ChannelID, _ result: SuspendedResult)
    /// The channel's clock for `phx.rate`, in monotonic nanoseconds (a test harness may run a manual one).
    var monotonicNanoseconds: UInt64 { get }
}

extension ChannelHost {
    public func changePresence(_ channel: ChannelID, topic: String?, key: String, _ change: PresenceChange)
        -> Result<String?, PresenceRefusal>
    {
        .failure(.unavailable)
    }

    public func push(_ channel: ChannelID, event: String, listing: PresenceListing) {
        push(channel, event: event, payload: .json(listing.value))
    }

    public var monotonicNanoseconds: UInt64 { DispatchTime.now().uptimeNanoseconds }
}
