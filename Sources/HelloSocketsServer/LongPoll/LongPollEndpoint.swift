import Cluster
import Logging
import LuaRuntime
import NIOCore
import NIOHTTP1
import PhoenixChannels
import Tokens
import WebSocketTransport

/// Phoenix's LongPoll transport (Phoenix.Transports.LongPoll) for every socket mount, at `<mount>/longpoll`:
/// - `GET` without a valid token runs `socket.lua`'s `connect` and opens a session: `{"messages":[],"status":410,
///   "token":T}`, or `{"status":403}` when refused (or `vsn` is not one we speak);
/// - `GET` with a token answers at once with every frame queued, else holds for the window, then 204;
///   a token naming no live session (unknown, forged, its session ended) opens a new session instead;
/// - `POST` with a token hands the body's frames to the session: `{"status":200}`, `{"status":410}` for an
///   unknown token, `{"error":…,"status":400}` for a frame that isn't one;
/// - `OPTIONS` answers CORS preflights; other methods get a plain 400.
/// The token travels as the `token` query parameter (phoenix.js up to 1.8) or the `X-Phoenix-Longpoll-Token`
/// header (later clients). Every answer carries `access-control-allow-origin: *`: the Origin is checked
/// instead (check_origin → `{"status":403}`).
struct LongPollEndpoint: Sendable {
    /// Each socket mount's per-loop runtimes, by mount path.
    let mounts: [String: LoopRuntimes]
    let registry: LongPollRegistry
    let connections: ConnectionTracker
    /// `--max-connections-per-ip`, `--connect-rate-per-ip`: a session counts as a WebSocket does; nil when off.
    let addressLimiter: AddressLimiter?
    /// Signs session tokens (the server's secret, as `phx.token`).
    let signer: TokenSigner
    let settings: LongPollSession.Settings
    /// The largest POST body taken (`--max-message-size`).
    let maxBodyBytes: Int
    let timerWheels: PerEventLoop<TimerWheel>
    let observerHub: ObserverHub?
    /// With `--redis`: forwards requests for sessions on other nodes, and serves theirs for sessions here.
    let forwarder: LongPollForwarder?
    let logger: Logger

    static let tokenHeader = "x-phoenix-longpoll-token"

    /// Answers one request on its connection's event loop. `body` is nil when it went over
    /// `--max-message-size` (then it was not kept); `refusedOrigin` is set when check_origin failed.
    func respond(to request: LongPollRequest, mount: String, body: ByteBuffer?, refusedOrigin: String?)
        -> EventLoopFuture<LongPollAnswer>
    {
        let loop = request.eventLoop
        if let refusedOrigin {
            logger.warning("refused LongPoll: origin \(refusedOrigin) not allowed",
                           metadata: ["conn": "\(request.connectionID)"])
            return loop.makeSucceededFuture(outsideSessions(request, .status(403)))
        }
        switch request.head.method {
        case .GET:
            let promise = loop.makePromise(of: LongPollAnswer.self)
            let token = token(of: request)
            withSession(token: token, mount: mount) { session in
                if let session {
                    session.poll(request, answer: promise)
                } else {
                    onLoop(loop) {
                        forward(request, .poll, token: token, body: nil, answer: promise) {
                            openSession(request, mount: mount) { promise.succeed($0) }
                        }
                    }
                }
            }
            return promise.futureResult
        case .POST:
            guard let body else {
                let tooLarge = LongPollAnswer.error(413, "the body is over \(maxBodyBytes) bytes (--max-message-size)")
                return loop.makeSucceededFuture(outsideSessions(request, tooLarge))
            }
            let promise = loop.makePromise(of: LongPollAnswer.self)
            let token = token(of: request)
            withSession(token: token, mount: mount) { session in
                guard let session else {
                    return forward(request, .send, token: token, body: body, answer: promise) {
                        promise.succeed(outsideSessions(request, .status(410)))
                    }
                }
                let contentType = request.head.headers["content-type"].first
                let (lines, malformed) = LongPollPostBody.frames(of: body, contentType: contentType)
                // Answered once every frame was handed over: later when the socket is over its message rate.
                session.receive(lines, malformed: malformed, request: request) { promise.succeed($0) }
            }
            return promise.futureResult
        case .OPTIONS:
            // A CORS preflight: allow what the browser asks for (the Origin check guards the rest).
            let asked = request.head.headers["access-control-request-headers"].joined(separator: ", ")
            return loop.makeSucceededFuture(outsideSessions(request, .plain(.ok, extraHeaders: [
                "access-control-allow-headers": asked,
                "access-control-allow-methods": "get, post, options",
                "access-control-max-age": "3600",
            ])))
        default:
            return loop.makeSucceededFuture(outsideSessions(request, .plain(.badRequest)))
        }
    }

    /// An answer no session gave (a refusal, a preflight, an unknown token on POST), shown to the observer.
    private func outsideSessions(_ request: LongPollRequest, _ answer: LongPollAnswer) -> LongPollAnswer {
        if let observerHub { LongPollObserver.outsideSessions(hub: observerHub, request: request, answer: answer) }
        return answer
    }

    /// The session token a request carries, if any.
    private func token(of request: LongPollRequest) -> String? {
        request.head.headers[Self.tokenHeader].first ?? QueryString.lastValue(of: "token", in: request.head.uri)
    }

    /// Runs `body` on the loop owning the session `token` names, with that session, or with nil when the
    /// token names none alive here (no token, an unknown or forged one, an ended session, another node's).
    private func withSession(token: String?, mount: String, _ body: @escaping (LongPollSession?) -> Void) {
        guard let token, let index = LongPollToken.loop(of: token), let owner = registry.loop(at: index) else {
            return body(nil)
        }
        onLoop(owner) { [registry] in body(registry.sessions(on: owner).session(token: token, mount: mount)) }
    }

    // MARK: Across nodes

    /// A request whose token names no session here: forwarded to the node holding it when the token is ours and
    /// names another node that is up (then `promise` gets that node's answer), else `otherwise` (also when that
    /// node holds no such session any more), on the request's loop.
    private func forward(
        _ request: LongPollRequest, _ operation: LongPollForwarder.Operation, token: String?, body: ByteBuffer?,
        answer promise: EventLoopPromise<LongPollAnswer>, otherwise: @escaping () -> Void
    ) {
        // The MAC is checked only here: a token no session here holds, on a node of a cluster.
        guard let forwarder, let token, let owner = LongPollToken.owner(of: token, signer: signer),
            owner.incarnation != nil, owner.name != forwarder.node.identity.name
        else { return otherwise() }
        let id = forwarder.makeRequestID()
        let forwarded = forwarder.forward(
            operation, id: id, token: token, uri: request.head.uri,
            contentType: request.head.headers["content-type"].first, body: body, to: owner)
        // A poll whose client leaves, or left already, is withdrawn (after it was sent, so the owner sees the poll
        // first): the owner keeps the frames for the next one.
        if operation == .poll { request.departure?.onLeave { forwarder.withdraw(id) } }
        forwarded.hop(to: request.eventLoop).whenSuccess { outcome in
            switch outcome {
            case .answer(let answer): promise.succeed(answer)
            case .noSession: otherwise()
            }
        }
    }

    /// Handles a request another node forwarded, as a local one: the session's answer, or nil when no session
    /// here has that token.
    func serve(_ forwarded: ForwardedRequest) -> EventLoopFuture<LongPollAnswer?> {
        let loop = forwarded.eventLoop
        guard case .longPoll(let mount) = Route(uri: forwarded.uri, phoenixMounts: Set(mounts.keys), longPoll: true)
        else { return loop.makeSucceededFuture(nil) }
        var headers = HTTPHeaders()
        if let contentType = forwarded.contentType { headers.add(name: "content-type", value: contentType) }
        let head = HTTPRequestHead(
            version: .http1_1, method: forwarded.operation == .poll ? .GET : .POST, uri: forwarded.uri,
            headers: headers)
        // The requester withdraws a poll whose client left: then frames wait for the next poll.
        let request = LongPollRequest(
            head: head, connectionID: "via \(forwarded.id)", eventLoop: loop,
            isClientThere: { [clientThere = forwarded.clientThere] in clientThere.withLockedValue { $0 } }, peer: nil,
            client: nil, received: .now())
        let promise = loop.makePromise(of: LongPollAnswer?.self)
        withSession(token: forwarded.token, mount: mount) { session in
            guard let session else { return promise.succeed(nil) }
            switch forwarded.operation {
            case .withdraw:
                promise.succeed(nil)
            case .poll:
                let answer = loop.makePromise(of: LongPollAnswer.self)
                session.poll(request, answer: answer)
                promise.completeWith(answer.futureResult.map(Optional.some))
            case .send:
                let (lines, malformed) = LongPollPostBody.frames(of: forwarded.body, contentType: forwarded.contentType)
                session.receive(lines, malformed: malformed, request: request) { promise.succeed($0) }
            }
        }
        return promise.futureResult
    }

    /// The node new sessions' tokens name: this node's cluster identity, else `phx.node` of `runtime`.
    private func owner(on runtime: LoopRuntime) -> LongPollOwner {
        if let identity = forwarder?.node.identity {
            return LongPollOwner(name: identity.name, incarnation: identity.incarnation)
        }
        return LongPollOwner(name: runtime.vm.node, incarnation: nil)
    }

    // MARK: New sessions

    /// A new session on this request's loop (Phoenix's `new_session`); `answer` gets the reply, later when
    /// `socket.lua`'s `connect` waits for I/O.
    private func openSession(_ request: LongPollRequest, mount: String, answer: @escaping (LongPollAnswer) -> Void) {
        let loop = request.eventLoop
        guard let runtimes = mounts[mount], let loopIndex = registry.index(of: loop) else { return answer(.status(403)) }
        // Per-address limits before `socket.lua`'s connect runs; the slot is the session's until it ends.
        var addressSlot: AddressSlot?
        if let addressLimiter, let client = request.client {
            if let refusal = addressLimiter.claim(client, connectionID: request.connectionID) {
                return answer(.plain(.tooManyRequests, extraHeaders: refusal.headers, body: refusal.body))
            }
            addressSlot = AddressSlot(limiter: addressLimiter, address: client)
        }
        let runtime = runtimes.runtime(on: loop)
        let now = PhoenixEndpoint.connect(
            request.head, transport: "longpoll", mount: mount, runtime: runtime, logger: logger
        ) { connected in
            answer(self.openSession(
                request, mount: mount, connected: connected, runtime: runtime, loopIndex: loopIndex, slot: addressSlot))
        }
        if let now {
            answer(openSession(
                request, mount: mount, connected: now, runtime: runtime, loopIndex: loopIndex, slot: addressSlot))
        }
    }

    /// A per-address slot a session holds (`AddressLimiter`), given back when it ends or never opens.
    private struct AddressSlot {
        let limiter: AddressLimiter
        let address: IPAddress
        func release() { limiter.release(address) }
    }

    private func openSession(
        _ request: LongPollRequest, mount: String, connected: Result<PhoenixSocket, ConnectRefusal>,
        runtime: LoopRuntime, loopIndex: Int, slot: AddressSlot?
    ) -> LongPollAnswer {
        let loop = request.eventLoop
        let socket: PhoenixSocket
        switch connected {
        case .success(let opened):
            socket = opened
        case .failure(let refusal):
            slot?.release()
            logger.warning("refused LongPoll session: \(refusal)", metadata: ["conn": "\(request.connectionID)"])
            return outsideSessions(request, .status(403))
        }
        guard connections.claimLongPollSession() else {
            slot?.release()
            logger.warning("refused LongPoll session: connection limit reached",
                           metadata: ["conn": "\(request.connectionID)"])
            // A real 503, not Phoenix's JSON: phoenix.js then retries with backoff (it has no case for a 503 body).
            return outsideSessions(request, .plain(.serviceUnavailable, body: "Too many connections; try again later.\n"))
        }
        let token: String
        do {
            token = try LongPollToken.make(owner: owner(on: runtime), loop: loopIndex, signer: signer)
        } catch {
            connections.releaseLongPollSession()
            slot?.release()
            logger.error("cannot sign a LongPoll token: \(error)")
            return .plain(.internalServerError)
        }
        let id = registry.makeSessionID()
        let observer = observerHub.map {
            LongPollObserver(
                hub: $0, sessionID: id, token: token, followID: Redaction.followID(in: request.head.headers))
        }
        let sessions = registry.sessions(on: loop)
        let session = LongPollSession(
            id: id, token: token, mount: mount, socket: socket, settings: settings,
            timerWheel: timerWheels.value(on: loop), observer: observer, logger: logger
        ) { [connections] session, reason in
            sessions.remove(session, reason: reason)
            connections.releaseLongPollSession()
            slot?.release()
        }
        sessions.add(session)
        socket.open(session)
        logger.debug("LongPoll session open",
                     metadata: ["session": "\(id)", "conn": "\(request.connectionID)", "mount": "\(mount)"])
        let answer = LongPollAnswer.messages([], status: 410, token: token)
        observer?.opened(request, answer: answer)
        return answer
    }
}

/// Runs `body` on `loop`: at once when already there, else as a task there.
private func onLoop(_ loop: EventLoop, _ body: @escaping () -> Void) {
    if loop.inEventLoop { body() } else { loop.execute(body) }
}
