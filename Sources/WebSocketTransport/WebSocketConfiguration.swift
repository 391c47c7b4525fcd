import NIOCore

/// Limits and options of the WebSocket layer.
public struct WebSocketConfiguration: Sendable {
    /// Largest message accepted, after reassembly and after inflating (RFC 6455 §10.4); larger closes with 1009.
    public var maxMessageSize: Int
    /// Close with 1000 after this long without any frame from the client (Phoenix/Cowboy: 60 s).
    public var idleTimeout: TimeAmount
    /// After we send a close frame, wait this long for the client's before closing TCP (RFC 6455 §7.1.1).
    public var closeTimeout: TimeAmount
    /// permessage-deflate policy, or nil to refuse compression.
    public var deflate: PerMessageDeflate.Policy?
    /// Bytes queued for a client that isn't reading before we give up on it: close 1008 (policy violation).
    /// Without it a stalled subscriber under a broadcast stream would grow the server's memory without bound.
    public var maxPendingOutbound: Int

    public init(
        maxMessageSize: Int = 1 << 20,
        idleTimeout: TimeAmount = .seconds(60),
        closeTimeout: TimeAmount = .seconds(3),
        deflate: PerMessageDeflate.Policy? = PerMessageDeflate.Policy(),
        maxPendingOutbound: Int = 8 << 20
    ) {
        self.maxMessageSize = maxMessageSize
        self.idleTimeout = idleTimeout
        self.closeTimeout = closeTimeout
        self.deflate = deflate
        self.maxPendingOutbound = maxPendingOutbound
    }
}
