import NIOCore
import NIOWebSocket
import WebSocketTransport

/// What a `PhoenixSocket` needs from the connection it serves: frames out, closing, and timers
/// on the socket's own loop. `WebSocketConnection` is the real one; `InProcessEndpoint` has an
/// in-memory one with a manual clock (the channel test harness).
protocol PhoenixTransport: AnyObject {
    /// For logs.
    var id: String { get }
    func send(_ message: WebSocketMessage)
    /// Sends a message framed once for many sockets (a broadcast).
    func send(_ prepared: PreparedMessage)
    func close(code: WebSocketErrorCode, reason: String)
    /// Runs `body` after `milliseconds`, on the socket's loop, unless cancelled first.
    func schedule(afterMilliseconds milliseconds: Int, _ body: @escaping () -> Void) -> PhoenixTimer
}

/// A scheduled timer of a `PhoenixTransport`.
protocol PhoenixTimer {
    func cancel()
}

extension Scheduled: PhoenixTimer {}

private struct NoTimer: PhoenixTimer {
    func cancel() {}
}

extension WebSocketConnection: PhoenixTransport {
    func schedule(afterMilliseconds milliseconds: Int, _ body: @escaping () -> Void) -> PhoenixTimer {
        guard let loop = eventLoop else { return NoTimer() }  // closed: the timer can never fire
        return loop.scheduleTask(in: .milliseconds(Int64(milliseconds)), body)
    }
}
