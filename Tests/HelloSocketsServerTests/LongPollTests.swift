import Foundation
import HelloSocketsServer
import NIOCore
import TestSupport
import WebSocketTransport
import XCTest

/// Phoenix's LongPoll transport over real HTTP: the exchanges in `Fixtures/longpoll-exchanges/` byte for byte, then
/// the session's lifetime, its bounds, and a broadcast reaching LongPoll and WebSocket subscribers alike.
final class LongPollTests: XCTestCase {
    static let window = TimeAmount.milliseconds(300)

    static func start(
        channels: String = TestServer.channelsDirectory,
        webSocket: WebSocketConfiguration = WebSocketConfiguration(closeTimeout: .milliseconds(250)),
        maxConnections: Int = 16_384,
        configure: (inout ServerConfiguration) -> Void = { _ in }
    ) async throws -> TestServer {
        try await TestServer.start(channels: channels, webSocket: webSocket, maxConnections: maxConnections) {
            $0.longPollWindow = window
            configure(&$0)
        }
    }

    // MARK: Exchanges (Fixtures/longpoll-exchanges/*.txt)

    func testSessionExchanges() async throws { try await replayExchanges("session.txt") }
    func testTokensAndMethodsExchanges() async throws { try await replayExchanges("tokens-and-methods.txt") }

    static let exchanges = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/longpoll-exchanges")

    /// Replays an exchange file (its notation is explained at the top of `session.txt`).
    func replayExchanges(_ name: String, file: StaticString = #filePath, line: UInt = #line) async throws {
        let server = try await Self.start()
        let text = try String(contentsOf: Self.exchanges.appendingPathComponent(name), encoding: .utf8)
        var tokens: [String] = []  // $1, $2… in order of first appearance
        var outstanding: [(location: String, answer: Task<HTTPResponse, Error>)] = []
        var lastAnswer: HTTPResponse?
        var pending: (location: String, method: String, uri: String, headers: [String], body: String)?

        func withTokens(_ text: String) -> String {
            var text = text
            for (index, token) in tokens.enumerated().reversed() { text = text.replacingOccurrences(of: "$\(index + 1)", with: token) }
            return text
        }
        func normalized(_ body: String) -> String {
            if let token = (try? LongPollTestClient.json(body))?["token"] as? String, !tokens.contains(token) { tokens.append(token) }
            var body = body
            for (index, token) in tokens.enumerated() { body = body.replacingOccurrences(of: token, with: "$\(index + 1)") }
            return body
        }
        func sendPending() async throws {
            guard let request = pending else { return }
            pending = nil
            let client = try await RawClient.connect(port: server.port)
            var bytes = "\(request.method) \(withTokens(request.uri)) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            for header in request.headers { bytes += withTokens(header) + "\r\n" }
            let body = request.body.replacingOccurrences(of: "\\n", with: "\n")
            if !body.isEmpty { bytes += "Content-Length: \(body.utf8.count)\r\n" }
            try await client.send(bytes + "\r\n" + body)
            outstanding.append((request.location, Task {
                defer { Task { await client.close() } }
                return try await client.receiveHTTPResponse(timeout: .seconds(10))
            }))
            try await Task.sleep(for: .milliseconds(20))  // requests reach the server in the file's order
        }

        for (index, raw) in text.components(separatedBy: "\n").enumerated() where !raw.isEmpty && !raw.hasPrefix("#") {
            let location = "\(name):\(index + 1)"
            let (verb, argument) = raw.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false).map(String.init).pair
            switch verb {
            case ">h":
                pending?.headers.append(argument)
            case ">b":
                pending?.body = argument
            case ">":
                try await sendPending()
                let (method, uri) = argument.split(separator: " ", maxSplits: 1).map(String.init).pair
                pending = (location, method, uri, [], "")
            case "<":
                try await sendPending()
                guard !outstanding.isEmpty else { return XCTFail("\(location): no request waiting for an answer", file: file, line: line) }
                let (requestLocation, task) = outstanding.removeFirst()
                let answer = try await task.value
                let (status, body) = argument.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false).map(String.init).pair
                XCTAssertEqual("\(answer.status)", status, "\(location) (request at \(requestLocation)): \(answer.body)", file: file, line: line)
                XCTAssertEqual(normalized(answer.body), body, "\(location) (request at \(requestLocation))", file: file, line: line)
                lastAnswer = answer
            case "<h":
                try await sendPending()
                let (name, value) = argument.split(separator: ":", maxSplits: 1).map(String.init).pair
                XCTAssertEqual(lastAnswer?.header(name), value.trimmingCharacters(in: .whitespaces), "\(location)", file: file, line: line)
            default:
                XCTFail("\(location): unknown step \(verb)", file: file, line: line)
            }
        }
        try await sendPending()
        XCTAssertTrue(outstanding.isEmpty, "\(name): \(outstanding.count) answer(s) not checked", file: file, line: line)
        try await server.stop()
    }
}

extension LongPollTests {
    static let fixtureChannels = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/channels").path
    static let ping = "/socket/longpoll?vsn=2.0.0"
    static let joinPing = #"["1","1","ping","phx_join",{}]"#
    static let pingJoined = #"["1","1","ping","phx_reply",{"response":{},"status":"ok"}]"#

    /// `POST /api/broadcast`.
    func broadcast(port: Int, _ json: String) async throws {
        let client = try await RawClient.connect(port: port)
        try await client.send("POST /api/broadcast HTTP/1.1\r\nHost: x\r\nContent-Length: \(json.utf8.count)\r\n\r\n\(json)")
        let answer = try await client.receiveHTTPResponse()
        await client.close()
        XCTAssertEqual(answer.status, 200, answer.body)
    }

    // MARK: Lifetime

    /// A session not polled for 1.5 × the window ends like a closed socket: its channels terminate, its token
    /// then opens a new session, and /metrics counts it.
    func testSessionNotPolledForOneAndAHalfWindowsEnds() async throws {
        let server = try await Self.start()
        let client = try await LongPollTestClient.open(port: server.port, path: Self.ping)
        try await client.send(text: Self.joinPing)
        let reply = try await client.receiveText()
        XCTAssertEqual(reply, Self.pingJoined)
        var samples = try await server.scrapeMetrics().samples
        XCTAssertEqual(samples["hellosockets_longpoll_sessions"], 1)
        XCTAssertEqual(samples[#"hellosockets_channels_joined{pattern="ping"}"#], 1)

        try await Task.sleep(for: .milliseconds(450 + 250))  // 1.5 windows, plus the timer wheel's slack
        samples = try await server.scrapeMetrics().samples
        XCTAssertEqual(samples["hellosockets_longpoll_sessions"], 0)
        XCTAssertEqual(samples[#"hellosockets_longpoll_sessions_ended_total{reason="timeout"}"#], 1)
        XCTAssertEqual(samples[#"hellosockets_channels_joined{pattern="ping"}"#], 0, "the channel terminated")

        let old = client.token
        let (status, _) = try await client.poll()
        XCTAssertEqual(status, 410, "the old token names nothing: a new session")
        XCTAssertNotEqual(client.token, old)
        try await server.stop()
    }

    /// Polling is what keeps a session: held polls back to back over several windows, and it is still there.
    func testPollingKeepsTheSessionAlive() async throws {
        let server = try await Self.start()
        let client = try await LongPollTestClient.open(port: server.port, path: Self.ping)
        let start = ContinuousClock.now
        for _ in 0..<4 {
            let (status, _) = try await client.poll()
            XCTAssertEqual(status, 204)
        }
        XCTAssertGreaterThanOrEqual(ContinuousClock.now - start, .milliseconds(4 * 300), "each poll was held for the window")
        try await client.send(text: Self.joinPing)
        let reply = try await client.receiveText()
        XCTAssertEqual(reply, Self.pingJoined)
        try await server.stop()
    }

    /// Same-topic subscribers on both transports get the same broadcast, from the API and from a channel.
    func testBroadcastReachesLongPollAndWebSocketSubscribersOfOneTopic() async throws {
        let server = try await Self.start()
        let longPoll = try await LongPollTestClient.open(port: server.port, path: Self.ping)
        try await longPoll.send(text: Self.joinPing)
        let lpJoined = try await longPoll.receiveText()
        XCTAssertEqual(lpJoined, Self.pingJoined)
        let v1 = try await LongPollTestClient.open(port: server.port, path: "/socket/longpoll?vsn=1.0.0")
        try await v1.send(text: #"{"topic":"ping","event":"phx_join","payload":{},"ref":"1"}"#)
        _ = try await v1.receiveText()
        let webSocket = try await WebSocketTestClient.connect(port: server.port, path: "/socket/websocket?vsn=2.0.0")
        try await webSocket.send(text: Self.joinPing)
        let wsJoined = try await webSocket.receiveText()
        XCTAssertEqual(wsJoined, Self.pingJoined)

        try await broadcast(port: server.port, #"{"topic":"ping","event":"bcast","payload":{"seq":7}}"#)
        let viaWebSocket = try await webSocket.receiveText()
        let viaLongPoll = try await longPoll.receiveText()
        let viaV1 = try await v1.receiveText()
        XCTAssertEqual(viaWebSocket, #"[null,null,"ping","bcast",{"seq":7}]"#)
        XCTAssertEqual(viaLongPoll, viaWebSocket)
        XCTAssertEqual(viaV1, #"{"event":"bcast","payload":{"seq":7},"ref":null,"topic":"ping"}"#)
        await webSocket.close()
        try await server.stop()
    }

    /// A channel's own broadcast from a LongPoll socket fans out to a WebSocket subscriber and back to itself.
    func testChannelBroadcastFromLongPollReachesWebSocket() async throws {
        let server = try await Self.start(channels: Self.fixtureChannels)
        let longPoll = try await LongPollTestClient.open(port: server.port, path: "/socket/longpoll?vsn=2.0.0&user=ada")
        try await longPoll.send(text: #"["1","1","lab:x","phx_join",{"name":"lp"}]"#)
        let lpJoined = try await longPoll.receiveText()
        XCTAssertEqual(lpJoined, #"["1","1","lab:x","phx_reply",{"response":{"user":"ada"},"status":"ok"}]"#)
        let webSocket = try await WebSocketTestClient.connect(port: server.port, path: "/socket/websocket?vsn=2.0.0")
        try await webSocket.send(text: #"["1","1","lab:x","phx_join",{"name":"ws"}]"#)
        _ = try await webSocket.receiveText()

        try await longPoll.send(text: #"["1","2","lab:x","shout",{"hi":1}]"#)
        let toWebSocket = try await webSocket.receiveText()
        let toItself = try await longPoll.receiveText()
        XCTAssertEqual(toWebSocket, #"[null,null,"lab:x","shout",{"hi":1}]"#)
        XCTAssertEqual(toItself, toWebSocket)
        await webSocket.close()
        try await server.stop()
    }

    /// `connect_info` tells a channel which transport carries its socket.
    func testConnectInfoNamesTheTransport() async throws {
        let server = try await Self.start(channels: Self.fixtureChannels)
        let longPoll = try await LongPollTestClient.open(port: server.port, path: "/socket/longpoll?vsn=2.0.0")
        try await longPoll.send([#"["1","1","lab:t","phx_join",{}]"#, #"["1","2","lab:t","transport",{}]"#])
        _ = try await longPoll.receiveText()
        let viaLongPoll = try await longPoll.receiveText()
        XCTAssertEqual(viaLongPoll, #"["1","2","lab:t","phx_reply",{"response":{"transport":"longpoll"},"status":"ok"}]"#)
        let webSocket = try await WebSocketTestClient.connect(port: server.port, path: "/socket/websocket?vsn=2.0.0")
        try await webSocket.send(text: #"["1","1","lab:t","phx_join",{}]"#)
        _ = try await webSocket.receiveText()
        try await webSocket.send(text: #"["1","2","lab:t","transport",{}]"#)
        let viaWebSocket = try await webSocket.receiveText()
        XCTAssertEqual(viaWebSocket, #"["1","2","lab:t","phx_reply",{"response":{"transport":"websocket"},"status":"ok"}]"#)
        await webSocket.close()
        try await server.stop()
    }

    /// V2 binary frames: in as base64 ndjson lines, out as base64 strings among the messages.
    func testBinaryFramesTravelAsBase64() async throws {
        let server = try await Self.start(channels: Self.fixtureChannels)
        let client = try await LongPollTestClient.open(port: server.port, path: "/socket/longpoll?vsn=2.0.0")
        try await client.send(text: #"["1","1","lab:11","phx_join",{}]"#)
        _ = try await client.receiveText()
        let topic = Array("lab:11".utf8), event = Array("bytes".utf8)
        let frame: [UInt8] = [0, 1, 1, UInt8(topic.count), UInt8(event.count)] + Array("12".utf8) + topic + event + [0, 1, 2, 255]
        let status = try await client.send([Data(frame).base64EncodedString()])
        XCTAssertEqual(status, 200)
        let pushed = try await client.receiveText()
        XCTAssertEqual(Data(base64Encoded: pushed).map(Array.init),
                       [0, 1, UInt8(topic.count), UInt8(event.count)] + Array("1".utf8) + topic + event + [0, 1, 2, 255])
        try await server.stop()
    }

    /// A `disconnect` broadcast to the socket's id ends the session: a held poll is answered 410 at once.
    func testDisconnectBroadcastEndsTheSession() async throws {
        let server = try await Self.start(channels: Self.fixtureChannels) { $0.longPollWindow = .seconds(5) }
        let client = try await LongPollTestClient.open(port: server.port, path: "/socket/longpoll?vsn=2.0.0&user=ada")
        async let held = client.request("GET")
        try await Task.sleep(for: .milliseconds(100))
        try await broadcast(port: server.port, #"{"topic":"user_socket:ada","event":"disconnect","payload":{}}"#)
        let answer = try await held
        XCTAssertEqual(answer.body, #"{"status":410}"#)
        let samples = try await server.scrapeMetrics().samples
        XCTAssertEqual(samples[#"hellosockets_longpoll_sessions_ended_total{reason="disconnect"}"#], 1)
        try await server.stop()
    }

    /// Shutting down ends every session: a held poll is answered 410 rather than left hanging.
    func testShutdownAnswersHeldPolls() async throws {
        let server = try await Self.start { $0.longPollWindow = .seconds(5) }
        let client = try await LongPollTestClient.open(port: server.port, path: Self.ping)
        async let held = client.request("GET")
        try await Task.sleep(for: .milliseconds(100))
        let start = ContinuousClock.now
        try await server.stop()
        let answer = try await held
        XCTAssertEqual(answer.body, #"{"status":410}"#)
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(4), "not held until the window passed")
    }

    // MARK: Bounds

    /// Frames nobody polls are bounded like a WebSocket's outbound buffer: past it the session ends.
    func testUnpolledQueueIsBounded() async throws {
        let server = try await Self.start(
            webSocket: WebSocketConfiguration(closeTimeout: .milliseconds(250), maxPendingOutbound: 4096)
        ) { $0.longPollWindow = .seconds(5) }
        let client = try await LongPollTestClient.open(port: server.port, path: Self.ping)
        try await client.send(text: Self.joinPing)
        _ = try await client.receiveText()
        let big = String(repeating: "x", count: 1500)
        for seq in 0..<3 {
            try await broadcast(port: server.port, #"{"topic":"ping","event":"bulk","payload":{"seq":\#(seq),"data":"\#(big)"}}"#)
        }
        var samples = try await server.scrapeMetrics().samples
        for _ in 0..<50 where samples[#"hellosockets_longpoll_sessions_ended_total{reason="overflow"}"#] != 1 {
            try await Task.sleep(for: .milliseconds(20))
            samples = try await server.scrapeMetrics().samples
        }
        XCTAssertEqual(samples[#"hellosockets_longpoll_sessions_ended_total{reason="overflow"}"#], 1)
        XCTAssertEqual(samples["hellosockets_longpoll_sessions"], 0)
        XCTAssertEqual(samples[#"hellosockets_channels_joined{pattern="ping"}"#], 0)
        let old = client.token
        let (status, _) = try await client.poll()
        XCTAssertEqual(status, 410)
        XCTAssertNotEqual(client.token, old)
        try await server.stop()
    }

    /// A POST body over `--max-message-size` is refused with a clear error; the session goes on.
    func testPostBodyOverMaxMessageSizeIsRefused() async throws {
        let server = try await Self.start(webSocket: WebSocketConfiguration(maxMessageSize: 1024, closeTimeout: .milliseconds(250)))
        let client = try await LongPollTestClient.open(port: server.port, path: Self.ping)
        let huge = #"["1","1","ping","ping",{"data":""# + String(repeating: "x", count: 2000) + #""}]"#
        let answer = try await client.request("POST", headers: ["Content-Type: application/x-ndjson"], body: huge)
        XCTAssertEqual(answer.status, 200)
        XCTAssertEqual(answer.body, #"{"error":"the body is over 1024 bytes (--max-message-size)","status":413}"#)
        try await client.send(text: Self.joinPing)
        let reply = try await client.receiveText()
        XCTAssertEqual(reply, Self.pingJoined)
        try await server.stop()
    }

    /// A frame that isn't one gets an error naming its line; the frames before it were handled, the session
    /// and everyone else go on.
    func testMalformedFramesAreAnsweredWithTheErrorAndEndNothing() async throws {
        let server = try await Self.start()
        let bystander = try await LongPollTestClient.open(port: server.port, path: Self.ping)
        let client = try await LongPollTestClient.open(port: server.port, path: Self.ping)
        var answer = try await client.request(
            "POST", headers: ["Content-Type: application/x-ndjson"],
            body: [Self.joinPing, #"["1","2","ping",oops]"#, #"["1","3","ping","ping",{}]"#].joined(separator: "\n"))
        XCTAssertEqual(answer.body, #"{"error":"line 2: invalid JSON at byte 16: unexpected character 'o' (the frames before it were handled, those after it were not)","status":400}"#)
        var reply = try await client.receiveText()
        XCTAssertEqual(reply, Self.pingJoined)
        let silent = try await client.isSilent(for: .milliseconds(100))
        XCTAssertTrue(silent, "line 3 was not handled")

        answer = try await client.request("POST", headers: ["Content-Type: application/x-ndjson"], body: "%%% not base64")
        XCTAssertEqual(answer.body, #"{"error":"line 1: neither a JSON array (starting with [) nor base64 (a binary frame) (the frames before it were handled, those after it were not)","status":400}"#)
        answer = try await client.request("POST", headers: ["Content-Type: application/json"], body: #"{"topic":"ping"}"#)
        XCTAssertTrue(answer.body.hasPrefix(#"{"error":"line 1: "#), answer.body)

        // More than 100 lines: refused whole, nothing handled.
        let heartbeats = (1...101).map { #"[null,"h\#($0)","phoenix","heartbeat",{}]"# }
        answer = try await client.request("POST", headers: ["Content-Type: application/x-ndjson"], body: heartbeats.joined(separator: "\n"))
        XCTAssertEqual(answer.body, #"{"error":"101 lines: a POST carries at most 100 frames (no frame was handled)","status":400}"#)
        try await client.send(text: #"[null,"after","phoenix","heartbeat",{}]"#)
        reply = try await client.receiveText()
        XCTAssertEqual(reply, #"[null,"after","phoenix","phx_reply",{"response":{},"status":"ok"}]"#)

        // 100 lines are fine, and a final newline ends the last one.
        let status = try await client.send(Array(heartbeats.prefix(99)) + [heartbeats[99] + "\n"])
        XCTAssertEqual(status, 200)
        for index in 1...100 {
            let reply = try await client.receiveText()
            XCTAssertEqual(reply, #"[null,"h\#(index)","phoenix","phx_reply",{"response":{},"status":"ok"}]"#)
        }
        try await bystander.send(text: Self.joinPing)
        let bystanderReply = try await bystander.receiveText()
        XCTAssertEqual(bystanderReply, Self.pingJoined)
        try await server.stop()
    }

    /// Sessions count toward `--max-connections` with WebSockets: past it, 503 for either.
    func testSessionsCountTowardMaxConnections() async throws {
        let server = try await Self.start(maxConnections: 1)
        let client = try await LongPollTestClient.open(port: server.port, path: Self.ping)
        let refused = try await client.request("GET", uri: Self.ping)
        XCTAssertEqual(refused.status, 503)
        XCTAssertEqual(refused.body, "Too many connections; try again later.\n")
        do {
            _ = try await WebSocketTestClient.connect(port: server.port, path: "/socket/websocket?vsn=2.0.0")
            XCTFail("expected a refusal")
        } catch let refusal as WebSocketTestClient.HandshakeRefused {
            XCTAssertEqual(refusal.response.status, 503)
        }
        try await Task.sleep(for: .milliseconds(450 + 250))  // the session times out: its slot is free again
        let webSocket = try await WebSocketTestClient.connect(port: server.port, path: "/socket/websocket?vsn=2.0.0")
        await webSocket.close()
        try await server.stop()
    }

    /// check_origin applies to LongPoll: a foreign Origin gets `{"status":403}`.
    func testCheckOriginRefusesForeignOrigins() async throws {
        let server = try await Self.start { $0.checkOrigin = true }
        let client = try await LongPollTestClient.open(port: server.port, path: Self.ping)
        let foreign = try await client.request("GET", uri: Self.ping, headers: ["Origin: http://evil.example"])
        XCTAssertEqual(foreign.body, #"{"status":403}"#)
        XCTAssertEqual(foreign.header("access-control-allow-origin"), "*")
        let post = try await client.request("POST", headers: ["Origin: http://evil.example"], body: Self.joinPing)
        XCTAssertEqual(post.body, #"{"status":403}"#)
        let same = try await client.request("GET", uri: Self.ping, headers: ["Origin: http://127.0.0.1:\(server.port)"])
        XCTAssertEqual(try LongPollTestClient.json(same.body)["status"] as? Int, 410)
        try await server.stop()
    }

    /// A reload reaches the connections that come after it (they share the new configuration's services).
    func testReloadedOriginRuleAppliesToNewConnections() async throws {
        let server = try await Self.start()
        let client = try await LongPollTestClient.open(port: server.port, path: Self.ping)
        let before = try await client.request("GET", uri: Self.ping, headers: ["Origin: http://evil.example"])
        XCTAssertEqual(try LongPollTestClient.json(before.body)["status"] as? Int, 410, "loopback: no origin check")
        var configuration = server.server.configuration
        configuration.checkOrigin = true
        server.server.reload(configuration)
        let after = try await client.request("GET", uri: Self.ping, headers: ["Origin: http://evil.example"])
        XCTAssertEqual(after.body, #"{"status":403}"#)
        try await server.stop()
    }

    /// `--no-longpoll` (`longPoll = false`): no LongPoll route at all.
    func testLongPollCanBeTurnedOff() async throws {
        let server = try await Self.start { $0.longPoll = false }
        let client = try await RawClient.connect(port: server.port)
        try await client.send("GET /socket/longpoll?vsn=2.0.0 HTTP/1.1\r\nHost: x\r\n\r\n")
        let answer = try await client.receiveHTTPResponse()
        XCTAssertEqual(answer.status, 404)
        await client.close()
        try await server.stop()
    }

    // MARK: HTTP connections

    /// One keep-alive connection carries a session's requests in turn, a pipelined one included (answered
    /// in order, after the poll it queued behind).
    func testKeepAliveAndPipelinedRequests() async throws {
        let server = try await Self.start()
        let connection = try await RawClient.connect(port: server.port)
        try await connection.send("GET \(Self.ping) HTTP/1.1\r\nHost: x\r\n\r\n")
        let opened = try await connection.receiveHTTPResponse()
        let token = try XCTUnwrap(LongPollTestClient.json(opened.body)["token"] as? String)
        let uri = "\(Self.ping)&token=\(token)"
        // A poll (held: nothing queued), then a POST pipelined behind it on the same connection.
        let join = Self.joinPing
        try await connection.send(
            "GET \(uri) HTTP/1.1\r\nHost: x\r\n\r\n"
            + "POST \(uri) HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\nContent-Length: \(join.utf8.count)\r\n\r\n\(join)")
        let first = try await connection.receiveHTTPResponse()
        let second = try await connection.receiveHTTPResponse()
        XCTAssertEqual(first.body, #"{"messages":[],"status":204,"token":"\#(token)"}"#, "the poll, held for the window")
        XCTAssertEqual(second.body, #"{"status":200}"#)
        try await connection.send("GET \(uri) HTTP/1.1\r\nHost: x\r\n\r\n")
        let third = try await connection.receiveHTTPResponse()
        XCTAssertEqual(try LongPollTestClient.json(third.body)["messages"] as? [String], [Self.pingJoined])
        await connection.close()
        try await server.stop()
    }

    /// A client that goes away while its poll is held loses nothing: the frames wait for its next poll.
    func testFramesWaitForTheNextPollWhenTheClientLeftAHeldOne() async throws {
        let server = try await Self.start { $0.longPollWindow = .seconds(2) }
        let client = try await LongPollTestClient.open(port: server.port, path: Self.ping)
        let abandoned = try await RawClient.connect(port: server.port)
        try await abandoned.send("GET \(client.sessionURI) HTTP/1.1\r\nHost: x\r\n\r\n")
        try await Task.sleep(for: .milliseconds(100))
        await abandoned.close()
        try await Task.sleep(for: .milliseconds(100))
        try await client.send(text: Self.joinPing)
        let reply = try await client.receiveText()
        XCTAssertEqual(reply, Self.pingJoined)
        try await server.stop()
    }
}

extension LongPollTests {
    // MARK: Observer

    /// The feed shows a session's requests and answers, and the frames inside them shaped like a
    /// WebSocket's (so the page labels them alike); tokens are redacted.
    func testObserverFeedShowsRequestsAnswersAndFrames() async throws {
        let server = try await Self.start()
        let feed = try await WebSocketTestClient.connect(port: server.port, path: "/observe")
        _ = try await feed.receiveText()  // hello
        let client = try await LongPollTestClient.open(port: server.port, path: Self.ping)
        try await client.send(text: Self.joinPing)
        let reply = try await client.receiveText()
        var events: [[String: Any]] = []
        while events.count < 5 { events.append(try LongPollTestClient.json(try await feed.receiveText())) }

        let (open, post, frameIn, get, frameOut) = (events[0], events[1], events[2], events[3], events[4])
        for event in events {
            XCTAssertEqual(event["transport"] as? String, "longpoll", "\(event)")
            XCTAssertEqual(event["conn"] as? String, open["conn"] as? String)
        }
        XCTAssertEqual(open["type"] as? String, "open")
        XCTAssertTrue((open["conn"] as? String)?.hasPrefix("lp") == true)
        XCTAssertEqual((open["request"] as? [String: Any])?["line"] as? String, "GET /socket/longpoll?vsn=2.0.0 HTTP/1.1")
        let openResponse = try XCTUnwrap(open["response"] as? [String: Any])
        XCTAssertEqual(openResponse["line"] as? String, "HTTP/1.1 200 OK")
        XCTAssertEqual(openResponse["body"] as? String, #"{"messages":[],"status":410,"token":"[redacted]"}"#)

        XCTAssertEqual(post["type"] as? String, "http")
        XCTAssertEqual((post["request"] as? [String: Any])?["line"] as? String,
                       "POST /socket/longpoll?vsn=2.0.0&token=[redacted] HTTP/1.1")
        XCTAssertEqual(post["status"] as? Int, 200)
        XCTAssertEqual(post["frames"] as? Int, 1)
        XCTAssertEqual(frameIn["type"] as? String, "frame")
        XCTAssertEqual(frameIn["dir"] as? String, "in")
        XCTAssertEqual(frameIn["opcode"] as? String, "text")
        XCTAssertEqual(frameIn["fin"] as? Bool, true)
        XCTAssertEqual(frameIn["payload"] as? String, Self.joinPing)

        XCTAssertEqual(get["type"] as? String, "http")
        XCTAssertEqual(get["status"] as? Int, 200)
        XCTAssertEqual(get["frames"] as? Int, 1)
        XCTAssertEqual(frameOut["dir"] as? String, "out")
        XCTAssertEqual(frameOut["payload"] as? String, reply)
        let getBody = try XCTUnwrap((get["response"] as? [String: Any])?["body"] as? String)
        XCTAssertFalse(getBody.contains(try XCTUnwrap(client.token)), "the token is redacted in bodies")
        await feed.close()
        try await server.stop()
    }

    /// `--trace` prints each request and its answer, then the frames inside, wscat-style.
    func testTracePrintsRequestsAndFrames() async throws {
        let process = try await ServerProcess.start(arguments: ["--channels", TestServer.channelsDirectory, "--trace"], test: self)
        let client = try await LongPollTestClient.open(port: process.port, path: Self.ping)
        try await client.send(text: Self.joinPing)
        _ = try await client.receiveText()
        let deadline = ContinuousClock.now + .seconds(5)
        while !process.log.contains("< \(Self.pingJoined)") && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        let lines = process.log.split(separator: "\n").map(String.init).filter { $0.hasPrefix("lp") }
        let expected = [
            #"^lp1 GET /socket/longpoll\?vsn=2\.0\.0 HTTP/1\.1 → 410, new session \(c\d+\)$"#,
            #"^lp1 POST /socket/longpoll\?vsn=2\.0\.0&token=\[redacted\] HTTP/1\.1 → 200 \(c\d+\)$"#,
            #"^lp1 > \["1","1","ping","phx_join",\{\}\]$"#,
            #"^lp1 GET /socket/longpoll\?vsn=2\.0\.0&token=\[redacted\] HTTP/1\.1 → 200, 1 frame \(c\d+, held \d+ ms\)$"#,
            #"^lp1 < \["1","1","ping","phx_reply",\{"response":\{\},"status":"ok"\}\]$"#,
        ]
        XCTAssertEqual(lines.count, expected.count, process.log)
        for (line, pattern) in zip(lines, expected) {
            XCTAssertNotNil(line.range(of: pattern, options: .regularExpression), "\(line) !~ \(pattern)")
        }
        // A request no session answers is traced under its HTTP connection.
        _ = try await client.request("POST", uri: Self.ping + "&token=0.none", body: Self.joinPing)
        let pattern = #"c\d+ POST /socket/longpoll\?vsn=2\.0\.0&token=\[redacted\] HTTP/1\.1 → 410, no session"#
        let deadline2 = ContinuousClock.now + .seconds(5)
        while process.log.range(of: pattern, options: .regularExpression) == nil && ContinuousClock.now < deadline2 {
            try await Task.sleep(for: .milliseconds(20))
        }
        XCTAssertNotNil(process.log.range(of: pattern, options: .regularExpression), process.log)
        process.signal(SIGTERM)
        _ = try await process.waitForExit()
    }

    /// phoenix.js's own LongPoll, as 1.8.12 and 1.4.6 put it on the wire: `Fixtures/phoenixjs/longpoll_wire.py` ports
    /// their transport (URLs, headers, bodies, how each answer is read) from Phoenix's source, since phoenix.js
    /// itself cannot be installed here. Joins, pushes (batched in 1.8), a broadcast, held polls, the 1.8 client's
    /// "session gone" (3410) and reconnect, and a leave.
    func testPhoenixJS1812LongPollOnTheWire() async throws { try await runWireScript(version: "1.8.12") }
    func testPhoenixJS146LongPollOnTheWire() async throws { try await runWireScript(version: "1.4.6") }

    private func runWireScript(version: String) async throws {
        let server = try await Self.start()
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/phoenixjs/longpoll_wire.py")
        let result = try await PythonClientExamplesTests.run(
            ["python3", script.path, "--port", "\(server.port)", "--version", version, "--window-ms", "300"], timeout: .seconds(60))
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.output.contains("phoenix.js \(version) LongPoll: all checks passed"), result.output)
        // The requests as each version builds them: the book's `token=undefined` param, vsn, then the session
        // token (none yet: a bare "&"); 1.8 batches a task's pushes as ndjson, 1.4 posts each as JSON.
        let requests = version == "1.8.12" ? [
            #"> GET /socket/longpoll?token=undefined&vsn=2.0.0& {"Accept": "application/json"}"#,
            #"{"Content-Type": "application/x-ndjson"} '["1","1","ping","phx_join",{}]\n["1","2","ping","ping",{"ack_phrase":"hi"}]'"#,
        ] : [
            #"> GET /socket/longpoll?token=undefined&vsn=2.0.0& {"Content-Type": "application/json"}"#,
            #"{"Content-Type": "application/json"} '["1","1","ping","phx_join",{}]'"#,
        ]
        for request in requests { XCTAssertTrue(result.output.contains(request), "missing \(request) in:\n\(result.output)") }
        XCTAssertTrue(result.output.contains("> POST /socket/longpoll?token=undefined&vsn=2.0.0&token="), result.output)
        try await server.stop()
    }

    /// `hello-sockets --no-longpoll` serves no LongPoll route.
    func testNoLongPollFlag() async throws {
        let process = try await ServerProcess.start(arguments: ["--channels", TestServer.channelsDirectory, "--no-longpoll"], test: self)
        let client = try await RawClient.connect(port: process.port)
        try await client.send("GET /socket/longpoll?vsn=2.0.0 HTTP/1.1\r\nHost: x\r\n\r\n")
        let answer = try await client.receiveHTTPResponse()
        XCTAssertEqual(answer.status, 404)
        await client.close()
        process.signal(SIGTERM)
        _ = try await process.waitForExit()
    }
}

extension Array where Element == String {
    fileprivate var pair: (String, String) { (self.first ?? "", self.count > 1 ? self[1] : "") }
}
