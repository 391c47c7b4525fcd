// swift-tools-version: 6.1
// The presence benchmark's client (issue 12): N clients join one room topic at a given rate, each keeping
// its member list as phoenix.js's Presence does, against any Phoenix-protocol server. Run through
// `run.sh` (it starts our server, reads its CPU from /proc and writes benchmarks/RESULTS.md), or alone:
//   swift run -c release presence-bench --url 'ws://127.0.0.1:4000/socket/websocket?vsn=2.0.0' --clients 500
// A package of its own: it needs only SwiftNIO and the JSON parser of PhoenixProtocol.
import PackageDescription

let package = Package(
    name: "presence-bench",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "hello-sockets", path: "../.."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        .executableTarget(
            name: "presence-bench",
            dependencies: [
                .product(name: "PhoenixProtocol", package: "hello-sockets"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        )
    ],
    swiftLanguageModes: [.v5]
)
