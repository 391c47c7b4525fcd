import Logging
import NIOCore

/// A dedicated connection for `SUBSCRIBE`/`PSUBSCRIBE`: every message published to a channel it listens to is
/// handed to `onMessage` on `eventLoop` (the connection's own loop: no hop).
///
/// It remembers what it should listen to; after a reconnect it subscribes to all of it again before reporting
/// `.connected`. Messages published while it was down are lost (Redis pub/sub keeps nothing): the state callbacks
/// bracket the gap. Thread-safe; its state lives on `eventLoop`.
public final class RedisSubscriber: @unchecked Sendable {
    private enum Kind: String {
        case channels = "SUBSCRIBE"
        case patterns = "PSUBSCRIBE"

        var unsubscribe: String { self == .channels ? "UNSUBSCRIBE" : "PUNSUBSCRIBE" }
    }

    private let link: RedisLink
    private var wanted: [Kind: Set<String>] = [.channels: [], .patterns: []]
    /// What the current connection was asked to listen to; empty on a new connection.
    private var requested: [Kind: Set<String>] = [.channels: [], .patterns: []]
    /// The connection being prepared or connected, once it may carry subscriptions (after AUTH).
    private var subscribing: RedisClientHandler?

    /// The loop messages, futures and state changes arrive on.
    public var eventLoop: EventLoop { link.eventLoop }

    /// - Parameter onMessage: each published message, on `eventLoop`, in the order Redis sent them.
    /// - Parameter onStateChange: `.connected` each time a connection is ready with every subscription confirmed,
    ///   `.disconnected` when one is lost; on `eventLoop`.
    public init(
        configuration: RedisConfiguration,
        eventLoop: EventLoop,
        logger: Logger = Logger(label: "redis.subscriber"),
        onMessage: @escaping @Sendable (RedisPubSubMessage) -> Void,
        onStateChange: @escaping @Sendable (RedisConnectionState) -> Void = { _ in }
    ) {
        link = RedisLink(
            configuration: configuration,
            eventLoop: eventLoop,
            logger: logger,
            onMessage: onMessage,
            onStateChange: onStateChange
        )
        link.delegate = self
    }

    /// Connects; the future fails with why the first attempt failed. It goes on reconnecting until `close()`.
    public func connect() -> EventLoopFuture<Void> { link.start() }

    /// Listens to `channels`; the future succeeds once Redis confirmed each one.
    ///
    /// While disconnected it fails at once with `notConnected`, but the channels are remembered and subscribed to on
    /// reconnect, like every other.
    public func subscribe(_ channels: [String]) -> EventLoopFuture<Void> { change(.channels, adding: channels) }

    /// Listens to glob-style `patterns` (`news.*`); messages carry the pattern they matched.
    public func psubscribe(_ patterns: [String]) -> EventLoopFuture<Void> { change(.patterns, adding: patterns) }

    /// Stops listening to `channels` (messages already on their way may still arrive before the confirmation).
    public func unsubscribe(_ channels: [String]) -> EventLoopFuture<Void> { change(.channels, removing: channels) }

    /// Stops listening to `patterns`.
    public func punsubscribe(_ patterns: [String]) -> EventLoopFuture<Void> { change(.patterns, removing: patterns) }

    /// Closes the connection for good.
    public func close() -> EventLoopFuture<Void> { link.close() }

    private func change(
        _ kind: Kind, adding added: [String] = [], removing removed: [String] = []
    ) -> EventLoopFuture<Void> {
        eventLoop.flatSubmit { [self] in
            wanted[kind]?.formUnion(added)
            wanted[kind]?.subtract(removed)
            guard let handler = subscribing, handler.isActive else {
                return eventLoop.makeFailedFuture(link.unavailable)
            }
            return synchronize(kind, on: handler)
        }
    }

    /// Asks the connection for the difference between what is wanted and what it was asked for.
    private func synchronize(_ kind: Kind, on handler: RedisClientHandler) -> EventLoopFuture<Void> {
        let wantedNow = wanted[kind] ?? []
        let requestedNow = requested[kind] ?? []
        requested[kind] = wantedNow
        return request(kind.rawValue, Array(wantedNow.subtracting(requestedNow)), on: handler)
            .and(request(kind.unsubscribe, Array(requestedNow.subtracting(wantedNow)), on: handler))
            .map { _ in }
    }

    /// Sends `SUBSCRIBE`-like `command` for `names`: Redis confirms each name with its own reply
    /// (`["subscribe", name, count]`), which must be there before the future succeeds.
    private func request(_ command: String, _ names: [String], on handler: RedisClientHandler) -> EventLoopFuture<Void>
    {
        guard !names.isEmpty else { return eventLoop.makeSucceededVoidFuture() }
        let promises = names.map { _ in eventLoop.makePromise(of: RESPValue.self) }
        handler.send(RedisCommand([command] + names), promises: promises)
        let confirmation = command.lowercased()
        let futures = promises.map { promise in
            promise.futureResult.flatMapThrowing { reply in
                guard let kind = reply.elements?.first?.string, kind == confirmation else {
                    throw RedisClientError.unexpectedReply(command: command, reply: reply.description)
                }
            }
        }
        return EventLoopFuture.andAllSucceed(futures, on: eventLoop)
    }
}

extension RedisSubscriber: RedisLinkDelegate {
    func linkIsPreparing(_ handler: RedisClientHandler) -> EventLoopFuture<Void> {
        subscribing = handler
        requested = [.channels: [], .patterns: []]
        return synchronize(.channels, on: handler).and(synchronize(.patterns, on: handler)).map { _ in }
    }
}
