import Cluster
import Logging
import LuaRuntime
import NIOCore
import PhoenixChannels
import RedisClient
import WebSocketTransport

/// Everything the server needs to know to start.
public struct ServerConfiguration: Sendable {
    /// Address to listen on (default loopback: the observer and admin endpoints are open there).
    public var host: String
    /// Port to listen on; 0 picks a free one (tests).
    public var port: Int
    /// Folder of channel scripts.
    public var channelsDirectory: String
    /// Event loops (threads); default one per core.
    public var eventLoopCount: Int
    /// Limits and options of the WebSocket layer.
    public var webSocket: WebSocketConfiguration
    /// Limits of every channel script: instructions per callback, memory per VM.
    public var lua: LuaLimits
    /// Token that lets non-loopback clients use `POST /api/broadcast`; nil keeps it loopback-only.
    public var apiToken: String?
    /// Open WebSockets at most; more get 503 at the upgrade.
    public var maxConnections: Int
    /// Channels one socket may have joined at once; one more join gets `too many channels joined`.
    public var maxChannelsPerSocket = 100
    /// `--presence-batch-ms`: a topic's presence diffs within this window go out merged as one; 0 sends a
    /// diff per change, as Phoenix does.
    public var presenceBatchMilliseconds = 0
    /// Abuse limits: each Phoenix socket's message and join rates, and per client address (open
    /// WebSockets, new ones per second, trusted proxies).
    public var socketLimits = SocketLimits()
    public var addressLimits = AddressLimits()
    /// Time a client has to send a complete HTTP request (also the keep-alive idle limit): slowloris guard.
    public var handshakeTimeout: TimeAmount
    /// How long a graceful shutdown waits for clients to close before dropping them.
    public var shutdownTimeout: TimeAmount
    /// `--public DIR`: serve the files of DIR for GET paths no other route claims (examples' pages); nil: none.
    public var publicDirectory: String? = nil
    /// Serve the observer feed `/observe`: nil (default) turns it on only when `host` is loopback; `--observe` sets true.
    public var observe: Bool? = nil
    /// Print every WebSocket frame to stderr, wscat-style (`--trace`).
    public var trace = false
    /// Hot reload: watch the channels folder and swap in edited scripts (`--no-watch` turns it off).
    public var watchChannels: Bool
    /// Phoenix's check_origin on WebSocket upgrades carrying an `Origin`: nil (default) checks only
    /// when `host` is not loopback (the book's dev config has `check_origin: false`); true/false force it.
    public var checkOrigin: Bool? = nil
    /// Origins accepted when checking (`--allowed-origin`): `https://example.com`, `//*.example.com`…;
    /// empty means the Origin's host must equal the request's `Host` header host.
    public var allowedOrigins: [String] = []
    /// Serve Phoenix's LongPoll transport at `<mount>/longpoll` beside each socket's WebSocket (`--no-longpoll`
    /// turns it off).
    public var longPoll = true
    /// How long a LongPoll GET is held waiting for frames before it is answered 204 (Phoenix's `window_ms`);
    /// a session not polled for 1.5 times this ends.
    public var longPollWindow: TimeAmount = .seconds(10)
    /// PEM files of the TLS certificate chain and private key; with both the server speaks https/wss.
    public var tlsCertificatePath: String? = nil
    public var tlsKeyPath: String? = nil
    /// The secret `phx.token` signs with (`--secret-key-base`); the command line turns it into `lua.tokenSigner`.
    public var secretKeyBase: String? = nil
    /// Least severe log messages shown (the command line's log handler reads it, SIGHUP changes it).
    public var logLevel: Logger.Level = .info
    /// Where `phx.http.request` may go (`--http-allow HOST[:PORT]`); empty (default): nowhere.
    public var httpAllow: [HTTPPolicy.Destination] = []
    /// Largest response body `phx.http.request` accepts (`--http-max-response`); larger ones fail "too large".
    public var httpMaxResponseBytes = 1 << 20
    /// `phx.http.request`s one event loop's VM may have in flight (`--http-max-concurrent`).
    public var httpMaxConcurrentPerLoop = 64
    /// How long one channel callback may take, its waits for I/O included (`--lua-callback-timeout`).
    public var luaCallbackTimeout: TimeAmount = .seconds(10)
    /// The Redis server of the cluster (`--redis redis://…`): `phx.kv` is kept there, shared by every node using
    /// it. Nil (default): one node, nothing to install, `phx.kv` in process.
    public var redis: RedisConfiguration? = nil
    /// The cluster's name (`--cluster`): several clusters can share one Redis; it prefixes every Redis channel
    /// and key (`hs:NAME:`).
    public var clusterName = "default"
    /// This node's name in the cluster (`--node-name`); nil (default): the host name + `-` + 6 random base32
    /// characters, new at each start.
    public var nodeName: String? = nil
    /// How long a node may stay silent before the others declare it down (`--node-down-after`).
    public var nodeDownAfter: TimeAmount = .seconds(5)
    /// How often a node says it is alive on the cluster's tracker channel (`--heartbeat-interval`).
    public var heartbeatInterval: TimeAmount = .seconds(1)
    /// The embedded `phx.kv` store's size cap in bytes (`--kv-max-mb`).
    public var kvMaxBytes = 64 << 20
    /// `phx.jwt.verify`'s keys: an HMAC secret (HS256, at least 32 bytes) and a JWKS file of public keys
    /// (RS256, ES256…; re-read when it changes). Either replaces `lua.jwtVerifier` at start.
    public var jwtSecret: String? = nil
    public var jwtJWKSPath: String? = nil

    /// Whether `name` can name a cluster: it becomes part of Redis channel and key names.
    public static func isValidClusterName(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count)
            && name.utf8.allSatisfy { $0.isASCIIAlphanumeric || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }
    }

    /// Whether `name` can name a node: it becomes part of its Redis channel (`hs:CLUSTER:node:NAME`).
    public static func isValidNodeName(_ name: String) -> Bool {
        NodeIdentity.isValidName(name)
    }

    /// Whether the Origin of WebSocket upgrades is checked.
    public var checksOrigin: Bool { checkOrigin ?? !ObserverHub.isLoopback(host: host) }

    /// The origin rule in force, nil when origins are not checked. Throws on a malformed allowed origin.
    public func makeOriginCheck() throws -> OriginCheck? {
        checksOrigin ? try OriginCheck(allowedOrigins: allowedOrigins) : nil
    }

    public init(
        host: String = "127.0.0.1",
        port: Int = 4000,
        channelsDirectory: String = "./channels",
        eventLoopCount: Int = System.coreCount,
        webSocket: WebSocketConfiguration = WebSocketConfiguration(),
        lua: LuaLimits = LuaLimits(),
        apiToken: String? = nil,
        maxConnections: Int = 16_384,
        handshakeTimeout: TimeAmount = .seconds(10),
        shutdownTimeout: TimeAmount = .seconds(5),
        watchChannels: Bool = true
    ) {
        self.host = host
        self.port = port
        self.channelsDirectory = channelsDirectory
        self.eventLoopCount = eventLoopCount
        self.webSocket = webSocket
        self.lua = lua
        self.apiToken = apiToken
        self.maxConnections = maxConnections
        self.handshakeTimeout = handshakeTimeout
        self.shutdownTimeout = shutdownTimeout
        self.watchChannels = watchChannels
    }
}

extension UInt8 {
    fileprivate var isASCIIAlphanumeric: Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(self) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(self)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self)
    }
}
