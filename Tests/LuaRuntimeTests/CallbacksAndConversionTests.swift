import LuaRuntime
import PhoenixProtocol
import XCTest

/// Value conversion, callback results and errors, timers, socket_ref, registry and socket.lua.
final class CallbacksAndConversionTests: XCTestCase {
    static let echo = """
        local channel = { topic = "echo:*" }
        function channel.join(topic, payload, socket)
          if payload.fail then error("join blew up") end
          if payload.bad then return 42 end
          if payload.push then phx.push(socket, "x", {}) end
          if payload.timer then phx.send_after(socket, 0, "after_join") end
          socket.assigns.joined = true
          return phx.ok({ user = socket.assigns.user, id = socket.id, param = socket.params.token })
        end
        function channel.handle_in(event, payload, socket)
          if event == "echo" then return phx.reply("ok", payload) end
          if event == "eval" then return load(payload.code, "=eval")() end
          if event == "push" then phx.push(socket, "pushed", payload) return end
          if event == "broadcast" then phx.broadcast(socket, "b", payload) phx.broadcast_from(socket, "bf", payload) return end
          if event == "later" then socket.assigns.ref = phx.socket_ref(socket) return phx.noreply() end
          if event == "answer" then phx.reply_to(socket.assigns.ref, "ok", { late = true }) return end
          if event == "timer" then socket.assigns.t = phx.send_after(socket, 50, { n = payload.n }) return end
          if event == "cancel" then return phx.reply("ok", { cancelled = phx.cancel_timer(socket.assigns.t) }) end
          if event == "stop" then return phx.stop("boom") end
          if event == "assigns" then return phx.ok({ joined = socket.assigns.joined }) end
          if event == "binary" then phx.push(socket, "bin", phx.binary(payload.data .. "!")) return end
          if event == "wrong" then return "nope" end
        end
        function channel.handle_info(msg, socket)
          if msg == "after_join" then phx.push(socket, "welcome", {}) return end
          if type(msg) == "table" then phx.push(socket, "tick", { n = msg.n }) return phx.stop("normal") end
        end
        function channel.handle_out(event, payload, socket)
          return phx.reply("ok", {})
        end
        function channel.terminate(reason, socket)
          error("terminate failed: " .. reason)
        end
        return channel
        """

    var registry: ChannelRegistry!
    var vm: LuaVM!

    override func setUpWithError() throws {
        (registry, vm) = try makeVM(["echo.lua": Self.echo])
    }

    func eval(_ c: Joined, _ code: String) -> CallbackResult {
        vm.handleIn(c.id, event: "eval", payload: .json(j(["code": code])), ref: .string("1"))
    }

    // MARK: Conversion

    func testRoundTrips() throws {
        let c = try join(vm, registry, topic: "echo:1")
        let values: [JSONValue] = [
            j(["null": JSONValue.null, "t": true, "f": false, "i": 42, "neg": -7, "big": Int(Int64.max), "d": 1.5,
               "s": "héllo \u{1F600}", "emptyArray": JSONValue.array([]), "emptyObject": empty,
               "nested": ["a": [1, 2.5, "x", ["deep": [JSONValue.null]]]]]),
            empty,
        ]
        for value in values {
            XCTAssertEqual(vm.handleIn(c.id, event: "echo", payload: .json(value), ref: .string("1")),
                           .reply(status: "ok", response: value))
        }
        // Integers stay integers and floats stay floats.
        XCTAssertEqual(eval(c, "return phx.ok({ i = 3, f = 3.0, m = math.type(3) })"),
                       .reply(status: "ok", response: j(["i": 3, "f": 3.0, "m": "integer"])))
        // Untagged tables: empty → object; sequence → array; phx.array/phx.object force a shape.
        XCTAssertEqual(eval(c, "return phx.ok({ e = {}, a = {1, 2}, fa = phx.array(), fo = phx.object({}) })"),
                       .reply(status: "ok", response: j(["e": empty, "a": [1, 2], "fa": JSONValue.array([]), "fo": empty])))
        // Binary payloads round-trip.
        XCTAssertEqual(vm.handleIn(c.id, event: "binary", payload: .json(j(["data": "ab"])), ref: .string("1")), .noreply)
        XCTAssertEqual(c.host.calls.last, .push(c.id, "bin", .binary(Array("ab!".utf8))))
        XCTAssertEqual(eval(c, "return phx.ok({ b = phx.is_binary(phx.binary('x')), n = tostring(phx.null) })"),
                       .reply(status: "ok", response: j(["b": true, "n": "null"])))
    }

    func testConversionErrorsNameThePath() throws {
        let c = try join(vm, registry, topic: "echo:1")
        let cases: [(String, String)] = [
            ("return phx.ok({ items = { 1, 2, nil, 4 } })", "reply.items[3]: missing element in a sparse array"),
            ("return phx.ok({ x = { 1, a = 2 } })", "reply.x: mixed string and integer keys"),
            ("return phx.ok({ [true] = 1 })", "reply[true]: keys must be strings"),
            ("return phx.ok({ x = { [1.5] = 1 } })", "reply.x[1.5]: keys must be strings"),
            ("return phx.ok({ n = 0/0 })", "reply.n: NaN and infinity"),
            ("return phx.ok({ n = math.huge })", "reply.n: NaN and infinity"),
            ("return phx.ok({ f = print })", "reply.f: cannot convert a function to JSON"),
            ("local t = {} t.self = t return phx.ok({ t = t })", "reply.t.self: table contains itself"),
            ("local t = {} local r = t for i = 1, 100 do t.x = {} t = t.x end return phx.ok(r)", "nested more than 64 levels"),
            ("return phx.ok({ s = '\\255' })", "reply.s: string is not valid UTF-8"),
            ("return phx.ok({ ['odd key'] = { b = phx.binary('x') } })", "reply[\"odd key\"].b: binary data is only allowed"),
            ("return phx.ok({ 1, 2 })", "reply: must be an object (a map), got an array"),
            ("return phx.ok({ a = phx.array({ x = 1 }) })", "reply.a.x: an array (phx.array) cannot have string keys"),
        ]
        for (code, message) in cases {
            let error = try XCTUnwrap(crash(eval(c, code)), code)
            XCTAssertEqual(error.kind, .invalidResult, code)
            XCTAssertTrue(error.message.contains(message), "\(code): \(error.message)")
            XCTAssertTrue(error.message.hasPrefix("channels/echo.lua:10: handle_in reply: "), error.message)
        }
        // Payloads of push/broadcast must be objects or phx.binary (Phoenix 1.4 raises otherwise).
        let (pRegistry, pVM) = try makeVM(["p.lua": """
            return { topic = "p", join = function() return phx.ok() end,
                     handle_in = function(e, p, socket) phx.push(socket, "x", { 1, 2 }) end }
            """])
        let p = try join(pVM, pRegistry, topic: "p")
        let push = try XCTUnwrap(crash(pVM.handleIn(p.id, event: "x", payload: .json(empty), ref: .null)))
        XCTAssertTrue(push.message.contains("bad argument #3 to 'push' (payload: must be an object"), push.message)
    }

    // MARK: Callbacks

    func testJoinResults() throws {
        let host = FakeHost()
        let script = try XCTUnwrap(registry.route("echo:1"))
        func joinWith(_ payload: JSONValue) -> (ChannelID?, JoinResult) {
            vm.join(script: script, topic: "echo:1", payload: .json(payload), joinRef: .string("7"),
                    socket: SocketContext(id: "user:1", params: j(["token": "t"]), assigns: j(["user": 1])), host: host)
        }
        let (id, ok) = joinWith(empty)
        XCTAssertNotNil(id)
        XCTAssertEqual(ok, .ok(j(["user": 1, "id": "user:1", "param": "t"])))
        XCTAssertEqual(vm.handleIn(try XCTUnwrap(id), event: "assigns", payload: .json(empty), ref: .string("2")),
                       .reply(status: "ok", response: j(["joined": true])))

        guard case (nil, .crashed(let crash)) = joinWith(j(["fail": true])) else { return XCTFail() }
        XCTAssertTrue(crash.message.hasPrefix("channels/echo.lua:3: join blew up"), crash.message)
        XCTAssertEqual(crash.topic, "echo:1")

        guard case (nil, .crashed(let wrong)) = joinWith(j(["bad": true])) else { return XCTFail() }
        XCTAssertEqual(wrong.kind, .invalidResult)
        XCTAssertTrue(wrong.message.hasPrefix("channels/echo.lua:2: join returned a number"), wrong.message)

        // Like Phoenix: push/broadcast/reply raise inside join.
        guard case (nil, .crashed(let push)) = joinWith(j(["push": true])) else { return XCTFail() }
        XCTAssertTrue(push.message.contains("channels/echo.lua:5: push/broadcast/reply not allowed in join"), push.message)
        XCTAssertEqual(vm.channelCount, 1)
    }

    func testHandleInCrashWrongShapeAndStop() throws {
        let c = try join(vm, registry, topic: "echo:1")
        let wrong = try XCTUnwrap(crash(vm.handleIn(c.id, event: "wrong", payload: .json(empty), ref: .string("1"))))
        XCTAssertEqual(wrong.kind, .invalidResult)
        XCTAssertTrue(wrong.message.hasPrefix("channels/echo.lua:10: handle_in returned a string; expected"), wrong.message)
        let raised = try XCTUnwrap(crash(eval(c, "error('kaput')")))
        XCTAssertEqual(raised.message, "eval:1: kaput")
        XCTAssertEqual(vm.handleIn(c.id, event: "stop", payload: .json(empty), ref: .string("1")), .stop(reason: "boom", reply: nil))
        XCTAssertFalse(isCleanStop("boom"))
        XCTAssertTrue(isCleanStop("shutdown:left"))
        XCTAssertTrue(isCleanStop("normal"))
        // handle_out may not reply (Phoenix's handle_out returns noreply or stop).
        let out = try XCTUnwrap(crash(vm.handleOut(c.id, event: "x", payload: .json(empty))))
        XCTAssertEqual(out.kind, .invalidResult)
        // terminate's error is logged, not fatal; the channel is freed.
        vm.terminate(c.id, reason: "shutdown:left")
        XCTAssertEqual(vm.channelCount, 0)
        XCTAssertNotNil(crash(vm.handleIn(c.id, event: "echo", payload: .json(empty), ref: .string("1"))))
        // The VM goes on for other channels.
        let other = try join(vm, registry, topic: "echo:2")
        XCTAssertEqual(vm.handleIn(other.id, event: "echo", payload: .json(empty), ref: .string("1")), .reply(status: "ok", response: empty))
    }

    func testPushAndBroadcast() throws {
        let c = try join(vm, registry, topic: "echo:1")
        XCTAssertEqual(vm.handleIn(c.id, event: "push", payload: .json(j(["a": 1])), ref: .string("1")), .noreply)
        XCTAssertEqual(vm.handleIn(c.id, event: "broadcast", payload: .json(j(["b": 2])), ref: .string("1")), .noreply)
        XCTAssertEqual(c.host.calls, [
            .push(c.id, "pushed", .json(j(["a": 1]))),
            .broadcast(c.id, "b", .json(j(["b": 2])), excludeSelf: false),
            .broadcast(c.id, "bf", .json(j(["b": 2])), excludeSelf: true),
        ])
        let bad = try XCTUnwrap(crash(eval(c, "phx.push({}, 'x', {})")))
        XCTAssertTrue(bad.message.hasPrefix("eval:1: bad argument #1 to 'push' (socket expected"), bad.message)
    }

    func testTimers() throws {
        let host = FakeHost()
        let script = try XCTUnwrap(registry.route("echo:1"))
        let (joined, result) = vm.join(script: script, topic: "echo:1", payload: .json(j(["timer": true])),
                                       joinRef: .string("1"), socket: SocketContext(), host: host)
        XCTAssertEqual(result, .ok(j(["user": JSONValue.null]).objectWithoutNulls))
        let id = try XCTUnwrap(joined)
        let afterJoin = try XCTUnwrap(host.scheduled.first)
        XCTAssertEqual(host.calls, [.schedule(id, afterJoin, 0)])
        XCTAssertEqual(vm.fireTimer(id, timer: afterJoin), .noreply)
        XCTAssertEqual(host.calls.last, .push(id, "welcome", .json(empty)))
        XCTAssertEqual(vm.fireTimer(id, timer: afterJoin), .noreply)  // already fired: ignored
        XCTAssertEqual(host.calls.count, 2)

        XCTAssertEqual(vm.handleIn(id, event: "timer", payload: .json(j(["n": 1])), ref: .string("2")), .noreply)
        let first = try XCTUnwrap(host.scheduled.last)
        XCTAssertEqual(host.calls.last, .schedule(id, first, 50))
        XCTAssertEqual(vm.handleIn(id, event: "cancel", payload: .json(empty), ref: .string("3")),
                       .reply(status: "ok", response: j(["cancelled": true])))
        XCTAssertEqual(host.calls.last, .cancel(first))
        XCTAssertEqual(vm.fireTimer(id, timer: first), .noreply)

        XCTAssertEqual(vm.handleIn(id, event: "timer", payload: .json(j(["n": 2])), ref: .string("4")), .noreply)
        let second = try XCTUnwrap(host.scheduled.last)
        XCTAssertEqual(vm.fireTimer(id, timer: second), .stop(reason: "normal", reply: nil))
        XCTAssertEqual(host.calls.last, .push(id, "tick", .json(j(["n": 2]))))

        // Timers die with the channel.
        XCTAssertEqual(vm.handleIn(id, event: "timer", payload: .json(j(["n": 3])), ref: .string("5")), .noreply)
        let third = try XCTUnwrap(host.scheduled.last)
        vm.discard(id)
        XCTAssertEqual(host.calls.last, .cancel(third))
    }

    func testSocketRefAndReplyTo() throws {
        let c = try join(vm, registry, topic: "echo:1")
        XCTAssertEqual(vm.handleIn(c.id, event: "later", payload: .json(empty), ref: .string("41")), .noreply)
        XCTAssertEqual(vm.handleIn(c.id, event: "answer", payload: .json(empty), ref: .string("42")), .noreply)
        XCTAssertEqual(c.host.calls, [.asyncReply(c.id, .string("41"), "ok", j(["late": true]))])
        // Outside handle_in socket_ref is an error.
        XCTAssertEqual(vm.handleIn(c.id, event: "timer", payload: .json(j(["n": 1])), ref: .string("43")), .noreply)
        _ = vm.handleIn(c.id, event: "eval", payload: .json(j(["code": "return"])), ref: .string("44"))
    }

    func testSocketRefOutsideHandleInFails() throws {
        let (registry, vm) = try makeVM(["r.lua": """
            return { topic = "r",
              join = function(t, p, socket) phx.socket_ref(socket) return phx.ok() end }
            """])
        let script = try XCTUnwrap(registry.route("r"))
        let (_, result) = vm.join(script: script, topic: "r", payload: .json(empty), joinRef: .null,
                                  socket: SocketContext(), host: FakeHost())
        guard case .crashed(let error) = result else { return XCTFail("\(result)") }
        XCTAssertTrue(error.message.contains("socket_ref is only valid inside handle_in"), error.message)
    }

    // MARK: Registry

    func testRegistryRouting() throws {
        let channel = { (topic: String) in "return { topic = \(topic), join = function() return phx.ok() end }" }
        let registry = try ChannelRegistry(directory: try makeChannelsFolder([
            "a.lua": channel("'room:*'"), "b.lua": channel("'room:lobby:*'"), "c.lua": channel("'room:lobby:main'"),
            "d.lua": channel("{ 'x', 'y:*' }"), "any.lua": channel("'*'"),
            "a_test.lua": "this is not lua", "lib/helper.lua": "return {}",
        ]))
        XCTAssertEqual(registry.route("room:lobby:main")?.name, "c")
        XCTAssertEqual(registry.route("room:lobby:side")?.name, "b")
        XCTAssertEqual(registry.route("room:other")?.name, "a")
        XCTAssertEqual(registry.route("x")?.name, "d")
        XCTAssertEqual(registry.route("y:1")?.name, "d")
        XCTAssertEqual(registry.route("zzz")?.name, "any")
        XCTAssertEqual(registry.scripts.map(\.name), ["a", "any", "b", "c", "d"])
    }

    func testRegistryLoadErrors() throws {
        let channel = "return { topic = 'same', join = function() return phx.ok() end }"
        XCTAssertThrowsError(try ChannelRegistry(directory: try makeChannelsFolder(["one.lua": channel, "two.lua": channel]))) {
            XCTAssertEqual(($0 as? ScriptError)?.message, "channels/one.lua and channels/two.lua both claim topic \"same\"")
        }
        XCTAssertThrowsError(try ChannelRegistry(directory: try makeChannelsFolder(["bad.lua": "local x = \n\n = 3"]))) {
            let error = $0 as? ScriptError
            XCTAssertEqual(error?.kind, .load)
            XCTAssertTrue(error?.message.hasPrefix("channels/bad.lua:3:") == true, error?.message ?? "")
        }
        XCTAssertThrowsError(try ChannelRegistry(directory: try makeChannelsFolder(["nojoin.lua": "return { topic = 'x' }"]))) {
            XCTAssertTrue(($0 as? ScriptError)?.message.contains("needs a join") == true)
        }
        XCTAssertThrowsError(try ChannelRegistry(directory: try makeChannelsFolder(["notopic.lua": "return { join = print }"]))) {
            XCTAssertTrue(($0 as? ScriptError)?.message.contains("`topic` must be") == true)
        }
    }

    func testHotReloadSwapsVersionAtNextCallback() throws {
        let c = try join(vm, registry, topic: "echo:1")
        let updated = try registry.update(name: "echo", text: """
            return { topic = "echo:*", join = function() return phx.ok() end,
                     handle_in = function() return phx.reply("ok", { version = 2 }) end }
            """)
        XCTAssertEqual(updated.version, ScriptVersion(rawValue: 2))
        XCTAssertEqual(vm.handleIn(c.id, event: "echo", payload: .json(empty), ref: .string("1")),
                       .reply(status: "ok", response: j(["version": 2])))
        XCTAssertThrowsError(try registry.update(name: "echo", text: "syntax error here"))
        XCTAssertEqual(registry.script(named: "echo")?.version, ScriptVersion(rawValue: 2))
    }

    func testSocketScript() throws {
        let socket = """
            return {
              connect = function(params, info)
                if params.token == "secret" then return phx.ok({ user_id = 7 }) end
                if params.token == "crash" then error("bad token") end
                return phx.error({ reason = "unauthorized" })
              end,
              id = function(socket) return "user_socket:" .. socket.assigns.user_id end,
            }
            """
        let (registry, vm) = try makeVM(["socket.lua": socket, "echo.lua": Self.echo])
        XCTAssertNotNil(registry.socketScript)
        XCTAssertNil(registry.route("socket"))
        XCTAssertEqual(vm.connect(params: j(["token": "secret"]), connectInfo: empty) { _ in },
                       .ok(assigns: j(["user_id": 7]), id: "user_socket:7"))
        XCTAssertEqual(vm.connect(params: j(["token": "nope"]), connectInfo: empty) { _ in }, .error(j(["reason": "unauthorized"])))
        guard case .crashed(let error) = vm.connect(params: j(["token": "crash"]), connectInfo: empty, completion: { _ in }) else {
            return XCTFail()
        }
        XCTAssertTrue(error.message.hasPrefix("channels/socket.lua:4: bad token"), error.message)
        // Without socket.lua everything is accepted.
        let (_, plain) = try makeVM(["echo.lua": Self.echo])
        XCTAssertEqual(plain.connect(params: empty, connectInfo: empty) { _ in }, .ok(assigns: empty, id: nil))
    }
}

extension JSONValue {
    /// The object with null members removed (a missing Lua field converts to nothing).
    var objectWithoutNulls: JSONValue {
        guard case .object(let members) = self else { return self }
        return .object(members.filter { $0.value != .null })
    }
}
