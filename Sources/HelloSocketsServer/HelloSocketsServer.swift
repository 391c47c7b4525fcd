import Cluster
import Foundation
import KeyValueStore
import Logging
import LuaRuntime
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import OutboundHTTP
import PhoenixChannels
import RateLimiting
import RedisClient
import Tokens
import WebSocketTransport

/// The HelloSockets server: HTTP/1.1 and WebSockets on a multi-threaded event loop group, with
/// Phoenix channels run by one Lua VM per event loop.
public final class HelloSocketsServer: Sendable {
    /// The configuration in force: the one it started with, plus what `reload` changed since.
    public var configuration: ServerConfiguration { live.withLockedValue { $0 } }
    /// Read once per new connection (never per message), so a lock is cheap here.
    private let live: NIOLockedValueBox<ServerConfiguration>
    private let logger: Logger
    private let group: MultiThreadedEventLoopGroup
    private let pubSub: PubSub
    /// Where broadcasts go: `pubSub`, or with `--redis` the cluster adapter (local at once, then every other node).
    private let broadcaster: any PubSubAdapter & Sendable
    /// This node's membership of the cluster (`--redis`); nil for a lone node.
    public let cluster: ClusterNode?
    /// The node's presence state, one for every loop and socket mount (`Presence.list` from Swift).
    public let presence: PresenceTracker
    private let listener = NIOLockedValueBox<Channel?>(nil)
    private let connections: ConnectionTracker
    /// `--max-connections-per-ip`, `--connect-rate-per-ip`; nil when both are off.
    private let addressLimiter: AddressLimiter?
    private let observerHub: ObserverHub?
    private let reloader = NIOLockedValueBox<ChannelReloader?>(nil)
    private let jwksWatcher = NIOLockedValueBox<JWKSWatcher?>(nil)
    private let reloadHub = ReloadEventHub()
    private let startedAt = NIODeadline.now()
    /// Each loop's handshake, idle and close timeouts (and LongPoll's), on one wheel per loop.
    private let timerWheels: PerEventLoop<TimerWheel>
    /// `phx.http.request`'s client, on the server's loops.
    private let httpClient: OutboundHTTPClient
    /// `phx.kv`'s store, shared by every VM: embedded (in this process), or in Redis with `--redis`.
    public let keyValueStore: KeyValueStore
    /// With `--redis`: `phx.kv`'s connections, one per event loop.
    private let keyValueConnections: [RedisConnection]
    /// Every mount's per-loop runtimes (shutdown stops their VMs' waiting callbacks).
    private let mountRuntimes = NIOLockedValueBox<[LoopRuntimes]>([])
    /// Every loop's LongPoll sessions.
    private let longPollSessions: LongPollRegistry
    /// With `--redis`: LongPoll requests forwarded to the nodes holding their sessions (set by `start`).
    private let longPollForwarder = NIOLockedValueBox<LongPollForwarder?>(nil)
    /// What HTTP connections share under the configuration in force (set by `start`, replaced by `reload`).
    private let httpServices = NIOLockedValueBox<HTTPServices?>(nil)

    public init(configuration: ServerConfiguration, logger: Logger) {
        self.live = NIOLockedValueBox(configuration)
        self.logger = logger
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, configuration.eventLoopCount))
        self.pubSub = PubSub(loops: group.makeIterator().map { $0 }, encoder: .webSocket)
        let nodeName = configuration.redis == nil ? LuaVM.defaultNode : configuration.nodeName ?? NodeIdentity.defaultName()
        // Diffs go to this node's subscribers through the local PubSub; with --redis the cluster replicates them (`pd`).
        let batching = PresenceTracker.Batching(milliseconds: configuration.presenceBatchMilliseconds) { [group] ms, flush in
            _ = group.next().scheduleTask(in: .milliseconds(Int64(ms)), flush)
        }
        self.presence = PresenceTracker(node: nodeName, pubSub: pubSub, batching: batching)
        if let redis = configuration.redis {
            let settings = ClusterNode.Settings(
                cluster: configuration.clusterName,
                identity: NodeIdentity(name: nodeName),
                heartbeatInterval: configuration.heartbeatInterval, downAfter: configuration.nodeDownAfter)
            let node = ClusterNode(settings: settings, redis: redis, eventLoop: group.next(), local: pubSub, logger: logger)
            node.replicate(presence)
            self.cluster = node
            self.broadcaster = ClusterPubSub(local: pubSub, node: node)
        } else {
            self.cluster = nil
            self.broadcaster = pubSub
        }
        self.connections = ConnectionTracker(maxWebSockets: configuration.maxConnections)
        self.addressLimiter = configuration.addressLimits.isActive
            ? AddressLimiter(limits: configuration.addressLimits, logger: logger) : nil
        let resolution = TimerWheel.resolution(for: [
            configuration.handshakeTimeout, configuration.webSocket.idleTimeout, configuration.webSocket.closeTimeout,
            configuration.longPollWindow,
        ])
        self.timerWheels = PerEventLoop(loops: group.makeIterator().map { $0 }) { loop in
            TimerWheel(eventLoop: loop, resolution: resolution)
        }
        self.httpClient = OutboundHTTPClient(group: group, maxResponseBytes: configuration.httpMaxResponseBytes)
        if let redis = configuration.redis {
            keyValueConnections = group.makeIterator().map { loop in
                RedisConnection(configuration: redis, eventLoop: loop, logger: logger)
            }
            keyValueStore = RedisStore(connections: keyValueConnections, clusterName: configuration.clusterName)
        } else {
            keyValueConnections = []
            keyValueStore = EmbeddedStore(maxBytes: configuration.kvMaxBytes)
        }
        self.longPollSessions = LongPollRegistry(loops: group.makeIterator().map { $0 })
        let feed = configuration.observe ?? ObserverHub.isLoopback(host: configuration.host)
        self.observerHub = feed || configuration.trace
            ? ObserverHub(
                feedEnabled: feed, trace: configuration.trace ? .standardError : nil, nodeName: cluster?.identity.name)
            : nil
    }

    /// Replaces the configuration in force for what follows: connections accepted from now on get its limits,
    /// timeouts and origin rule, the connection limit applies to the next upgrade, and the shutdown timeout to
    /// the next shutdown. Open connections keep the limits they started with. Fields the server reads only
    /// at start (address, TLS, channels, threads, Lua limits, tokens) don't change by this: the caller keeps
    /// them (`ServerSettings` reloads only the settings its table marks reloadable).
    public func reload(_ configuration: ServerConfiguration) {
        live.withLockedValue { $0 = configuration }
        httpServices.withLockedValue { $0 = $0?.replacing(configuration: configuration) }
        connections.maxWebSockets = configuration.maxConnections
    }

    /// Loads the channels, binds and starts serving; returns the bound address (useful with port 0).
    /// Throws on a channel folder that doesn't load (a syntax error, two scripts claiming one topic).
    @discardableResult
    public func start() async throws -> SocketAddress {
        let configuration = self.configuration
        var endpoints: [String: WebSocketEndpoint] = [:]
        var runtimesByMount: [String: LoopRuntimes] = [:]
        var reloadMounts: [ChannelReloader.Mount] = []
        let loops = group.makeIterator().map { $0 }
        let lua = try await luaLimitsWithJWTKeys()
        await connectKeyValueStore()
        for mount in try SocketMount.discover(in: URL(fileURLWithPath: configuration.channelsDirectory)) {
            let registry = try ChannelRegistry(
                directory: mount.directory,
                displayPrefix: mount.displayPrefix,
                limits: lua
            )
            for script in registry.scripts {
                let topics = script.topics.map(\.description).joined(separator: ", ")
                logger.info("\(mount.path): \(script.path) serves \(topics)")
            }
            let runtimes = try await LoopRuntimes.make(loops: loops) { [pubSub, broadcaster, presence, configuration, logger, self] loop in
                let vm = try LuaVM(scripts: registry, limits: lua, logger: logger, services: scriptServices(on: loop))
                return LoopRuntime(
                    vm: vm,
                    registry: registry,
                    subscriptions: pubSub.subscriptions(on: loop),
                    pubSub: broadcaster,
                    presence: presence,
                    maxChannelsPerSocket: configuration.maxChannelsPerSocket,
                    socketLimits: configuration.socketLimits
                )
            }
            mountRuntimes.withLockedValue { $0.append(runtimes) }
            endpoints[mount.path] = PhoenixEndpoint(mount: mount.path, runtimes: runtimes, logger: logger)
            runtimesByMount[mount.path] = runtimes
            reloadMounts.append(ChannelReloader.Mount(mount: mount, registry: registry, runtimes: runtimes))
        }
        if configuration.watchChannels {
            let watcher = ChannelReloader(
                mounts: reloadMounts, channelsDirectory: URL(fileURLWithPath: configuration.channelsDirectory),
                logger: logger, hub: reloadHub)
            watcher.start()
            reloader.withLockedValue { $0 = watcher }
        }
        if let jwks = lua.jwtVerifier.jwks {
            let watcher = JWKSWatcher(file: jwks, logger: logger)
            watcher.start()
            jwksWatcher.withLockedValue { $0 = watcher }
        }
        if let cluster {
            try? await cluster.start().get()
        }
        let broadcastAPI = BroadcastAPI(pubSub: broadcaster, token: configuration.apiToken)
        let forwarder = configuration.longPoll
            ? cluster.map { LongPollForwarder(node: $0, window: configuration.longPollWindow, logger: logger) } : nil
        let longPoll = configuration.longPoll ? LongPollEndpoint(
            mounts: runtimesByMount,
            registry: longPollSessions,
            connections: connections,
            addressLimiter: addressLimiter,
            signer: configuration.lua.tokenSigner,
            settings: LongPollSession.Settings(
                window: configuration.longPollWindow, maxQueuedBytes: configuration.webSocket.maxPendingOutbound),
            maxBodyBytes: configuration.webSocket.maxMessageSize,
            timerWheels: timerWheels,
            observerHub: observerHub,
            forwarder: forwarder,
            logger: logger
        ) : nil
        if let forwarder, let longPoll { forwarder.serveForwarded { longPoll.serve($0) } }
        longPollForwarder.withLockedValue { $0 = forwarder }
        let services = HTTPServices(
            configuration: configuration,
            endpoints: endpoints,
            broadcastAPI: broadcastAPI,
            connections: connections,
            addressLimiter: addressLimiter,
            logger: logger,
            observerHub: observerHub,
            metrics: MetricsEndpoint(
                pubSub: pubSub, connections: connections, addressLimiter: addressLimiter,
                longPollSessions: longPollSessions, reloads: reloadHub, startedAt: startedAt, cluster: cluster,
                longPollForwarder: forwarder, token: configuration.apiToken),
            longPoll: longPoll,
            cluster: cluster
        )
        httpServices.withLockedValue { $0 = services }
        let tls = try Self.makeTLSContext(configuration)
        try logSecurity()
        logLimits(configuration)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            // NIO keeps each connection's last receive buffer for the next read, so an idle connection holds
            // one: start it small (a Phoenix message or a library's upgrade request fits in 256 bytes; a
            // browser's, with its cookies, takes a second read) instead of 2 KiB; it grows for busy sockets.
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 256, maximum: 65536))
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        // TLS first: everything after it (HTTP, WebSocket) sees plaintext.
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls), name: "tls")
                    }
                    try self.configureHTTP(channel)
                }
            }
        let channel: Channel
        do {
            channel = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
        } catch {
            throw ListenError(host: configuration.host, port: configuration.port, error: error)
        }
        listener.withLockedValue { $0 = channel }
        guard let address = channel.localAddress else { throw ServerError.noLocalAddress }
        let scheme = tls == nil ? "http" : "https"
        logger.info("listening on \(scheme)://\(configuration.host):\(address.port ?? configuration.port)")
        if let folder = configuration.publicDirectory { logger.info("serving the files of \(folder) (--public)") }
        return address
    }

    /// What the VM of `loop` reaches outside itself: the loop (resuming waiting callbacks, their
    /// timeout), the HTTP client with the `--http-allow` policy, the node's store; each HTTP call
    /// is counted in `/metrics` and printed with `--trace`.
    private func scriptServices(on loop: EventLoop) -> ScriptServices {
        let metrics = pubSub.subscriptions(on: loop).metrics
        let trace = observerHub?.trace
        return ScriptServices(
            executor: { body in loop.execute(body) },
            schedule: { milliseconds, body in loop.scheduleTask(in: .milliseconds(Int64(milliseconds)), body) },
            http: httpClient.client(on: loop),
            httpPolicy: HTTPPolicy(allow: configuration.httpAllow, maxConcurrentPerVM: configuration.httpMaxConcurrentPerLoop),
            kv: keyValueStore,
            callbackTimeoutMilliseconds: Int(configuration.luaCallbackTimeout.nanoseconds / 1_000_000),
            onHTTPCall: { call in
                metrics.record(call)
                trace?.line(call.traceLine)
            })
    }

    /// `configuration.lua` with the JWT keys of `jwtSecret` and `jwtJWKSPath`, when either is set; logs
    /// what was loaded. Throws for a short secret or a JWKS file that cannot be used.
    private func luaLimitsWithJWTKeys() async throws -> LuaLimits {
        var lua = configuration.lua
        guard configuration.jwtSecret != nil || configuration.jwtJWKSPath != nil else { return lua }
        do {
            let (verifier, report) = try await JWTVerifier.make(secret: configuration.jwtSecret, jwksPath: configuration.jwtJWKSPath)
            lua.jwtVerifier = verifier
            if configuration.jwtSecret != nil { logger.info("phx.jwt.verify: HMAC tokens with the JWT secret") }
            if let path = configuration.jwtJWKSPath, let report {
                logger.info("phx.jwt.verify: \(report.keyCount) public key(s) from \(path)")
                for note in report.skipped { logger.warning("\(path): skipped \(note)") }
            }
        } catch {
            throw ServerError.jwt("JWT keys: \(error)")
        }
        return lua
    }

    /// The TLS context for `--tls-cert` / `--tls-key`, nil without them. Throws on unreadable or invalid
    /// files (also what `hello-sockets check` runs).
    public static func makeTLSContext(_ configuration: ServerConfiguration) throws -> NIOSSLContext? {
        switch (configuration.tlsCertificatePath, configuration.tlsKeyPath) {
        case (nil, nil):
            return nil
        case (let certificate?, let key?):
            let chain = try NIOSSLCertificate.fromPEMFile(certificate)
            guard !chain.isEmpty else { throw ServerError.tls("no certificate in \(certificate)") }
            let tls = TLSConfiguration.makeServerConfiguration(
                certificateChain: chain.map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
            )
            return try NIOSSLContext(configuration: tls)
        default:
            throw ServerError.tls("TLS needs both a certificate (--tls-cert) and a private key (--tls-key)")
        }
    }

    /// Validates the security settings and says what is open to whom.
    private func logSecurity() throws {
        let originCheck = try configuration.makeOriginCheck()
        if originCheck != nil {
            let rule = configuration.allowedOrigins.isEmpty ? "same host as the Host header" : configuration.allowedOrigins.joined(separator: ", ")
            logger.info("check_origin on: WebSocket upgrades with an Origin must match \(rule)")
        } else if !ObserverHub.isLoopback(host: configuration.host) {
            logger.warning("check_origin is off while listening on \(configuration.host): any web page can open WebSockets here")
        }
        if observerHub?.feedEnabled == true, !ObserverHub.isLoopback(host: configuration.host) {
            logger.notice(configuration.apiToken == nil
                ? "observer feed /observe: loopback clients only (set --api-token to open it to others with the token)"
                : "observer feed /observe: loopback clients, others with the API token")
        }
    }

    /// Says which abuse limits are in force.
    private func logLimits(_ configuration: ServerConfiguration) {
        let socket = configuration.socketLimits, address = configuration.addressLimits
        let rate = TokenBucket.describe(ratePerSecond:)
        let grace = Double(socket.throttleGrace.nanoseconds) / 1e9
        let messages = socket.messageRate > 0
            ? "messages \(rate(socket.messageRate)) (burst \(socket.messageBurst), closed after "
                + (grace > 0 ? "\(grace == grace.rounded() ? "\(Int(grace))" : "\(grace)") s over it)" : "never)")
            : "messages unlimited"
        let joins = socket.joinRate > 0
            ? "joins \(rate(socket.joinRate)) (burst \(socket.joinBurst))" : "joins unlimited"
        var perAddress: [String] = []
        if address.maxConnectionsPerAddress > 0 {
            perAddress.append("\(address.maxConnectionsPerAddress) WebSockets open")
        }
        if address.connectRatePerAddress > 0 {
            perAddress.append("new WebSockets \(rate(address.connectRatePerAddress))")
        }
        var line = "limits per socket: \(messages), \(joins); per address: "
            + (perAddress.isEmpty ? "off" : perAddress.joined(separator: ", "))
        if !address.trustedProxies.isEmpty {
            line += "; client address from X-Forwarded-For/Forwarded of "
                + address.trustedProxies.map(\.description).joined(separator: ", ")
        }
        logger.info("\(line)")
    }

    /// Open WebSocket connections.
    public var webSocketCount: Int { connections.webSocketCount }

    /// Open LongPoll sessions.
    public var longPollSessionCount: Int { connections.longPollSessionCount }

    /// Hot reload events (every reload, failure, addition, removal), from now on; also logged.
    /// Nothing arrives when the server runs with `watchChannels` off.
    public func reloadEvents() -> AsyncStream<ReloadEvent> {
        reloadHub.stream()
    }

    /// Graceful shutdown: stop accepting, end every LongPoll session (held polls are answered 410) and
    /// send every WebSocket a close 1001 (going away; Phoenix drains with 1012, but 1001 is what RFC 6455
    /// names for a server going down, and phoenix.js reconnects after either), let channels run
    /// `terminate`, wait up to `shutdownTimeout` for clients to close, then drop what remains and stop
    /// the event loops.
    public func shutdown() async throws {
        let configuration = self.configuration
        let watcher = reloader.withLockedValue { current -> ChannelReloader? in
            defer { current = nil }
            return current
        }
        watcher?.stop()  // first: a reload in progress finishes while the loops still run
        jwksWatcher.withLockedValue { $0 }?.stop()
        reloadHub.finish()
        try? await listener.withLockedValue { $0 }?.close()
        let open = connections.drain()
        await longPollSessions.endAll(.shutdown)
        for channel in open {
            channel.eventLoop.execute {
                if let webSocket = try? channel.pipeline.syncOperations.handler(type: WebSocketConnection.self) {
                    webSocket.close(code: .goingAway, reason: "server shutting down")
                } else {
                    channel.close(promise: nil)
                }
            }
        }
        let deadline = NIODeadline.now() + configuration.shutdownTimeout
        for channel in open {
            let timeout = group.any().scheduleTask(deadline: deadline) { channel.close(promise: nil) }
            try? await channel.closeFuture.get()
            timeout.cancel()
        }
        // Callbacks still waiting for I/O (a terminate calling the backend as its client left) end
        // here, each logged with the line it waited at and its topic; then nothing may wait any more.
        for runtimes in mountRuntimes.withLockedValue({ $0 }) {
            _ = try? await runtimes.onEveryLoop { $0.vm.beginShutdown() }.get()
        }
        try? await httpClient.shutdown()
        for connection in keyValueConnections { try? await connection.close().get() }
        try? await longPollForwarder.withLockedValue({ $0 })?.stop().get()
        // Last: whatever the channels broadcast while closing has gone out; then the others drop this node at once.
        try? await cluster?.leave().get()
        try await group.shutdownGracefully()
    }

    /// With `--redis`, opens `phx.kv`'s connections. A Redis that cannot be reached now does not stop the server:
    /// the connections keep trying in the background, and `phx.kv` calls fail with "unavailable" meanwhile.
    private func connectKeyValueStore() async {
        guard let first = keyValueConnections.first else { return }
        let server = first.configuration.serverDescription
        do {
            for connection in keyValueConnections { try await connection.connect().get() }
            logger.info("phx.kv: in Redis at \(server), keys hs:\(configuration.clusterName):kv:*")
        } catch {
            logger.error("phx.kv: Redis at \(server) is not reachable (\(error)); retrying in the background, phx.kv calls fail with \"unavailable\" until it is")
        }
    }

    private func configureHTTP(_ channel: Channel) throws {
        // The services of the configuration in force now: this connection keeps them through a reload.
        guard let services = httpServices.withLockedValue({ $0 }) else { throw ServerError.notStarted }
        let id = connections.opened(channel)
        logger.debug("connection opened", metadata: ["conn": "\(id)", "peer": "\(channel.remoteAddress?.description ?? "?")"])
        channel.closeFuture.whenComplete { [logger] _ in
            logger.debug("connection closed", metadata: ["conn": "\(id)"])
        }
        let pipeline = channel.pipeline.syncOperations
        // forwardBytes: after an upgrade, bytes already read past the handshake belong to the WebSocket.
        try pipeline.addHandler(
            ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes)),
            name: HTTPHandler.HandlerName.decoder
        )
        try pipeline.addHandler(HTTPResponseEncoder(), name: HTTPHandler.HandlerName.encoder)
        try pipeline.addHandler(HTTPErrorResponder(connectionID: id, logger: logger), name: HTTPHandler.HandlerName.errors)
        try pipeline.addHandler(
            HTTPHandler(services: services, connectionID: id, timerWheel: timerWheels.value(on: channel.eventLoop)),
            name: HTTPHandler.HandlerName.router
        )
    }
}

enum ServerError: Error, CustomStringConvertible {
    case noLocalAddress
    case notStarted
    case tls(String)
    case jwt(String)

    var description: String {
        switch self {
        case .noLocalAddress: return "the listening socket has no local address"
        case .notStarted: return "a connection came before the server had started"
        case .tls(let message), .jwt(let message): return message
        }
    }
}
