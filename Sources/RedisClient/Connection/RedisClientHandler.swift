import NIOCore

/// A message published to a channel a `RedisSubscriber` listens to.
public struct RedisPubSubMessage: Sendable {
    /// The channel it was published to.
    public let channel: String
    /// The pattern it matched, for `PSUBSCRIBE` subscriptions.
    public let pattern: String?
    /// The payload, as published.
    public let payload: ByteBuffer
}

/// The end of a Redis connection's pipeline: writes commands, and completes their promises in order as replies
/// arrive (Redis answers every command in the order sent, so a FIFO of promises is all pipelining needs).
///
/// On a subscriber connection, published messages are handed to `onMessage` instead (they are not replies).
/// Used only on its channel's event loop.
final class RedisClientHandler: ChannelInboundHandler {
    typealias InboundIn = RESPValue
    typealias OutboundOut = ByteBuffer

    private struct Pending {
        let promise: EventLoopPromise<RESPValue>
        let command: String
        let sentAt: NIODeadline
    }

    private let server: String
    private let onMessage: ((RedisPubSubMessage) -> Void)?
    private var pending = CircularBuffer<Pending>(initialCapacity: 64)
    private var context: ChannelHandlerContext?
    private var flushScheduled = false
    /// Whether the channel is still open; commands sent after it closed fail at once.
    private(set) var isActive = true
    /// Why we closed the connection, when we did (a bound hit, a reply timeout, `close()`).
    private(set) var closeCause: Error?
    /// When the last command was written or the last reply read.
    private(set) var lastActivity = NIODeadline.now()
    /// When the last reply (or published message) was read.
    private var lastReplyAt = NIODeadline.now()

    init(server: String, onMessage: ((RedisPubSubMessage) -> Void)?) {
        self.server = server
        self.onMessage = onMessage
    }

    /// Commands written and not answered yet.
    var pendingCount: Int { pending.count }

    /// Since when replies are awaited without one arriving: the later of the last reply and the oldest unanswered
    /// command's write; nil when nothing is awaited. A deep pipeline's head may wait long on a busy server, but a
    /// server that keeps answering is alive.
    var waitingSince: NIODeadline? {
        guard let oldest = pending.first?.sentAt else { return nil }
        return max(oldest, lastReplyAt)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    /// Writes `command`; `promise` gets its reply (a top-level error reply fails it with `RedisServerError`).
    func send(_ command: RedisCommand, promise: EventLoopPromise<RESPValue>) {
        send(command, promises: CollectionOfOne(promise))
    }

    /// Writes a command that gets one reply per promise (`SUBSCRIBE a b` is confirmed once per channel).
    func send<Promises: Sequence<EventLoopPromise<RESPValue>>>(_ command: RedisCommand, promises: Promises) {
        guard isActive, let context else {
            let error = RedisClientError.connectionLost(server: server, cause: closeCause.map { "\($0)" })
            for promise in promises { promise.fail(error) }
            return
        }
        lastActivity = .now()
        for promise in promises {
            pending.append(Pending(promise: promise, command: command.name, sentAt: lastActivity))
        }
        context.write(wrapOutboundOut(command.encoded), promise: nil)
        // One flush for every command written in this turn of the event loop: pipelined commands share a syscall.
        if !flushScheduled {
            flushScheduled = true
            context.eventLoop.assumeIsolated().execute { [self] in
                flushScheduled = false
                self.context?.flush()
            }
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let value = unwrapInboundIn(data)
        lastActivity = .now()
        lastReplyAt = lastActivity
        if let onMessage, let message = Self.publishedMessage(value) {
            onMessage(message)
            return
        }
        guard let head = pending.popFirst() else {
            close(because: RedisClientError.unexpectedReply(command: "", reply: value.description))
            return
        }
        if case .error(let message) = value {
            head.promise.fail(RedisServerError(message: message, command: head.command))
        } else {
            head.promise.succeed(value)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if let decoding = error as? RESPDecodingError {
            close(because: RedisClientError.protocolViolation(server: server, decoding))
        } else {
            close(because: error)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        isActive = false
        let error: RedisClientError
        if case .closed? = closeCause as? RedisClientError {
            error = .closed
        } else {
            error = .connectionLost(server: server, cause: closeCause.map { "\($0)" })
        }
        while let lost = pending.popFirst() { lost.promise.fail(error) }
        context.fireChannelInactive()
    }

    /// Closes the connection, remembering the first reason given.
    func close(because cause: Error) {
        if closeCause == nil { closeCause = cause }
        context?.close(promise: nil)
    }

    /// A `message` or `pmessage` array (RESP2) or push (RESP3); nil for anything else, e.g. a reply.
    private static func publishedMessage(_ value: RESPValue) -> RedisPubSubMessage? {
        guard let elements = value.elements, elements.count >= 3, case .bulkString(let kind?) = elements[0] else {
            return nil
        }
        let view = kind.readableBytesView
        if elements.count == 3, view.elementsEqual("message".utf8),
            case .bulkString(let channel?) = elements[1], case .bulkString(let payload?) = elements[2]
        {
            return RedisPubSubMessage(channel: String(buffer: channel), pattern: nil, payload: payload)
        }
        if elements.count == 4, view.elementsEqual("pmessage".utf8), case .bulkString(let pattern?) = elements[1],
            case .bulkString(let channel?) = elements[2], case .bulkString(let payload?) = elements[3]
        {
            return RedisPubSubMessage(
                channel: String(buffer: channel), pattern: String(buffer: pattern), payload: payload)
        }
        return nil
    }
}
