import Foundation
import Logging
import LuaRuntime
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import PhoenixChannels
import Tokens
import WebSocketTransport

/// The HelloSockets server: HTTP/1.1 and WebSockets on a multi-threaded event loop group, with
/// Phoenix channels run by one Lua VM per event loop.
public final class HelloSocketsServer: Sendable {
    public let configuration: ServerConfiguration
    private let logger: Logger
    private let group: MultiThreadedEventLoopGroup
    private let pubSub: PubSub
    private let listener = NIOLockedValueBox<Channel?>(nil)
    private let connections: ConnectionTracker
    private let observerHub: ObserverHub?
    private let reloader = NIOLockedValueBox<ChannelReloader?>(nil)
    private let jwksWatcher = NIOLockedValueBox<JWKSWatcher?>(nil)
    private let reloadHub = ReloadEventHub()
    private let startedAt = NIODeadline.now()
    /// Each loop's handshake, idle and close timeouts, on one wheel per loop.
    private let timerWheels: PerEventLoop<TimerWheel>

    public init(configuration: ServerConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, configuration.eventLoopCount))
        self.pubSub = PubSub(loops: group.makeIterator().map { $0 }, encoder: .webSocket)
        self.connections = ConnectionTracker(maxWebSockets: configuration.maxConnections)
        let resolution = TimerWheel.resolution(for: [
            configuration.handshakeTimeout, configuration.webSocket.idleTimeout, configuration.webSocket.closeTimeout,
        ])
        self.timerWheels = PerEventLoop(loops: group.makeIterator().map { $0 }) { loop in
            TimerWheel(eventLoop: loop, resolution: resolution)
        }
        let feed = configuration.observe ?? ObserverHub.isLoopback(host: configuration.host)
        self.observerHub = feed || configuration.trace
            ? ObserverHub(feedEnabled: feed, trace: configuration.trace ? .standardError : nil) : nil
    }

    /// Loads the channels, binds and starts serving; returns the bound address (useful with port 0).
    /// Throws on a channel folder that doesn't load (a syntax error, two scripts claiming one topic).
    @discardableResult
    public func start() async throws -> SocketAddress {
        var endpoints: [String: WebSocketEndpoint] = [:]
        var reloadMounts: [ChannelReloader.Mount] = []
        let loops = group.makeIterator().map { $0 }
        let lua = try await luaLimitsWithJWTKeys()
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
            let runtimes = try await LoopRuntimes.make(loops: loops) { [pubSub, configuration, logger] loop in
                let vm = try LuaVM(scripts: registry, limits: lua, logger: logger)
                return LoopRuntime(
                    vm: vm,
                    registry: registry,
                    subscriptions: pubSub.subscriptions(on: loop),
                    pubSub: pubSub,
                    maxChannelsPerSocket: configuration.maxChannelsPerSocket
                )
            }
            endpoints[mount.path] = PhoenixEndpoint(mount: mount.path, runtimes: runtimes, logger: logger)
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
        let broadcastAPI = BroadcastAPI(pubSub: pubSub, token: configuration.apiToken)
        let tls = try makeTLSContext()
        try logSecurity()
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            // NIO keeps each connection's last receive buffer for the next read: start it small (an upgrade
            // request or a Phoenix message fits in 512 bytes) instead of 2 KiB; it grows for busy sockets.
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65536))
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        // TLS first: everything after it (HTTP, WebSocket) sees plaintext.
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls), name: "tls")
                    }
                    try self.configureHTTP(channel, endpoints: endpoints, broadcastAPI: broadcastAPI)
                }
            }
        let channel = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
        listener.withLockedValue { $0 = channel }
        guard let address = channel.localAddress else { throw ServerError.noLocalAddress }
        let scheme = tls == nil ? "http" : "https"
        logger.info("listening on \(scheme)://\(configuration.host):\(address.port ?? configuration.port)")
        if let folder = configuration.publicDirectory { logger.info("serving the files of \(folder) (--public)") }
        return address
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

    /// The TLS context for `--tls-cert` / `--tls-key`, nil without them. Throws on unreadable files.
    private func makeTLSContext() throws -> NIOSSLContext? {
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

    /// Open WebSocket connections.
    public var webSocketCount: Int { connections.webSocketCount }

    /// Hot reload events (every reload, failure, addition, removal), from now on; also logged.
    /// Nothing arrives when the server runs with `watchChannels` off.
    public func reloadEvents() -> AsyncStream<ReloadEvent> {
        reloadHub.stream()
    }

    /// Graceful shutdown: stop accepting, send every WebSocket a close 1001 (going away; Phoenix drains
    /// with 1012, but 1001 is what RFC 6455 names for a server going down, and phoenix.js reconnects
    /// after either), let channels run `terminate`, wait up to `shutdownTimeout` for clients to close,
    /// then drop what remains and stop the event loops.
    public func shutdown() async throws {
        let watcher = reloader.withLockedValue { current -> ChannelReloader? in
            defer { current = nil }
            return current
        }
        watcher?.stop()  // first: a reload in progress finishes while the loops still run
        jwksWatcher.withLockedValue { $0 }?.stop()
        reloadHub.finish()
        try? await listener.withLockedValue { $0 }?.close()
        let open = connections.drain()
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
        try await group.shutdownGracefully()
    }

    private func configureHTTP(
        _ channel: Channel,
        endpoints: [String: WebSocketEndpoint],
        broadcastAPI: BroadcastAPI
    ) throws {
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
            HTTPHandler(
                configuration: configuration,
                endpoints: endpoints,
                broadcastAPI: broadcastAPI,
                connections: connections,
                connectionID: id,
                logger: logger,
                timerWheel: timerWheels.value(on: channel.eventLoop),
                observerHub: observerHub,
                metrics: MetricsEndpoint(
                    pubSub: pubSub, connections: connections, reloads: reloadHub, startedAt: startedAt,
                    token: configuration.apiToken)
            ),
            name: HTTPHandler.HandlerName.router
        )
    }
}

enum ServerError: Error, CustomStringConvertible {
    case noLocalAddress
    case tls(String)
    case jwt(String)

    var description: String {
        switch self {
        case .noLocalAddress: return "the listening socket has no local address"
        case .tls(let message), .jwt(let message): return message
        }
    }
}
