import Foundation
import TestSupport
import XCTest

/// LongPoll across nodes (docs/cluster-design.md, "LongPoll forwarding"): real `hello-sockets` processes on one
/// real `redis-server`, a LongPoll session opened on one node and its requests sent to every node in turn, as a
/// round-robin load balancer without sticky sessions would.
final class LongPollClusterTests: XCTestCase {
    static let fixtureChannels = MultiNodeTests.fixtureChannels
    /// Every node signs and verifies LongPoll tokens with this secret (a cluster must share one).
    static let secret = String(repeating: "lp-forwarding-secret-", count: 4)

    /// `count` nodes of a cluster of their own on `redis`; returns once each lists all of them as up.
    private func startNodes(
        _ count: Int = 3, redis: RedisServer, channels: String = LongPollClusterTests.fixtureChannels,
        extra: [String] = []
    ) async throws -> [ServerProcess] {
        try await startClusterNodes(
            count, channels: channels, redis: redis, extra: extra, environment: ["SECRET_KEY_BASE": Self.secret])
    }

    /// The frames a client got, as Phoenix V2 arrays.
    private static func decode(_ frame: String) throws -> [Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(frame.utf8)) as? [Any], frame)
    }

    func testSessionServedThroughEveryNodeInTurnLosesAndRepeatsNothing() async throws {
        let redis = try RedisServer.start()
        defer { redis.stop() }
        let nodes = try await startNodes(redis: redis)
        let ports = nodes.map(\.port)
        let client = try await LongPollTestClient.open(port: ports[0], path: "/socket/longpoll?vsn=2.0.0&user=lp")
        client.roundRobin = [ports[1], ports[2], ports[0]]
        // A WebSocket subscriber on node 2 hears what the LongPoll client shouts from its session on node 0.
        let watcher = try await WebSocketTestClient.connect(port: ports[2], path: "/socket/websocket?vsn=2.0.0&user=w")
        try await watcher.send(text: #"["1","1","lab:lp","phx_join",{}]"#)
        let watcherJoined = try await watcher.receiveText()
        XCTAssertTrue(watcherJoined.contains(#""status":"ok""#), watcherJoined)

        try await client.send(text: #"["1","1","lab:lp","phx_join",{"name":"lp"}]"#)
        let joined = try await client.receiveText()
        XCTAssertEqual(joined, #"["1","1","lab:lp","phx_reply",{"response":{"user":"lp"},"status":"ok"}]"#)

        // Pushes answered by replies, shouts broadcast to every node, and broadcasts from the API of node 1, all
        // through whichever node is next; then every frame must have come once, each kind in order.
        let rounds = 60
        var replies: [Int] = [], shouts: [Int] = [], announcements: [Int] = []
        func take(_ frame: String) throws {
            let message = try Self.decode(frame)
            guard message.count == 5, let event = message[3] as? String, let payload = message[4] as? [String: Any]
            else { return XCTFail("unexpected frame \(frame)") }
            switch event {
            case "phx_reply":
                let response = (payload["response"] as? [String: Any])?["n"] as? Int
                replies.append(try XCTUnwrap(response, frame))
            case "shout": shouts.append(try XCTUnwrap(payload["n"] as? Int, frame))
            case "announce": announcements.append(try XCTUnwrap(payload["n"] as? Int, frame))
            default: XCTFail("unexpected frame \(frame)")
            }
        }
        for n in 1...rounds {
            try await client.send(text: #"["1","\#(n + 1)","lab:lp","count",{}]"#)
            if n % 3 == 0 { try await client.send(text: #"["1",null,"lab:lp","shout",{"n":\#(n / 3)}]"#) }
            if n % 4 == 0 {
                let body = #"{"topic":"lab:lp","event":"announce","payload":{"n":\#(n / 4)}}"#
                let response = try await MultiNodeTests.post(port: ports[1], path: "/api/broadcast", body: body)
                XCTAssertEqual(response.status, 200, response.body)
            }
            if n % 5 == 0 { try take(try await client.receiveText()) }
        }
        let expected = (replies: rounds, shouts: rounds / 3, announcements: rounds / 4)
        let deadline = ContinuousClock.now + .seconds(30)
        while replies.count + shouts.count + announcements.count
            < expected.replies + expected.shouts + expected.announcements, ContinuousClock.now < deadline
        {
            try take(try await client.receiveText())
        }
        XCTAssertEqual(replies, Array(1...expected.replies))
        XCTAssertEqual(shouts, Array(1...expected.shouts))
        XCTAssertEqual(announcements, Array(1...expected.announcements))
        // Nothing more was queued: the next frame is the reply to one more push.
        try await client.send(text: #"["1","last","lab:lp","count",{}]"#)
        let last = try await client.receiveText()
        XCTAssertEqual(last, #"["1","last","lab:lp","phx_reply",{"response":{"n":\#(rounds + 1)},"status":"ok"}]"#)
        XCTAssertEqual(Set(client.portsUsed), Set(ports), "requests went to every node")

        var heard: [Int] = []
        while heard.count < expected.shouts {
            let message = try Self.decode(try await watcher.receiveText(timeout: .seconds(10)))
            if message[3] as? String == "shout" { heard.append(try XCTUnwrap((message[4] as? [String: Any])?["n"] as? Int)) }
        }
        XCTAssertEqual(heard, Array(1...expected.shouts), "the WebSocket on node 2 heard the shouts once, in order")

        // Every request that reached node 1 or 2 was forwarded to node 0 and answered from there.
        let reached = Dictionary(grouping: client.portsUsed) { $0 }.mapValues(\.count)
        let requester = try await MultiNodeTests.get(port: ports[1], path: "/metrics").body
        XCTAssertEqual(
            Self.sample(#"hellosockets_longpoll_forwarded_total{outcome="answered"}"#, in: requester), reached[ports[1]])
        XCTAssertEqual(Self.sample(#"hellosockets_longpoll_forwarded_total{outcome="timeout"}"#, in: requester), 0)
        let owner = try await MultiNodeTests.get(port: ports[0], path: "/metrics").body
        XCTAssertEqual(
            Self.sample("hellosockets_longpoll_forwards_served_total", in: owner),
            (reached[ports[1]] ?? 0) + (reached[ports[2]] ?? 0))
        XCTAssertEqual(Self.sample("hellosockets_longpoll_sessions", in: owner), 1, "one session, on its owner")
        XCTAssertEqual(Self.sample("hellosockets_longpoll_sessions", in: requester), 0)
    }

    func testOwnerKilledAnswersForwardedRequestsWith410Promptly() async throws {
        let redis = try RedisServer.start()
        defer { redis.stop() }
        let nodes = try await startNodes(
            redis: redis, extra: ["--heartbeat-interval", "0.2", "--node-down-after", "1.5"])
        let ports = nodes.map(\.port)
        let client = try await LongPollTestClient.open(port: ports[0], path: "/socket/longpoll?vsn=2.0.0&user=k")
        client.roundRobin = [ports[1]]
        try await client.send(text: #"["1","1","lab:k","phx_join",{}]"#)
        let joined = try await client.receiveText()
        XCTAssertTrue(joined.contains(#""status":"ok""#), joined)
        let oldToken = try XCTUnwrap(client.token)

        // A poll held on node 0 through node 1; node 0 dies while it waits.
        let held = Task { try await client.request("GET", timeout: .seconds(20)) }
        try await Task.sleep(for: .milliseconds(500))
        let killedAt = ContinuousClock.now
        nodes[0].signal(SIGKILL)
        let answer = try await held.value
        let waited = ContinuousClock.now - killedAt
        let body = try LongPollTestClient.json(answer.body)
        XCTAssertEqual(body["status"] as? Int, 410, answer.body)
        // Released when node 0 is declared down (1.5 s, checked every 250 ms), not after the window + 5 s.
        XCTAssertLessThan(waited, .seconds(5), "the held poll waited \(waited)")
        // As a gone session on a lone node: that GET opened a new session, here on node 1.
        let newToken = try XCTUnwrap(body["token"] as? String, answer.body)
        XCTAssertNotEqual(newToken, oldToken)

        // A POST with the old token through node 1 (which knows node 0 is down): 410 at once.
        let start = ContinuousClock.now
        let post = try await client.request(
            "POST", uri: "/socket/longpoll?vsn=2.0.0&token=\(oldToken)", headers: ["Content-Type: application/x-ndjson"],
            body: #"["1","2","lab:k","count",{}]"#)
        XCTAssertEqual(try LongPollTestClient.json(post.body)["status"] as? Int, 410, post.body)
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(2))

        let metrics = try await MultiNodeTests.get(port: ports[1], path: "/metrics").body
        XCTAssertEqual(Self.sample(#"hellosockets_longpoll_forwarded_total{outcome="owner_down"}"#, in: metrics), 1)
        XCTAssertEqual(Self.sample("hellosockets_longpoll_forwards_pending", in: metrics), 0)
    }

    func testOwnerStoppedGracefullyAnswersAHeldForwardedPollAtOnce() async throws {
        let redis = try RedisServer.start()
        defer { redis.stop() }
        let nodes = try await startNodes(2, redis: redis)
        let client = try await LongPollTestClient.open(port: nodes[0].port, path: "/socket/longpoll?vsn=2.0.0&user=g")
        client.roundRobin = [nodes[1].port]
        try await client.send(text: #"["1","1","lab:g","phx_join",{}]"#)
        _ = try await client.receiveText()
        let held = Task { try await client.request("GET", timeout: .seconds(20)) }
        try await Task.sleep(for: .milliseconds(500))
        let stoppedAt = ContinuousClock.now
        nodes[0].signal(SIGTERM)
        // The owner ends its sessions (held polls: 410) and its answer comes back before it says goodbye.
        let answer = try await held.value
        XCTAssertEqual(try LongPollTestClient.json(answer.body)["status"] as? Int, 410, answer.body)
        XCTAssertNil(try LongPollTestClient.json(answer.body)["token"], "the owner's own answer, not a new session")
        XCTAssertLessThan(ContinuousClock.now - stoppedAt, .seconds(3))
        // The next poll with the old token: node 0 said goodbye, so node 1 opens a session of its own.
        let (status, next) = try await client.poll()
        XCTAssertEqual(status, 410, next.body)
        XCTAssertNotNil(try LongPollTestClient.json(next.body)["token"] as? String, next.body)
        let exited = try await nodes[0].waitForExit()
        XCTAssertEqual(exited, 0)
    }

    func testAForwardedPollWhoseClientLeftIsWithdrawnAndItsFramesWaitForTheNext() async throws {
        let redis = try RedisServer.start()
        defer { redis.stop() }
        let nodes = try await startNodes(2, redis: redis)
        let client = try await LongPollTestClient.open(port: nodes[0].port, path: "/socket/longpoll?vsn=2.0.0&user=c")
        client.roundRobin = [nodes[1].port]
        try await client.send(text: #"["1","1","lab:c","phx_join",{}]"#)
        _ = try await client.receiveText()
        // A poll held on node 0 through node 1, whose client gives up and closes its connection.
        let abandoned = try await RawClient.connect(port: nodes[1].port)
        try await abandoned.send("GET \(client.sessionURI) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        try await Task.sleep(for: .milliseconds(300))
        await abandoned.close()
        try await Task.sleep(for: .milliseconds(300))
        let body = #"{"topic":"lab:c","event":"announce","payload":{"n":1}}"#
        let response = try await MultiNodeTests.post(port: nodes[0].port, path: "/api/broadcast", body: body)
        XCTAssertEqual(response.status, 200, response.body)
        // The frame was kept for the next poll, not handed to the one nobody reads.
        let frame = try await client.receiveText(timeout: .seconds(5))
        XCTAssertEqual(frame, #"[null,null,"lab:c","announce",{"n":1}]"#)
        let metrics = try await MultiNodeTests.get(port: nodes[1].port, path: "/metrics").body
        XCTAssertEqual(Self.sample(#"hellosockets_longpoll_forwarded_total{outcome="client_left"}"#, in: metrics), 1)
    }

    func testRequestsForwardedWhileRedisIsAwayAreAnswered410AtOnce() async throws {
        let redis = try RedisServer.start()
        defer { redis.stop() }
        let nodes = try await startNodes(2, redis: redis)
        let client = try await LongPollTestClient.open(port: nodes[0].port, path: "/socket/longpoll?vsn=2.0.0&user=r")
        client.roundRobin = [nodes[1].port]
        try await client.send(text: #"["1","1","lab:r","phx_join",{}]"#)
        _ = try await client.receiveText()
        redis.kill()
        // Node 1 still counts node 0 as up (its own link is down, so it judges nobody), but cannot reach it.
        let start = ContinuousClock.now
        let status = try await client.send([#"["1","2","lab:r","count",{}]"#])
        XCTAssertEqual(status, 410)
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(2))
        let metrics = try await MultiNodeTests.get(port: nodes[1].port, path: "/metrics").body
        XCTAssertEqual(Self.sample(#"hellosockets_longpoll_forwarded_total{outcome="unsent"}"#, in: metrics), 1)
    }

    func testPingTranscriptWithRequestsSpreadOverNodes() async throws {
        let redis = try RedisServer.start()
        defer { redis.stop() }
        let nodes = try await startNodes(redis: redis, channels: TestServer.channelsDirectory)
        let ports = nodes.map(\.port)
        var clients: [LongPollTestClient] = []
        for name in ["seed-ping.txt", "param-ping.txt"] {
            try await TranscriptTests.replay(name) { path in
                let client = try await LongPollTestClient.open(
                    port: ports[clients.count % ports.count], path: TranscriptTests.longPollPath(path))
                client.roundRobin = ports
                clients.append(client)
                return client
            }
        }
        for client in clients {
            XCTAssertEqual(Set(client.portsUsed), Set(ports), "requests went to every node")
        }
    }

    func testSessionThroughANginxRoundRobinFront() async throws {
        try XCTSkipUnless(NginxFront.binary != nil, "nginx is not installed (scripts/install-deps.sh installs it)")
        let redis = try RedisServer.start()
        defer { redis.stop() }
        let nodes = try await startNodes(redis: redis)
        let front = try await NginxFront.start(upstreams: nodes.map(\.port))
        defer { front.stop() }
        let client = try await LongPollTestClient.open(port: front.port, path: "/socket/longpoll?vsn=2.0.0&user=ng")
        try await client.send(text: #"["1","1","lab:ng","phx_join",{}]"#)
        let joined = try await client.receiveText()
        XCTAssertTrue(joined.contains(#""status":"ok""#), joined)
        for n in 1...30 {
            try await client.send(text: #"["1","\#(n + 1)","lab:ng","count",{}]"#)
            let reply = try await client.receiveText()
            XCTAssertEqual(reply, #"["1","\#(n + 1)","lab:ng","phx_reply",{"response":{"n":\#(n)},"status":"ok"}]"#)
        }
        // Two requests in three reach a node without the session: forwarded, and answered.
        var answered = 0
        for node in nodes {
            let metrics = try await MultiNodeTests.get(port: node.port, path: "/metrics").body
            answered += Self.sample(#"hellosockets_longpoll_forwarded_total{outcome="answered"}"#, in: metrics) ?? 0
        }
        XCTAssertGreaterThan(answered, 20, "forwarded requests answered, over all nodes")
    }

    func testWithoutRedisATokenOfAnotherServerOpensANewSession() async throws {
        // Two lone servers with one secret: a token of the first names no session on the second, which opens its
        // own (no forwarding without a cluster), and a POST with it is answered 410.
        let servers = try await [0, 1].asyncMap { _ in
            try await ServerProcess.start(
                arguments: ["--channels", Self.fixtureChannels], test: self,
                environment: ["SECRET_KEY_BASE": Self.secret])
        }
        let client = try await LongPollTestClient.open(port: servers[0].port, path: "/socket/longpoll?vsn=2.0.0")
        let token = try XCTUnwrap(client.token)
        client.roundRobin = [servers[1].port]
        let status = try await client.send([#"["1","1","lab:x","phx_join",{}]"#])
        XCTAssertEqual(status, 410)
        let (pollStatus, answer) = try await client.poll()
        XCTAssertEqual(pollStatus, 410)
        XCTAssertNotEqual(client.token, token, answer.body)
        let metrics = try await MultiNodeTests.get(port: servers[1].port, path: "/metrics").body
        XCTAssertFalse(metrics.contains("hellosockets_longpoll_forwarded_total"))
    }

    /// The value of an unlabelled or fully labelled sample in a Prometheus text page.
    private static func sample(_ name: String, in page: String) -> Int? {
        for line in page.split(separator: "\n") where line.hasPrefix(name + " ") {
            return Int(line.dropFirst(name.count + 1))
        }
        return nil
    }
}

extension Sequence {
    fileprivate func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
