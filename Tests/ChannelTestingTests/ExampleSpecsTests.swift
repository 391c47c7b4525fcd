import ChannelTestingCore
import Foundation
import RedisClient
import TestSupport
import XCTest

/// The examples' Lua specs (`examples/*/channels/*_test.lua`) pass, and the two runtime behaviours they
/// rely on are pinned down on their own: `phx.send_after` inside `join`, and `phx.broadcast` in `terminate`.
final class ExampleSpecsTests: XCTestCase {
    static let examples: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.appendingPathComponent("examples")
    }()

    func testChatSpecsPass() async throws { try await assertSpecsPass("chat/channels", atLeast: 8) }

    func testCounterSpecsPass() async throws { try await assertSpecsPass("counter/channels", atLeast: 6) }

    func testBackendSpecsPass() async throws { try await assertSpecsPass("backend/channels", atLeast: 5) }

    func testBackendTokensSpecsPass() async throws { try await assertSpecsPass("backend_tokens/channels", atLeast: 6) }

    /// The same specs with `phx.kv` in a real Redis (`hello-sockets test --redis`): the stores answer alike, and
    /// each test's keys are gone after it.
    func testTheSameSpecsPassWithPhxKVInRedis() async throws {
        let redis = try RedisServer.start()
        defer { redis.stop() }
        let configuration = try RedisConfiguration(url: redis.url())
        for (folder, count) in [
            ("chat/channels", 8), ("counter/channels", 6), ("backend/channels", 5), ("backend_tokens/channels", 6),
        ] {
            try await assertSpecsPass(folder, atLeast: count, redis: configuration)
        }
        XCTAssertEqual(try redis.cli("KEYS", "*"), "", "keys left in Redis")
    }

    private func assertSpecsPass(_ folder: String, atLeast count: Int, redis: RedisConfiguration? = nil) async throws {
        var runner = LuaSpecRunner(directory: Self.examples.appendingPathComponent(folder))
        runner.redis = redis
        let results = try await runner.run()
        XCTAssertGreaterThanOrEqual(results.count, count, folder)
        for result in results where !result.passed {
            XCTFail(result.failureLine ?? "\(result.file): \(result.name) failed")
        }
    }

    func testSendAfterInJoinAndBroadcastInTerminate() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("join-timers-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try """
            local channel = { topic = "t" }
            function channel.join(topic, payload, socket)
              phx.send_after(socket, 0, "now")
              phx.send_after(socket, 50, "later")
              return phx.ok()
            end
            function channel.handle_info(msg, socket) phx.push(socket, msg, {}) end
            function channel.terminate(reason, socket) phx.broadcast(socket, "gone", { reason = reason }) end
            return channel
            """.write(to: folder.appendingPathComponent("t.lua"), atomically: true, encoding: .utf8)
        try """
            it("fires timers started in join", function()
              local s = ct.subscribe_and_join("t", {})
              ct.advance_time(0)
              ct.assert_push(s, "now")
              ct.refute_push(s, "later")
              ct.advance_time(50)
              ct.assert_push(s, "later")
            end)
            it("lets terminate broadcast to the others", function()
              local a = ct.subscribe_and_join("t", {})
              local b = ct.subscribe_and_join("t", {})
              b:leave()
              ct.assert_push(a, "gone", { reason = "shutdown:left" })
              a:close()
            end)
            """.write(to: folder.appendingPathComponent("t_test.lua"), atomically: true, encoding: .utf8)
        let results = try await LuaSpecRunner(directory: folder).run()
        XCTAssertEqual(results.count, 2)
        for result in results where !result.passed { XCTFail(result.failureLine ?? result.name) }
    }
}
