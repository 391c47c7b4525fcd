import Foundation
import Logging
import LuaRuntime
import PhoenixChannels
import PhoenixProtocol
import XCTest

/// The presence tracker in process: batching on the manual clock, the lifecycle without leaks, the
/// replica seam, refs, and `phx.presence.list` proxies in scripts.
final class PresenceTrackerTests: XCTestCase {
    static let room = """
        local channel = { topic = "room:*" }
        function channel.join(topic, payload, socket)
          socket.assigns.user = payload.user
          phx.send_after(socket, 0, "after_join")
          return phx.ok()
        end
        function channel.handle_info(msg, socket)
          phx.presence.track(socket, socket.assigns.user, { n = 1 })
          phx.push(socket, "presence_state", phx.presence.list(socket))
        end
        function channel.handle_in(event, payload, socket)
          if event == "untrack" then phx.presence.untrack(socket, socket.assigns.user) return phx.ok() end
          if event == "update" then phx.presence.update(socket, socket.assigns.user, payload) return phx.ok() end
          if event == "key" then return phx.ok({ ref = phx.presence.track(socket, payload.key, {}) }) end
          if event == "bad" then return phx.ok({ r = phx.presence.track(socket, payload.key, payload.meta, payload.topic) }) end
          if event == "proxy" then
            local list = phx.presence.list(socket)
            local keys, n = {}, 0
            for k in pairs(list) do keys[#keys + 1] = k; n = n + 1 end
            table.sort(keys)
            local fresh = phx.presence.list(socket)
            local empty = phx.presence.list("room:nobody")
            return phx.ok({
              keys = phx.array(keys), n = n, first = next(phx.presence.list(socket)) ~= nil,
              empty_next = next(empty) == nil, len = #fresh, metas = #phx.presence.list(socket)[keys[1]].metas,
              nested = { list = phx.presence.list(socket) }, shaped = phx.object(phx.presence.list(socket)),
            })
          end
          if event == "stale" then
            local before = phx.presence.list(socket)
            phx.presence.untrack(socket, socket.assigns.user)
            local after = phx.presence.list(socket)
            local n = 0
            for _ in pairs(after) do n = n + 1 end
            return phx.ok({ before = before, after_count = n })
          end
          if event == "modified" then
            local list = phx.presence.list(socket)
            list.extra = { metas = phx.array({}) }
            phx.push(socket, "modified", list)
            phx.push(socket, "untouched", phx.presence.list(socket))
            return phx.ok()
          end
        end
        return channel
        """

    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("presence-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Self.room.write(to: directory.appendingPathComponent("room.lua"), atomically: true, encoding: .utf8)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    private func endpoint(batch: Int = 0) throws -> InProcessEndpoint {
        var logger = Logger(label: "presence-test")
        logger.logLevel = .critical
        return try InProcessEndpoint(
            directory: directory, displayPrefix: "channels", presenceBatchMilliseconds: batch, logger: logger)
    }

    /// A connection that keeps what it receives as text.
    final class Client {
        let connection: InProcessConnection
        var frames: [String] = []
        init(_ endpoint: InProcessEndpoint) {
            connection = endpoint.connect(context: SocketContext())
            connection.onFrame = { [unowned self] in self.frames.append(String(decoding: $0.bytes, as: UTF8.self)) }
        }
        func send(_ text: String) { connection.send(text: text) }
        func take() -> [String] { defer { frames = [] }; return frames }
        func join(_ user: String, topic: String = "room:a") {
            send(#"["1","1","\#(topic)","phx_join",{"user":"\#(user)"}]"#)
        }
    }

    private func json(_ text: String) throws -> JSONValue {
        try JSONParser().parse(Array(text.utf8))
    }

    /// The payload of a frame `[join_ref, ref, topic, event, payload]`.
    private func payload(_ frame: String) throws -> JSONValue {
        guard case .array(let fields) = try json(frame), fields.count == 5 else { throw NotAFrame(text: frame) }
        return fields[4]
    }

    struct NotAFrame: Error { let text: String }

    private func keys(_ value: JSONValue?) -> [String] {
        guard case .object(let members)? = value else { return [] }
        return members.keys.sorted()
    }

    // MARK: Batching

    func testABatchMergesATopicsDiffsAndAJoinThenLeaveCancels() throws {
        let endpoint = try endpoint(batch: 50)
        let watcher = Client(endpoint)
        watcher.join("watcher")
        endpoint.advanceTime(byMilliseconds: 50)
        XCTAssertEqual(watcher.take().filter { $0.contains("presence_diff") }.count, 1)

        let clients = ["b", "c", "d", "e"].map { user -> Client in
            let client = Client(endpoint)
            client.join(user)
            return client
        }
        clients[3].connection.close()  // e joined and left within the window: nobody hears of it
        clients[0].send(#"["1","2","room:a","update",{"n":2}]"#)  // b's update merges with its join
        // Within the window the list is what the diffs so far say: the newcomers' states lack them.
        XCTAssertEqual(keys(try payload(try XCTUnwrap(clients[2].take().last))), ["watcher"])
        XCTAssertEqual(keys(endpoint.presence.list(topic: "room:a").value), ["watcher"])
        XCTAssertEqual(watcher.take(), [])

        endpoint.advanceTime(byMilliseconds: 50)
        let diffs = watcher.take()
        XCTAssertEqual(diffs.count, 1, "one diff for the whole window")
        let diff = try payload(try XCTUnwrap(diffs.first))
        XCTAssertEqual(keys(diff["joins"]), ["b", "c", "d"])
        XCTAssertEqual(keys(diff["leaves"]), [])
        XCTAssertEqual(diff["joins"]?["b"]?["metas"], endpoint.presence.list(topic: "room:a").value["b"]?["metas"])
        XCTAssertEqual(keys(endpoint.presence.list(topic: "room:a").value), ["b", "c", "d", "watcher"])
        // A state taken in the window plus the window's diff is the truth, as phoenix.js applies them.
        XCTAssertEqual(clients[2].take().count, 1)
    }

    // MARK: Lifecycle

    /// 10,000 presences tracked and dropped (leave, close, crash-free stop paths), a hundred alive at a
    /// time: nothing is left in the tracker or the VM.
    func testTenThousandTracksAndDropsLeaveNothingBehind() throws {
        let endpoint = try endpoint()
        var alive: [Client] = []
        for i in 0..<10_000 {
            let client = Client(endpoint)
            client.join("u\(i)", topic: "room:\(i % 7)")
            alive.append(client)
            if alive.count == 100 {
                for (n, client) in alive.enumerated() {
                    if n % 2 == 0 { client.send(#"["1","9","room:\#(i % 7)","phx_leave",{}]"#) }
                    client.connection.close()
                }
                alive.removeAll()
            }
        }
        XCTAssertEqual(endpoint.presence.counts.presences, 0)
        XCTAssertEqual(endpoint.presence.counts.topics, 0)
        XCTAssertEqual(endpoint.presence.counts.owners, 0)
        for topic in 0..<7 { XCTAssertEqual(endpoint.presence.list(topic: "room:\(topic)").value, .emptyObject) }
    }

    func testBatchedTracksAndDropsLeaveNothingBehind() throws {
        let endpoint = try endpoint(batch: 20)
        for i in 0..<1_000 {
            let client = Client(endpoint)
            client.join("u\(i)")
            if i % 3 == 0 { endpoint.advanceTime(byMilliseconds: 20) }
            client.connection.close()
        }
        endpoint.advanceTime(byMilliseconds: 20)
        XCTAssertEqual(endpoint.presence.counts.presences, 0)
        XCTAssertEqual(endpoint.presence.counts.topics, 0)
        XCTAssertEqual(endpoint.presence.counts.owners, 0)
    }

    // MARK: Refs

    func testRefsAreSixteenURLSafeCharactersAndUnique() throws {
        let bus = RecordingBus()
        let tracker = PresenceTracker(pubSub: bus)
        var seen: Set<String> = []
        let owner = tracker.newOwner()
        for i in 0..<50_000 {
            guard case .success(let ref?) = tracker.change(owner, topic: "t", key: "k\(i)", .track(meta: [:])).result else {
                return XCTFail("track \(i) refused")
            }
            XCTAssertEqual(ref.utf8.count, 16)
            XCTAssertTrue(ref.utf8.allSatisfy { ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 95 }, ref)
            XCTAssertTrue(seen.insert(ref).inserted, "duplicate \(ref)")
        }
        // Two trackers (two nodes) share no ref in practice: their prefixes differ.
        let other = PresenceTracker(node: "other@host", pubSub: bus)
        guard case .success(let ref?) = other.change(other.newOwner(), topic: "t", key: "k", .track(meta: [:])).result else {
            return XCTFail("track refused")
        }
        XCTAssertFalse(seen.contains(ref))
    }

    /// The list's bytes, put together from per-key pieces in sorted order, are exactly the JSON writer's
    /// encoding of the list, through tracks, updates and untracks of awkward keys.
    func testTheStateBytesAreTheWritersEncodingOfTheList() throws {
        let tracker = PresenceTracker(pubSub: RecordingBus())
        let keys = ["b", "a", "ab", "a0", "A", "é", "ü", "\"quoted\"", "line\nbreak", "10", "9", "", "日本", "a\u{0}"]
        var owners: [PresenceOwner] = []
        var rng = SystemRandomNumberGenerator()
        for round in 0..<300 {
            let key = keys.randomElement(using: &rng) ?? "a"
            let owner = owners.randomElement(using: &rng) ?? tracker.newOwner()
            if round % 5 == 0 { owners.append(tracker.newOwner()) }
            let change: PresenceChange
            switch Int.random(in: 0..<3, using: &rng) {
            case 0: change = .track(meta: ["round": .integer(Int64(round)), "s": .string(key)])
            case 1: change = .update(meta: ["round": .integer(Int64(round))])
            default: change = .untrack
            }
            _ = tracker.change(owner, topic: "t", key: key, change)
            let list = try XCTUnwrap(tracker.list(topic: "t") as? PresenceList)
            XCTAssertEqual(String(decoding: list.json, as: UTF8.self), try JSONWriter.encodeToString(list.value), "round \(round)")
        }
    }

    // MARK: The replica seam

    final class RecordingBus: PubSubAdapter {
        var sent: [(topic: String, payload: Payload)] = []
        func broadcast(topic: String, event: String, payload: Payload, excluding excluded: TopicSubscriber?) {
            sent.append((topic, payload))
        }
    }

    final class RecordingReplication: PresenceReplication, @unchecked Sendable {
        var deltas: [PresenceDelta] = []
        var clocks: [UInt64] = []
        func publish(_ delta: PresenceDelta, clock: UInt64) {
            deltas.append(delta)
            clocks.append(clock)
        }
    }

    func testReplicasJoinTheListWithTheirDiffsAndLeaveWithThem() throws {
        let localBus = RecordingBus()
        let here = PresenceTracker(node: "a@host", pubSub: localBus)
        let replication = RecordingReplication()
        here.replication = replication
        let mine = here.newOwner()
        _ = here.change(mine, topic: "room:x", key: "ann", .track(meta: ["n": .integer(1)]))
        XCTAssertEqual(replication.deltas.map(\.topic), ["room:x"])
        XCTAssertEqual(replication.deltas.first?.joins.map(\.key), ["ann"])
        XCTAssertEqual(replication.clocks, [1])
        XCTAssertEqual(here.localState().entries.map(\.key), ["ann"])
        XCTAssertEqual(here.localState().clock, 1)
        XCTAssertEqual(here.localClock.presences, 1)

        // Another node's delta, as the cluster hands it over (through its wire form): in the list, with its diff.
        let there = PresenceTracker(node: "b@host", pubSub: RecordingBus())
        let theirs = there.newOwner()
        let remoteReplication = RecordingReplication()
        there.replication = remoteReplication
        _ = there.change(theirs, topic: "room:x", key: "bob", .track(meta: [:]))
        func arrive(_ delta: PresenceDelta) throws {
            let owner = PresenceOwner(node: "b@host", channel: 0)
            here.applyRemote(try XCTUnwrap(PresenceDelta(topic: delta.topic, payload: delta.payload, owner: owner)))
        }
        let sentBefore = localBus.sent.count
        for delta in remoteReplication.deltas { try arrive(delta) }
        XCTAssertEqual(keys(here.list(topic: "room:x").value), ["ann", "bob"])
        XCTAssertEqual(localBus.sent.count, sentBefore + 1)
        XCTAssertEqual(here.localState().entries.map(\.key), ["ann"], "replicas are not this node's to send")
        XCTAssertEqual(here.localClock.clock, 1, "replicas do not move this node's clock")
        // The same delta twice changes nothing and sends nothing.
        try arrive(try XCTUnwrap(remoteReplication.deltas.last))
        XCTAssertEqual(localBus.sent.count, sentBefore + 1)
        // Their untrack arrives the same way.
        _ = there.change(theirs, topic: "room:x", key: "bob", .untrack)
        try arrive(try XCTUnwrap(remoteReplication.deltas.last))
        XCTAssertEqual(keys(here.list(topic: "room:x").value), ["ann"])
        guard case .json(let diff)? = localBus.sent.last?.payload else { return XCTFail("no local diff") }
        XCTAssertEqual(keys(diff["leaves"]), ["bob"])
        XCTAssertEqual(keys(diff["joins"]), [])
        here.untrackAll(mine)
        XCTAssertEqual(here.counts.presences, 0)
        XCTAssertEqual(here.counts.topics, 0)
        XCTAssertEqual(here.localClock.presences, 0)
        XCTAssertEqual(here.localClock.clock, 2)
    }

    // MARK: phx.presence in scripts

    func testListProxiesBehaveAsTablesAndPushAsTheSharedList() throws {
        let endpoint = try endpoint()
        let ann = Client(endpoint), bob = Client(endpoint)
        ann.join("ann")
        bob.join("bob")
        _ = ann.take()
        ann.send(#"["1","2","room:a","proxy",{}]"#)
        let reply = try payload(try XCTUnwrap(ann.take().last))
        let response = try XCTUnwrap(reply["response"])
        XCTAssertEqual(response["keys"], .array([.string("ann"), .string("bob")]))
        XCTAssertEqual(response["n"], .integer(2))
        XCTAssertEqual(response["first"], .bool(true), "next() sees an untouched list's entries")
        XCTAssertEqual(response["empty_next"], .bool(true))
        XCTAssertEqual(response["len"], .integer(0))
        XCTAssertEqual(response["metas"], .integer(1))
        let list = endpoint.presence.list(topic: "room:a").value
        XCTAssertEqual(response["nested"]?["list"], list)
        XCTAssertEqual(response["shaped"], list)

        // A list keeps the value it had when taken.
        ann.send(#"["1","3","room:a","stale",{}]"#)
        let stale = try payload(try XCTUnwrap(ann.take().last))["response"]
        XCTAssertEqual(keys(stale?["before"]), ["ann", "bob"])
        XCTAssertEqual(stale?["after_count"], .integer(1))

        // Pushed untouched, the shared bytes; changed, the script's table.
        bob.send(#"["1","2","room:a","modified",{}]"#)
        let frames = bob.take()
        let modified = try XCTUnwrap(frames.first { $0.contains(#""modified""#) })
        let untouched = try XCTUnwrap(frames.first { $0.contains(#""untouched""#) })
        XCTAssertEqual(keys(try payload(modified)), ["bob", "extra"])
        XCTAssertEqual(try payload(untouched), endpoint.presence.list(topic: "room:a").value)
        // Both serializers write the shared bytes as they write any payload.
        let v1 = endpoint.connect(context: SocketContext(), serializer: .v1)
        var v1Frames: [String] = []
        v1.onFrame = { v1Frames.append(String(decoding: $0.bytes, as: UTF8.self)) }
        v1.send(text: #"{"topic":"room:a","event":"phx_join","payload":{"user":"cy"},"ref":"1"}"#)
        let state = try XCTUnwrap(v1Frames.first { $0.contains(#""presence_state""#) })
        XCTAssertEqual(try json(state)["payload"], endpoint.presence.list(topic: "room:a").value)
        XCTAssertEqual(try json(state)["ref"], .null)
    }

    func testKeysArgumentsAndRefusals() throws {
        let endpoint = try endpoint()
        let ann = Client(endpoint)
        ann.join("ann")
        _ = ann.take()
        ann.send(#"["1","2","room:a","key",{"key":42}]"#)
        XCTAssertEqual(keys(endpoint.presence.list(topic: "room:a").value), ["42", "ann"], "numbers are keys as strings")
        var errors: [ScriptError] = []
        endpoint.onScriptError = { errors.append($0) }
        ann.send(#"["1","3","room:a","bad",{"key":true}]"#)
        ann.send(#"["2","4","room:a","phx_join",{"user":"ann"}]"#)
        ann.send(#"["2","5","room:a","bad",{"key":"k","meta":[1,2]}]"#)
        ann.send(#"["3","6","room:a","phx_join",{"user":"ann"}]"#)
        ann.send(#"["3","7","room:a","bad",{"key":"k","topic":5}]"#)
        XCTAssertEqual(errors.map(\.message), [
            "channels/room.lua:15: bad argument #2 to 'track' (key expected: a string or a number, got a boolean)",
            "channels/room.lua:15: bad argument #3 to 'track' (meta: must be an object (a map), got an array)",
            "channels/room.lua:15: bad argument #4 to 'track' (topic string expected, got a number)",
        ])
    }
}
