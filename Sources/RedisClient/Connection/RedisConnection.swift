import Logging
import NIOCore

/// A pipelined connection for commands: `send` writes at once, and replies complete the futures in the order the
/// commands were sent, with any number in flight (up to `maxPendingCommands`).
///
/// It reconnects by itself after a loss (backoff from `configuration.backoff`) and reports each change to
/// `onStateChange`. While it is down, `send` fails at once with `RedisClientError.notConnected`: nothing is queued,
/// so a caller can count what did not go through. Thread-safe; futures complete on `eventLoop`.
public final class RedisConnection: Sendable {
    private let link: RedisLink

    /// The loop its I/O, futures and callbacks run on.
    public var eventLoop: EventLoop { link.eventLoop }
    public var configuration: RedisConfiguration { link.configuration }

    /// - Parameter onStateChange: `.connected` each time a connection is ready, `.disconnected` when one is lost;
    ///   called on `eventLoop`.
    public init(
        configuration: RedisConfiguration,
        eventLoop: EventLoop,
        logger: Logger = Logger(label: "redis"),
        onStateChange: @escaping @Sendable (RedisConnectionState) -> Void = { _ in }
    ) {
        link = RedisLink(
            configuration: configuration,
            eventLoop: eventLoop,
            logger: logger,
            onMessage: nil,
            onStateChange: onStateChange
        )
    }

    /// A connection to a `redis://` URL (see `RedisConfiguration.init(url:)`); throws `RedisURLError` for a bad one.
    public convenience init(
        url: String,
        eventLoop: EventLoop,
        logger: Logger = Logger(label: "redis"),
        onStateChange: @escaping @Sendable (RedisConnectionState) -> Void = { _ in }
    ) throws {
        self.init(
            configuration: try RedisConfiguration(url: url), eventLoop: eventLoop, logger: logger,
            onStateChange: onStateChange)
    }

    /// Connects; the future fails with why the first attempt failed (refused, `WRONGPASS`, a bad `SELECT`…).
    /// Either way it goes on reconnecting in the background until `close()`.
    public func connect() -> EventLoopFuture<Void> { link.start() }

    /// Sends a command; its reply, or `RedisServerError` for an error reply, or `RedisClientError`.
    public func send(_ command: RedisCommand) -> EventLoopFuture<RESPValue> { link.send(command) }

    /// Sends a command given as text arguments: `send(["SET", key, value])`.
    public func send(_ arguments: [String]) -> EventLoopFuture<RESPValue> { link.send(RedisCommand(arguments)) }

    /// Closes the connection for good; commands awaiting replies fail with `RedisClientError.closed`.
    public func close() -> EventLoopFuture<Void> { link.close() }
}
