import LuaRuntime
import PhoenixProtocol
import XCTest

/// Every clause of channels/ping.lua and channels/wild.lua (PROTOCOL.md §7).
final class ShippedChannelsTests: XCTestCase {
    var registry: ChannelRegistry!
    var vm: LuaVM!

    override func setUpWithError() throws {
        registry = try ChannelRegistry(directory: channelsDirectory)
        vm = try LuaVM(scripts: registry, node: "hello_sockets@127.0.0.1")
    }

    func testRouting() {
        XCTAssertEqual(registry.route("ping")?.name, "ping")
        XCTAssertEqual(registry.route("ping:abc")?.name, "ping")
        XCTAssertEqual(registry.route("wild:1:2")?.name, "wild")
        XCTAssertNil(registry.route("wild"))
        XCTAssertNil(registry.route("nope"))
        XCTAssertEqual(registry.route("ping")?.intercepts, ["request_ping"])
    }

    func testPingClauses() throws {
        let c = try join(vm, registry, topic: "ping")
        func handle(_ event: String, _ payload: JSONValue = empty) -> CallbackResult {
            vm.handleIn(c.id, event: event, payload: .json(payload), ref: .string("2"))
        }
        XCTAssertEqual(handle("ping", j(["ack_phrase": "hooray!"])), .reply(status: "ok", response: j(["ping": "hooray!"])))
        XCTAssertEqual(handle("ping"), .reply(status: "ok", response: j(["ping": "pong"])))
        XCTAssertEqual(handle("ping:hooray!"), .reply(status: "ok", response: j(["ping": "hooray!"])))
        XCTAssertEqual(handle("pong"), .noreply)
        XCTAssertEqual(
            handle("param_ping", j(["error": true])),
            .reply(status: "error", response: j(["reason": "You asked for this!"])))
        XCTAssertEqual(
            handle("param_ping", j(["error": false, "arr": [1, 2]])),
            .reply(status: "ok", response: j(["error": false, "arr": [1, 2]])))
        XCTAssertEqual(handle("param_ping", j(["empty": JSONValue.array([]), "obj": empty])),
            .reply(status: "ok", response: j(["empty": JSONValue.array([]), "obj": empty])))
        let error = try XCTUnwrap(crash(handle("no_such_event")))
        XCTAssertEqual(error.kind, .runtime)
        XCTAssertTrue(error.message.hasPrefix("channels/ping.lua:"), error.message)
        XCTAssertTrue(error.message.contains("no handle_in clause for event \"no_such_event\""), error.message)
        XCTAssertEqual(error.topic, "ping")
        XCTAssertNotNil(error.traceback)
        // The crash does not free the channel by itself; the server discards it.
        XCTAssertEqual(vm.channelCount, 1)
        vm.discard(c.id)
        XCTAssertEqual(vm.channelCount, 0)
        XCTAssertTrue(c.host.calls.isEmpty)
    }

    func testPingDingStopsWithReply() throws {
        let c = try join(vm, registry, topic: "ping")
        let result = vm.handleIn(c.id, event: "ding", payload: .json(empty), ref: .string("2"))
        XCTAssertEqual(result, .stop(reason: "shutdown", reply: ReplyValue(status: "ok", response: j(["msg": "shutting down"]))))
        XCTAssertTrue(isCleanStop("shutdown"))
        vm.terminate(c.id, reason: "shutdown")
        XCTAssertEqual(vm.channelCount, 0)
    }

    func testPingInterceptPushesSendPing() throws {
        let c = try join(vm, registry, topic: "ping")
        XCTAssertTrue(vm.intercepts(c.id, event: "request_ping"))
        XCTAssertFalse(vm.intercepts(c.id, event: "other"))
        XCTAssertEqual(vm.handleOut(c.id, event: "request_ping", payload: .json(empty)), .noreply)
        XCTAssertEqual(c.host.calls, [.push(c.id, "send_ping", .json(j(["from_node": "hello_sockets@127.0.0.1"])))])
    }

    func testWildJoins() {
        let host = FakeHost()
        func joinWild(_ topic: String) -> JoinResult {
            guard let script = registry.route(topic) else { return .error(.string("unrouted")) }
            return vm.join(script: script, topic: topic, payload: .json(empty), joinRef: .string("1"), socket: SocketContext(), host: host).1
        }
        XCTAssertEqual(joinWild("wild:1:2"), .ok(empty))
        XCTAssertEqual(joinWild("wild:20:40"), .ok(empty))
        XCTAssertEqual(joinWild("wild:-3:-6"), .ok(empty))
        XCTAssertEqual(joinWild("wild:0:0"), .ok(empty))
        XCTAssertEqual(joinWild("wild:1:3"), .error(empty))
        XCTAssertEqual(joinWild("wild:2:4:6"), .error(empty))
        XCTAssertEqual(joinWild("wild:abc:def"), .error(empty))  // refused, not crashed (our transcript)
        XCTAssertEqual(joinWild("wild:invalid"), .error(empty))
        XCTAssertEqual(joinWild("wild:1:"), .error(empty))
        XCTAssertEqual(joinWild("wild:"), .error(empty))
        XCTAssertEqual(vm.channelCount, 4)
    }

    func testWildHandleIn() throws {
        let c = try join(vm, registry, topic: "wild:1:2")
        XCTAssertEqual(vm.handleIn(c.id, event: "ping", payload: .json(empty), ref: .string("2")), .reply(status: "ok", response: j(["ping": "pong"])))
        let error = try XCTUnwrap(crash(vm.handleIn(c.id, event: "pong", payload: .json(empty), ref: .string("3"))))
        XCTAssertTrue(error.message.hasPrefix("channels/wild.lua:"), error.message)
    }
}
