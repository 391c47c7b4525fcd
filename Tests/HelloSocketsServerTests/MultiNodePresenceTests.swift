import Foundation
import TestSupport
import XCTest

/// Presence across real `hello-sockets` processes on one real `redis-server` (docs/cluster-design.md, "Presence
/// replication"): members on different nodes converge to the same lists, every client's list (state plus diffs,
/// as phoenix.js keeps it) equal to every node's; a killed node's members leave everywhere within 6 s, a paused one's
/// leave and come back, a stopped one's leave at once, and a Redis restart is repaired.
final class MultiNodePresenceTests: XCTestCase {
    static let fixtureChannels = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/presence").path
    static let topic = "room:lobby"
    private var topic: String { Self.topic }

    private func startNodes(_ count: Int = 3, redis: RedisServer, extra: [String] = []) async throws -> [ServerProcess] {
        try await startClusterNodes(count, channels: Self.fixtureChannels, redis: redis, extra: extra)
    }

    /// Waits until every member's list has exactly `keys`, each with one meta (two for those in `twice`: tracked on
    /// two nodes), and every node's own list (asked through a member on it) equals them; returns how long that took.
    @discardableResult
    private func converge(
        _ members: [RoomMember], to keys: Set<String>, twice: Set<String> = [], within timeout: Duration,
        _ what: String, file: StaticString = #filePath, line: UInt = #line
    ) async throws -> Duration {
        let start = ContinuousClock.now
        let keys = keys.union(twice)
        for member in members {
            let done = try await member.pump(until: start + timeout) { list in
                Set(list.keys) == keys && list.allSatisfy { $0.value.count == (twice.contains($0.key) ? 2 : 1) }
            }
            let listed = member.list.mapValues(\.count)
            XCTAssertTrue(done, "\(what): \(member.name) lists \(listed), not \(keys.sorted())", file: file, line: line)
        }
        let took = ContinuousClock.now - start
        let lists = try await members.asyncMap { try await $0.serverList() }
        for (member, list) in zip(members, lists) {
            XCTAssertEqual(list, member.list, "\(what): \(member.name)'s node lists otherwise", file: file, line: line)
            XCTAssertEqual(list, members[0].list, "\(what): \(member.name), \(members[0].name)", file: file, line: line)
        }
        return took
    }

    func testMembersOnThreeNodesConvergeAndAKilledNodesMembersLeaveEverywhereWithinSixSeconds() async throws {
        let redis = try RedisServer.start()
        defer { redis.stop() }
        let nodes = try await startNodes(redis: redis)
        var members: [RoomMember] = []
        let joined = ContinuousClock.now
        for round in 0..<3 {
            for (index, node) in nodes.enumerated() {
                members.append(try await RoomMember.join(port: node.port, name: "n\(index)m\(round)", topic: topic))
            }
        }
        let everyone = Set(members.map(\.name))
        // One user in two tabs on two nodes: one key, two metas, on every node.
        for node in [nodes[0], nodes[2]] {
            members.append(try await RoomMember.join(port: node.port, name: "twin", topic: topic))
        }
        let converged = try await converge(
            members, to: everyone, twice: ["twin"], within: .seconds(10), "after the joins")
        print("presence: 11 members on 3 nodes, every list complete \(ContinuousClock.now - joined) after the first "
            + "join (\(converged) after the last)")

        // One member updates its meta, one leaves: the change reaches every list once.
        try await members[0].send(event: "status", payload: #"{"status":"away"}"#)
        await members[4].close()
        let remaining = members.filter { $0.name != members[4].name }
        let stayed = everyone.subtracting([members[4].name])
        try await converge(remaining, to: stayed, twice: ["twin"], within: .seconds(5), "after a leave")
        XCTAssertTrue(remaining.allSatisfy { $0.metas[members[0].name]?.first?["status"] as? String == "away" })

        nodes[2].signal(SIGKILL)
        let killed = ContinuousClock.now
        let survivors = remaining.filter { $0.port != nodes[2].port }
        let left = try await converge(
            survivors, to: Set(survivors.map(\.name)), within: .seconds(8), "after node2 was killed")
        print("presence: node2 SIGKILLed, its members left every other node's lists after \(left)")
        XCTAssertLessThan(ContinuousClock.now - killed, .seconds(6))
    }

    func testAPausedNodesMembersLeaveThenComeBackAndItCatchesUp() async throws {
        let redis = try RedisServer.start()
        defer { redis.stop() }
        let nodes = try await startNodes(redis: redis)
        var members = try await nodes.enumerated().asyncMap {
            try await RoomMember.join(port: $0.element.port, name: "n\($0.offset)", topic: Self.topic)
        }
        try await converge(members, to: ["n0", "n1", "n2"], within: .seconds(10), "after the joins")

        nodes[2].signal(SIGSTOP)
        let stopped = ContinuousClock.now
        let down = try await converge(Array(members[0...1]), to: ["n0", "n1"], within: .seconds(8), "node2 stopped")
        print("presence: node2 SIGSTOPped, its member left the other nodes' lists after \(down)")
        // A change the stopped node misses while it sleeps.
        members.append(try await RoomMember.join(port: nodes[0].port, name: "late", topic: Self.topic))
        try await Task.sleep(until: stopped + .seconds(10))
        nodes[2].signal(SIGCONT)
        let resumed = ContinuousClock.now
        let back = try await converge(members, to: ["n0", "n1", "n2", "late"], within: .seconds(8), "node2 resumed")
        print("presence: node2 SIGCONTed after 10 s, every list complete again after \(back)")
        XCTAssertEqual(members[2].joinsSeen["late"], 1, "node2's member hears of the late joiner once")
        XCTAssertEqual(members[0].joinsSeen["n2"], 2, "node0's member saw n2 join, leave and join again")
        XCTAssertLessThan(ContinuousClock.now - resumed, .seconds(8))
    }

    func testAGracefullyStoppedNodesMembersLeaveAtOnce() async throws {
        let redis = try RedisServer.start()
        defer { redis.stop() }
        let nodes = try await startNodes(redis: redis)
        var members: [RoomMember] = []
        for (index, node) in nodes.enumerated() {
            for round in 0..<2 {
                members.append(try await RoomMember.join(port: node.port, name: "n\(index)m\(round)", topic: topic))
            }
        }
        try await converge(members, to: Set(members.map(\.name)), within: .seconds(10), "after the joins")

        nodes[1].signal(SIGTERM)
        let stopping = ContinuousClock.now
        // Its clients answer the close as browsers do (closing their end), so its channels end at once.
        for member in members where member.name.hasPrefix("n1") { try await member.closeWhenAsked() }
        let others = members.filter { !$0.name.hasPrefix("n1") }
        try await converge(others, to: Set(others.map(\.name)), within: .seconds(5), "node1 stopped")
        print("presence: node1 SIGTERMed, its members left the others' lists after \(ContinuousClock.now - stopping)")
        XCTAssertLessThan(ContinuousClock.now - stopping, .seconds(2), "a graceful stop is seen at once")
        let exit = try await nodes[1].waitForExit()
        XCTAssertEqual(exit, 0, nodes[1].log)
        let status = try await MultiNodeTests.clusterStatus(port: nodes[0].port)
        XCTAssertEqual(status["nodes_up"] as? Int, 2, "node1 said goodbye: \(status)")
    }

    func testBatchedDiffsReplicateAsTheyAreSent() async throws {
        let redis = try RedisServer.start()
        defer { redis.stop() }
        let nodes = try await startNodes(redis: redis, extra: ["--presence-batch-ms", "50"])
        var members: [RoomMember] = []
        for round in 0..<3 {
            for (index, node) in nodes.enumerated() {
                members.append(try await RoomMember.join(port: node.port, name: "n\(index)m\(round)", topic: topic))
            }
        }
        // A leave in the same window as the joins: it may cancel out on its own node, never anywhere else.
        await members[4].close()
        members.remove(at: 4)
        try await converge(members, to: Set(members.map(\.name)), within: .seconds(10), "with batching")
    }

    func testPresenceResyncsAfterRedisIsKilledAndRestarted() async throws {
        let redis = try RedisServer.start()
        defer { redis.stop() }
        let nodes = try await startNodes(redis: redis)
        var members = try await nodes.enumerated().asyncMap {
            try await RoomMember.join(port: $0.element.port, name: "n\($0.offset)", topic: Self.topic)
        }
        try await converge(members, to: ["n0", "n1", "n2"], within: .seconds(10), "after the joins")

        redis.kill()
        // Changes while Redis is away: seen on their own node at once, by the others only after the resync.
        members.append(try await RoomMember.join(port: nodes[0].port, name: "during", topic: Self.topic))
        await members[1].close()
        members.remove(at: 1)
        let alone = try await members[0].pump(until: ContinuousClock.now + .seconds(5)) { $0.keys.contains("during") }
        XCTAssertTrue(alone, "local presence goes on without Redis")
        try await Task.sleep(for: .seconds(1))
        try redis.restart()
        let restarted = ContinuousClock.now
        try await converge(members, to: ["n0", "n2", "during"], within: .seconds(20), "after Redis came back")
        print("presence: Redis killed for 1 s, lists right \(ContinuousClock.now - restarted) after the restart")
    }
}

/// A member of a room on one node, tracked under its name by the fixture, keeping the room's list as phoenix.js
/// does: the `presence_state`, then each `presence_diff` (diffs that come before the state wait for it; metas are
/// matched by `phx_ref`, so one the state already holds changes nothing).
final class RoomMember {
    let name: String
    let topic: String
    /// The node it is connected to.
    let port: Int
    private let socket: WebSocketTestClient
    /// key → `phx_ref` → meta, nil until the state arrives.
    private var state: [String: [String: [String: Any]]]?
    private var early: [[String: Any]] = []
    private var replies: [String: [String: Any]] = [:]
    private var nextRef = 2
    /// How many times each key joined this member's list (from nothing).
    private(set) var joinsSeen: [String: Int] = [:]

    private init(name: String, topic: String, port: Int, socket: WebSocketTestClient) {
        self.name = name
        self.topic = topic
        self.port = port
        self.socket = socket
    }

    static func join(port: Int, name: String, topic: String) async throws -> RoomMember {
        let socket = try await WebSocketTestClient.connect(port: port, path: "/socket/websocket?vsn=2.0.0")
        let member = RoomMember(name: name, topic: topic, port: port, socket: socket)
        try await socket.send(text: #"["1","1","\#(topic)","phx_join",{"user":"\#(name)"}]"#)
        return member
    }

    /// The list: key → refs.
    var list: [String: Set<String>] { (state ?? [:]).mapValues { Set($0.keys) } }
    /// Each key's metas.
    var metas: [String: [[String: Any]]] { (state ?? [:]).mapValues { Array($0.values) } }

    func send(event: String, payload: String) async throws {
        nextRef += 1
        try await socket.send(text: #"["1","\#(nextRef)","\#(topic)","\#(event)",\#(payload)]"#)
    }

    /// The node's own list (the fixture's `list` event answers `phx.presence.list`).
    func serverList() async throws -> [String: Set<String>] {
        nextRef += 1
        let ref = "\(nextRef)"
        try await socket.send(text: #"["1","\#(ref)","\#(topic)","list",{}]"#)
        _ = try await pump(until: ContinuousClock.now + .seconds(5)) { _ in self.replies[ref] != nil }
        let response = try XCTUnwrap(replies.removeValue(forKey: ref)?["response"] as? [String: Any], "no list reply")
        return Self.refs(of: response).mapValues { Set($0.keys) }
    }

    /// Reads frames until `condition` holds for the list (true) or `deadline` passes (false).
    func pump(until deadline: ContinuousClock.Instant, _ condition: ([String: Set<String>]) -> Bool) async throws
        -> Bool
    {
        while true {
            if state != nil && condition(list) { return true }
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return false }
            do {
                handle(try await socket.receiveText(timeout: min(left, .milliseconds(250))))
            } catch is RawClient.Timeout {
                continue
            }
        }
    }

    /// Waits for the server's close frame and closes the connection, as a browser does.
    func closeWhenAsked() async throws {
        while try await socket.receiveFrame(timeout: .seconds(5)).opcode != 8 {}
        await socket.close()
    }

    func close() async { await socket.close() }

    private func handle(_ text: String) {
        guard let message = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [Any], message.count == 5,
            let event = message[3] as? String, let payload = message[4] as? [String: Any]
        else { return }
        switch event {
        case "presence_state":
            state = Self.refs(of: payload)
            for key in (state ?? [:]).keys { joinsSeen[key, default: 0] += 1 }
            let waiting = early
            early = []
            waiting.forEach(apply)
        case "presence_diff":
            if state == nil { early.append(payload) } else { apply(payload) }
        case "phx_reply":
            if let ref = message[1] as? String { replies[ref] = payload }
        default:
            break
        }
    }

    private func apply(_ diff: [String: Any]) {
        for (key, metas) in Self.refs(of: diff["leaves"] as? [String: Any] ?? [:]) {
            for ref in metas.keys { state?[key]?[ref] = nil }
            if state?[key]?.isEmpty == true { state?[key] = nil }
        }
        for (key, metas) in Self.refs(of: diff["joins"] as? [String: Any] ?? [:]) {
            if state?[key] == nil { joinsSeen[key, default: 0] += 1 }
            state?[key, default: [:]].merge(metas) { $1 }
        }
    }

    /// `{key: {"metas": [meta, …]}}` → key → `phx_ref` → meta.
    private static func refs(of list: [String: Any]) -> [String: [String: [String: Any]]] {
        var result: [String: [String: [String: Any]]] = [:]
        for (key, value) in list {
            for meta in (value as? [String: Any])?["metas"] as? [[String: Any]] ?? [] {
                if let ref = meta["phx_ref"] as? String { result[key, default: [:]][ref] = meta }
            }
        }
        return result
    }
}

extension Sequence {
    fileprivate func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
