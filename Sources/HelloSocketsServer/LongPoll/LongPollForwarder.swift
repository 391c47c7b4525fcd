import Cluster
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import PhoenixChannels
import PhoenixProtocol

/// LongPoll across nodes (docs/cluster-design.md, "LongPoll forwarding"), so a round-robin load balancer needs no
/// sticky sessions: a request whose token names a session on another node is published to that node (`lp`), which
/// handles it as a local request (a poll is held up to the window) and publishes the answer back (`lp!`); this
/// node then answers its HTTP client with it. Both sides run on the cluster's event loop, without locks.
final class LongPollForwarder: @unchecked Sendable {
    /// What a forwarded request does.
    enum Operation: String, Sendable {
        /// A GET.
        case poll
        /// A POST of frames.
        case send
        /// Withdraws a poll forwarded before, whose client left: the owner keeps frames for the next poll.
        case withdraw
    }

    /// What came of a forwarded request.
    enum Outcome: Sendable {
        /// The owner's answer, or `{"status":410}` when it could not be had (no answer in time, Redis did not take
        /// the request, too many forwarded at once): the client reconnects, as for a gone session.
        case answer(LongPollAnswer)
        /// The owner is unknown or down, or holds no such session: as a token naming no session here.
        case noSession
    }

    /// `/metrics` figures, read on the cluster's loop.
    struct Counters: Sendable {
        /// Requests this node forwarded, by outcome (`Outcome.label`).
        var forwarded: [String: Int] = [:]
        /// Requests other nodes forwarded here, answered.
        var served = 0
        /// Forwarded requests waiting for their answer now.
        var pending = 0
        /// The round trip of forwarded POSTs, from publishing the request to its answer (a poll's includes its
        /// wait for frames, so it is not timed).
        var sendRoundTrip = LoopHistogram(boundsNanoseconds: [
            250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000, 25_000_000, 100_000_000, 1_000_000_000,
        ])
    }

    /// The outcomes counted in `hellosockets_longpoll_forwarded_total`.
    static let outcomes = ["answered", "no_session", "owner_down", "timeout", "unsent", "full", "client_left"]
    /// Forwarded requests waiting for an answer at once; past it a request is answered 410 (logged).
    static let maxPending = 10_000
    /// How much longer than the window a forwarded request waits for its answer.
    static let grace: TimeAmount = .seconds(5)

    private struct Pending {
        let owner: LongPollOwner
        let operation: Operation
        let sentAt: NIODeadline
        let promise: EventLoopPromise<Outcome>
        let timer: Scheduled<Void>
    }

    let node: ClusterNode
    private let window: TimeAmount
    private let logger: Logger
    private var pending: [String: Pending] = [:]
    private let nextRequest = NIOLockedValueBox<UInt64>(0)
    /// Forwarded polls held here, by request id: whether their client is still there (the requester withdraws them).
    private var servedPolls: [String: NIOLockedValueBox<Bool>] = [:]
    private var counters = Counters()
    private var fullLogged = false
    private var ownerCheck: RepeatedTask?

    init(node: ClusterNode, window: TimeAmount, logger: Logger) {
        self.node = node
        self.window = window
        self.logger = logger
        node.handleDirect(.longPollReply) { [weak self] header, body in self?.receiveReply(header, body: body) }
        ownerCheck = node.eventLoop.scheduleRepeatedTask(initialDelay: Self.ownerCheckInterval,
                                                         delay: Self.ownerCheckInterval) { [weak self] _ in
            self?.releaseRequestsOfGoneOwners()
        }
    }

    /// How often requests waiting for a node are checked against the node table: a node declared down, gone, or
    /// restarted will not answer, and its requests are released within this of the news (not after the timeout).
    static let ownerCheckInterval: TimeAmount = .milliseconds(250)

    deinit { ownerCheck?.cancel() }

    /// Shutdown: answers every request still waiting for another node with 410 (a gone session: the client
    /// reconnects elsewhere) and stops checking owners. Nothing is left waiting on a loop that is about to stop.
    func stop() -> EventLoopFuture<Void> {
        node.eventLoop.submit { [self] in
            ownerCheck?.cancel()
            ownerCheck = nil
            let waiting = pending
            pending.removeAll()
            for entry in waiting.values {
                entry.timer.cancel()
                entry.promise.succeed(.answer(.status(410)))
            }
        }
    }

    /// The counters now.
    func status() -> EventLoopFuture<Counters> {
        node.eventLoop.submit { [self] in
            var counters = counters
            counters.pending = pending.count
            return counters
        }
    }

    // MARK: Requester side

    /// A new request id, `"NODE/INCARNATION/COUNTER"`. Thread-safe. The incarnation matters: a node restarted under
    /// the same name counts from 1 again, and an answer to its previous life's request must not match one of its own.
    func makeRequestID() -> String {
        "\(node.identity.name)/\(node.identity.incarnation)/\(nextRequest.withLockedValue { $0 += 1; return $0 })"
    }

    /// Withdraws forwarded poll `id` (its client left): the owner is told, so it keeps the frames for the next poll.
    /// Thread-safe.
    func withdraw(_ id: String) {
        node.eventLoop.execute { [self] in
            guard let entry = pending.removeValue(forKey: id) else { return }
            entry.timer.cancel()
            count("client_left")
            _ = node.sendDirect(.longPollRequest, to: entry.owner.name, body: nil) {
                $0.extra = ["r": .string(id), "op": .string(Operation.withdraw.rawValue)]
            }
            entry.promise.succeed(.answer(.status(410)))  // nobody reads it: the client is gone
        }
    }

    /// Sends request `id` to the node holding its session; the future has its answer. Thread-safe.
    func forward(
        _ operation: Operation, id: String, token: String, uri: String, contentType: String?, body: ByteBuffer?,
        to owner: LongPollOwner
    ) -> EventLoopFuture<Outcome> {
        node.eventLoop.flatSubmit { [self] in
            let loop = node.eventLoop
            guard let peer = node.peer(owner.name), peer.incarnation == owner.incarnation, peer.status == .up else {
                count("no_session")
                return loop.makeSucceededFuture(.noSession)
            }
            guard pending.count < Self.maxPending else {
                count("full")
                if !fullLogged {
                    fullLogged = true
                    logger.warning("""
                        LongPoll: \(Self.maxPending) requests forwarded to other nodes wait for their answer; \
                        answering 410 to more until some are answered
                        """)
                }
                return loop.makeSucceededFuture(.answer(.status(410)))
            }
            let promise = loop.makePromise(of: Outcome.self)
            let timer = loop.scheduleTask(in: window + Self.grace) { [self] in
                guard pending.removeValue(forKey: id) != nil else { return }
                count("timeout")
                logger.warning("LongPoll: node \(owner.name) did not answer forwarded request \(id) in time: 410")
                promise.succeed(.answer(.status(410)))
            }
            pending[id] = Pending(owner: owner, operation: operation, sentAt: .now(), promise: promise, timer: timer)
            var fields: [String: JSONValue] = [
                "r": .string(id), "op": .string(operation.rawValue), "tok": .string(token), "u": .string(uri),
            ]
            if let contentType { fields["ct"] = .string(contentType) }
            node.sendDirect(.longPollRequest, to: owner.name, body: body) { $0.extra = fields }
                .whenFailure { [self] error in
                    guard let entry = pending.removeValue(forKey: id) else { return }
                    entry.timer.cancel()
                    count("unsent")
                    logger.debug("LongPoll: request \(id) not forwarded to \(owner.name) (\(error)): 410")
                    promise.succeed(.answer(.status(410)))
                }
            return promise.futureResult
        }
    }

    private func receiveReply(_ header: ClusterHeader, body: ByteBuffer) {
        guard case .string(let id)? = header.extra["r"], let entry = pending[id],
            Self.isAnswer(from: header, to: entry.owner), case .integer(let status)? = header.extra["st"],
            Self.validStatuses.contains(status)
        else {
            return logger.debug("LongPoll: a reply from \(header.origin) answers no request waiting here")
        }
        pending[id] = nil
        entry.timer.cancel()
        if pending.count < Self.maxPending / 2 { fullLogged = false }
        if header.extra["g"] == .bool(true) {
            count("no_session")
            return entry.promise.succeed(.noSession)
        }
        count("answered")
        if entry.operation == .send {
            counters.sendRoundTrip.record(nanoseconds: (NIODeadline.now() - entry.sentAt).nanoseconds)
        }
        let json = header.extra["j"] == .bool(true)
        entry.promise.succeed(.answer(LongPollAnswer(
            status: HTTPResponseStatus(statusCode: Int(status)), headers: LongPollAnswer.headers(json: json), body: body,
            bodyStatus: header.extra["bst"].flatMap { if case .integer(let s) = $0 { Int(s) } else { nil } })))
    }

    /// HTTP statuses an answer may carry (anything else, e.g. a negative number, is not an answer: it would trap).
    static let validStatuses: ClosedRange<Int64> = 100...599

    /// Whether `header` comes from the very incarnation of the node a request was sent to (the same name after a
    /// restart is another node, which never saw the request).
    static func isAnswer(from header: ClusterHeader, to owner: LongPollOwner) -> Bool {
        header.origin == owner.name && header.incarnation == owner.incarnation
    }

    /// Answers the requests waiting for a node that is now down, gone or restarted as if it held no session.
    private func releaseRequestsOfGoneOwners() {
        guard !pending.isEmpty else { return }
        var gone: [String: Bool] = [:]
        for (id, entry) in pending {
            let isGone = gone[entry.owner.name] ?? {
                let peer = node.peer(entry.owner.name)
                let isGone = peer == nil || peer?.status != .up || peer?.incarnation != entry.owner.incarnation
                gone[entry.owner.name] = isGone
                return isGone
            }()
            guard isGone else { continue }
            pending[id] = nil
            entry.timer.cancel()
            count("owner_down")
            entry.promise.succeed(.noSession)
        }
        if gone.values.contains(true) {
            logger.info("LongPoll: released requests waiting for nodes now down or gone (their sessions are lost)")
        }
    }

    private func count(_ outcome: String) {
        counters.forwarded[outcome, default: 0] += 1
    }

    // MARK: Owner side

    /// Serves requests other nodes forward here with `serve` (the LongPoll endpoint: the session's answer, or
    /// nil when no session here has that token) and sends each answer back.
    func serveForwarded(
        with serve: @escaping @Sendable (ForwardedRequest) -> EventLoopFuture<LongPollAnswer?>
    ) {
        node.handleDirect(.longPollRequest) { [weak self] header, body in
            guard let self else { return }
            guard case .string(let id)? = header.extra["r"], case .string(let op)? = header.extra["op"],
                let operation = Operation(rawValue: op)
            else {
                return logger.warning("LongPoll: a malformed request forwarded by \(header.origin) was dropped")
            }
            if operation == .withdraw {
                servedPolls[id]?.withLockedValue { $0 = false }
                return
            }
            guard case .string(let token)? = header.extra["tok"], case .string(let uri)? = header.extra["u"] else {
                return logger.warning("LongPoll: a malformed request forwarded by \(header.origin) was dropped")
            }
            let request = ForwardedRequest(
                id: id, operation: operation, token: token, uri: uri, contentType: header.extra["ct"]?.stringValue,
                body: body, eventLoop: node.eventLoop, clientThere: NIOLockedValueBox(true))
            if operation == .poll { servedPolls[id] = request.clientThere }
            let requester = header.origin
            serve(request).hop(to: node.eventLoop).whenSuccess { answer in
                self.servedPolls[id] = nil
                self.counters.served += 1
                var fields: [String: JSONValue] = ["r": .string(id)]
                if let answer {
                    fields["st"] = .integer(Int64(answer.status.code))
                    if let status = answer.bodyStatus { fields["bst"] = .integer(Int64(status)) }
                    if answer.headers["content-type"].first?.hasPrefix("application/json") == true {
                        fields["j"] = .bool(true)
                    }
                } else {
                    fields["st"] = .integer(410)
                    fields["g"] = .bool(true)
                }
                _ = self.node.sendDirect(.longPollReply, to: requester, body: answer?.body) { $0.extra = fields }
            }
        }
    }
}

/// A request another node forwarded here.
struct ForwardedRequest: Sendable {
    /// The requester's id for it (`"NODE/INCARNATION/COUNTER"`).
    let id: String
    let operation: LongPollForwarder.Operation
    let token: String
    /// The request's URI as the client sent it (the mount, and the params for logs).
    let uri: String
    let contentType: String?
    let body: ByteBuffer
    /// The loop the answer is made on.
    let eventLoop: EventLoop
    /// Whether the requester's client is still there (false once the requester withdrew the poll).
    let clientThere: NIOLockedValueBox<Bool>
}
