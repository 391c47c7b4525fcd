import Foundation
import HelloSocketsServer
import NIOCore
import TestSupport
import WebSocketTransport
import XCTest

/// Presence over real sockets, frame for frame as Phoenix 1.7 sends it (the exchanges written down from a
/// Phoenix app, replayed against our own fixture in `Fixtures/presence/`): `phx_ref` values are named R1,
/// R2… in order of appearance, so each transcript also proves which refs are new and which are the same.
final class PresenceWireTests: XCTestCase {
    static let fixtures: String = {
        var url = URL(fileURLWithPath: #filePath)
        url.deleteLastPathComponent()
        return url.appendingPathComponent("Fixtures/presence").path
    }()

    private var server: TestServer!
    private let refs = RefNames()
    private var clients: [PresenceClient] = []

    private func start(
        channels: String = PresenceWireTests.fixtures, idleTimeout: TimeAmount = .seconds(60),
        configure: (inout ServerConfiguration) -> Void = { _ in }
    ) async throws {
        server = try await TestServer.start(
            channels: channels,
            webSocket: WebSocketConfiguration(idleTimeout: idleTimeout, closeTimeout: .milliseconds(250)),
            configure: configure)
    }

    override func tearDown() async throws {
        for client in clients { await client.drop() }
        try await server?.stop()
        XCTAssertEqual(refs.malformed, [], "every phx_ref is 16 url-safe base64 characters")
    }

    private func client(_ name: String) async throws -> PresenceClient {
        let client = try await PresenceClient.connect(port: server.port, refs: refs, name: name)
        clients.append(client)
        return client
    }

    /// Joins `room` as `user` and checks what the joiner sees: the reply, its own diff, then the list.
    private func join(
        _ client: PresenceClient, _ user: String, room: String = "room:lobby", ref: String = "1", state: String,
        file: StaticString = #filePath, line: UInt = #line
    ) async throws {
        let own = refs.count + 1
        try await client.send(#"["\#(ref)","\#(ref)","\#(room)","phx_join",{"user":"\#(user)"}]"#)
        try await client.expect(
            #"["\#(ref)","\#(ref)","\#(room)","phx_reply",{"response":{},"status":"ok"}]"#,
            #"[null,null,"\#(room)","presence_diff",{"joins":{"\#(user)":{"metas":[{"online_at":"fixed","phx_ref":"R\#(own)"}]}},"leaves":{}}]"#,
            #"["\#(ref)",null,"\#(room)","presence_state",\#(state)]"#,
            file: file, line: line)
    }

    func testTwoMembersJoinAndOneLeavesAsPhoenixSendsIt() async throws {
        try await start()
        let alice = try await client("alice"), bob = try await client("bob")
        try await join(alice, "alice", state: #"{"alice":{"metas":[{"online_at":"fixed","phx_ref":"R1"}]}}"#)
        try await join(bob, "bob", state:
            #"{"alice":{"metas":[{"online_at":"fixed","phx_ref":"R1"}]},"bob":{"metas":[{"online_at":"fixed","phx_ref":"R2"}]}}"#)
        try await alice.expect(
            #"[null,null,"room:lobby","presence_diff",{"joins":{"bob":{"metas":[{"online_at":"fixed","phx_ref":"R2"}]}},"leaves":{}}]"#)

        try await bob.send(#"["1","2","room:lobby","phx_leave",{}]"#)
        try await bob.expect(
            #"["1","2","room:lobby","phx_reply",{"response":{},"status":"ok"}]"#,
            #"["1","1","room:lobby","phx_close",{}]"#)
        try await alice.expect(
            #"[null,null,"room:lobby","presence_diff",{"joins":{},"leaves":{"bob":{"metas":[{"online_at":"fixed","phx_ref":"R2"}]}}}]"#)
        try await alice.expectSilence()
        try await bob.expectSilence()
    }

    /// The joiner's own diff reaches it before the presence_state its script pushes, whichever event loop
    /// it lands on and however many are in the room already.
    func testTheJoinersOwnDiffComesBeforeItsStateEveryTime() async throws {
        try await start()
        var members: [(client: PresenceClient, user: String, ref: Int)] = []
        for i in 1...24 {
            let user = "u\(i)"
            let joiner = try await client(user)
            let entries = (members.map { ($0.user, $0.ref) } + [(user, refs.count + 1)])
                .sorted { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }
                .map { #""\#($0.0)":{"metas":[{"online_at":"fixed","phx_ref":"R\#($0.1)"}]}"# }
            try await join(joiner, user, state: "{" + entries.joined(separator: ",") + "}")
            let ref = refs.count
            for member in members {
                try await member.client.expect(
                    #"[null,null,"room:lobby","presence_diff",{"joins":{"\#(user)":{"metas":[{"online_at":"fixed","phx_ref":"R\#(ref)"}]}},"leaves":{}}]"#)
            }
            members.append((joiner, user, ref))
        }
        XCTAssertEqual(refs.count, 24, "a new phx_ref for every track")
    }

    func testACutConnectionLeavesWithExactlyOneDiff() async throws {
        try await start()
        let alice = try await client("alice"), bob = try await client("bob")
        try await join(alice, "alice", state: #"{"alice":{"metas":[{"online_at":"fixed","phx_ref":"R1"}]}}"#)
        try await join(bob, "bob", state:
            #"{"alice":{"metas":[{"online_at":"fixed","phx_ref":"R1"}]},"bob":{"metas":[{"online_at":"fixed","phx_ref":"R2"}]}}"#)
        _ = try await alice.next()  // bob's join
        await bob.drop()
        try await alice.expect(
            #"[null,null,"room:lobby","presence_diff",{"joins":{},"leaves":{"bob":{"metas":[{"online_at":"fixed","phx_ref":"R2"}]}}}]"#)
        try await alice.expectSilence(for: .milliseconds(500))
    }

    /// A LongPoll session no longer polled ends like a closed socket: its channel's presence goes with it.
    func testALongPollSessionThatEndsUntracksItsChannel() async throws {
        try await start(configure: { $0.longPollWindow = .milliseconds(300) })
        let alice = try await client("alice")
        try await join(alice, "alice", state: #"{"alice":{"metas":[{"online_at":"fixed","phx_ref":"R1"}]}}"#)
        let bob = try await LongPollTestClient.open(port: server.port, path: "/socket/longpoll?vsn=2.0.0")
        try await bob.send(text: #"["1","1","room:lobby","phx_join",{"user":"bob"}]"#)
        let reply = try await bob.receiveText()
        XCTAssertEqual(reply, #"["1","1","room:lobby","phx_reply",{"response":{},"status":"ok"}]"#)
        try await alice.expect(
            #"[null,null,"room:lobby","presence_diff",{"joins":{"bob":{"metas":[{"online_at":"fixed","phx_ref":"R2"}]}},"leaves":{}}]"#)
        // Bob polls no more: 1.5 windows later the session ends, and so does its channel.
        try await alice.expect(
            #"[null,null,"room:lobby","presence_diff",{"joins":{},"leaves":{"bob":{"metas":[{"online_at":"fixed","phx_ref":"R2"}]}}}]"#)
        try await alice.expectSilence()
    }

    func testTheSameKeyFromTwoTabsHasTwoMetas() async throws {
        try await start()
        let tab1 = try await client("tab1"), tab2 = try await client("tab2")
        try await join(tab1, "alice", state: #"{"alice":{"metas":[{"online_at":"fixed","phx_ref":"R1"}]}}"#)
        try await join(tab2, "alice", state:
            #"{"alice":{"metas":[{"online_at":"fixed","phx_ref":"R1"},{"online_at":"fixed","phx_ref":"R2"}]}}"#)
        try await tab1.expect(
            #"[null,null,"room:lobby","presence_diff",{"joins":{"alice":{"metas":[{"online_at":"fixed","phx_ref":"R2"}]}},"leaves":{}}]"#)
        // The same channel cannot track one key twice.
        try await tab1.send(#"["1","2","room:lobby","track_again",{}]"#)
        try await tab1.expect(
            #"["1","2","room:lobby","phx_reply",{"response":{"error":"already tracked","phx_ref":null},"status":"ok"}]"#)
        await tab2.drop()
        try await tab1.expect(
            #"[null,null,"room:lobby","presence_diff",{"joins":{},"leaves":{"alice":{"metas":[{"online_at":"fixed","phx_ref":"R2"}]}}}]"#)
    }

    func testUpdateSendsTheNewMetaInJoinsAndTheOldInLeaves() async throws {
        try await start()
        let alice = try await client("alice"), bob = try await client("bob")
        try await join(alice, "alice", state: #"{"alice":{"metas":[{"online_at":"fixed","phx_ref":"R1"}]}}"#)
        try await join(bob, "bob", state:
            #"{"alice":{"metas":[{"online_at":"fixed","phx_ref":"R1"}]},"bob":{"metas":[{"online_at":"fixed","phx_ref":"R2"}]}}"#)
        _ = try await alice.next()
        try await bob.send(#"["1","2","room:lobby","status",{"status":"away"}]"#)
        let update = #"[null,null,"room:lobby","presence_diff",{"joins":{"bob":{"metas":[{"online_at":"fixed","phx_ref":"R3","phx_ref_prev":"R2","status":"away"}]}},"leaves":{"bob":{"metas":[{"online_at":"fixed","phx_ref":"R2"}]}}}]"#
        try await bob.expect(update, #"["1","2","room:lobby","phx_reply",{"response":{"error":null,"phx_ref":"R3"},"status":"ok"}]"#)
        try await alice.expect(update)
        // The list now holds the new meta; a later leave carries it whole.
        try await alice.send(#"["1","2","room:lobby","list",{}]"#)
        try await alice.expect(#"["1","2","room:lobby","phx_reply",{"response":{"alice":{"metas":[{"online_at":"fixed","phx_ref":"R1"}]},"bob":{"metas":[{"online_at":"fixed","phx_ref":"R3","phx_ref_prev":"R2","status":"away"}]}},"status":"ok"}]"#)
        try await bob.send(#"["1","3","room:lobby","phx_leave",{}]"#)
        try await alice.expect(
            #"[null,null,"room:lobby","presence_diff",{"joins":{},"leaves":{"bob":{"metas":[{"online_at":"fixed","phx_ref":"R3","phx_ref_prev":"R2","status":"away"}]}}}]"#)
        // update and untrack of a key not tracked.
        try await alice.send(#"["1","3","room:lobby","untrack",{"key":"nobody"}]"#)
        try await alice.expect(#"["1","3","room:lobby","phx_reply",{"response":{"error":"not tracked","untracked":false},"status":"ok"}]"#)
        try await alice.send(#"["1","4","room:lobby","untrack",{}]"#)
        try await alice.expect(
            #"[null,null,"room:lobby","presence_diff",{"joins":{},"leaves":{"alice":{"metas":[{"online_at":"fixed","phx_ref":"R1"}]}}}]"#,
            #"["1","4","room:lobby","phx_reply",{"response":{"error":null,"untracked":true},"status":"ok"}]"#)
        try await alice.send(#"["1","5","room:lobby","status",{"status":"back"}]"#)
        try await alice.expect(#"["1","5","room:lobby","phx_reply",{"response":{"error":"not tracked","phx_ref":null},"status":"ok"}]"#)
    }

    /// However a channel ends, every other member gets its leave diff.
    func testEveryWayAChannelEndsUntracksIt() async throws {
        try await start(idleTimeout: .seconds(2))
        let watcher = try await client("watcher")
        try await join(watcher, "watcher", state: #"{"watcher":{"metas":[{"online_at":"fixed","phx_ref":"R1"}]}}"#)
        // The watcher heartbeats so the idle timeout only ends the quiet member.
        let heartbeat = Task {
            var ref = 100
            while !Task.isCancelled {
                ref += 1
                try? await watcher.socket.send(text: #"[null,"\#(ref)","phoenix","heartbeat",{}]"#)
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
        defer { heartbeat.cancel() }

        let endings: [(String, (PresenceClient) async throws -> Void)] = [
            ("leave", { try await $0.send(#"["1","2","room:lobby","phx_leave",{}]"#) }),
            ("crash", { try await $0.send(#"["1","2","room:lobby","crash",{}]"#) }),
            ("phx.stop", { try await $0.send(#"["1","2","room:lobby","stop",{}]"#) }),
            ("socket close", { try await $0.closeCleanly() }),
            ("TCP drop", { await $0.drop() }),
            ("idle timeout", { _ in }),
            ("duplicate join", { try await $0.send(#"["9","9","room:lobby","phx_join",{"user":"other"}]"#) }),
        ]
        for (index, (how, end)) in endings.enumerated() {
            let user = "m\(index)"
            let member = try await client(user)
            try await member.send(#"["1","1","room:lobby","phx_join",{"user":"\#(user)"}]"#)
            let joinedDiff = try await nextDiff(watcher)
            XCTAssertTrue(joinedDiff.contains(#""joins":{"\#(user)""#), "\(how): \(joinedDiff)")
            let ref = refs.count
            try await end(member)
            let leave = try await nextDiff(watcher, timeout: .seconds(6))
            XCTAssertEqual(
                leave, #"[null,null,"room:lobby","presence_diff",{"joins":{},"leaves":{"\#(user)":{"metas":[{"online_at":"fixed","phx_ref":"R\#(ref)"}]}}}]"#,
                how)
            if how == "duplicate join" {  // the new join tracks its own user
                let rejoined = try await nextDiff(watcher)
                XCTAssertTrue(rejoined.contains(#""joins":{"other""#), rejoined)
            }
        }
    }

    /// The next presence_diff the client receives (heartbeat replies skipped).
    private func nextDiff(_ client: PresenceClient, timeout: Duration = .seconds(5)) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while true {
            let frame = try await client.next(timeout: deadline - ContinuousClock.now)
            if frame.contains(#""presence_diff""#) { return frame }
        }
    }

    func testTrackingOnAnotherTopicReachesItsSubscribers() async throws {
        try await start()
        let listener = try await client("listener"), alice = try await client("alice")
        try await listener.send(#"["1","1","online:all","phx_join",{}]"#)
        try await listener.expect(#"["1","1","online:all","phx_reply",{"response":{"here":{}},"status":"ok"}]"#)
        try await alice.send(#"["1","1","room:lobby","phx_join",{"user":"alice","also":"online:all"}]"#)
        try await alice.expect(
            #"["1","1","room:lobby","phx_reply",{"response":{},"status":"ok"}]"#,
            #"[null,null,"room:lobby","presence_diff",{"joins":{"alice":{"metas":[{"online_at":"fixed","phx_ref":"R1"}]}},"leaves":{}}]"#,
            #"["1",null,"room:lobby","presence_state",{"alice":{"metas":[{"online_at":"fixed","phx_ref":"R1"}]}}]"#)
        try await listener.expect(
            #"[null,null,"online:all","presence_diff",{"joins":{"alice":{"metas":[{"phx_ref":"R2"}]}},"leaves":{}}]"#)
        await alice.drop()
        try await listener.expect(
            #"[null,null,"online:all","presence_diff",{"joins":{},"leaves":{"alice":{"metas":[{"phx_ref":"R2"}]}}}]"#)
    }

    func testAnInterceptedDiffGoesThroughHandleOut() async throws {
        try await start()
        let ann = try await client("ann"), ben = try await client("ben")
        try await ann.send(#"["1","1","watch:x","phx_join",{"user":"ann"}]"#)
        // Intercepted, its own diff is handled after the callback that tracked, as in Phoenix.
        try await ann.expect(
            #"["1","1","watch:x","phx_reply",{"response":{},"status":"ok"}]"#,
            #"["1",null,"watch:x","presence_state",{"ann":{"metas":[{"phx_ref":"R1"}]}}]"#,
            #"["1",null,"watch:x","seen_diff",{"joins":{"ann":{"metas":[{"phx_ref":"R1"}]}},"leaves":{}}]"#)
        try await ben.send(#"["1","1","watch:x","phx_join",{"user":"ben"}]"#)
        try await ann.expect(#"["1",null,"watch:x","seen_diff",{"joins":{"ben":{"metas":[{"phx_ref":"R2"}]}},"leaves":{}}]"#)
    }

    func testPresenceIsNotAllowedInJoinButListIs() async throws {
        try await start()
        let alice = try await client("alice"), bob = try await client("bob")
        try await join(alice, "alice", state: #"{"alice":{"metas":[{"online_at":"fixed","phx_ref":"R1"}]}}"#)
        try await bob.send(#"["1","1","room:lobby","phx_join",{"user":"bob","track_in_join":true}]"#)
        try await bob.expect(#"["1","1","room:lobby","phx_reply",{"response":{"reason":"join crashed"},"status":"error"}]"#)
        try await bob.send(#"["2","2","room:lobby","phx_join",{"user":"bob","list":true}]"#)
        try await bob.expect(
            #"["2","2","room:lobby","phx_reply",{"response":{"here":{"alice":{"metas":[{"online_at":"fixed","phx_ref":"R1"}]}}},"status":"ok"}]"#)
    }

    /// With --presence-batch-ms, the diffs of a window go out as one, and every client still converges.
    func testBatchedDiffsMergeAndConverge() async throws {
        try await start { $0.presenceBatchMilliseconds = 300 }
        let alice = try await client("alice")
        try await alice.send(#"["1","1","room:lobby","phx_join",{"user":"alice"}]"#)
        try await alice.expect(
            #"["1","1","room:lobby","phx_reply",{"response":{},"status":"ok"}]"#,
            #"["1",null,"room:lobby","presence_state",{}]"#,  // taken before the window closed
            #"[null,null,"room:lobby","presence_diff",{"joins":{"alice":{"metas":[{"online_at":"fixed","phx_ref":"R1"}]}},"leaves":{}}]"#)
        var others: [PresenceClient] = []
        for user in ["bob", "carol", "dave"] {
            let other = try await client(user)
            try await other.send(#"["1","1","room:lobby","phx_join",{"user":"\#(user)"}]"#)
            others.append(other)
        }
        // However the three joins fell into windows, alice's list ends with all four, in at most three diffs.
        var members: Set<String> = ["alice"]
        var diffs = 0
        while members.count < 4 {
            let diff = try await nextDiff(alice)
            diffs += 1
            for user in ["bob", "carol", "dave"] where diff.contains(#""\#(user)":{"metas""#) { members.insert(user) }
        }
        XCTAssertLessThanOrEqual(diffs, 3)
        XCTAssertEqual(members, ["alice", "bob", "carol", "dave"])
    }

    /// Hot reload deletes the script of a channel that tracks: its presence leaves with it.
    func testRemovingTheScriptOfATrackingChannelUntracksIt() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("presence-reload-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        for name in ["room.lua", "guest.lua"] {
            try FileManager.default.copyItem(
                atPath: Self.fixtures + "/" + name, toPath: folder.appendingPathComponent(name).path)
        }
        try await start(channels: folder.path) { $0.watchChannels = true }
        let alice = try await client("alice"), guest = try await client("guest")
        try await join(alice, "alice", state: #"{"alice":{"metas":[{"online_at":"fixed","phx_ref":"R1"}]}}"#)
        try await guest.send(#"["1","1","guest:lobby","phx_join",{"user":"gus"}]"#)
        try await guest.expect(#"["1","1","guest:lobby","phx_reply",{"response":{},"status":"ok"}]"#)
        try await alice.expect(
            #"[null,null,"room:lobby","presence_diff",{"joins":{"gus":{"metas":[{"guest":true,"phx_ref":"R2"}]}},"leaves":{}}]"#)
        try FileManager.default.removeItem(at: folder.appendingPathComponent("guest.lua"))
        try await guest.expect(#"["1","1","guest:lobby","phx_error",{}]"#)
        try await alice.expect(
            #"[null,null,"room:lobby","presence_diff",{"joins":{},"leaves":{"gus":{"metas":[{"guest":true,"phx_ref":"R2"}]}}}]"#)
    }

    /// A graceful shutdown ends every channel, so the tracker is empty afterwards.
    func testShutdownUntracksEveryone() async throws {
        try await start()
        for i in 1...5 {
            let member = try await client("m\(i)")
            try await member.send(#"["1","1","room:lobby","phx_join",{"user":"m\#(i)"}]"#)
            _ = try await member.next()
            _ = try await member.next()
            _ = try await member.next()
        }
        XCTAssertEqual(server.server.presence.counts.presences, 5)
        try await server.stop()
        let counts = server.server.presence.counts
        server = nil
        XCTAssertEqual(counts.presences, 0)
        XCTAssertEqual(counts.topics, 0)
        XCTAssertEqual(counts.owners, 0)
    }
}
