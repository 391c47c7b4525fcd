// swift-tools-version: 6.1
// Micro-benchmarks of HelloSockets' hot paths (ordo-one/benchmark). Run from this folder:
//   swift package benchmark                 # all, time + mallocs per operation
//   swift package benchmark --filter V2     # some
// A separate package so the server's own build and CI never fetch the benchmark tooling.
import PackageDescription

let package = Package(
    name: "hello-sockets-benchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "hello-sockets", path: ".."),
        // The MallocInterposer trait only: the default trait pulls a package that is not in the mirror.
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.0", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    ],
    targets: [
        .executableTarget(
            name: "HotPaths",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "PhoenixProtocol", package: "hello-sockets"),
                .product(name: "WebSocketTransport", package: "hello-sockets"),
                .product(name: "LuaRuntime", package: "hello-sockets"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/HotPaths",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // Publishes/s through one real redis-server (benchmarks/redis-publish.sh starts it).
        .executableTarget(
            name: "redis-publish",
            dependencies: [
                .product(name: "RedisClient", package: "hello-sockets"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/RedisPublish"
        ),
    ],
    swiftLanguageModes: [.v5]
)
