import ChannelTesting
import Foundation
import PhoenixProtocol
import XCTest

/// Presence and callbacks that wait for phx.http (stubbed, on the manual clock): a resumed callback can
/// track and update, and a channel's presences go only once it is gone for good (its terminate finished,
/// also one that waited, or the callback the socket closed under finished).
final class PresenceMailboxTests: XCTestCase {
    static let room = """
        local channel = { topic = "room:*" }
        function channel.join(topic, payload, socket)
          socket.assigns.user = payload.user
          socket.assigns.slow_exit = payload.slow_exit
          phx.send_after(socket, 0, "track")
          return phx.ok()
        end
        function channel.handle_info(msg, socket)
          phx.presence.track(socket, socket.assigns.user, { status = "new" })
        end
        function channel.handle_in(event, payload, socket)
          local r = phx.http.request{ url = "http://backend/slow", timeout_ms = 60000 }
          if event == "slow_update" then
            return phx.ok({ ref = phx.presence.update(socket, socket.assigns.user, { status = r.body }) })
          end
          return phx.ok()
        end
        function channel.terminate(reason, socket)
          if socket.assigns.slow_exit then phx.http.request{ url = "http://backend/slow", timeout_ms = 60000 } end
          phx.broadcast(socket, "bye", { user = socket.assigns.user })
        end
        return channel
        """

    var test: ChannelTest!

    override func setUpWithError() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("presence-mailbox-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Self.room.write(to: folder.appendingPathComponent("room.lua"), atomically: true, encoding: .utf8)
        addTeardownBlock { try? FileManager.default.removeItem(at: folder) }
        test = try ChannelTest.inMemory(channels: folder)
        try test.stubHTTP("GET", "http://backend/slow", HTTPStubResponse(status: 200, body: "back", delayMilliseconds: 500))
    }

    /// The keys of the topic's presence list, sorted.
    private func members(_ topic: String = "room:1") async throws -> [String] {
        guard case .object(let entries) = try await test.presenceList(topic) else { return [] }
        return entries.keys.sorted()
    }

    func testACallbackResumedAfterAWaitUpdatesItsPresence() async throws {
        let watcher = try await test.subscribeAndJoin("room:1", ["user": "watcher"])
        let ada = try await test.subscribeAndJoin("room:1", ["user": "ada"])
        try await test.advanceTime(by: .milliseconds(0))
        let before = try await members()
        XCTAssertEqual(before, ["ada", "watcher"])
        let ref = try await ada.push("slow_update")
        try await test.advanceTime(by: .milliseconds(500))
        let reply = await ada.assertReply(ref)
        guard case .object(let fields) = reply, case .string(let phxRef)? = fields["ref"] else {
            return XCTFail("update after the wait returned no phx_ref: \(String(describing: reply))")
        }
        XCTAssertEqual(phxRef.count, 16)
        await watcher.assertPush("presence_diff", matching: [
            "joins": ["ada": ["metas": [["status": "back", "phx_ref": .string(phxRef)]]]],
            "leaves": ["ada": ["metas": [["status": "new"]]]],
        ])
    }

    func testATerminateThatWaitsKeepsThePresenceUntilItFinished() async throws {
        let watcher = try await test.subscribeAndJoin("room:1", ["user": "watcher"])
        let ada = try await test.subscribeAndJoin("room:1", ["user": "ada", "slow_exit": true])
        try await test.advanceTime(by: .milliseconds(0))
        await ada.close()
        // As Phoenix.Tracker: the channel process is still alive while terminate runs, so ada is still here.
        let whileTerminating = try await members()
        XCTAssertEqual(whileTerminating, ["ada", "watcher"])
        await watcher.refuteBroadcast("bye")
        try await test.advanceTime(by: .milliseconds(500))
        await watcher.assertBroadcast("bye", matching: ["user": "ada"])
        let afterwards = try await members()
        XCTAssertEqual(afterwards, ["watcher"])
        await watcher.assertBroadcast("presence_diff", matching: ["joins": [:], "leaves": ["ada": ["metas": [["status": "new"]]]]])
    }

    func testASocketClosingWhileACallbackWaitsUntracksOnceItFinished() async throws {
        let watcher = try await test.subscribeAndJoin("room:1", ["user": "watcher"])
        let ada = try await test.subscribeAndJoin("room:1", ["user": "ada"])
        try await test.advanceTime(by: .milliseconds(0))
        _ = try await ada.push("slow")
        await ada.close()
        try await test.advanceTime(by: .milliseconds(500))
        await watcher.assertBroadcast("bye", matching: ["user": "ada"])
        let afterwards = try await members()
        XCTAssertEqual(afterwards, ["watcher"], "the channel's presence must not outlive it")
        await watcher.assertBroadcast("presence_diff", matching: ["joins": [:], "leaves": ["ada": ["metas": [["status": "new"]]]]])
    }
}
