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
    /// The clock of the socket's rate limits and timers (the in-memory transport's is manual).
    var now: NIODeadline { get }
}

extension PhoenixTransport {
    public func makeFrameBuffer(capacity: Int) -> ByteBuffer {
        ByteBufferAllocator().buffer(capacity: capacity)
    }

    public var now: NIODeadline { .now() }
}

/// What a transport does with the next message from its client (`PhoenixSocket.admitMessage()`,
/// the inbound rate limit).
public enum InboundAdmission: Equatable, Sendable {
    /// Hand it to `receive` now.
    case proceed
    /// Hold it, and read nothing more from the client, until this time; then ask again. Nothing is
    /// dropped or reordered: the client is slowed down (TCP backpressure, or a LongPoll POST answered later).
    case wait(until: NIODeadline)
    /// The client stayed over the limit past the grace: close it (a WebSocket with 1008 and this reason).
    case close(reason: String)
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
