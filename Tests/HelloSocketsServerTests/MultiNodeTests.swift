import Foundation
import TestSupport
import XCTest

/// Several real `hello-sockets` processes on one real `redis-server` (docs/cluster-design.md): broadcasts from
/// every kind of source reach every node exactly once and in order, `disconnect` finds a socket on any node, a
/// Redis restart is survived and its losses counted exactly, and a killed node is declared down in time.
final class MultiNodeTests: XCTestCase {
    static let fixtureChannels = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/channels").path

    private func startNodes(_ count: Int = 3, redis: RedisServer, extra: [String] = []) async throws -> [ServerProcess] {
        try await startClusterNodes(count, channels: Self.fixtureChannels, redis: redis, extra: extra)
    }

    // MARK: Broadcasts

    func testBroadcastsFromEverySourceReachEveryNodeOnceInOrder() async throws {
        let redis = try RedisServer.start()
        defer { redis.stop() }
        let nodes = try await startNodes(redis: redis)
        let subscribers = try await nodes.asyncMap { try await PhoenixClient.join(port: $0.port, topic: "lab:fan") }
        let count = 1_500

        // A script's broadcast_from: a socket on node 1 whispers; every other subscriber, node 1's included, hears it.
        let publisher = try await PhoenixClient.join(port: nodes[1].port, topic: "lab:fan", user: "publisher")
        for n in 1...count {
            try await publisher.socket.send(text: #"["1","\#(n + 1)","lab:fan","whisper",{"src":"script","n":\#(n)}]"#)
        }
        // POST /api/broadcast on node 2, one keep-alive connection, one request after the other.
        let api = try await RawClient.connect(port: nodes[2].port)
        for n in 1...count {
            let body = #"{"topic":"lab:fan","event":"shout","payload":{"src":"api","n":\#(n)}}"#
            try await api.send(
                "POST /api/broadcast HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)")
            let response = try await api.receiveHTTPResponse(timeout: .seconds(10))
            XCTAssertEqual(response.status, 200, response.body)
        }
        await api.close()
        // `hello-sockets broadcast` against node 0.
        let commands = 3
        for n in 1...commands {
            let run = try await ServerProcess.run(
                ["broadcast", "lab:fan", "shout", #"{"src":"cli","n":\#(n)}"#, "--port", "\(nodes[0].port)"],
                in: URL(fileURLWithPath: Self.fixtureChannels))
            XCTAssertEqual(run.status, 0, run.stderr)
        }

        let expected = ["script": count, "api": count, "cli": commands]
        for (index, subscriber) in subscribers.enumerated() {
            var last: [String: Int] = [:]
            var received = 0
            let total = expected.values.reduce(0, +)
            while received < total {
                let message = try await subscriber.nextBroadcast(timeout: .seconds(30))
                guard let source = message.payload["src"] as? String, let n = message.payload["n"] as? Int else {
                    return XCTFail("node \(index): unexpected broadcast \(message)")
                }
                // In order per publisher, none twice, none missing.
                XCTAssertEqual(n, (last[source] ?? 0) + 1, "node \(index): \(source) #\(n) after #\(last[source] ?? 0)")
                last[source] = n
                received += 1
            }
            XCTAssertEqual(last, expected, "node \(index)")
            let silent = try await subscriber.socket.isSilent(for: .milliseconds(300))
            XCTAssertTrue(silent, "node \(index) received more than once")
        }
        for node in nodes {
            let status = try await Self.clusterStatus(port: node.port)
            let me = try XCTUnwrap((status["nodes"] as? [[String: Any]])?.first)
            XCTAssertEqual((me["lost"] as? [String: Int])?["bcast"], 0, "node on \(node.port) counted losses")
        }
        let metrics = try await Self.get(port: nodes[0].port, path: "/metrics").body
        XCTAssertTrue(metrics.contains("hellosockets_cluster_nodes_up 3"), metrics)
        XCTAssertTrue(metrics.contains(#"hellosockets_cluster_redis_connected{connection="subscriber"} 1"#))
        XCTAssertTrue(metrics.contains("hellosockets_cluster_lag_seconds_count"))
    }

    func testABinaryBroadcastCrossesNodesByteForByte() async throws {
        let redis = try RedisServer.start()
        defer { redis.stop() }
        let nodes = try await startNodes(2, redis: redis)
        let sender = try await PhoenixClient.join(port: nodes[0].port, topic: "lab:bin")
        let listener = try await PhoenixClient.join(port: nodes[1].port, topic: "lab:bin")
        // A V2 binary push (kind 0): join_ref "1", ref "2", topic, event "shout", then the payload bytes.
        let bytes: [UInt8] = [0, 10, 255, 13, 10, 123]
        let push = [0, 1, 1, 7, 5] + Array("12lab:binshout".utf8) + bytes
        try await sender.socket.send(frame: FrameBytes.client(opcode: 2, push))
        let frame = try await listener.socket.receiveFrame(timeout: .seconds(5))
        XCTAssertEqual(frame.opcode, 2)
        // A V2 binary broadcast (kind 2): topic and event lengths, topic, event, payload.
        XCTAssertEqual(frame.payload, [2, 7, 5] + Array("lab:binshout".utf8) + bytes)
    }

    func testDisconnectBySocketIDClosesTheSocketOnAnotherNode() async throws {
        let redis = try RedisServer.start()
        defer { redis.stop() }
        let nodes = try await startNodes(redis: redis)
        let zed = try await PhoenixClient.join(port: nodes[2].port, topic: "lab:any", user: "zed")
        let other = try await PhoenixClient.join(port: nodes[1].port, topic: "lab:any", user: "amy")
        let response = try await Self.post(
            port: nodes[0].port, path: "/api/broadcast", body: #"{"topic":"user_socket:zed","event":"disconnect"}"#)
        XCTAssertEqual(response.status, 200, response.body)
        let closed = try await zed.socket.raw.waitForClose(timeout: .seconds(5))
        XCTAssertTrue(closed, "zed's socket on node 2 stayed open")
        let silent = try await other.socket.isSilent(for: .milliseconds(300))
        XCTAssertTrue(silent, "amy's socket was touched")
    }

    func testTheObserverFeedNamesTheNodeServingThePage() async throws {
        let redis = try RedisServer.start()
        defer { redis.stop() }
        let nodes = try await startNodes(2, redis: redis)
        for (index, node) in nodes.enumerated() {
            let feed = try await WebSocketTestClient.connect(port: node.port, path: "/observe")
            let hello = try await feed.receiveText()
            XCTAssertTrue(hello.contains(#""type":"hello""#), hello)
            XCTAssertTrue(hello.contains(#""node":"node\#(index)""#), hello)
            await feed.close()
        }
        let page = try await Self.get(port: nodes[0].port, path: "/js/observer.js").body
        XCTAssertTrue(page.contains("data.node"), "the start page shows the node")
    }

    func testWithoutRedisThereIsNoClusterToShow() async throws {
        let server = try await TestServer.start()
        let cluster = try await Self.get(port: server.port, path: "/api/cluster")
        XCTAssertEqual(cluster.status, 404)
        XCTAssertTrue(cluster.body.contains("--redis"), cluster.body)
        let metrics = try await Self.get(port: server.port, path: "/metrics").body
        XCTAssertFalse(metrics.contains("hellosockets_cluster_"))
        try await server.stop()
    }

    // MARK: Faults

    func testRedisRestartMidStreamIsSurvivedAndItsLossesCountedExactly() async throws {
        let redis = try RedisServer.start()
        defer { redis.stop() }
        let nodes = try await startNodes(redis: redis, extra: ["--heartbeat-interval", "0.2"])
        let subscribers = try await nodes.dropFirst().asyncMap {
            try await PhoenixClient.join(port: $0.port, topic: "lab:loss")
        }
        let api = try await RawClient.connect(port: nodes[0].port)
        var sent = 0
        func broadcast(until done: () async throws -> Bool) async throws {
            while try await !done() {
                sent += 1
                let body = #"{"topic":"lab:loss","event":"shout","payload":{"n":\#(sent)}}"#
                try await api.send(
                    "POST /api/broadcast HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
                let response = try await api.receiveHTTPResponse(timeout: .seconds(10))
                XCTAssertEqual(response.status, 200, "local delivery must go on without Redis: \(response.body)")
                try await Task.sleep(for: .milliseconds(2))
            }
        }
        try await broadcast { sent >= 300 }
        redis.kill()
        let outage = ContinuousClock.now
        try await broadcast { ContinuousClock.now - outage > .seconds(1) }
        try redis.restart()
        // Messages go on while the nodes reconnect; "recovered" is when every node has both links up again.
        let recovery = ContinuousClock.now + .seconds(20)
        var recovered = false
        try await broadcast {
            recovered = try await nodes.asyncAllSatisfy { try await Self.isLinked(port: $0.port) }
            return recovered || ContinuousClock.now > recovery
        }
        XCTAssertTrue(recovered, "the nodes did not reconnect to the restarted Redis")
        let beforeRecovery = sent
        try await broadcast { sent >= beforeRecovery + 500 }

        for (offset, subscriber) in subscribers.enumerated() {
            let node = nodes[offset + 1]
            var seen = Set<Int>()
            while !seen.contains(sent) {
                let message = try await subscriber.nextBroadcast(timeout: .seconds(10))
                let n = try XCTUnwrap(message.payload["n"] as? Int)
                XCTAssertFalse(seen.contains(n), "#\(n) arrived twice")
                seen.insert(n)
            }
            let missing = (1...sent).filter { !seen.contains($0) }
            XCTAssertTrue(missing.allSatisfy { $0 <= beforeRecovery }, "lost after recovery: \(missing.filter { $0 > beforeRecovery })")
            XCTAssertFalse(missing.isEmpty, "nothing was lost while Redis was down: the test proves nothing")
            let status = try await Self.clusterStatus(port: node.port)
            let me = try XCTUnwrap((status["nodes"] as? [[String: Any]])?.first)
            XCTAssertEqual((me["lost"] as? [String: Int])?["bcast"], missing.count, "node on \(node.port)")
            print("node\(offset + 1): \(missing.count) of \(sent) broadcasts lost during the outage, counted \(me["lost"] ?? "?")")
        }
        let publisherStatus = try await Self.clusterStatus(port: nodes[0].port)
        let me = try XCTUnwrap((publisherStatus["nodes"] as? [[String: Any]])?.first)
        XCTAssertGreaterThan(me["publish_failed"] as? Int ?? 0, 0)
        XCTAssertTrue(nodes.allSatisfy { $0.process.isRunning })
    }

    func testANodeStartedWhileRedisIsDownServesLocallyThenJoins() async throws {
        let redis = try RedisServer.start()
        defer { redis.stop() }
        redis.kill()
        let lonely = try await ServerProcess.start(
            arguments: ["--channels", Self.fixtureChannels, "--redis", redis.url(), "--node-name", "early"], test: self)
        let local = try await PhoenixClient.join(port: lonely.port, topic: "lab:early")
        let response = try await Self.post(
            port: lonely.port, path: "/api/broadcast", body: #"{"topic":"lab:early","event":"shout","payload":{"n":1}}"#)
        XCTAssertEqual(response.status, 200)
        let first = try await local.nextBroadcast(timeout: .seconds(5))
        XCTAssertEqual(first.payload["n"] as? Int, 1, "local delivery without Redis")
        try redis.restart()
        try await waitFor("the early node to link", timeout: .seconds(10)) { try await Self.isLinked(port: lonely.port) }
        let later = try await ServerProcess.start(
            arguments: ["--channels", Self.fixtureChannels, "--redis", redis.url(), "--node-name", "later"], test: self)
        try await waitFor("both nodes up", timeout: .seconds(10)) {
            try await Self.clusterStatus(port: later.port)["nodes_up"] as? Int == 2
        }
        _ = try await Self.post(
            port: later.port, path: "/api/broadcast", body: #"{"topic":"lab:early","event":"shout","payload":{"n":2}}"#)
        let second = try await local.nextBroadcast(timeout: .seconds(5))
        XCTAssertEqual(second.payload["n"] as? Int, 2)
    }

    func testAKilledNodeIsDeclaredDownWithinSixSecondsAndAStoppedOneLeavesAtOnce() async throws {
        let redis = try RedisServer.start()
        defer { redis.stop() }
        let nodes = try await startNodes(redis: redis)
        nodes[2].signal(SIGKILL)
        let killed = ContinuousClock.now
        try await waitFor("node2 down on node0", timeout: .seconds(8)) {
            try await Self.node("node2", port: nodes[0].port)?["status"] as? String == "down"
        }
        let downAfter = ContinuousClock.now - killed
        try await waitFor("node2 down on node1", timeout: .seconds(8)) {
            try await Self.node("node2", port: nodes[1].port)?["status"] as? String == "down"
        }
        let downEverywhere = ContinuousClock.now - killed
        print("node2 SIGKILLed: declared down by node0 after \(downAfter), by node1 after \(downEverywhere)")
        XCTAssertLessThan(downEverywhere, .seconds(6))
        let status = try await Self.clusterStatus(port: nodes[1].port)
        XCTAssertEqual(status["nodes_up"] as? Int, 2)

        nodes[1].signal(SIGTERM)
        let stopped = ContinuousClock.now
        try await waitFor("node1 gone from node0", timeout: .seconds(5)) {
            try await Self.node("node1", port: nodes[0].port) == nil
        }
        print("node1 SIGTERMed: dropped by node0 after \(ContinuousClock.now - stopped)")
        XCTAssertLessThan(ContinuousClock.now - stopped, .seconds(3), "a graceful stop is seen at once, not after the timeout")
    }

    func testAPausedNodeIsDownThenBackAndDoesNotBlameTheOthersForItsPause() async throws {
        let redis = try RedisServer.start()
        defer { redis.stop() }
        let nodes = try await startNodes(redis: redis, extra: ["--node-down-after", "2"])
        nodes[2].signal(SIGSTOP)
        try await waitFor("node2 down on node0", timeout: .seconds(5)) {
            try await Self.node("node2", port: nodes[0].port)?["status"] as? String == "down"
        }
        try await Task.sleep(for: .seconds(2))
        nodes[2].signal(SIGCONT)
        try await waitFor("node2 up again on node0", timeout: .seconds(5)) {
            try await Self.node("node2", port: nodes[0].port)?["status"] as? String == "up"
        }
        // Resumed after 4 s of silence from everyone, it must not declare the others down.
        for _ in 0..<10 {
            let status = try await Self.clusterStatus(port: nodes[2].port)
            XCTAssertEqual(status["nodes_up"] as? Int, 3, "the paused node blamed the others: \(status)")
            try await Task.sleep(for: .milliseconds(200))
        }
        XCTAssertTrue(nodes[2].log.contains("was paused"), nodes[2].log)
    }

    // MARK: Helpers

    private static func isLinked(port: Int) async throws -> Bool {
        guard let me = (try await clusterStatus(port: port)["nodes"] as? [[String: Any]])?.first,
            let redis = me["redis"] as? [String: String]
        else { return false }
        return redis["publisher"] == "connected" && redis["subscriber"] == "connected"
    }

    private static func node(_ name: String, port: Int) async throws -> [String: Any]? {
        (try await clusterStatus(port: port)["nodes"] as? [[String: Any]])?.first { $0["name"] as? String == name }
    }

    static func clusterStatus(port: Int) async throws -> [String: Any] {
        let response = try await get(port: port, path: "/api/cluster")
        XCTAssertEqual(response.status, 200, response.body)
        return try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any] ?? [:]
    }

    static func get(port: Int, path: String) async throws -> HTTPResponse {
        let client = try await RawClient.connect(port: port)
        defer { Task { await client.close() } }
        try await client.send("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        return try await client.receiveHTTPResponse(timeout: .seconds(10))
    }

    static func post(port: Int, path: String, body: String) async throws -> HTTPResponse {
        let client = try await RawClient.connect(port: port)
        defer { Task { await client.close() } }
        try await client.send(
            "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
        return try await client.receiveHTTPResponse(timeout: .seconds(10))
    }
}

/// A Phoenix V2 client joined to one topic over a real WebSocket.
private struct PhoenixClient {
    let socket: WebSocketTestClient
    let topic: String

    struct Broadcast: CustomStringConvertible {
        var event: String
        var payload: [String: Any]
        var description: String { "\(event) \(payload)" }
    }

    static func join(port: Int, topic: String, user: String = "u\(UInt16.random(in: .min ... .max))") async throws
        -> PhoenixClient
    {
        let socket = try await WebSocketTestClient.connect(port: port, path: "/socket/websocket?vsn=2.0.0&user=\(user)")
        try await socket.send(text: #"["1","1","\#(topic)","phx_join",{}]"#)
        let reply = try await socket.receiveText()
        XCTAssertTrue(reply.contains(#""status":"ok""#), reply)
        return PhoenixClient(socket: socket, topic: topic)
    }

    /// The next broadcast on the topic (replies and other frames are skipped).
    func nextBroadcast(timeout: Duration) async throws -> Broadcast {
        while true {
            let text = try await socket.receiveText(timeout: timeout)
            guard let message = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [Any], message.count == 5,
                message[0] is NSNull, message[1] is NSNull, let event = message[3] as? String,
                let payload = message[4] as? [String: Any]
            else { continue }
            return Broadcast(event: event, payload: payload)
        }
    }
}

extension Sequence {
    fileprivate func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }

    fileprivate func asyncAllSatisfy(_ predicate: (Element) async throws -> Bool) async rethrows -> Bool {
        for element in self where try await !predicate(element) { return false }
        return true
    }
}
