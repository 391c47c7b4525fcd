// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "hello-sockets",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "hello-sockets", targets: ["hello-sockets"]),
        .library(name: "HelloSocketsServer", targets: ["HelloSocketsServer"]),
        .library(name: "ChannelTesting", targets: ["ChannelTesting"]),
        // The layers on their own, for the separate packages in fuzz/ and benchmarks/ (and embedders).
        .library(name: "PhoenixProtocol", targets: ["PhoenixProtocol"]),
        .library(name: "WebSocketTransport", targets: ["WebSocketTransport"]),
        .library(name: "LuaRuntime", targets: ["LuaRuntime"]),
        .library(name: "KeyValueStore", targets: ["KeyValueStore"]),
        .library(name: "RedisClient", targets: ["RedisClient"]),
        .library(name: "Tokens", targets: ["Tokens"]),
        .library(name: "PhoenixChannels", targets: ["PhoenixChannels"]),
        .library(name: "RateLimiting", targets: ["RateLimiting"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.5.0"),
        // 4.x: jwt-kit 5 needs it.
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.7.1"),
    ],
    targets: [
        // Debian's liblua5.4, found through pkg-config.
        .systemLibrary(
            name: "CLua",
            pkgConfig: "lua5.4",
            providers: [.apt(["liblua5.4-dev"])]
        ),
        // C wrappers for the Lua API macros, the instruction-count hook and the counting allocator.
        .target(name: "CLuaShim", dependencies: ["CLua"]),
        // The Phoenix wire protocol: JSON values, messages, V1/V2/binary serializers. No NIO, no Lua.
        .target(name: "PhoenixProtocol"),
        // Token buckets and the inbound throttle behind every rate limit (messages, joins, connects, phx.rate).
        // Pure: no NIO, no Lua; time is passed in.
        .target(name: "RateLimiting"),
        // RFC 6455 on SwiftNIO: upgrade, aggregation, UTF-8, close/ping, permessage-deflate. Knows nothing of Phoenix.
        .target(
            name: "WebSocketTransport",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // phx.kv's store: the protocol a Redis-backed store implements too, and the embedded store.
        .target(
            name: "KeyValueStore",
            dependencies: [
                "PhoenixProtocol", "RedisClient",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Tokens from the application: Phoenix.Token (Plug.Crypto's format over Erlang terms) and JWTs (jwt-kit).
        .target(
            name: "Tokens",
            dependencies: [
                "PhoenixProtocol",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        // Lua VMs: sandbox, limits, Swift⇄Lua values, channel scripts, callbacks as coroutines.
        .target(
            name: "LuaRuntime",
            dependencies: [
                "CLua", "CLuaShim", "PhoenixProtocol", "Tokens", "KeyValueStore", "RateLimiting",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // A Redis client on SwiftNIO: RESP codec, pipelined commands, subscriber, reconnects. No Phoenix.
        .target(
            name: "RedisClient",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // phx.http.request's transport: AsyncHTTPClient on the server's event loops.
        .target(
            name: "OutboundHTTP",
            dependencies: [
                "LuaRuntime",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // The Phoenix channel layer: the socket state machine (with each channel's mailbox), PubSub
        // behind its adapter seam, the per-loop runtimes, the in-memory endpoint. No HTTP, no sockets:
        // transports plug into it.
        .target(
            name: "PhoenixChannels",
            dependencies: [
                "PhoenixProtocol", "LuaRuntime", "KeyValueStore", "RateLimiting",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Several nodes on one Redis: node identity, the cluster message format, the Redis PubSub adapter,
        // heartbeats and the node table (docs/cluster-design.md). No HTTP.
        .target(
            name: "Cluster",
            dependencies: [
                "PhoenixProtocol", "PhoenixChannels", "RedisClient",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The server: bootstrap, HTTP routes, the WebSocket transport for Phoenix sockets, observer, reload, metrics.
        .target(
            name: "HelloSocketsServer",
            dependencies: [
                "WebSocketTransport", "PhoenixProtocol", "LuaRuntime", "PhoenixChannels", "Tokens", "KeyValueStore",
                "OutboundHTTP", "RateLimiting", "RedisClient", "Cluster",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            // The start page's .html/.css/.js, compiled into the binary as bytes (see Observer/ObserverAssets.swift).
            resources: [.embedInCode("Observer/Assets")]
        ),
        // The channel test harness (Phoenix.ChannelTest's counterpart) over the in-memory endpoint,
        // and the Lua spec runner behind `hello-sockets test`. No XCTest, so the tool can use it.
        .target(
            name: "ChannelTestingCore",
            dependencies: [
                "PhoenixChannels", "LuaRuntime", "PhoenixProtocol", "KeyValueStore", "RedisClient",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // ChannelTestingCore for XCTest: failures as XCTFail, and the live WebSocket transport.
        .target(
            name: "ChannelTesting",
            dependencies: ["ChannelTestingCore", "HelloSocketsServer", "TestSupport"]
        ),
        // The settings table: every server flag with its environment variable and config file key, and the
        // loader that merges flags > environment > file > defaults into a ServerConfiguration.
        .target(
            name: "ServerSettings",
            dependencies: [
                "HelloSocketsServer", "LuaRuntime", "Tokens", "WebSocketTransport", "PhoenixChannels", "RedisClient",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // Writes BuildInfo.swift (version, git commit) for `hello-sockets --version` before each build.
        .plugin(name: "BuildInfoPlugin", capability: .buildTool()),
        .executableTarget(
            name: "hello-sockets",
            dependencies: [
                "HelloSocketsServer", "ServerSettings", "ChannelTestingCore", "LuaRuntime", "PhoenixProtocol", "Tokens",
                "RedisClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            plugins: ["BuildInfoPlugin"]
        ),
        // Raw WebSocket client pieces and a throwaway redis-server, shared by the test targets.
        .target(
            name: "TestSupport",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            path: "Tests/TestSupport"
        ),
        .testTarget(name: "PhoenixProtocolTests", dependencies: ["PhoenixProtocol", "TestSupport"]),
        .testTarget(name: "RateLimitingTests", dependencies: ["RateLimiting"]),
        .testTarget(
            name: "WebSocketTransportTests",
            dependencies: [
                "WebSocketTransport", "TestSupport",
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "TokensTests",
            dependencies: ["Tokens", "PhoenixProtocol", .product(name: "Crypto", package: "swift-crypto")]
        ),
        .testTarget(
            name: "LuaRuntimeTests",
            dependencies: ["LuaRuntime", "Tokens", "KeyValueStore", .product(name: "Crypto", package: "swift-crypto")]
        ),
        .testTarget(name: "ServerSettingsTests", dependencies: ["ServerSettings", "HelloSocketsServer", "PhoenixChannels"]),
        .testTarget(
            name: "PhoenixChannelsTests",
            dependencies: [
                "PhoenixChannels", "LuaRuntime", "PhoenixProtocol",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "KeyValueStoreTests",
            dependencies: [
                "KeyValueStore", "RedisClient", "PhoenixProtocol", "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "RedisClientTests",
            dependencies: [
                "RedisClient", "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "ChannelTestingTests",
            dependencies: [
                "ChannelTesting", "ChannelTestingCore", "HelloSocketsServer", "PhoenixChannels", "LuaRuntime", "RedisClient",
                "TestSupport",
            ]
        ),
        .testTarget(
            name: "ClusterTests",
            dependencies: ["Cluster", "PhoenixChannels", "PhoenixProtocol", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .testTarget(
            name: "HelloSocketsServerTests",
            dependencies: [
                "HelloSocketsServer", "PhoenixChannels", "TestSupport", "LuaRuntime", "Tokens", "RateLimiting", "RedisClient",
                "Cluster",
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            // Read from the source tree at run time (#filePath), not bundled.
            exclude: ["Fixtures", "Transcripts"]
        ),
    ],
    swiftLanguageModes: [.v5]
)
