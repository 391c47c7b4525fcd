import KeyValueStore
import LuaRuntime
import PhoenixProtocol
import XCTest

/// Callbacks as coroutines: waiting for phx.http / phx.kv, resuming, budgets per slice, the
/// callback timeout, hot reload across a wait, shutdown.
final class SuspendedCallbackTests: XCTestCase {
    static let room = """
        local channel = { topic = "room:*" }
        function channel.join(topic, payload, socket)
          if payload.check then
            local r, err = phx.http.request{ url = "http://backend.test/auth?user=" .. payload.check }
            if not r then return phx.error({ reason = err }) end
            if r.status ~= 200 then return phx.error({ reason = "denied" }) end
          end
          return phx.ok({ joined = true })
        end
        function channel.handle_in(event, payload, socket)
          if event == "fetch" then
            local r, err = phx.http.request{ method = "post", url = payload.url or "http://backend.test/x",
              headers = { ["x-n"] = 7 }, body = phx.json.encode({ n = 1 }), timeout_ms = payload.timeout }
            if not r then return phx.reply("error", { reason = err }) end
            return phx.ok({ status = r.status, body = r.body, type = r.headers["content-type"] })
          end
          if event == "twice" then
            local a = phx.http.request{ url = "http://backend.test/1" }
            local b = phx.http.request{ url = "http://backend.test/2" }
            return phx.ok({ a = a.body, b = b.body })
          end
          if event == "spin" then
            local n = 0
            for i = 1, payload.n do n = n + 1 end
            phx.http.request{ url = "http://backend.test/spin" }
            for i = 1, payload.n do n = n + 1 end
            return phx.ok({ n = n })
          end
          if event == "late" then
            local ref = phx.socket_ref(socket)
            phx.http.request{ url = "http://backend.test/late" }
            phx.reply_to(ref, "ok", { late = true })
            return
          end
          if event == "boom" then
            phx.http.request{ url = "http://backend.test/boom" }
            error("after the wait")
          end
          if event == "yield" then coroutine.yield() end
          if event == "nested" then
            local co = coroutine.wrap(function() return phx.http.request{ url = "http://backend.test/n" } end)
            co()
          end
          if event == "version" then
            phx.http.request{ url = "http://backend.test/v" }
            return phx.ok({ version = 1 })
          end
          if event == "incr" then return phx.ok({ n = phx.kv.incr("hits", payload.by) }) end
          if event == "kv" then
            phx.kv.set("k", { a = { 1, 2 } })
            phx.kv.push("list", "x", 2)
            phx.kv.push("list", "y", 2)
            phx.kv.push("list", "z", 2)
            return phx.ok({ k = phx.kv.get("k"), list = phx.kv.range("list", 10), gone = phx.kv.get("nope") == nil })
          end
          if event == "json" then
            local v, err = phx.json.decode(payload.text)
            return phx.ok({ value = v, err = err, back = v and phx.json.encode(v) })
          end
          if event == "fail" then error("at once") end
        end
        function channel.terminate(reason, socket)
          phx.http.request{ url = "http://backend.test/bye?reason=" .. reason }
          phx.broadcast(socket, "left", {})
        end
        return channel
        """

    var loop: ManualLoop!
    var http: FakeHTTP!
    var registry: ChannelRegistry!
    var vm: LuaVM!
    var host: FakeHost!
    var records: [HTTPCallRecord] = []

    override func setUpWithError() throws {
        loop = ManualLoop()
        http = FakeHTTP()
        (registry, vm) = try makeVM(
            ["room.lua": Self.room], limits: LuaLimits(instructionBudget: 100_000),
            services: loop.services(http: http, kv: EmbeddedStore(), timeout: 1_000, onHTTPCall: { [unowned self] in records.append($0) }))
    }

    func joined(_ payload: JSONValue = .emptyObject) throws -> ChannelID {
        host = FakeHost()
        let (id, result) = vm.join(
            script: try XCTUnwrap(registry.route("room:1")), topic: "room:1", payload: .json(payload), joinRef: .string("1"),
            socket: SocketContext(), host: host)
        XCTAssertEqual(result, .ok(j(["joined": true])))
        return try XCTUnwrap(id)
    }

    func push(_ id: ChannelID, _ event: String, _ payload: JSONValue = .emptyObject) -> CallbackResult {
        vm.handleIn(id, event: event, payload: .json(payload), ref: .string("9"))
    }

    func testAHandleInWaitsForTheAnswerThenReplies() throws {
        let id = try joined()
        XCTAssertEqual(push(id, "fetch"), .suspended)
        XCTAssertTrue(vm.isSuspended(id))
        let request = try XCTUnwrap(http.requests.first)
        XCTAssertEqual(request.method, "POST")
        XCTAssertEqual(request.url.absoluteString, "http://backend.test/x")
        XCTAssertEqual(request.headers.first?.name, "x-n")
        XCTAssertEqual(request.headers.first?.value, "7")
        XCTAssertEqual(request.body, Array(#"{"n":1}"#.utf8))
        XCTAssertEqual(request.timeoutMilliseconds, 5_000)
        loop.run()
        XCTAssertEqual(host.finished, [], "nothing happens before the answer")
        http.answer(status: 201, body: "made")
        XCTAssertEqual(host.finished, [], "the answer resumes on the loop, not inline")
        loop.run()
        XCTAssertEqual(host.finished, [.callback(.reply(status: "ok", response: j(["status": 201, "body": "made", "type": "text/plain"])))])
        XCTAssertFalse(vm.isSuspended(id))
        XCTAssertEqual(vm.suspendedCount, 0)
        XCTAssertEqual(records.count, 1)
        XCTAssertEqual(records.first?.site, "channels/room.lua:12")
    }

    func testWaitsInARowAndAnotherCallbackMeanwhile() throws {
        let id = try joined()
        let waitingHost = host!
        XCTAssertEqual(push(id, "twice"), .suspended)
        let other = try joined()
        XCTAssertEqual(push(other, "incr", j(["by": 2])), .reply(status: "ok", response: j(["n": 2])), "others run meanwhile")
        http.answer(status: 200, body: "one")
        loop.run()
        XCTAssertEqual(http.pendingCount, 1)
        XCTAssertTrue(vm.isSuspended(id))
        http.answer(status: 200, body: "two")
        loop.run()
        XCTAssertEqual(waitingHost.finished, [.callback(.reply(status: "ok", response: j(["a": "one", "b": "two"])))])
        XCTAssertFalse(vm.isSuspended(id))
    }

    func testTheInstructionBudgetCountsPerSlice() throws {
        let id = try joined()
        // 2 × 40k loop iterations (~4 instructions each) exceed 100k in one slice, not in two.
        XCTAssertEqual(push(id, "spin", j(["n": 20_000])), .suspended)
        http.answer(status: 200, body: "")
        loop.run()
        XCTAssertEqual(host.finished, [.callback(.reply(status: "ok", response: j(["n": 40_000])))])
    }

    func testTheCallbackTimeoutCrashesTheChannelNamingWhereItWaited() throws {
        let id = try joined()
        XCTAssertEqual(push(id, "fetch"), .suspended)
        loop.advance(999)
        XCTAssertEqual(host.finished, [])
        loop.advance(1)
        guard case .callback(.crashed(let error))? = host.finished.first else { return XCTFail("\(host.finished)") }
        XCTAssertEqual(error.kind, .timeout)
        XCTAssertEqual(error.topic, "room:1")
        XCTAssertTrue(error.message.hasPrefix(
            "channels/room.lua:12: handle_in did not finish within 1000 ms (--lua-callback-timeout), still waiting here"),
            error.message)
        XCTAssertTrue(error.message.contains("phx.http.request POST http://backend.test/x"), error.message)
        XCTAssertEqual(http.cancelled, 1, "the request is called off")
        http.answer(status: 200, body: "too late")
        loop.run()
        XCTAssertEqual(host.finished.count, 1, "a late answer resumes nothing")
        XCTAssertEqual(vm.suspendedCount, 0)
    }

    func testAnErrorAfterTheWaitIsACrashWithItsLine() throws {
        let id = try joined()
        XCTAssertEqual(push(id, "boom"), .suspended)
        http.answer(status: 200, body: "")
        loop.run()
        guard case .callback(.crashed(let error))? = host.finished.first else { return XCTFail("\(host.finished)") }
        XCTAssertTrue(error.message.hasPrefix("channels/room.lua:37: after the wait"), error.message)
        XCTAssertNotNil(error.traceback)
    }

    func testFailuresComeBackAsNilAndAReason() throws {
        let id = try joined()
        XCTAssertEqual(push(id, "fetch", j(["url": "http://elsewhere.test/"])),
                       .reply(status: "error", response: j(["reason": "not allowed"])), "no wait at all")
        XCTAssertEqual(http.requests.count, 0)
        for (error, reason) in [(ScriptHTTPError.timeout, "timeout"), (.refused, "refused"), (.tooLarge(limit: 10), "too large")] {
            XCTAssertEqual(push(id, "fetch"), .suspended)
            http.answer(.failure(error))
            loop.run()
            XCTAssertEqual(host.finished.last, .callback(.reply(status: "error", response: j(["reason": JSONValue.string(reason)]))))
        }
        XCTAssertEqual(records.map { (try? $0.outcome.get()).map(String.init) ?? "err" }, ["err", "err", "err", "err"])
    }

    func testRequestsInFlightAreBoundedPerVM() throws {
        let (registry, vm) = try makeVM(
            ["room.lua": Self.room],
            services: loop.services(http: http, policy: HTTPPolicy(allow: [.init("backend.test")!], maxConcurrentPerVM: 2)))
        var ids: [ChannelID] = []
        for i in 1...3 {
            let (id, _) = vm.join(
                script: registry.route("room:\(i)")!, topic: "room:\(i)", payload: .json(empty), joinRef: .string("1"),
                socket: SocketContext(), host: FakeHost())
            ids.append(id!)
        }
        XCTAssertEqual(vm.handleIn(ids[0], event: "fetch", payload: .json(empty), ref: .null), .suspended)
        XCTAssertEqual(vm.handleIn(ids[1], event: "fetch", payload: .json(empty), ref: .null), .suspended)
        XCTAssertEqual(vm.handleIn(ids[2], event: "fetch", payload: .json(empty), ref: .null),
                       .reply(status: "error", response: j(["reason": "too many requests"])))
        http.answer(status: 200, body: "")
        loop.run()
        XCTAssertEqual(vm.handleIn(ids[2], event: "fetch", payload: .json(empty), ref: .null), .suspended)
    }

    func testSocketRefSurvivesTheWait() throws {
        let id = try joined()
        XCTAssertEqual(push(id, "late"), .suspended)
        http.answer(status: 200, body: "")
        loop.run()
        XCTAssertTrue(host.calls.contains(.asyncReply(id, .string("9"), "ok", j(["late": true]))))
        XCTAssertEqual(host.finished, [.callback(.noreply)])
    }

    func testYieldingByHandOrFromTheScriptsOwnCoroutineIsAnError() throws {
        let id = try joined()
        let yielded = try XCTUnwrap(crash(push(id, "yield")))
        XCTAssertTrue(yielded.message.hasPrefix("channels/room.lua:39: coroutine.yield outside a coroutine"), yielded.message)
        let id2 = try joined()
        let nested = try XCTUnwrap(crash(push(id2, "nested")))
        XCTAssertTrue(nested.message.contains("phx.http.request can only wait in a callback itself"), nested.message)
        XCTAssertEqual(http.requests.count, 0)
    }

    func testAWaitingChannelTakesNoOtherCallback() throws {
        let id = try joined()
        XCTAssertEqual(push(id, "fetch"), .suspended)
        XCTAssertEqual(crash(push(id, "fetch"))?.kind, .misuse)
    }

    func testHotReloadDuringTheWaitKeepsTheRunningCallbackOnTheOldVersion() throws {
        let id = try joined()
        XCTAssertEqual(push(id, "version"), .suspended)
        try registry.update(name: "room", text: Self.room.replacingOccurrences(of: "version = 1", with: "version = 2"))
        http.answer(status: 200, body: "")
        loop.run()
        XCTAssertEqual(host.finished, [.callback(.reply(status: "ok", response: j(["version": 1])))])
        XCTAssertEqual(push(id, "version"), .suspended)
        http.answer(status: 200, body: "")
        loop.run()
        XCTAssertEqual(host.finished.last, .callback(.reply(status: "ok", response: j(["version": 2]))))
    }

    func testJoinAndTerminateCanWait() throws {
        host = FakeHost()
        let (id, result) = vm.join(
            script: registry.route("room:1")!, topic: "room:1", payload: .json(j(["check": "ann"])), joinRef: .string("1"),
            socket: SocketContext(), host: host)
        XCTAssertEqual(result, .suspended)
        let channel = try XCTUnwrap(id)
        XCTAssertEqual(http.requests.first?.url.absoluteString, "http://backend.test/auth?user=ann")
        http.answer(status: 200, body: "")
        loop.run()
        XCTAssertEqual(host.finished, [.join(.ok(j(["joined": true])))])
        XCTAssertEqual(vm.channelCount, 1)

        XCTAssertFalse(vm.terminate(channel, reason: "shutdown:left"))
        XCTAssertEqual(vm.channelCount, 1, "alive until terminate finishes")
        http.answer(status: 200, body: "")
        loop.run()
        XCTAssertEqual(host.finished.last, .terminated)
        XCTAssertTrue(host.calls.contains(.broadcast(channel, "left", .json(empty), excludeSelf: false)))
        XCTAssertEqual(vm.channelCount, 0)

        let (refused, refusal) = vm.join(
            script: registry.route("room:2")!, topic: "room:2", payload: .json(j(["check": "bob"])), joinRef: .string("1"),
            socket: SocketContext(), host: host)
        XCTAssertEqual(refusal, .suspended)
        XCTAssertNotNil(refused)
        http.answer(status: 403, body: "")
        loop.run()
        XCTAssertEqual(host.finished.last, .join(.error(j(["reason": "denied"]))))
        XCTAssertEqual(vm.channelCount, 0)
    }

    func testShutdownAbandonsWaitingCallbacksAndRefusesNewWaits() throws {
        let id = try joined()
        let waitingHost = host!
        XCTAssertEqual(push(id, "fetch"), .suspended)
        let other = try joined()
        XCTAssertEqual(vm.beginShutdown(), 1)
        guard case .callback(.crashed(let error))? = waitingHost.finished.first else { return XCTFail("\(waitingHost.finished)") }
        XCTAssertTrue(error.message.hasPrefix("channels/room.lua:12: handle_in abandoned at shutdown waiting for phx.http.request"),
                      error.message)
        XCTAssertEqual(vm.suspendedCount, 0)
        let refused = try XCTUnwrap(crash(push(other, "fetch")))
        XCTAssertTrue(refused.message.hasPrefix("channels/room.lua:12: phx.http.request cannot wait: the server is shutting down"),
                      refused.message)
    }

    func testTerminateThatWaitsDuringShutdownFailsWithItsLine() throws {
        let id = try joined()
        vm.beginShutdown()
        XCTAssertTrue(vm.terminate(id, reason: "shutdown"))
        XCTAssertEqual(vm.channelCount, 0)
        XCTAssertEqual(http.requests.count, 0)
    }

    func testTheStoreAnswersAtOnceOrMakesTheCallbackWait() throws {
        let id = try joined()
        XCTAssertEqual(push(id, "incr", j(["by": 5])), .reply(status: "ok", response: j(["n": 5])))
        XCTAssertEqual(push(id, "incr"), .reply(status: "ok", response: j(["n": 6])))
        XCTAssertEqual(push(id, "kv"), .reply(status: "ok", response: j([
            "k": ["a": [1, 2]], "list": ["y", "z"], "gone": true])))

        let store = WaitingStore()
        let (registry, vm) = try makeVM(["room.lua": Self.room], services: loop.services(kv: store))
        let waiting = FakeHost()
        let (channel, _) = vm.join(
            script: registry.route("room:1")!, topic: "room:1", payload: .json(empty), joinRef: .string("1"),
            socket: SocketContext(), host: waiting)
        XCTAssertEqual(vm.handleIn(channel!, event: "incr", payload: .json(j(["by": 3])), ref: .null), .suspended)
        store.answerAll()
        loop.run()
        XCTAssertEqual(waiting.finished, [.callback(.reply(status: "ok", response: j(["n": 3])))])
    }

    func testJSON() throws {
        let id = try joined()
        XCTAssertEqual(push(id, "json", j(["text": #"{"b":[1,2.5,null],"a":"x"}"#])),
                       .reply(status: "ok", response: j(["value": ["b": [1, 2.5, JSONValue.null], "a": "x"],
                                                          "back": #"{"a":"x","b":[1,2.5,null]}"#])))
        guard case .reply(_, let response) = push(id, "json", j(["text": "{nope"])) else { return XCTFail() }
        XCTAssertTrue(response["err"]?.stringValue?.hasPrefix("invalid JSON") == true, "\(response)")
    }

    func testConnectCanWait() throws {
        let (_, vm) = try makeVM([
            "room.lua": Self.room,
            "socket.lua": """
                local socket = {}
                function socket.connect(params)
                  local r = phx.http.request{ url = "http://backend.test/who?token=" .. params.token }
                  if r.status ~= 200 then return phx.error({ reason = "nope" }) end
                  return phx.ok({ user = r.body })
                end
                function socket.id(s) return "user:" .. s.assigns.user end
                return socket
                """,
        ], services: loop.services(http: http))
        var result: ConnectResult?
        XCTAssertEqual(vm.connect(params: j(["token": "t"]), connectInfo: empty) { result = $0 }, .suspended)
        http.answer(status: 200, body: "ann")
        loop.run()
        XCTAssertEqual(result, .ok(assigns: j(["user": "ann"]), id: "user:ann"))
    }

    /// A socket whose connection breaks while one of its channels pushes terminates its channels
    /// right then, inside that callback: terminate runs once the callback returned, not never.
    func testTerminateAskedForDuringACallbackRunsAfterIt() throws {
        let (registry, vm) = try makeVM(["room.lua": """
            local channel = { topic = "room:*" }
            function channel.join() return phx.ok() end
            function channel.handle_in(event, payload, socket) phx.push(socket, "hi", {}) end
            function channel.terminate(reason, socket) phx.broadcast(socket, "bye", { reason = reason }) end
            return channel
            """])
        let host = FakeHost()
        var ids: [ChannelID] = []
        for topic in ["room:1", "room:2"] {
            let (id, _) = vm.join(
                script: registry.route(topic)!, topic: topic, payload: .json(empty), joinRef: .string("1"),
                socket: SocketContext(), host: host)
            ids.append(id!)
        }
        var finishedAtOnce: Bool?
        host.duringPush = { finishedAtOnce = vm.terminate(ids[1], reason: "shutdown:closed") }
        XCTAssertEqual(vm.handleIn(ids[0], event: "x", payload: .json(empty), ref: .null), .noreply)
        XCTAssertEqual(finishedAtOnce, false)
        XCTAssertTrue(host.calls.contains(.broadcast(ids[1], "bye", .json(j(["reason": "shutdown:closed"])), excludeSelf: false)))
        XCTAssertEqual(host.finished, [.terminated])
        XCTAssertEqual(vm.channelCount, 1)
    }

    /// A coroutine that waited and then finished goes back to the pool exactly once: a second
    /// release of its registry ref let the collector free a thread the pool still handed out.
    func testThreadsThatWaitedAreReusedSafelyAfterACollection() throws {
        let a = try joined(), b = try joined()
        for round in 1...3 {
            // Two callbacks wait and finish: both threads go back to the pool.
            XCTAssertEqual(push(a, "fetch"), .suspended)
            XCTAssertEqual(push(b, "fetch"), .suspended)
            http.answer(status: 200, body: "a")
            http.answer(status: 200, body: "b")
            loop.run()
            XCTAssertNotNil(crash(push(a, "fail")))  // takes one pooled thread; the failure runs a full collection
            XCTAssertEqual(push(b, "incr"), .reply(status: "ok", response: j(["n": round])))  // takes the other
        }
    }
}
