import Foundation
import ArgumentParser
import ChannelTestingCore
import HelloSocketsServer
import Logging
import LuaRuntime
import NIOConcurrencyHelpers
import NIOCore
import PhoenixProtocol
import ServiceLifecycle
import Tokens
import WebSocketTransport

/// `hello-sockets [options]`: run the server; `hello-sockets broadcast|test ...` for the rest.
@main
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hello-sockets",
        abstract: "A Phoenix Channels server over WebSockets, with channels written in Lua.",
        discussion: """
            Serves http://HOST:PORT/ (the start page), /socket/websocket (the Phoenix socket, \
            vsn=2.0.0 or 1.0.0; each subfolder of the channels folder is another socket at /<subfolder>) \
            and /echo (a raw echo WebSocket).
            With --public DIR, other GET paths serve DIR's files (examples/chat: \
            hello-sockets --channels examples/chat/channels --public examples/chat/public).
            Example: hello-sockets --channels ./channels
            """,
        subcommands: [Broadcast.self, TestSpecs.self, Token.self]
    )

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on (default: $PORT, else 4000).")
    var port: Int?

    @Option(help: "Folder of channel scripts (*.lua).")
    var channels = "./channels"

    @Option(help: "Log level: trace, debug, info, notice, warning, error or critical.")
    var logLevel: Logger.Level = .info

    @Option(help: "Largest WebSocket message accepted, in bytes, after reassembly and decompression (1009 beyond).")
    var maxMessageSize = 1 << 20

    @Option(help: "Seconds without any frame from a client before it is closed with 1000.")
    var idleTimeout = 60

    @Flag(help: "Refuse permessage-deflate compression.")
    var noDeflate = false

    @Flag(help: "Don't watch the channels folder for changes (no hot reload), for production-like runs.")
    var noWatch = false

    @Option(help: "Event loop threads (default: one per core).")
    var threads = System.coreCount

    @Option(help: "Open WebSockets at most; more are refused with 503 at the upgrade.")
    var maxConnections = 16_384

    @Option(help: "Channels one socket may have joined at once; more get \"too many channels joined\".")
    var maxChannels = 100

    @Option(help: "Seconds a client has to send a complete HTTP request (slowloris guard; keep-alive idle too).")
    var handshakeTimeout = 10

    @Option(help: "Bytes queued for a client that is not reading before it is closed with 1008.")
    var maxOutboundBuffer = 8 << 20

    @Option(help: "Lua instructions one channel callback may run before it is stopped (the channel crashes).")
    var luaInstructionBudget = 10_000_000

    @Option(help: "Memory, in MiB, each event loop's Lua VM may use.")
    var luaMemoryMb = 64

    @Option(help: "Seconds a graceful shutdown (SIGINT/SIGTERM) waits for clients before dropping them.")
    var shutdownTimeout = 5

    @Flag(help: "Serve the observer feed /observe (every connection's handshake and frames) even off loopback.")
    var observe = false

    @Option(name: .customLong("public"), help: "Serve the files of this folder (.html, .js, .css, .png, .svg, .json) for GET paths no other route claims.")
    var publicDirectory: String?

    @Flag(help: "Don't serve the observer feed, not even on loopback (production-like benchmarks: no per-connection feed events).")
    var noObserve = false

    @Flag(help: "Print every WebSocket frame to stderr, wscat-style: `c12 > …` from the client, `c12 < …` to it.")
    var trace = false

    @Flag(
        inversion: .prefixedNo,
        help: "Refuse (403) WebSocket upgrades whose Origin header does not match the Host (or --allowed-origin). Default: on unless --host is loopback."
    )
    var checkOrigin: Bool?

    @Option(
        name: .customLong("allowed-origin"),
        help: "An origin allowed by the origin check, instead of the Host's: https://example.com, //example.com, //*.example.com (repeatable)."
    )
    var allowedOrigins: [String] = []

    @Option(name: .customLong("tls-cert"), help: "PEM certificate (chain) file: serve https:// and wss:// (with --tls-key).")
    var tlsCert: String?

    @Option(name: .customLong("tls-key"), help: "PEM private key file for --tls-cert.")
    var tlsKey: String?

    @Option(help: "Secret for phx.token (at least 32 bytes; default: $SECRET_KEY_BASE, else random at each start).")
    var secretKeyBase: String?

    @Option(help: "Secret for HS256 JWTs in phx.jwt.verify (at least 32 bytes; HS384/HS512 from 48/64; default: $JWT_SECRET).")
    var jwtSecret: String?

    @Option(name: .customLong("jwt-jwks"), help: "JWKS file of public keys for RS256/ES256 JWTs in phx.jwt.verify, picked by kid (re-read when it changes).")
    var jwtJWKS: String?

    @Option(help: "Token that opens POST /api/broadcast and /observe to non-loopback clients (default: loopback only).")
    var apiToken: String?

    func validate() throws {
        if let port, !(0...65535).contains(port) { throw ValidationError("--port must be between 0 and 65535.") }
        guard maxMessageSize >= 125 else { throw ValidationError("--max-message-size must be at least 125 bytes.") }
        guard idleTimeout > 0 else { throw ValidationError("--idle-timeout must be positive.") }
        guard threads > 0 else { throw ValidationError("--threads must be positive.") }
        for (flag, value) in [
            ("--max-connections", maxConnections), ("--max-channels", maxChannels),
            ("--handshake-timeout", handshakeTimeout), ("--max-outbound-buffer", maxOutboundBuffer),
            ("--lua-instruction-budget", luaInstructionBudget), ("--lua-memory-mb", luaMemoryMb),
            ("--shutdown-timeout", shutdownTimeout),
        ] where value <= 0 {
            throw ValidationError("\(flag) must be positive.")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: channels, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ValidationError("--channels: no folder at \(channels).")
        }
        if let publicDirectory {
            guard FileManager.default.fileExists(atPath: publicDirectory, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ValidationError("--public: no folder at \(publicDirectory).")
            }
        }
        do { _ = try OriginCheck(allowedOrigins: allowedOrigins) } catch { throw ValidationError("--allowed-origin: \(error)") }
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together.") }
        for (flag, path) in [("--tls-cert", tlsCert), ("--tls-key", tlsKey)] {
            if let path, !FileManager.default.isReadableFile(atPath: path) { throw ValidationError("\(flag): cannot read \(path).") }
        }
        if let apiToken, apiToken.count < 16 { throw ValidationError("--api-token must be at least 16 characters.") }
        do { _ = try Self.tokenSigner(secretKeyBase) } catch { throw ValidationError("\(error)") }
        if let secret = Self.jwtSecret(jwtSecret), secret.utf8.count < JWTVerifier.minimumSecretLength {
            throw ValidationError("--jwt-secret (or JWT_SECRET) must be at least \(JWTVerifier.minimumSecretLength) bytes (RFC 7518 §3.2).")
        }
        if let jwtJWKS, !FileManager.default.isReadableFile(atPath: jwtJWKS) { throw ValidationError("--jwt-jwks: cannot read \(jwtJWKS).") }
    }

    /// The JWT secret: the flag, else `$JWT_SECRET`, else nil.
    static func jwtSecret(_ flag: String?) -> String? {
        flag ?? ProcessInfo.processInfo.environment["JWT_SECRET"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The signer for `phx.token` and `hello-sockets token`: the flag, else `$SECRET_KEY_BASE`, else nil.
    static func tokenSigner(_ flag: String?) throws -> TokenSigner? {
        if let flag { return try TokenSigner(secretKeyBase: flag) }
        if let value = ProcessInfo.processInfo.environment["SECRET_KEY_BASE"], !value.isEmpty {
            do { return try TokenSigner(secretKeyBase: value) } catch { throw ValidationError("SECRET_KEY_BASE: \(error)") }
        }
        return nil
    }

    func run() async throws {
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "hello-sockets")
        let webSocket = WebSocketConfiguration(
            maxMessageSize: maxMessageSize,
            idleTimeout: .seconds(Int64(idleTimeout)),
            deflate: noDeflate ? nil : PerMessageDeflate.Policy(),
            maxPendingOutbound: maxOutboundBuffer
        )
        var configuration = ServerConfiguration(
            host: host,
            port: port ?? Self.environmentPort ?? 4000,
            channelsDirectory: channels,
            eventLoopCount: threads,
            webSocket: webSocket,
            lua: LuaLimits(instructionBudget: luaInstructionBudget, memoryLimit: luaMemoryMb << 20),
            apiToken: apiToken,
            maxConnections: maxConnections,
            handshakeTimeout: .seconds(Int64(handshakeTimeout)),
            shutdownTimeout: .seconds(Int64(shutdownTimeout)),
            watchChannels: !noWatch
        )
        configuration.maxChannelsPerSocket = maxChannels
        configuration.observe = noObserve ? false : (observe ? true : nil)
        configuration.trace = trace
        configuration.publicDirectory = publicDirectory
        configuration.checkOrigin = checkOrigin
        configuration.allowedOrigins = allowedOrigins
        configuration.tlsCertificatePath = tlsCert
        configuration.tlsKeyPath = tlsKey
        configuration.apiToken = apiToken
        configuration.jwtSecret = Self.jwtSecret(jwtSecret)
        configuration.jwtJWKSPath = jwtJWKS
        if let signer = try Self.tokenSigner(secretKeyBase) {
            configuration.lua.tokenSigner = signer
        } else {
            configuration.lua.tokenSigner = .random()
            logger.warning("no --secret-key-base or SECRET_KEY_BASE: phx.token uses a random secret, tokens won't survive a restart")
        }
        let server = HelloSocketsServer(configuration: configuration, logger: logger)
        // The group traps SIGTERM/SIGINT before it starts the service, so a signal that arrives as soon as
        // the port accepts (a benchmark stopping a server right after it came up) is not lost.
        let group = ServiceGroup(configuration: .init(
            services: [HelloSocketsService(server: server, logger: logger)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        ))
        try await group.run()
    }

    static var environmentPort: Int? {
        guard let value = getenv("PORT") else { return nil }
        return Int(String(cString: value))
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
