import Cluster
import Logging
import NIOCore
import NIOHTTP1
import NIOWebSocket
import WebSocketTransport

/// Serves HTTP/1.1 requests: the start page, 404s, and the upgrade of WebSocket routes (RFC 6455 §4.2).
///
/// We perform the upgrade ourselves rather than with NIO's upgrade handler so that every bad
/// handshake gets the answer RFC 6455 asks for (400, or 426 naming version 13) with a body that
/// says what was wrong, and so a socket's `connect` can refuse with 403 as Phoenix does.
final class HTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// Pipeline names of the HTTP handlers, removed after an upgrade.
    enum HandlerName {
        static let decoder = "http-decoder"
        static let encoder = "http-encoder"
        static let errors = "http-errors"
        static let router = "http-router"
    }

    /// The server-wide pieces, shared by every connection (the configuration this connection started with).
    private let services: HTTPServices
    private var configuration: ServerConfiguration { services.configuration }
    private var endpoints: [String: WebSocketEndpoint] { services.endpoints }
    private var broadcastAPI: BroadcastAPI { services.broadcastAPI }
    private var connections: ConnectionTracker { services.connections }
    /// Per client address limits; nil when off.
    private var addressLimiter: AddressLimiter? { services.addressLimiter }
    private var logger: Logger { services.logger }
    private var observerHub: ObserverHub? { services.observerHub }
    private var metrics: MetricsEndpoint? { services.metrics }
    private var longPoll: LongPollEndpoint? { services.longPoll }
    private var originCheck: OriginCheck? { services.originCheck }
    private let connectionID: String
    /// The event loop's shared timers (the request timeout here, the WebSocket's timeouts after the upgrade).
    private let timerWheel: TimerWheel
    private var pendingHead: HTTPRequestHead?
    private var pendingRoute = Route.notFound
    private var body: [UInt8] = []
    private var bodyTooLarge = false
    /// Whether an answer is still to come for a request of this connection (a held LongPoll GET).
    private var answerPending = false
    /// Told if the client leaves while its LongPoll request waits for an answer.
    private var longPollDeparture: LongPollDeparture?
    /// A request that arrived while an answer was pending (a pipelining client): served after it.
    private var deferred: (head: HTTPRequestHead, route: Route, body: [UInt8], tooLarge: Bool)?

    init(services: HTTPServices, connectionID: String, timerWheel: TimerWheel) {
        self.services = services
        self.connectionID = connectionID
        self.timerWheel = timerWheel
    }

    /// Closes the connection unless a complete request arrives in time (slowloris guard; also keep-alive idle).
    private var requestTimer: TimerWheel.Timer?

    func handlerAdded(context: ChannelHandlerContext) {
        armRequestTimer(context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if let requestTimer { timerWheel.cancel(requestTimer) }
        requestTimer = nil  // its action holds the channel, whose pipeline held this handler: let both go
    }

    private func armRequestTimer(context: ChannelHandlerContext) {
        // Strong, not weak: a weak reference gives the channel a side table for life, and every retain of
        // it (NIO makes several per write) would take the slow path. handlerRemoved breaks the cycle.
        let timer = requestTimer ?? timerWheel.makeTimer { [logger, connectionID, channel = context.channel] in
            logger.debug("no complete request in time: closing", metadata: ["conn": "\(connectionID)"])
            channel.close(promise: nil)
        }
        requestTimer = timer
        timerWheel.arm(timer, in: configuration.handshakeTimeout)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            pendingHead = head
            pendingRoute = Route(uri: head.uri, phoenixMounts: services.phoenixMounts, longPoll: longPoll != nil)
            body.removeAll(keepingCapacity: true)
            bodyTooLarge = false
        case .body(let chunk):
            // The broadcast API and LongPoll POSTs read a body; keep at most their limit.
            guard !bodyTooLarge else { return }
            if body.count + chunk.readableBytes <= bodyLimit(of: pendingRoute) {
                body += chunk.readableBytesView
            } else {
                bodyTooLarge = true
                body = []
            }
        case .end:
            guard let head = pendingHead else { return }
            pendingHead = nil
            if let requestTimer { timerWheel.cancel(requestTimer) }
            guard !answerPending else {
                // HTTP/1.1 answers in order: this one waits for the pending answer (browsers don't pipeline).
                guard deferred == nil else {
                    logger.warning("more than one request pipelined behind a LongPoll poll: closing",
                                   metadata: ["conn": "\(connectionID)"])
                    return context.close(promise: nil)
                }
                deferred = (head, pendingRoute, body, bodyTooLarge)
                return
            }
            respond(to: head, route: pendingRoute, context: context)
        }
    }

    private func bodyLimit(of route: Route) -> Int {
        if case .longPoll = route { return configuration.webSocket.maxMessageSize }
        return BroadcastAPI.maxBodySize
    }

    private func respond(to head: HTTPRequestHead, route: Route, context: ChannelHandlerContext) {
        logger.debug("\(head.method) \(head.uri)", metadata: ["conn": "\(connectionID)"])
        switch route {
        case .index:
            guard head.method == .GET || head.method == .HEAD else {
                return send(.methodNotAllowed, body: "Only GET is served here.\n", head: head, context: context)
            }
            sendAsset(ObserverAssets.startPage, head: head, context: context)
        case .broadcastAPI:
            guard !bodyTooLarge else {
                return send(.payloadTooLarge, body: "Body over \(BroadcastAPI.maxBodySize) bytes.\n", head: head, context: context)
            }
            let response = broadcastAPI.handle(head: head, body: body, peer: clientPeer(head, context))
            if response.status != .ok {
                logger.warning("broadcast API refused: \(response.body)", metadata: ["conn": "\(connectionID)"])
            }
            send(response.status, contentType: "application/json", body: response.body, head: head, context: context)
        case .clusterAPI:
            guard head.method == .GET || head.method == .HEAD else {
                return send(.methodNotAllowed, body: "Only GET is served here.\n", head: head, context: context)
            }
            guard APIAuthorization.allows(head, peer: clientPeer(head, context), token: configuration.apiToken) else {
                return send(.forbidden, body: "/api/cluster is open to loopback clients or with the API token.\n",
                            head: head, context: context)
            }
            guard let cluster = services.cluster else {
                return send(.notFound, contentType: "application/json",
                            body: #"{"error":"this node is not in a cluster (start it with --redis URL)"}"#,
                            head: head, context: context)
            }
            cluster.status().hop(to: context.eventLoop).assumeIsolated().whenSuccess { [self] status in
                send(.ok, contentType: "application/json", body: ClusterAPI.render(status), head: head, context: context)
            }
        case .metrics:
            guard let metrics else {
                return send(.notFound, body: "Not found: /metrics\n", head: head, context: context)
            }
            guard head.method == .GET || head.method == .HEAD else {
                return send(.methodNotAllowed, body: "Only GET is served here.\n", head: head, context: context)
            }
            guard APIAuthorization.allows(head, peer: clientPeer(head, context), token: metrics.token) else {
                return send(.forbidden, body: "/metrics is open to loopback clients or with the API token.\n", head: head, context: context)
            }
            metrics.scrape(on: context.eventLoop).assumeIsolated().whenComplete { [self] result in
                switch result {
                case .success(let text):
                    send(.ok, contentType: "text/plain; version=0.0.4; charset=utf-8", body: text, head: head, context: context)
                case .failure(let error):
                    send(.serviceUnavailable, body: "metrics unavailable: \(error)\n", head: head, context: context)
                }
            }
        case .asset(let path):
            guard let file = ObserverAssets.file(at: path[...]), head.method == .GET || head.method == .HEAD else {
                return send(.methodNotAllowed, body: "Only GET is served here.\n", head: head, context: context)
            }
            sendAsset(file, head: head, context: context)
        case .observerFeed where observerHub?.feedEnabled != true:
            send(.notFound, body: "The observer feed is off: start the server with --observe (it is on by default on loopback).\n",
                 head: head, context: context)
        case .observerFeed
        where !APIAuthorization.allows(
            head, peer: clientPeer(head, context), token: configuration.apiToken, allowQuery: true):
            logger.warning("observer feed refused: no API token", metadata: ["conn": "\(connectionID)"])
            send(.forbidden, body: "The observer feed is open to loopback clients or with the API token (?token= or Authorization: Bearer).\n",
                 head: head, context: context)
        case .notFound:
            // `--public DIR`: a file from DIR for a GET no other route claims.
            if let root = configuration.publicDirectory, head.method == .GET || head.method == .HEAD,
               let file = StaticFiles(root: root).file(at: Route.path(of: head.uri)) {
                return send(.ok, headers: ["Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"],
                            contentType: file.contentType, bytes: ByteBuffer(bytes: file.bytes), head: head, context: context)
            }
            send(.notFound, body: "Not found: \(Route.path(of: head.uri))\n", head: head, context: context)
        case .longPoll(let mount):
            guard let longPoll else {
                return send(.notFound, body: "Not found: \(Route.path(of: head.uri))\n", head: head, context: context)
            }
            let channel = context.channel
            let departure = LongPollDeparture()
            var request = LongPollRequest(
                head: head, connectionID: connectionID, eventLoop: context.eventLoop,
                isClientThere: { channel.isActive }, peer: channel.remoteAddress,
                client: clientAddress(head, context), received: .now())
            request.departure = departure
            longPollDeparture = departure
            answerPending = true
            longPoll.respond(
                to: request, mount: mount, body: bodyTooLarge ? nil : ByteBuffer(bytes: body),
                refusedOrigin: originCheck?.refusedOrigin(head)
            ).assumeIsolated().whenSuccess { [self] answer in
                answerPending = false
                longPollDeparture = nil
                guard context.channel.isActive else { return }  // the client left while its poll was held
                send(answer.status, headers: answer.headers, contentType: nil, bytes: answer.body, head: head,
                     context: context)
                if let next = deferred {
                    deferred = nil
                    if let requestTimer { timerWheel.cancel(requestTimer) }  // armed by `send` for a next request
                    (body, bodyTooLarge) = (next.body, next.tooLarge)
                    respond(to: next.head, route: next.route, context: context)
                }
            }
        case .echo, .phoenixSocket, .observerFeed:
            upgrade(head, route: route, context: context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        longPollDeparture?.clientLeft()
        longPollDeparture = nil
        context.fireChannelInactive()
    }

    private func upgrade(_ head: HTTPRequestHead, route: Route, context: ChannelHandlerContext) {
        switch WebSocketHandshake.decide(head, deflate: configuration.webSocket.deflate) {
        case .reject(let status, let headers, let body):
            logger.warning(
                "refused WebSocket handshake",
                metadata: ["conn": "\(connectionID)", "status": "\(status.code)", "reason": "\(body.trimmed)"]
            )
            send(status, headers: headers, body: body, head: head, context: context)
        case .accept(let headers, let deflate):
            if let refused = originCheck?.refusedOrigin(head) {
                logger.warning("refused WebSocket: origin \(refused) not allowed", metadata: ["conn": "\(connectionID)", "origin": "\(refused)"])
                return send(.forbidden, body: "Origin not allowed: \(refused)\n", head: head, context: context)
            }
            // Per-address limits before the endpoint runs anything (a socket's connect is a script call).
            if let addressLimiter, let client = clientAddress(head, context) {
                if let refusal = addressLimiter.claim(client, connectionID: connectionID) {
                    return send(.tooManyRequests, headers: refusal.headers, body: refusal.body, head: head, context: context)
                }
                context.channel.closeFuture.whenComplete { _ in addressLimiter.release(client) }
            }
            let decision: SessionDecision
            switch route {
            case .phoenixSocket(let mount):
                decision = endpoints[mount]?.session(for: head, on: context.eventLoop) ?? .reject(.notFound, "")
            case .observerFeed:
                decision = observerHub.map { .accept(ObserverFeedSession(hub: $0, follow: QueryString.parameters(of: head.uri)["follow"])) }
                    ?? .reject(.notFound, "")
            default:
                decision = .accept(EchoSession())
            }
            proceed(decision, head: head, route: route, headers: headers, deflate: deflate, context: context)
        }
    }

    /// Upgrades or refuses as the endpoint decided; a pending decision (a `connect` waiting for
    /// I/O) is acted on when it comes, if the client is still there.
    private func proceed(
        _ decision: SessionDecision, head: HTTPRequestHead, route: Route, headers: HTTPHeaders,
        deflate: PerMessageDeflate.Parameters?, context: ChannelHandlerContext
    ) {
        switch decision {
        case .pending(let wait):
            wait { [self] decision in
                guard context.channel.isActive else { return }
                proceed(decision, head: head, route: route, headers: headers, deflate: deflate, context: context)
            }
        case .reject(let status, let body):
            // The path only: the query may carry a token.
            let path = head.uri.prefix { $0 != "?" }
            logger.warning(
                "refused WebSocket connection to \(path) (\(status.code)): \(body.trimmed)",
                metadata: ["conn": "\(connectionID)"])
            send(status, body: body, head: head, context: context)
        case .accept(let session):
            guard connections.claimWebSocket(for: context.channel) else {
                logger.warning("refused WebSocket: connection limit reached", metadata: ["conn": "\(connectionID)"])
                return send(.serviceUnavailable, body: "Too many connections; try again later.\n", head: head, context: context)
            }
            let observer = route == .observerFeed ? nil : observerHub?.observer(for: connectionID, peer: context.channel.remoteAddress)
            switchProtocols(headers: headers, deflate: deflate, session: session, context: context, request: head, observer: observer)
        }
    }

    /// The client's address: the peer's, or behind a `--trusted-proxy` the one it reports.
    private func clientAddress(_ head: HTTPRequestHead, _ context: ChannelHandlerContext) -> IPAddress? {
        ClientAddress.resolve(peer: context.channel.remoteAddress, headers: head.headers,
                              trustedProxies: configuration.addressLimits.trustedProxies)
    }

    /// The client's address as a socket address, for the loopback rule of the admin endpoints: behind a
    /// trusted proxy on this host every request comes from loopback, but the client is who the proxy names.
    private func clientPeer(_ head: HTTPRequestHead, _ context: ChannelHandlerContext) -> SocketAddress? {
        guard !configuration.addressLimits.trustedProxies.isEmpty else { return context.channel.remoteAddress }
        return clientAddress(head, context)?.socketAddress
    }

    /// Sends the 101 and swaps the HTTP handlers for the WebSocket ones.
    private func switchProtocols(
        headers: HTTPHeaders,
        deflate: PerMessageDeflate.Parameters?,
        session: WebSocketSession,
        context: ChannelHandlerContext,
        request: HTTPRequestHead? = nil,
        observer: WebSocketFrameObserver? = nil
    ) {
        let response = HTTPResponseHead(version: .http1_1, status: .switchingProtocols, headers: headers)
        if let observer, let request { observer.webSocket(connectionID, didHandshake: request, response: response) }
        context.write(wrapOutboundOut(.head(response)), promise: nil)
        let connection = WebSocketConnection(
            id: connectionID,
            session: session,
            configuration: configuration.webSocket,
            deflate: deflate,
            timerWheel: timerWheel,
            logger: logger
        )
        connection.observer = observer
        let (connectionID, logger) = (self.connectionID, self.logger)
        // Swap handlers once the 101 is written, outside this read: the HTTP decoder is still on
        // the stack now, and removing it mid-decode would lose the bytes it holds.
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenSuccess { _ in
            do {
                let pipeline = context.pipeline.syncOperations
                try pipeline.addHandler(connection)
                // The HTTP decoder goes last: removing it forwards bytes the client sent right after the
                // handshake to the connection, which by then is the next inbound handler.
                for name in [HandlerName.encoder, HandlerName.errors, HandlerName.router] {
                    _ = pipeline.removeHandler(name: name)
                }
                pipeline.removeHandler(name: HandlerName.decoder).assumeIsolated().whenSuccess {
                    // The forwarded bytes arrived outside a socket read: end the "read" so replies get flushed.
                    context.pipeline.syncOperations.fireChannelReadComplete()
                }
                logger.debug("WebSocket open", metadata: ["conn": "\(connectionID)", "deflate": "\(deflate != nil)"])
            } catch {
                logger.error("WebSocket upgrade failed: \(error)", metadata: ["conn": "\(connectionID)"])
                context.close(promise: nil)
            }
        }
    }

    /// A file of the start page. `no-cache`: a browser revalidates, so a rebuilt server's page is seen at once.
    private func sendAsset(_ file: ObserverAssets.File, head: HTTPRequestHead, context: ChannelHandlerContext) {
        send(.ok, headers: ["Cache-Control": "no-cache"], contentType: file.contentType, bytes: file.body, head: head, context: context)
    }

    private func send(
        _ status: HTTPResponseStatus,
        headers: HTTPHeaders = HTTPHeaders(),
        contentType: String = "text/plain; charset=utf-8",
        body: String,
        head: HTTPRequestHead,
        context: ChannelHandlerContext
    ) {
        send(status, headers: headers, contentType: contentType, bytes: ByteBuffer(string: body), head: head, context: context)
    }

    /// - Parameter contentType: nil when `headers` already say it, or there is no body.
    private func send(
        _ status: HTTPResponseStatus,
        headers: HTTPHeaders = HTTPHeaders(),
        contentType: String?,
        bytes: ByteBuffer,
        head: HTTPRequestHead,
        context: ChannelHandlerContext
    ) {
        var headers = headers
        if let contentType { headers.replaceOrAdd(name: "Content-Type", value: contentType) }
        headers.replaceOrAdd(name: "Content-Length", value: "\(bytes.readableBytes)")
        let keepAlive = head.isKeepAlive
        headers.replaceOrAdd(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(bytes))), promise: nil)
        }
        let sent = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        // The next request on this keep-alive connection. Not for a client that left while its answer was made
        // (metrics, cluster status): the timer would hold the closed channel until it fired.
        if context.channel.isActive { armRequestTimer(context: context) }
        if !keepAlive || head.headers[canonicalForm: "upgrade"].isEmpty == false {
            // A refused upgrade leaves the client expecting a protocol switch that never came: close.
            sent.whenComplete { _ in context.close(promise: nil) }
        }
    }
}

extension String {
    fileprivate var trimmed: String {
        String(self.reversed().drop(while: \.isNewline).reversed())
    }
}
