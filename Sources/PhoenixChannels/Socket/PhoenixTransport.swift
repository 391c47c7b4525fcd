import NIOCore

/// One serialized Phoenix message as a transport carries it: text (JSON) or binary (the V2 binary
/// format). Inbound frames come from the client; outbound ones go to it.
public enum PhoenixFrame: Equatable, Sendable {
    case text(ByteBuffer)
    case binary(ByteBuffer)

    /// The frame's bytes, whatever its kind.
    public var bytes: ByteBuffer {
        switch self {
        case .text(let bytes), .binary(let bytes): return bytes
        }
    }
}

/// Why the server ends a Phoenix socket; each transport says it its own way (a WebSocket close code,
/// the end of a LongPoll session).
public enum SocketCloseReason: Equatable, Sendable {
    /// A `disconnect` broadcast to the socket's id topic (Phoenix closes with 1000).
    case disconnected
    /// Undecodable input (PROTOCOL.md rule 7: the WebSocket closes with 1007 and says what was wrong).
    case undecodable(String)
}

/// What a `PhoenixSocket` needs from the connection it serves, whatever carries it: frames out,
/// closing, and timers on the socket's own loop. The server's WebSocket connection is one;
/// `InProcessEndpoint` has an in-memory one with a manual clock (the channel test harness).
public protocol PhoenixTransport: AnyObject {
    /// For logs.
    var id: String { get }
    /// A buffer to encode one outbound frame into: a transport that adds a header of its own can
    /// leave room for it in front (the WebSocket frames a reply in place, with no copy).
    func makeFrameBuffer(capacity: Int) -> ByteBuffer
    func send(_ frame: PhoenixFrame)
    /// Sends a broadcast's frame, encoded once for every subscriber of this node.
    func send(_ shared: SharedFrame)
    func close(_ reason: SocketCloseReason)
    /// Runs `body` after `milliseconds`, on the socket's loop, unless cancelled first.
    func schedule(afterMilliseconds milliseconds: Int, _ body: @escaping () -> Void) -> PhoenixTimer
}

extension PhoenixTransport {
    public func makeFrameBuffer(capacity: Int) -> ByteBuffer {
        ByteBufferAllocator().buffer(capacity: capacity)
    }
}

/// A scheduled timer of a `PhoenixTransport`.
public protocol PhoenixTimer {
    func cancel()
}

extension Scheduled: PhoenixTimer {}

/// A timer that can never fire (the transport closed before it was scheduled).
public struct NoTimer: PhoenixTimer {
    public init() {}
    public func cancel() {}
}
