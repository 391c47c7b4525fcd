// swift-tools-version: 6.1
// libFuzzer targets for HelloSockets' parsers. Build and run with `fuzz/run.sh` (it passes the sanitizer flags);
// a plain `swift build` here fails to link, as the executables have no `main` without libFuzzer.
import Foundation
import PackageDescription

// A path dependency's identity is its folder's name ("hello-sockets", "main", a worktree's name…).
let parent = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

let package = Package(
    name: "hello-sockets-fuzz",
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    ],
    targets: [
        .target(name: "FuzzSupport"),
        .executableTarget(
            name: "fuzz-http-upgrade",
            dependencies: [
                "FuzzSupport",
                .product(name: "WebSocketTransport", package: parent),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "fuzz-ws-frames",
            dependencies: [
                "FuzzSupport",
                .product(name: "WebSocketTransport", package: parent),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "fuzz-json",
            dependencies: ["FuzzSupport", .product(name: "PhoenixProtocol", package: parent)]
        ),
        .executableTarget(
            name: "fuzz-phoenix",
            dependencies: ["FuzzSupport", .product(name: "PhoenixProtocol", package: parent)]
        ),
        .executableTarget(
            name: "fuzz-resp",
            dependencies: [
                "FuzzSupport",
                .product(name: "RedisClient", package: parent),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "fuzz-lua-values",
            dependencies: [
                "FuzzSupport",
                .product(name: "PhoenixProtocol", package: parent),
                .product(name: "LuaRuntime", package: parent),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "fuzz-erlang-terms",
            dependencies: [
                "FuzzSupport",
                .product(name: "PhoenixProtocol", package: parent),
                .product(name: "Tokens", package: parent),
            ]
        ),
    ],
    swiftLanguageModes: [.v5]
)
