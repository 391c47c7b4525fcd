import Logging
import NIOCore
import NIOPosix

/// A connection's state as its owner sees it.
public enum RedisConnectionState: Sendable {
    /// Connected, authenticated, database selected (and, for a subscriber, every subscription confirmed).
    case connected
    /// A connected connection was lost (or closed); it reconnects by itself unless closed.
    case disconnected(Error)
}

/// What a link's owner does on each new connection after `AUTH` and `SELECT`, before it counts as connected.
protocol RedisLinkDelegate: AnyObject {
    func linkIsPreparing(_ handler: RedisClientHandler) -> EventLoopFuture<Void>
}

/// One logical connection to a Redis server that outlives TCP connections: it connects, authenticates, selects the
/// database, reconnects with backoff after a loss, and tells its owner when it goes up or down.
///
/// Commands are written only while connected; otherwise they fail at once (`notConnected`): nothing queues while
/// the server is away. All state lives on `eventLoop`.
final class RedisLink: @unchecked Sendable {
    private enum State {
        case idle
        case connecting
        case connected(RedisClientHandler)
        case waitingToReconnect(Scheduled<Void>)
        case closed
    }

    let configuration: RedisConfiguration
    let eventLoop: EventLoop
    private let logger: Logger
    private let onMessage: ((RedisPubSubMessage) -> Void)?
    private let onStateChange: (RedisConnectionState) -> Void
    weak var delegate: RedisLinkDelegate?

    private var state = State.idle
    /// The TCP channel of the current attempt or connection, so `close()` can close it at any stage.
    private var channel: Channel?
    /// Failed attempts since the last connection (or since `start`).
    private var failedAttempts = 0
    /// Why the last connection or attempt ended.
    private var lastCause: Error?
    private var outageStarted: NIODeadline?
    /// The cause of the last failed attempt logged as a warning: a retry failing the same way logs at debug only.
    private var lastLoggedFailure: String?

    init(
        configuration: RedisConfiguration,
        eventLoop: EventLoop,
        logger: Logger,
        onMessage: ((RedisPubSubMessage) -> Void)?,
        onStateChange: @escaping (RedisConnectionState) -> Void
    ) {
        self.configuration = configuration
        self.eventLoop = eventLoop
        var logger = logger
        logger[metadataKey: "redis"] = "\(configuration.serverDescription)"
        self.logger = logger
        self.onMessage = onMessage
        self.onStateChange = onStateChange
    }

    /// Starts connecting; the future tells how the first attempt went. Either way the link keeps (re)connecting
    /// in the background until `close()`.
    func start() -> EventLoopFuture<Void> {
        eventLoop.flatSubmit { [self] in
            // Started already: say whether it is connected now.
            guard case .idle = state else {
                if case .connected = state { return eventLoop.makeSucceededVoidFuture() }
                return eventLoop.makeFailedFuture(unavailable)
            }
            let firstAttempt = eventLoop.makePromise(of: Void.self)
            attempt(reporting: firstAttempt)
            return firstAttempt.futureResult
        }
    }

    /// Sends a command if connected; fails at once otherwise.
    func send(_ command: RedisCommand) -> EventLoopFuture<RESPValue> {
        guard eventLoop.inEventLoop else { return eventLoop.flatSubmit { self.send(command) } }
        guard case .connected(let handler) = state else { return eventLoop.makeFailedFuture(unavailable) }
        guard handler.pendingCount < configuration.maxPendingCommands else {
            return eventLoop.makeFailedFuture(
                RedisClientError.tooManyPendingCommands(limit: configuration.maxPendingCommands))
        }
        let promise = eventLoop.makePromise(of: RESPValue.self)
        handler.send(command, promise: promise)
        return promise.futureResult
    }

    /// Why a command cannot be sent now.
    var unavailable: RedisClientError {
        if case .closed = state { return .closed }
        return .notConnected(server: configuration.serverDescription, cause: lastCause.map { "\($0)" })
    }

    /// Closes the connection and stops reconnecting; commands awaiting replies fail with `closed`.
    func close() -> EventLoopFuture<Void> {
        eventLoop.flatSubmit { [self] in
            let wasConnected: Bool
            switch state {
            case .closed: return eventLoop.makeSucceededVoidFuture()
            case .waitingToReconnect(let retry):
                retry.cancel()
                wasConnected = false
            case .connected(let handler):
                handler.close(because: RedisClientError.closed)
                wasConnected = true
            case .idle, .connecting:
                wasConnected = false
            }
            state = .closed
            guard let channel else { return eventLoop.makeSucceededVoidFuture() }
            channel.close(promise: nil)
            if wasConnected { onStateChange(.disconnected(RedisClientError.closed)) }
            return channel.closeFuture
        }
    }

    private func attempt(reporting firstAttempt: EventLoopPromise<Void>?) {
        state = .connecting
        let handler = RedisClientHandler(server: configuration.serverDescription, onMessage: onMessage)
        let limits = configuration.limits
        ClientBootstrap(group: eventLoop)
            .connectTimeout(configuration.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(RESPReplyDecoder(limits: limits)))
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .connect(host: configuration.host, port: configuration.port)
            .flatMap { [self] channel -> EventLoopFuture<Void> in
                guard case .connecting = state else {
                    channel.close(promise: nil)
                    return eventLoop.makeFailedFuture(RedisClientError.closed)
                }
                self.channel = channel
                watch(handler)
                return handshake(handler)
            }
            .assumeIsolated()
            .whenComplete { [self] result in
                switch result {
                case .success:
                    connected(handler, firstAttempt: firstAttempt)
                case .failure(let error):
                    let cause = handler.closeCause ?? error
                    handler.close(because: cause)
                    attemptFailed(cause, firstAttempt: firstAttempt)
                }
            }
    }

    /// AUTH, SELECT, PING, then the owner's preparation (a subscriber resubscribes), one after the other.
    private func handshake(_ handler: RedisClientHandler) -> EventLoopFuture<Void> {
        var steps: [RedisCommand] = []
        if let password = configuration.password {
            steps.append(RedisCommand(configuration.username.map { ["AUTH", $0, password] } ?? ["AUTH", password]))
        }
        if configuration.database != 0 { steps.append(["SELECT", .integer(configuration.database)]) }
        // A stopped server still completes TCP handshakes (the kernel accepts): only a reply shows it is alive.
        steps.append(["PING"])
        var done = eventLoop.makeSucceededVoidFuture()
        for step in steps {
            done = done.flatMap { [eventLoop] in
                let promise = eventLoop.makePromise(of: RESPValue.self)
                handler.send(step, promise: promise)
                return promise.futureResult.map { _ in }
            }
        }
        return done.flatMap { [self] in delegate?.linkIsPreparing(handler) ?? eventLoop.makeSucceededVoidFuture() }
    }

    private func connected(_ handler: RedisClientHandler, firstAttempt: EventLoopPromise<Void>?) {
        guard case .connecting = state, handler.isActive else {
            // Closed meanwhile (by `close()` or the server): treat as a failed attempt.
            attemptFailed(handler.closeCause ?? RedisClientError.closed, firstAttempt: firstAttempt)
            return
        }
        state = .connected(handler)
        if let outageStarted {
            logger.info(
                "Redis connection back",
                metadata: [
                    "attempts": "\(failedAttempts + 1)",
                    "outage_ms": "\((NIODeadline.now() - outageStarted).nanoseconds / 1_000_000)",
                ])
        } else {
            logger.debug("Redis connection up")
        }
        failedAttempts = 0
        outageStarted = nil
        lastCause = nil
        lastLoggedFailure = nil
        firstAttempt?.succeed()
        onStateChange(.connected)
        channel?.closeFuture.assumeIsolated().whenComplete { [self] _ in
            guard case .connected(let current) = state, current === handler else { return }
            let cause =
                handler.closeCause
                ?? RedisClientError.connectionLost(
                    server: configuration.serverDescription, cause: "closed by the server")
            lastCause = cause
            outageStarted = .now()
            logger.warning("Redis connection lost; reconnecting", metadata: ["cause": "\(cause)"])
            onStateChange(.disconnected(cause))
            scheduleReconnect()
        }
    }

    private func attemptFailed(_ cause: Error, firstAttempt: EventLoopPromise<Void>?) {
        lastCause = cause
        if outageStarted == nil { outageStarted = .now() }
        firstAttempt?.fail(cause)
        guard case .connecting = state else { return }  // closed
        let text = "\(cause)"
        logger.log(
            level: text == lastLoggedFailure ? .debug : .warning, "Redis connection attempt failed; retrying",
            metadata: ["attempt": "\(failedAttempts + 1)", "cause": "\(text)"])
        lastLoggedFailure = text
        failedAttempts += 1
        scheduleReconnect()
    }

    private func scheduleReconnect() {
        let delay = configuration.backoff.delay(attempt: failedAttempts, random: Double.random(in: 0..<1))
        let retry = eventLoop.assumeIsolated().scheduleTask(in: delay) { [self] in
            guard case .waitingToReconnect = state else { return }
            attempt(reporting: nil)
        }
        state = .waitingToReconnect(retry)
    }

    /// Closes a connection that awaits replies and got none for `replyTimeout`, and pings an idle one (a dead server
    /// is noticed even without traffic, and on a subscriber, which otherwise only listens). Runs until it closes.
    private func watch(_ handler: RedisClientHandler) {
        let replyTimeout = configuration.replyTimeout
        let idlePing = configuration.healthCheckInterval
        let tick = TimeAmount.nanoseconds(max(min(replyTimeout.nanoseconds, idlePing.nanoseconds) / 2, 10_000_000))
        eventLoop.assumeIsolated().scheduleTask(in: tick) { [self] in
            guard handler.isActive else { return }
            let now = NIODeadline.now()
            if let waiting = handler.waitingSince, now - waiting > replyTimeout {
                let server = configuration.serverDescription
                handler.close(because: RedisClientError.replyTimeout(server: server, after: replyTimeout))
                return
            }
            if handler.pendingCount == 0, now - handler.lastActivity >= idlePing {
                handler.send(["PING"], promise: eventLoop.makePromise())
            }
            watch(handler)
        }
    }
}
