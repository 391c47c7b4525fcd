import Foundation
import HelloSocketsServer
import LuaRuntime
import NIOCore
import NIOPosix
import PhoenixProtocol
import RedisClient
import TestSupport
import XCTest

/// phx.http and phx.kv over real sockets: a callback that waits does not hold up its event loop,
/// a channel's mailbox keeps arrival order, every failure is a clear log line with file:line and
/// topic, and phx.kv.incr is exact under load. The backend is a Python process on loopback.
final class OutboundIOTests: XCTestCase {
    static let io = """
        local backend = require("backend")
        local channel = { topic = "io:*", intercept = { "poke" } }
        function channel.join(topic, payload, socket) return phx.ok() end
        function channel.handle_in(event, payload, socket)
          if event == "call" then
            local r, err = phx.http.request{ url = payload.url or (backend.url .. payload.path), timeout_ms = payload.timeout_ms }
            if not r then return phx.reply("error", { reason = err }) end
            return phx.ok({ status = r.status, size = #r.body })
          end
          if event == "note" then return phx.ok({ n = payload.n }) end
          if event == "timer" then phx.send_after(socket, payload.ms, "tick") return phx.ok() end
          if event == "incr" then return phx.ok({ n = phx.kv.incr(payload.key) }) end
          if event == "arm" then socket.assigns.call_on_terminate = true return phx.ok() end
        end
        function channel.handle_out(event, payload, socket) phx.push(socket, "poked", payload) end
        function channel.handle_info(msg, socket) phx.push(socket, "ticked", {}) end
        function channel.terminate(reason, socket)
          if socket.assigns.call_on_terminate then phx.http.request{ url = backend.url .. "/hang", timeout_ms = 60000 } end
        end
        return channel
        """

    static let ping = """
        return {
          topic = "ping",
          join = function() return phx.ok() end,
          handle_in = function(event, payload) return phx.ok({ ping = "pong" }) end,
        }
        """

    /// `channels/io.lua:N` of the line of `io` holding `fragment`.
    static func site(_ fragment: String) -> String {
        let index = io.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains(fragment) } ?? -1
        return "channels/io.lua:\(index + 1)"
    }
    static let callSite = site("url = payload.url")
    static let terminateSite = site("/hang\", timeout_ms")

    var backend: PythonBackend!
    var server: TestServer!
    let log = CapturedLog()

    /// The channels above, with `lib/backend.lua` pointing at the backend.
    func channels() throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("io-\(UUID().uuidString)/channels")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("lib"), withIntermediateDirectories: true)
        try Self.io.write(to: folder.appendingPathComponent("io.lua"), atomically: true, encoding: .utf8)
        try Self.ping.write(to: folder.appendingPathComponent("ping.lua"), atomically: true, encoding: .utf8)
        try "return { url = \"\(backend.url)\" }".write(
            to: folder.appendingPathComponent("lib/backend.lua"), atomically: true, encoding: .utf8)
        addTeardownBlock { try? FileManager.default.removeItem(at: folder.deletingLastPathComponent()) }
        return folder.path
    }

    func start(threads: Int = 1, configure: (inout ServerConfiguration) -> Void = { _ in }) async throws {
        backend = try await PythonBackend.start(PythonBackend.fixture, test: self)
        let port = backend.port
        server = try await TestServer.start(channels: try channels(), threads: threads, log: log) { configuration in
            configuration.httpAllow = [HTTPPolicy.Destination("127.0.0.1:\(port)")!]
            configure(&configuration)
        }
    }

    override func tearDown() async throws {
        try await server?.stop()
        backend?.stop()
    }

    func joined(_ topic: String) async throws -> WebSocketTestClient {
        let client = try await WebSocketTestClient.connect(port: server.port, path: "/socket/websocket?vsn=2.0.0")
        try await client.send(text: #"["1","1","\#(topic)","phx_join",{}]"#)
        let reply = try await client.receiveText()
        XCTAssertTrue(reply.hasSuffix(#""status":"ok"}]"#), reply)
        return client
    }

    /// Sends `event` with `payload` as ref `ref` and returns the reply's response and status.
    func push(_ client: WebSocketTestClient, _ topic: String, _ ref: Int, _ event: String, _ payload: String = "{}")
        async throws
    {
        try await client.send(text: #"["1","\#(ref)","\#(topic)","\#(event)",\#(payload)]"#)
    }

    func testAWaitingHandleInDoesNotDelayOtherChannelsOnItsLoop() async throws {
        try await start(threads: 1)  // one loop: the waiting channel and the pinger share it
        let waiter = try await joined("io:a")
        let pinger = try await joined("ping")
        let started = ContinuousClock.now
        try await push(waiter, "io:a", 2, "call", #"{"path":"/slow?ms=500"}"#)
        var slowest = Duration.zero
        var pings = 0
        while ContinuousClock.now - started < .milliseconds(450) && pings < 60 {
            let sent = ContinuousClock.now
            pings += 1
            try await push(pinger, "ping", pings + 1, "ping")
            let reply = try await pinger.receiveText()
            XCTAssertTrue(reply.contains(#""ping":"pong""#), reply)
            slowest = max(slowest, ContinuousClock.now - sent)
            try await Task.sleep(for: .milliseconds(10))
        }
        let answer = try await waiter.receiveText()
        let waited = ContinuousClock.now - started
        XCTAssertEqual(answer, #"["1","2","io:a","phx_reply",{"response":{"size":4,"status":200},"status":"ok"}]"#)
        XCTAssertGreaterThan(pings, 10)
        XCTAssertGreaterThanOrEqual(waited, .milliseconds(500))
        // No ping waited for the backend's 500 ms (generous bound: the machine is shared).
        XCTAssertLessThan(slowest, .milliseconds(200), "slowest ping \(slowest)")
    }

    func testTheMailboxKeepsArrivalOrderWhileACallbackWaits() async throws {
        try await start()
        let client = try await joined("io:a")
        let other = try await joined("io:b")
        try await push(client, "io:a", 2, "timer", #"{"ms":100}"#)
        let reply1 = try await client.receiveText()
        XCTAssertTrue(reply1.contains(#""status":"ok""#))
        try await push(client, "io:a", 3, "call", #"{"path":"/slow?ms=400"}"#)
        try await push(client, "io:a", 4, "note", #"{"n":1}"#)
        try await push(client, "io:a", 5, "note", #"{"n":2}"#)
        try await Task.sleep(for: .milliseconds(200))  // the timer fired meanwhile (at 100 ms)
        let body = try PhoenixJSON.broadcastBody(topic: "io:a", event: "poke", payload: #"{"k":1}"#)
        let response2 = try await BroadcastClient.post(host: "127.0.0.1", port: server.port, body: body)
        XCTAssertEqual(response2.status, 200)
        // Another channel on the same loop answers at once meanwhile.
        try await push(other, "io:b", 2, "note", #"{"n":9}"#)
        let reply3 = try await other.receiveText()
        XCTAssertEqual(reply3, #"["1","2","io:b","phx_reply",{"response":{"n":9},"status":"ok"}]"#)
        var frames: [String] = []
        for _ in 0..<5 { frames.append(try await client.receiveText()) }
        XCTAssertEqual(frames, [
            #"["1","3","io:a","phx_reply",{"response":{"size":4,"status":200},"status":"ok"}]"#,
            #"["1","4","io:a","phx_reply",{"response":{"n":1},"status":"ok"}]"#,
            #"["1","5","io:a","phx_reply",{"response":{"n":2},"status":"ok"}]"#,
            #"["1",null,"io:a","ticked",{}]"#,
            #"["1",null,"io:a","poked",{"k":1}]"#,
        ])
    }

    func testFailuresAreNilAndAReasonLoggedWithTheLineAndTopic() async throws {
        // A port nobody listens on: bound, then closed.
        let closed = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let closedPort = try XCTUnwrap(closed.localAddress?.port)
        try await closed.close()
        try await start { configuration in
            configuration.httpAllow.append(HTTPPolicy.Destination("127.0.0.1:\(closedPort)")!)
            configuration.httpMaxResponseBytes = 1_000
        }
        let client = try await joined("io:f")
        let bystander = try await joined("ping")
        let cases: [(payload: String, reason: String, logged: String)] = [
            (#"{"url":"http://127.0.0.1:\#(closedPort + 1)/x"}"#, "not allowed", "not allowed (the host is not in --http-allow)"),
            (#"{"url":"http://localhost:\#(backend.port)/slow"}"#, "not allowed", "not allowed"),
            (#"{"url":"http://127.0.0.1:\#(closedPort)/x"}"#, "refused", ": refused"),
            (#"{"path":"/slow?ms=3000","timeout_ms":200}"#, "timeout", ": timeout"),
            (#"{"path":"/big?bytes=5000"}"#, "too large", "too large (the response is over --http-max-response, 1000 bytes)"),
        ]
        for (i, test) in cases.enumerated() {
            try await push(client, "io:f", i + 2, "call", test.payload)
            let reply = try await client.receiveText()
            XCTAssertEqual(reply, #"["1","\#(i + 2)","io:f","phx_reply",{"response":{"reason":"\#(test.reason)"},"status":"error"}]"#)
            let line = await log.line(containing: ["\(Self.callSite): phx.http.request GET", test.logged, "topic=io:f"])
            XCTAssertNotNil(line, "no log line for \(test.reason):\n\(log.text)")
            try await push(bystander, "ping", i + 2, "ping")
            let reply4 = try await bystander.receiveText()
            XCTAssertTrue(reply4.contains("pong"), "others are unaffected")
        }
        let metrics = try await server.scrapeMetrics().samples
        XCTAssertEqual(metrics["hellosockets_http_requests_total"], Double(cases.count))
        XCTAssertEqual(metrics["hellosockets_http_errors_total"], Double(cases.count))
        XCTAssertEqual(metrics["hellosockets_http_request_seconds_count"], Double(cases.count))
    }

    func testABackendThatNeverAnswersEndsTheCallbackAtItsTimeout() async throws {
        try await start { $0.luaCallbackTimeout = .milliseconds(500) }
        let client = try await joined("io:h")
        let bystander = try await joined("ping")
        try await push(client, "io:h", 2, "call", #"{"path":"/hang","timeout_ms":60000}"#)
        try await push(bystander, "ping", 2, "ping")
        let reply5 = try await bystander.receiveText()
        XCTAssertTrue(reply5.contains("pong"))
        let reply6 = try await client.receiveText(timeout: .seconds(5))
        XCTAssertEqual(reply6, #"["1","1","io:h","phx_error",{}]"#)
        let line = await log.line(containing: [
            "channel crashed: \(Self.callSite): handle_in did not finish within 500 ms (--lua-callback-timeout)",
            "still waiting here for phx.http.request GET", "topic=io:h",
        ])
        XCTAssertNotNil(line, log.text)
        // The channel is gone (Phoenix: later messages to a crashed channel are unmatched).
        try await push(client, "io:h", 3, "note", #"{"n":1}"#)
        let reply7 = try await client.receiveText()
        XCTAssertTrue(reply7.contains("unmatched topic"))
    }

    func testATerminateWaitingAtShutdownIsAbandonedWithItsLineAndTopic() async throws {
        try await start { $0.shutdownTimeout = .milliseconds(500) }
        let client = try await joined("io:t")
        try await push(client, "io:t", 2, "arm")
        let reply8 = try await client.receiveText()
        XCTAssertTrue(reply8.contains(#""status":"ok""#))
        let started = ContinuousClock.now
        async let stopped: Void = server.stop()
        let reply9 = try await client.receiveClose()
        XCTAssertEqual(reply9, 1001)
        await client.close()  // the client answers the close: its channels terminate
        try await stopped
        server = nil
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(5), "shutdown does not wait for the backend")
        let line = await log.line(containing: [
            "terminate failed: \(Self.terminateSite): terminate abandoned at shutdown waiting for phx.http.request GET",
            "topic=io:t",
        ])
        XCTAssertNotNil(line, log.text)
    }

    func testIncrFromAThousandClientsOnEveryLoopSumsExactly() async throws {
        try await start(threads: 4)
        try await assertIncrementsSumExactly()
        XCTAssertEqual(server.server.keyValueStore.answerNow(.get(key: "hits")), .success(.value(.integer(3_000))))
    }

    /// The same with `phx.kv` in Redis (`--redis`): each loop's VM on its own Redis connection.
    func testIncrInRedisFromAThousandClientsOnEveryLoopSumsExactly() async throws {
        let redis = try RedisServer.start()
        defer { redis.stop() }
        let url = redis.url()
        try await start(threads: 4) { $0.redis = try? RedisConfiguration(url: url) }
        try await assertIncrementsSumExactly()
        XCTAssertEqual(try redis.cli("GET", "hs:default:kv:hits"), "3000")
    }

    /// 1,000 clients on topics spread over every loop each increment `hits` 3 times at once: every increment gets
    /// its own new value, 1 through 3,000.
    private func assertIncrementsSumExactly() async throws {
        let clients = 1_000, rounds = 3
        // Connected and joined a hundred at a time (the machine is shared: 1,000 handshakes at once
        // would time out), then every client increments at once.
        var joined: [(client: WebSocketTestClient, topic: String)] = []
        for batch in stride(from: 0, to: clients, by: 100) {
            joined += try await withThrowingTaskGroup(of: (WebSocketTestClient, String).self) { group in
                for c in batch..<min(batch + 100, clients) {
                    group.addTask { [port = server.port] in
                        let client = try await WebSocketTestClient.connect(port: port, path: "/socket/websocket?vsn=2.0.0")
                        let topic = "io:k\(c % 7)"
                        try await client.send(text: #"["1","1","\#(topic)","phx_join",{}]"#)
                        _ = try await client.receiveText(timeout: .seconds(30))
                        return (client, topic)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
        }
        defer { for (client, _) in joined { Task { await client.close() } } }
        let values = try await withThrowingTaskGroup(of: [Int64].self) { group in
            for (client, topic) in joined {
                group.addTask {
                    var seen: [Int64] = []
                    for r in 0..<rounds {
                        try await client.send(text: #"["1","\#(r + 2)","\#(topic)","incr",{"key":"hits"}]"#)
                        let reply = try await client.receiveText(timeout: .seconds(30))
                        guard case .array(let fields) = try JSONParser().parse(reply), fields.count == 5,
                            case .integer(let n)? = fields[4]["response"]?["n"]
                        else { throw UnexpectedReply(text: reply) }
                        seen.append(n)
                    }
                    return seen
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        XCTAssertEqual(values.count, clients * rounds)
        // Atomic: every increment got its own new value, 1 through N, none twice and none lost.
        XCTAssertEqual(values.sorted(), (1...Int64(clients * rounds)).map { $0 })
    }

    struct UnexpectedReply: Error {
        let text: String
    }

    /// The built binary: `--trace` prints every call with its result, time, line and topic; the
    /// I/O flags are validated with a clear message.
    func testTraceAndFlags() async throws {
        backend = try await PythonBackend.start(PythonBackend.fixture, test: self)
        let process = try await ServerProcess.start(
            arguments: ["--channels", try channels(), "--threads", "1", "--trace", "--http-allow", "127.0.0.1:\(backend.port)"],
            test: self)
        let client = try await WebSocketTestClient.connect(port: process.port, path: "/socket/websocket?vsn=2.0.0")
        try await client.send(text: #"["1","1","io:a","phx_join",{}]"#)
        _ = try await client.receiveText()
        try await push(client, "io:a", 2, "call", #"{"path":"/slow?ms=1"}"#)
        let reply = try await client.receiveText()
        XCTAssertTrue(reply.contains(#""status":200"#), reply)
        try await push(client, "io:a", 3, "call", #"{"url":"http://127.0.0.1:1/"}"#)
        _ = try await client.receiveText()
        await client.close()
        process.signal(SIGTERM)
        _ = try await process.waitForExit()
        XCTAssertTrue(process.log.contains("http GET \(backend.url)/slow?ms=1 → 200 in "), process.log)
        XCTAssertTrue(process.log.contains("(\(Self.callSite), io:a)"), process.log)
        XCTAssertTrue(process.log.contains("http GET http://127.0.0.1:1/ → not allowed in "), process.log)

        let bad = Process()
        bad.executableURL = ServerProcess.binary
        bad.arguments = ["--http-allow", "http://x/y"]
        let stderr = Pipe()
        bad.standardError = stderr
        try bad.run()
        let output = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        bad.waitUntilExit()
        XCTAssertNotEqual(bad.terminationStatus, 0)
        XCTAssertTrue(output.contains(#"--http-allow: "http://x/y" is not HOST or HOST:PORT"#), output)
    }
}
