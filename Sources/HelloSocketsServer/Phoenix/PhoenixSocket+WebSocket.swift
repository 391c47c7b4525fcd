import NIOCore
import NIOWebSocket
import PhoenixChannels
import WebSocketTransport

/// A `PhoenixSocket` carried by a WebSocket: whole messages in (at the socket's rate), Phoenix frames
/// out (the connection is its transport), close codes counted. A conformance rather than a wrapper: nothing
/// more to keep per connection.
extension PhoenixSocket: WebSocketSession {
    public func webSocketDidOpen(_ connection: WebSocketConnection) { open(connection) }

    public func webSocket(_ connection: WebSocketConnection, didReceive message: WebSocketMessage) {
        switch message {
        case .text(let bytes): receive(.text(bytes))
        case .binary(let bytes): receive(.binary(bytes))
        }
    }

    /// The socket's inbound rate limit, applied by the connection: a message over it waits, unread.
    public func webSocketAdmission(_ connection: WebSocketConnection) -> MessageAdmission {
        switch admitMessage() {
        case .proceed: return .proceed
        case .wait(let deadline): return .wait(until: deadline)
        case .close(let reason): return .close(reason: reason)
        }
    }

    public func webSocketDidClose(_ connection: WebSocketConnection) {
        metrics.closesByCode[connection.closeCode.map { "\($0)" } ?? "none", default: 0] += 1
        metrics.peakQueuedBytesPastMark = max(metrics.peakQueuedBytesPastMark, connection.peakQueuedBytesPastMark)
        closed()
    }
}

extension WebSocketConnection: PhoenixTransport {
    public func makeFrameBuffer(capacity: Int) -> ByteBuffer {
        .webSocketPayload(capacity: capacity)  // room for the frame header in front: framed in place
    }

    public func send(_ frame: PhoenixFrame) {
        switch frame {
        case .text(let bytes): send(WebSocketMessage.text(bytes))
        case .binary(let bytes): send(WebSocketMessage.binary(bytes))
        }
    }

    public func send(_ shared: SharedFrame) {
        if let prepared = shared.prepared as? PreparedMessage {
            send(prepared)
        } else {
            send(shared.frame)
        }
    }

    public func close(_ reason: SocketCloseReason) {
        switch reason {
        case .disconnected: close(code: .normalClosure, reason: "disconnected")
        case .undecodable(let why): close(code: .dataInconsistentWithMessage, reason: why)
        }
    }

    public func schedule(afterMilliseconds milliseconds: Int, _ body: @escaping () -> Void) -> PhoenixTimer {
        guard let loop = eventLoop else { return NoTimer() }  // closed: the timer can never fire
        return loop.scheduleTask(in: .milliseconds(Int64(milliseconds)), body)
    }
}

extension BroadcastEncoder {
    /// Broadcasts framed once as WebSocket frames, for every WebSocket subscriber to share.
    static let webSocket = BroadcastEncoder { frame in
        switch frame {
        case .text(let bytes): return PreparedMessage(.text(bytes))
        case .binary(let bytes): return PreparedMessage(.binary(bytes))
        }
    }
}
