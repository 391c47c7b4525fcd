import LuaRuntime
import PhoenixProtocol
import XCTest

/// `phx.rate(socket, key, per_second, burst)`: a token bucket per channel and key, on the host's clock.
final class PhxRateTests: XCTestCase {
    static let script = """
        local channel = { topic = "r:*" }
        function channel.join(topic, payload, socket) return phx.ok() end
        function channel.handle_in(event, payload, socket)
          if event == "take" then return phx.ok({ ok = phx.rate(socket, payload.key, payload.rate, payload.burst) }) end
          if event == "keys" then
            for i = payload.from, payload.to do phx.rate(socket, "k" .. i, 1, 1) end
            return phx.ok()
          end
          if event == "eval" then return load(payload.code, "=eval")(socket) end
        end
        return channel
        """

    private func take(_ joined: Joined, _ key: String, rate: Double, burst: Double? = nil) -> Bool? {
        var payload: [String: Any?] = ["key": key, "rate": rate]
        if let burst { payload["burst"] = burst }
        guard case .reply("ok", let response) = joined.vm.handleIn(joined.id, event: "take", payload: .json(j(payload)), ref: .null),
            case .object(let fields) = response, case .bool(let ok)? = fields["ok"]
        else { return nil }
        return ok
    }

    func testABucketPerKeyAndPerChannel() throws {
        let (registry, vm) = try makeVM(["r.lua": Self.script])
        let a = try join(vm, registry, topic: "r:a")
        let b = try join(vm, registry, topic: "r:b")
        XCTAssertEqual((0..<4).map { _ in take(a, "x", rate: 1, burst: 3) }, [true, true, true, false])
        XCTAssertEqual(take(a, "y", rate: 1, burst: 3), true, "another key")
        XCTAssertEqual(take(b, "x", rate: 1, burst: 3), true, "another channel")
        a.host.clock += 999_000_000
        XCTAssertEqual(take(a, "x", rate: 1, burst: 3), false)
        a.host.clock += 1_000_000
        XCTAssertEqual(take(a, "x", rate: 1, burst: 3), true, "one a second")
    }

    func testTheBurstDefaultsToTheRate() throws {
        let (registry, vm) = try makeVM(["r.lua": Self.script])
        let a = try join(vm, registry, topic: "r:a")
        XCTAssertEqual((0..<6).map { _ in take(a, "x", rate: 5) }, [true, true, true, true, true, false])
    }

    func testBadArgumentsAreTheScriptsError() throws {
        let (registry, vm) = try makeVM(["r.lua": Self.script])
        for (code, message) in [
            ("phx.rate({}, 'k', 1)", "bad argument #1 to 'rate' (socket expected, got a table)"),
            ("phx.rate(..., 1, 1)", "bad argument #2 to 'rate' (string key expected, got a number)"),
            ("phx.rate(..., 'k', 0)", "bad argument #3 to 'rate' (per_second expected: a number > 0)"),
            ("phx.rate(..., 'k', 1 / 0)", "bad argument #3 to 'rate' (per_second expected: a number > 0)"),
            ("phx.rate(..., 'k', 1, 0.5)", "bad argument #4 to 'rate' (burst expected: a number >= 1)"),
            ("phx.rate(..., 'k', 1, 'x')", "bad argument #4 to 'rate' (burst: number expected, got a string)"),
        ] {
            let joined = try join(vm, registry, topic: "r:\(code)")
            let result = vm.handleIn(joined.id, event: "eval", payload: .json(j(["code": code])), ref: .null)
            let error = crash(result)?.message ?? ""
            XCTAssertTrue(error.hasPrefix("eval:1: \(message)"), "\(code): \(error)")
        }
    }

    func testKeysPerChannelAreBoundedButFullBucketsMakeRoom() throws {
        let (registry, vm) = try makeVM(["r.lua": Self.script])
        let a = try join(vm, registry, topic: "r:a")
        func keys(_ from: Int, _ to: Int) -> CallbackResult {
            vm.handleIn(a.id, event: "keys", payload: .json(j(["from": from, "to": to])), ref: .null)
        }
        XCTAssertEqual(keys(1, 256), .reply(status: "ok", response: empty))
        XCTAssertTrue(crash(keys(257, 257))?.message.contains("too many phx.rate keys in use on one channel (at most 256)") == true)
        a.host.clock += 2_000_000_000  // every bucket full again: as good as new, so forgotten
        XCTAssertEqual(keys(257, 400), .reply(status: "ok", response: empty))
    }
}
