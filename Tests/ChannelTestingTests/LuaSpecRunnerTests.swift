import ChannelTestingCore
import Foundation
import XCTest

/// `hello-sockets test` logic: the shipped specs pass; a failing spec gives the documented lines and status.
final class LuaSpecRunnerTests: XCTestCase {
    func testShippedSpecsPass() async throws {
        let runner = LuaSpecRunner(directory: ShippedChannelsHarnessTests.channels)
        let (output, status) = try await runner.report(format: .plain)
        XCTAssertEqual(status, 0, output)
        let last = try XCTUnwrap(output.split(separator: "\n").last)
        XCTAssertTrue(last.hasSuffix("passed, 0 failed"), output)
        let results = try await runner.run()
        XCTAssertTrue(results.contains { $0.file == "channels/ping_test.lua" })
        XCTAssertTrue(results.contains { $0.file == "channels/wild_test.lua" })
    }

    func testFailingSpecReportsFileLinesAndExitStatus() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("specs-\(UUID().uuidString)")
        let sub = folder.appendingPathComponent("extra_socket")
        try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.copyItem(
            at: ShippedChannelsHarnessTests.channels.appendingPathComponent("ping.lua"), to: folder.appendingPathComponent("ping.lua"))
        try """
            describe("ping", function()
              it("passes", function()
                local s = ct.subscribe_and_join("ping", {})
                ct.assert_reply(s:push("ping", {}), "ok", { ping = "pong" })
              end)
              it("expects a reply to a crash", function()
                local s = ct.subscribe_and_join("ping", {})
                ct.assert_reply(s:push("boom", {}), "ok")
              end)
              it("compares", function()
                assert.same({ a = 1 }, { a = 2 })
              end)
            end)
            """.write(to: folder.appendingPathComponent("ping_test.lua"), atomically: true, encoding: .utf8)
        try """
            local channel = { topic = "echo" }
            function channel.join() return phx.ok() end
            function channel.handle_in(event, payload) return phx.ok(payload) end
            return channel
            """.write(to: sub.appendingPathComponent("echo.lua"), atomically: true, encoding: .utf8)
        try """
            it("echoes", function()
              local s = ct.subscribe_and_join("echo", {})
              ct.assert_reply(s:push("x", { a = 1 }), "ok", { a = 2 })
            end)
            """.write(to: sub.appendingPathComponent("echo_test.lua"), atomically: true, encoding: .utf8)

        let name = folder.lastPathComponent
        let (output, status) = try await LuaSpecRunner(directory: folder).report(format: .plain)
        XCTAssertEqual(status, 1)
        let lines = output.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 4, output)
        // The mount's own specs first, then its socket subfolders'.
        XCTAssertTrue(lines[0].hasPrefix("\(name)/ping_test.lua:8: ping expects a reply to a crash: expected reply ok _ to ref 2 on ping: received instead: [push phx_error {} on ping]"), lines[0])
        XCTAssertTrue(lines[0].contains("\(name)/ping.lua:56: no handle_in clause for event \"boom\""), lines[0])
        XCTAssertEqual(lines[1], "\(name)/ping_test.lua:11: ping compares: expected {a = 1}, got {a = 2}")
        XCTAssertEqual(lines[2], "\(name)/extra_socket/echo_test.lua:3: echoes: expected reply ok {\"a\":2,…} to ref 2 on echo: received instead: [reply \"2\" ok {\"a\":1} on echo]")
        XCTAssertEqual(lines[3], "1 passed, 3 failed")

        let filtered = try await LuaSpecRunner(directory: folder, filter: "passes").report(format: .tap)
        XCTAssertEqual(filtered.exitCode, 0)
        XCTAssertEqual(filtered.output, "TAP version 13\n1..1\nok 1 - \(name)/ping_test.lua: ping passes\n# 1 passed, 0 failed")
        let junit = try await LuaSpecRunner(directory: folder).report(format: .junit).output
        XCTAssertTrue(junit.contains(#"<testsuites name="hello-sockets test" tests="4" failures="3">"#), junit)
    }

    func testSpecErrorsPointAtTheSpecLine() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("specs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.copyItem(
            at: ShippedChannelsHarnessTests.channels.appendingPathComponent("wild.lua"), to: folder.appendingPathComponent("wild.lua"))
        try """
            it("typo", function()
              local s = ct.subscribe_and_join("wild:1:2", {})
              s:nope()
            end)
            it("syntax", function() error("boom") end)
            """.write(to: folder.appendingPathComponent("wild_test.lua"), atomically: true, encoding: .utf8)
        let results = try await LuaSpecRunner(directory: folder).run()
        XCTAssertEqual(results.map(\.line), [3, 5])
        XCTAssertTrue(results[0].failure?.contains("nope") == true, "\(results[0])")
        XCTAssertEqual(results[1].failure, "boom")
    }
}
