import NIOCore
import NIOHTTP1
import WebSocketTransport

/// The answer of a WebSocket endpoint to a valid handshake.
enum SessionDecision {
    /// Upgrade, and hand the connection to this session.
    case accept(WebSocketSession)
    /// Refuse with this status and a short body (e.g. 403 when a socket's `connect` says no).
    case reject(HTTPResponseStatus, String)
    /// Decided later, on the connection's loop (a `connect` waiting for I/O): the closure given
    /// gets the decision.
    case pending((@escaping (SessionDecision) -> Void) -> Void)
}

/// Something served behind a WebSocket upgrade (a Phoenix socket mount). Called on the connection's event loop.
protocol WebSocketEndpoint: Sendable {
    func session(for head: HTTPRequestHead, on eventLoop: EventLoop) -> SessionDecision
}
