import ChannelTesting
import Foundation
import LuaRuntime
import PhoenixChannels
import XCTest

/// A channel's mailbox while one of its callbacks waits for phx.http (stubbed, on the manual
/// clock): arrival order, joins that wait, a socket closing meanwhile, the callback timeout.
final class MailboxTests: XCTestCase {
    static let room = """
        local channel = { topic = "room:*", intercept = { "poke" } }
        function channel.join(topic, payload, socket)
          if payload.deny then return phx.error({ reason = "no" }) end
          if payload.check then
            local r = phx.http.request{ url = "http://backend/auth" }
            if r.status ~= 200 then return phx.error({ reason = "denied" }) end
          end
          return phx.ok()
        end
        function channel.handle_in(event, payload, socket)
          if event == "slow" then
            local r, err = phx.http.request{ url = "http://backend/slow", timeout_ms = 60000 }
            return phx.ok({ body = r and r.body or err })
          end
          if event == "note" then return phx.ok({ n = payload.n }) end
          if event == "timer" then phx.send_after(socket, payload.ms, "tick") return phx.ok() end
        end
        function channel.handle_out(event, payload, socket) phx.push(socket, "poked", payload) end
        function channel.handle_info(msg, socket) phx.push(socket, "ticked", {}) end
        function channel.terminate(reason, socket) phx.broadcast(socket, "bye", { reason = reason }) end
        return channel
        """

    var test: ChannelTest!

    override func setUpWithError() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("mailbox-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Self.room.write(to: folder.appendingPathComponent("room.lua"), atomically: true, encoding: .utf8)
        addTeardownBlock { try? FileManager.default.removeItem(at: folder) }
        test = try ChannelTest.inMemory(channels: folder)
        try test.stubHTTP("GET", "http://backend/slow", HTTPStubResponse(status: 200, body: "done", delayMilliseconds: 500))
    }

    func testMessagesBroadcastsAndTimersWaitTheirTurnInArrivalOrder() async throws {
        let room = try await test.subscribeAndJoin("room:1")
        let other = try await test.subscribeAndJoin("room:2")
        await room.assertReply(try await room.push("timer", ["ms": 100]))
        let slow = try await room.push("slow")
        let first = try await room.push("note", ["n": 1])
        let second = try await room.push("note", ["n": 2])
        try await test.advanceTime(by: .milliseconds(200))  // the timer is due: it queues
        try await test.broadcast("room:1", "poke", ["k": 1])  // intercepted: it queues too
        await room.refuteReply(slow)
        await room.refuteReply(first)
        await room.refutePush("ticked")
        await room.refutePush("poked")
        await other.assertReply(try await other.push("note", ["n": 9]), matching: ["n": 9])  // others run meanwhile
        try await test.advanceTime(by: .milliseconds(300))
        await room.assertReply(slow, matching: ["body": "done"])
        await room.assertReply(first, matching: ["n": 1])
        await room.assertReply(second, matching: ["n": 2])
        await room.assertPush("ticked")
        await room.assertPush("poked", matching: ["k": 1])
        let requests = try test.httpRequests()
        XCTAssertEqual(requests.map(\.url.absoluteString), ["http://backend/slow"])
    }

    func testMessagesForAJoinThatWaitsAreHandledOnceItIsAnswered() async throws {
        try test.stubHTTP("GET", "http://backend/auth", HTTPStubResponse(status: 200, delayMilliseconds: 50))
        let transport = try XCTUnwrap(test.transport as? InMemoryTransport)
        var frames: [String] = []
        let connection = transport.endpoint.connect(context: SocketContext())
        connection.onFrame = { frames.append(String(decoding: $0.bytes, as: UTF8.self)) }
        connection.send(text: #"["1","1","room:1","phx_join",{"check":true}]"#)
        connection.send(text: #"["1","2","room:1","note",{"n":1}]"#)
        XCTAssertEqual(frames, [], "the join waits for the backend, the push waits for the join")
        transport.endpoint.advanceTime(byMilliseconds: 50)
        XCTAssertEqual(frames, [
            #"["1","1","room:1","phx_reply",{"response":{},"status":"ok"}]"#,
            #"["1","2","room:1","phx_reply",{"response":{"n":1},"status":"ok"}]"#,
        ])
        // A join refused at once leaves no channel behind either.
        frames = []
        connection.send(text: #"["5","5","room:3","phx_join",{"deny":true}]"#)
        connection.send(text: #"["5","6","room:3","note",{"n":3}]"#)
        XCTAssertEqual(frames.last, #"[null,"6","room:3","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]"#)
        // A refused join: what queued behind it finds no channel.
        frames = []
        try test.stubHTTP("GET", "http://backend/auth", HTTPStubResponse(status: 403, delayMilliseconds: 50))
        connection.send(text: #"["3","3","room:2","phx_join",{"check":true}]"#)
        connection.send(text: #"["3","4","room:2","note",{"n":2}]"#)
        transport.endpoint.advanceTime(byMilliseconds: 50)
        XCTAssertEqual(frames, [
            #"["3","3","room:2","phx_reply",{"response":{"reason":"denied"},"status":"error"}]"#,
            #"[null,"4","room:2","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]"#,
        ])
    }

    func testASocketClosingWhileACallbackWaitsTerminatesTheChannelAfterIt() async throws {
        let watcher = try await test.subscribeAndJoin("room:1")
        let leaving = try await test.subscribeAndJoin("room:1")
        _ = try await leaving.push("slow")
        await leaving.close()
        await watcher.refuteBroadcast("bye")  // terminate waits for the callback
        try await test.advanceTime(by: .milliseconds(500))
        await watcher.assertBroadcast("bye", matching: ["reason": "shutdown:closed"])
    }

    func testTheCallbackTimeoutCrashesTheChannelAndItsQueueFindsNoChannel() async throws {
        try test.stubHTTP("GET", "http://backend/slow", HTTPStubResponse(status: 200, delayMilliseconds: 60_000))
        let room = try await test.subscribeAndJoin("room:1")
        _ = try await room.push("slow")
        let queued = try await room.push("note", ["n": 1])
        try await test.advanceTime(by: .seconds(10))
        await room.assertPush("phx_error")
        await room.assertReply(queued, "error", matching: ["reason": "unmatched topic"])
        XCTAssertTrue(test.scriptErrors.last?.message.contains("did not finish within 10000 ms") == true,
                      "\(String(describing: test.scriptErrors.last))")
    }

    func testAFullMailboxRefusesMoreMessages() async throws {
        let transport = try XCTUnwrap(test.transport as? InMemoryTransport)
        var frames: [String] = []
        let connection = transport.endpoint.connect(context: SocketContext())
        connection.onFrame = { frames.append(String(decoding: $0.bytes, as: UTF8.self)) }
        connection.send(text: #"["1","1","room:1","phx_join",{}]"#)
        connection.send(text: #"["1","2","room:1","slow",{}]"#)
        for ref in 3..<1_004 { connection.send(text: #"["1","\#(ref)","room:1","note",{"n":\#(ref)}]"#) }
        XCTAssertEqual(frames.count, 2, "the join reply, then 1,000 queued and one refused")
        XCTAssertEqual(frames.last, #"["1","1003","room:1","phx_reply",{"response":{"reason":"mailbox full"},"status":"error"}]"#)
        transport.endpoint.advanceTime(byMilliseconds: 500)
        XCTAssertEqual(frames.count, 2 + 1 + 1_000)
        XCTAssertEqual(frames.last, #"["1","1002","room:1","phx_reply",{"response":{"n":1002},"status":"ok"}]"#)
    }
}
