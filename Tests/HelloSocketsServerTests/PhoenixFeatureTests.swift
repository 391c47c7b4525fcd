import HelloSocketsServer
import TestSupport
import XCTest

/// Phoenix behaviour beyond the transcripts, against the test channels in `Fixtures/channels`.
final class PhoenixFeatureTests: XCTestCase {
    var server: TestServer!

    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/channels").path

    override func setUp() async throws { server = try await TestServer.start(channels: Self.fixtures) }
    override func tearDown() async throws { try await server.stop() }

    /// A V2 client that has joined `topic` (join_ref and ref "1").
    private func joined(
        _ topic: String,
        query: String = "vsn=2.0.0",
        payload: String = "{}",
        path: String = "/socket"
    ) async throws -> WebSocketTestClient {
        let client = try await WebSocketTestClient.connect(port: server.port, path: "\(path)/websocket?\(query)")
        try await client.send(text: #"["1","1","\#(topic)","phx_join",\#(payload)]"#)
        let reply = try await client.receiveText()
        XCTAssertTrue(reply.hasPrefix(#"["1","1","\#(topic)","phx_reply""#), reply)
        XCTAssertTrue(reply.hasSuffix(#""status":"ok"}]"#), reply)
        return client
    }

    private func broadcast(_ topic: String, _ event: String, _ payload: String) async throws -> Int {
        let body = try PhoenixJSON.broadcastBody(topic: topic, event: event, payload: payload)
        return try await BroadcastClient.post(host: "127.0.0.1", port: server.port, body: body).status
    }

    func testBroadcastReachesEverySubscriberIncludingTheSender() async throws {
        let alice = try await joined("lab:1", payload: #"{"name":"alice"}"#)
        let bob = try await joined("lab:1", payload: #"{"name":"bob"}"#)
        try await alice.send(text: #"["1","2","lab:1","shout",{"text":"hi"}]"#)
        for client in [alice, bob] {
            let received = try await client.receiveText()
            XCTAssertEqual(received, #"[null,null,"lab:1","shout",{"text":"hi"}]"#)
        }
    }

    func testBroadcastFromSkipsTheSender() async throws {
        let alice = try await joined("lab:1")
        let bob = try await joined("lab:1")
        try await alice.send(text: #"["1","2","lab:1","whisper",{"text":"psst"}]"#)
        let received = try await bob.receiveText()
        XCTAssertEqual(received, #"[null,null,"lab:1","whisper",{"text":"psst"}]"#)
        let silent = try await alice.isSilent(for: .milliseconds(200))
        XCTAssertTrue(silent)
    }

    func testInterceptedBroadcastGoesThroughHandleOutPerSubscriber() async throws {
        let alice = try await joined("lab:2", payload: #"{"name":"alice"}"#)
        let bob = try await joined("lab:2", payload: #"{"name":"bob"}"#)
        try await alice.send(text: #"["1","2","lab:2","stamp",{"v":1}]"#)
        let toAlice = try await alice.receiveText()
        let toBob = try await bob.receiveText()
        XCTAssertEqual(toAlice, #"["1",null,"lab:2","stamped",{"seen_by":"alice","v":1}]"#)
        XCTAssertEqual(toBob, #"["1",null,"lab:2","stamped",{"seen_by":"bob","v":1}]"#)
    }

    func testBroadcastAPIAndV1Subscribers() async throws {
        let v2 = try await joined("lab:3")
        let v1 = try await WebSocketTestClient.connect(port: server.port, path: "/socket/websocket?vsn=1.0.0")
        try await v1.send(text: #"{"topic":"lab:3","event":"phx_join","payload":{},"ref":"1"}"#)
        _ = try await v1.receiveText()
        let status = try await broadcast("lab:3", "news", #"{"headline":"κόσμε"}"#)
        XCTAssertEqual(status, 200)
        let viaV2 = try await v2.receiveText()
        let viaV1 = try await v1.receiveText()
        XCTAssertEqual(viaV2, #"[null,null,"lab:3","news",{"headline":"κόσμε"}]"#)
        XCTAssertEqual(viaV1, #"{"event":"news","payload":{"headline":"κόσμε"},"ref":null,"topic":"lab:3"}"#)
    }

    func testBroadcastAPIRejectsBadRequests() async throws {
        for body in [#"{"topic":"x"}"#, "not json", #"{"topic":"x","event":"e","payload":[1]}"#] {
            let status = try await BroadcastClient.post(host: "127.0.0.1", port: server.port, body: body).status
            XCTAssertEqual(status, 400, body)
        }
    }

    func testTimersRunHandleInfo() async throws {
        let client = try await joined("lab:4", payload: #"{"name":"timer"}"#)
        try await client.send(text: #"["1","2","lab:4","tick",{}]"#)
        let tock = try await client.receiveText()
        XCTAssertEqual(tock, #"["1",null,"lab:4","tock",{"name":"timer"}]"#)
        try await client.send(text: #"["1","3","lab:4","cancel",{}]"#)
        let reply = try await client.receiveText()
        XCTAssertEqual(reply, #"["1","3","lab:4","phx_reply",{"response":{},"status":"ok"}]"#)
        let silent = try await client.isSilent(for: .milliseconds(150))
        XCTAssertTrue(silent, "a cancelled timer must not fire")
    }

    func testAsyncReplyThroughSocketRef() async throws {
        let client = try await joined("lab:5")
        try await client.send(text: #"["1","7","lab:5","later",{}]"#)
        let reply = try await client.receiveText()
        XCTAssertEqual(reply, #"["1","7","lab:5","phx_reply",{"response":{"late":true},"status":"ok"}]"#)
    }

    func testAssignsPersistForTheChannelsLife() async throws {
        let client = try await joined("lab:6")
        for n in 1...3 {
            try await client.send(text: #"["1","\#(n + 1)","lab:6","count",{}]"#)
            let reply = try await client.receiveText()
            XCTAssertEqual(reply, #"["1","\#(n + 1)","lab:6","phx_reply",{"response":{"n":\#(n)},"status":"ok"}]"#)
        }
    }

    func testJoinCrashAndRefusal() async throws {
        let client = try await WebSocketTestClient.connect(port: server.port, path: "/socket/websocket?vsn=2.0.0")
        try await client.send(text: #"["1","1","lab:7","phx_join",{"crash":true}]"#)
        let crashed = try await client.receiveText()
        XCTAssertEqual(crashed, #"["1","1","lab:7","phx_reply",{"response":{"reason":"join crashed"},"status":"error"}]"#)
        try await client.send(text: #"["2","2","lab:7","phx_join",{"refuse":true}]"#)
        let refused = try await client.receiveText()
        XCTAssertEqual(refused, #"["2","2","lab:7","phx_reply",{"response":{"reason":"refused"},"status":"error"}]"#)
    }

    func testRunawayScriptsCrashOnlyTheirChannel() async throws {
        let victim = try await joined("lab:8")
        let bystander = try await joined("lab:9")
        for (ref, event) in [("2", "spin"), ("3", "spin_protected"), ("4", "bad_shape"), ("5", "hog")] {
            if ref != "2" {  // rejoin after the previous crash
                try await victim.send(text: #"["1","1","lab:8","phx_join",{}]"#)
                _ = try await victim.receiveText()
            }
            try await victim.send(text: #"["1","\#(ref)","lab:8","\#(event)",{}]"#)
            let error = try await victim.receiveText(timeout: .seconds(20))
            XCTAssertEqual(error, #"["1","1","lab:8","phx_error",{}]"#, event)
        }
        try await bystander.send(text: #"["1","2","lab:9","count",{}]"#)
        let reply = try await bystander.receiveText()
        XCTAssertEqual(reply, #"["1","2","lab:9","phx_reply",{"response":{"n":1},"status":"ok"}]"#)
    }

    func testAnErrorInTerminateStillLeavesCleanly() async throws {
        let client = try await joined("lab:14", payload: #"{"name":"grumpy"}"#)
        try await client.send(text: #"["1","2","lab:14","phx_leave",{}]"#)
        let reply = try await client.receiveText()
        let close = try await client.receiveText()
        XCTAssertEqual(reply, #"["1","2","lab:14","phx_reply",{"response":{},"status":"ok"}]"#)
        XCTAssertEqual(close, #"["1","1","lab:14","phx_close",{}]"#)
        try await client.send(text: #"["1","3","lab:14","phx_join",{}]"#)
        let rejoined = try await client.receiveText()
        XCTAssertTrue(rejoined.hasSuffix(#""status":"ok"}]"#), rejoined)
    }

    func testStopWithAnAbnormalReasonIsAnError() async throws {
        let client = try await joined("lab:10")
        try await client.send(text: #"["1","2","lab:10","stop_badly",{}]"#)
        let error = try await client.receiveText()
        XCTAssertEqual(error, #"["1","1","lab:10","phx_error",{}]"#)
    }

    func testBinaryPayloadsTravelAsV2BinaryFrames() async throws {
        let client = try await joined("lab:11")
        // Kind 0 (push): join_ref "1", ref "2", topic, event "bytes", then raw data.
        let topic = Array("lab:11".utf8), event = Array("bytes".utf8)
        let frame: [UInt8] = [0, 1, 1, UInt8(topic.count), UInt8(event.count)] + Array("12".utf8) + topic + event + [0, 1, 2, 255]
        try await client.send(frame: FrameBytes.client(opcode: 2, frame))
        let pushed = try await client.receiveFrame()
        XCTAssertEqual(pushed.opcode, 2)
        // Kind 0 (push) back: join_ref "1", topic, event, data.
        XCTAssertEqual(pushed.payload, [0, 1, UInt8(topic.count), UInt8(event.count)] + Array("1".utf8) + topic + event + [0, 1, 2, 255])
    }

    func testUnsupportedSerializerVersionIs403() async throws {
        do {
            _ = try await WebSocketTestClient.connect(port: server.port, path: "/socket/websocket?vsn=3.0.0")
            XCTFail("expected a refusal")
        } catch let refused as WebSocketTestClient.HandshakeRefused {
            XCTAssertEqual(refused.response.status, 403)
        }
    }

    func testSocketConnectRefusalIs403() async throws {
        do {
            _ = try await WebSocketTestClient.connect(port: server.port, path: "/socket/websocket?vsn=2.0.0&token=nope")
            XCTFail("expected a refusal")
        } catch let refused as WebSocketTestClient.HandshakeRefused {
            XCTAssertEqual(refused.response.status, 403)
            XCTAssertTrue(refused.response.body.contains("bad token"), refused.response.body)
        }
    }

    func testConnectAssignsReachChannels() async throws {
        let client = try await WebSocketTestClient.connect(port: server.port, path: "/socket/websocket?vsn=2.0.0&user=ada")
        try await client.send(text: #"["1","1","lab:12","phx_join",{}]"#)
        let reply = try await client.receiveText()
        XCTAssertEqual(reply, #"["1","1","lab:12","phx_reply",{"response":{"user":"ada"},"status":"ok"}]"#)
    }

    func testDisconnectBroadcastClosesEverySocketOfThatUser() async throws {
        let first = try await joined("lab:13", query: "vsn=2.0.0&user=grace")
        let second = try await joined("lab:13", query: "vsn=2.0.0&user=grace")
        let other = try await joined("lab:13", query: "vsn=2.0.0&user=linus")
        let status = try await broadcast("user_socket:grace", "disconnect", "{}")
        XCTAssertEqual(status, 200)
        for client in [first, second] {
            let code = try await client.receiveClose()
            XCTAssertEqual(code, 1000)
        }
        try await other.send(text: #"["1","2","lab:13","count",{}]"#)
        let reply = try await other.receiveText()
        XCTAssertTrue(reply.contains(#""n":1"#), reply)
    }

    func testEachSocketMountHasItsOwnConnectRuleAndChannels() async throws {
        do {
            _ = try await WebSocketTestClient.connect(port: server.port, path: "/vault/websocket?vsn=2.0.0")
            XCTFail("expected a refusal without the token")
        } catch let refused as WebSocketTestClient.HandshakeRefused {
            XCTAssertEqual(refused.response.status, 403)
        }
        let vault = try await WebSocketTestClient.connect(port: server.port, path: "/vault/websocket?vsn=2.0.0&token=open-sesame")
        try await vault.send(text: #"["1","1","gold","phx_join",{}]"#)
        let gold = try await vault.receiveText()
        XCTAssertEqual(gold, #"["1","1","gold","phx_reply",{"response":{"bars":3},"status":"ok"}]"#)
        try await vault.send(text: #"["2","2","lab:1","phx_join",{}]"#)
        let unmatched = try await vault.receiveText()
        XCTAssertEqual(unmatched, #"[null,"2","lab:1","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]"#)
        let main = try await WebSocketTestClient.connect(port: server.port, path: "/socket/websocket?vsn=2.0.0")
        try await main.send(text: #"["1","1","gold","phx_join",{}]"#)
        let notHere = try await main.receiveText()
        XCTAssertTrue(notHere.contains("unmatched topic"), notHere)
    }
}
