import NIOCore

/// How fast one Phoenix socket may send (`--client-message-rate`, `--client-message-burst`,
/// `--client-throttle-grace`) and join (`--join-rate`): its fair share of its event loop, whatever
/// transport carries it.
public struct SocketLimits: Sendable, Equatable {
    /// Inbound messages per second (heartbeats included); 0 turns the limit off.
    public var messageRate: Double
    /// Messages a socket may send back to back before the rate applies.
    public var messageBurst: Int
    /// Continuous throttling tolerated before the socket is closed (WebSocket 1008); zero never closes.
    public var throttleGrace: TimeAmount
    /// `phx_join`s per second (each runs a script's `join`); 0 turns the limit off.
    public var joinRate: Double
    /// Joins a socket may send back to back before the rate applies.
    public var joinBurst: Int

    /// The server's defaults: 100 messages a second (burst 200, grace 10 s), 10 joins a second (burst 20).
    public init(
        messageRate: Double = 100,
        messageBurst: Int = 200,
        throttleGrace: TimeAmount = .seconds(10),
        joinRate: Double = 10,
        joinBurst: Int = 20
    ) {
        self.messageRate = messageRate
        self.messageBurst = messageBurst
        self.throttleGrace = throttleGrace
        self.joinRate = joinRate
        self.joinBurst = joinBurst
    }

    /// No limit at all (tests and tools that drive a socket as fast as they can).
    public static let unlimited = SocketLimits(messageRate: 0, joinRate: 0)
}
