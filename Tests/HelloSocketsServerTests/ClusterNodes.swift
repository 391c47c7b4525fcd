import Foundation
import TestSupport
import XCTest

/// What the multi-node tests share: nodes of a cluster of their own on a test's redis-server, and waiting for a
/// condition with a bound.
extension XCTestCase {
    /// `count` nodes serving `channels`, in a cluster named afresh on `redis` (so tests never hear each other);
    /// returns once every node lists all of them as up.
    func startClusterNodes(
        _ count: Int = 3, channels: String, redis: RedisServer, extra: [String] = [],
        environment: [String: String] = [:]
    ) async throws -> [ServerProcess] {
        let cluster = "t\(UInt32.random(in: .min ... .max))"
        var nodes: [ServerProcess] = []
        for index in 0..<count {
            nodes.append(try await ServerProcess.start(
                arguments: [
                    "--channels", channels, "--redis", redis.url(), "--cluster", cluster, "--node-name", "node\(index)",
                    "--client-message-rate", "0", "--threads", "2",
                ] + extra,
                test: self, environment: environment))
        }
        for node in nodes {
            try await waitFor("node on port \(node.port) to see \(count) nodes up", timeout: .seconds(15)) {
                try await MultiNodeTests.clusterStatus(port: node.port)["nodes_up"] as? Int == count
            }
        }
        return nodes
    }

    /// Polls `condition` every 100 ms until it holds; fails the test and throws past `timeout`.
    func waitFor(_ what: String, timeout: Duration, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        XCTFail("timed out waiting for \(what)")
        throw CancellationError()
    }
}
