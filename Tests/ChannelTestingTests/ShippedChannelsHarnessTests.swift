import ChannelTesting
import Foundation
import HelloSocketsServer
import Logging
import XCTest

/// channels/ping.lua, wild.lua and dedupe.lua through the harness, clause by clause.
/// The ping and wild bodies also run against a live server.
final class ShippedChannelsHarnessTests: XCTestCase {
    static let channels: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.appendingPathComponent("channels")
    }()

    // MARK: ping.lua

    func testPingInMemory() async throws { try await pingClauses(ChannelTest.inMemory(channels: Self.channels)) }

    func testPingLive() async throws {
        let server = try await Self.startServer()
        do {
            try await pingClauses(ChannelTest.live(port: server.port))
        } catch {
            try await server.stop()
            throw error
        }
        try await server.stop()
    }

    /// Every clause of PingChannel.
    func pingClauses(_ test: ChannelTest) async throws {
        let ping = try await test.subscribeAndJoin("ping")
        XCTAssertEqual(ping.joinReply, [:])

        // handle_in("ping", %{"ack_phrase" => phrase}) and handle_in("ping", _)
        await ping.assertReply(try await ping.push("ping", ["ack_phrase": "hi"]), "ok", matching: ["ping": "hi"])
        await ping.assertReply(try await ping.push("ping", ["ack_phrase": 42]), "ok", matching: ["ping": 42])
        await ping.assertReply(try await ping.push("ping"), "ok", matching: ["ping": "pong"])
        // handle_in("ping:" <> phrase, _)
        await ping.assertReply(try await ping.push("ping:hello world"), "ok", matching: ["ping": "hello world"])
        // handle_in("pong", _): no reply
        await ping.refuteReply(try await ping.push("pong"))
        // handle_in("param_ping", %{"error" => true}) and handle_in("param_ping", payload)
        await ping.assertReply(try await ping.push("param_ping", ["error": true]), "error", matching: ["reason": "You asked for this!"])
        let echoed = await ping.assertReply(try await ping.push("param_ping", ["error": false, "n": 1]), "ok", matching: ["n": 1, "error": .any])
        XCTAssertEqual(echoed, ["error": false, "n": 1])
        // intercept ["request_ping"] + handle_out: pushed as send_ping with from_node
        try await test.broadcast("ping", "request_ping", ["x": 1])
        await ping.assertPush("send_ping", matching: ["x": 1, "from_node": "hello_sockets@127.0.0.1"])
        await ping.refutePush("request_ping")
        // ping:<subtopic> is served by the same channel
        let sub = try await test.subscribeAndJoin("ping:lobby")
        await sub.assertReply(try await sub.push("ping"), "ok", matching: ["ping": "pong"])
        // handle_in("ding", _): reply, then stop :shutdown → phx_close
        await ping.assertReply(try await ping.push("ding"), "ok", matching: ["msg": "shutting down"])
        await ping.assertPush("phx_close")
        // no clause: the channel crashes → phx_error
        let crashy = try await test.subscribeAndJoin("ping")
        let ref = try await crashy.push("unknown")
        await crashy.assertPush("phx_error")
        await crashy.refuteReply(ref)
    }

    func testRequestPingBroadcastReachesEverySubscriberThroughHandleOut() async throws {
        let test = try ChannelTest.inMemory(channels: Self.channels)
        let alice = try await test.subscribeAndJoin("ping")
        let bob = try await test.subscribeAndJoin("ping")
        try await alice.broadcastFrom("request_ping", ["from": "alice"])
        await alice.assertPush("send_ping", matching: ["from": "alice"])
        await bob.assertPush("send_ping", matching: ["from": "alice"])
        await alice.refuteBroadcast("request_ping")  // broadcast_from: not to the test itself
        try await test.broadcast("ping", "request_ping", [:])
        await alice.assertBroadcast("request_ping", matching: [:])
    }

    func testCrashReportsTheScriptLine() async throws {
        let reporter = RecordingReporter()
        let test = ChannelTest(transport: try InMemoryTransport(channels: Self.channels), reporter: reporter)
        let ping = try await test.subscribeAndJoin("ping")
        await ping.assertReply(try await ping.push("boom"), "ok")
        XCTAssertEqual(reporter.failures.count, 1)
        let failure = try XCTUnwrap(reporter.failures.first)
        XCTAssertTrue(failure.contains("expected reply ok _ to ref 2 on ping"), failure)
        XCTAssertTrue(failure.contains("received instead: [push phx_error {} on ping]"), failure)
        XCTAssertTrue(failure.contains("script error: channels/ping.lua:56: no handle_in clause for event \"boom\""), failure)
    }

    func testLeaveAndClose() async throws {
        let test = try ChannelTest.inMemory(channels: Self.channels)
        let ping = try await test.subscribeAndJoin("ping")
        await ping.assertReply(try await ping.leave(), "ok", matching: [:])
        await ping.assertPush("phx_close")
        let again = try await test.subscribeAndJoin("ping")
        await again.close()
        await again.refutePush("phx_close")
    }

    // MARK: wild.lua

    func testWildInMemory() async throws { try await wildClauses(ChannelTest.inMemory(channels: Self.channels)) }

    func testWildLive() async throws {
        let server = try await Self.startServer()
        do {
            try await wildClauses(ChannelTest.live(port: server.port))
        } catch {
            try await server.stop()
            throw error
        }
        try await server.stop()
    }

    func wildClauses(_ test: ChannelTest) async throws {
        for topic in ["wild:1:2", "wild:0:0", "wild:-3:-6", "wild:+2:4", "wild:20:40"] {
            let channel = try await test.subscribeAndJoin(topic)
            await channel.assertReply(try await channel.push("ping"), "ok", matching: ["ping": "pong"])
        }
        for topic in ["wild:1:3", "wild:2:1", "wild:1", "wild:1:2:4", "wild:abc:def", "wild:1.5:3", "wild::", "wild:", "wild:1:2x"] {
            do {
                _ = try await test.subscribeAndJoin(topic)
                XCTFail("\(topic) should be refused")
            } catch ChannelTestError.joinRefused(_, let status, let response) {
                XCTAssertEqual(status, "error", topic)
                XCTAssertEqual(response, [:], topic)
            }
        }
        let wild = try await test.subscribeAndJoin("wild:2:4")
        let ref = try await wild.push("pong")
        await wild.assertPush("phx_error")
        await wild.refuteReply(ref)
    }

    // MARK: dedupe.lua (timers on the manual clock)

    func testDedupeBuffersForOneSecond() async throws {
        let test = try ChannelTest.inMemory(channels: Self.channels)
        let dupe = try await test.subscribeAndJoin("dupe")
        for number in [1, 2, 1, 3, 2] {
            try await test.broadcast("dupe", "number", ["number": .integer(Int64(number))])
        }
        await dupe.refutePush("number")
        try await test.advanceTime(by: .milliseconds(999))
        await dupe.refutePush("number")
        try await test.advanceTime(by: .milliseconds(1))
        for number: Int64 in [1, 2, 3] {
            await dupe.assertPush("number", matching: ["value": .integer(number)])
        }
        await dupe.refutePush("number")
        // a second round starts a new timer
        try await test.broadcast("dupe", "number", ["number": 7])
        try await test.advanceTime(by: .seconds(1))
        await dupe.assertPush("number", matching: ["value": 7])
    }

    func testAdvanceTimeIsUnavailableLive() async throws {
        let test = ChannelTest.live(port: 1)
        do {
            try await test.advanceTime(by: .seconds(1))
            XCTFail("expected manualClockUnavailable")
        } catch ChannelTestError.manualClockUnavailable {}
    }

    // MARK: helpers

    struct Live {
        let server: HelloSocketsServer
        let port: Int
        func stop() async throws { try await server.shutdown() }
    }

    static func startServer() async throws -> Live {
        var logger = Logger(label: "harness-live")
        logger.logLevel = .critical
        let configuration = ServerConfiguration(host: "127.0.0.1", port: 0, channelsDirectory: channels.path, eventLoopCount: 1)
        let server = HelloSocketsServer(configuration: configuration, logger: logger)
        let address = try await server.start()
        return Live(server: server, port: try XCTUnwrap(address.port))
    }
}

final class RecordingReporter: ChannelTestReporter {
    var failures: [String] = []
    func fail(_ message: String, file: StaticString, line: UInt) { failures.append(message) }
}
