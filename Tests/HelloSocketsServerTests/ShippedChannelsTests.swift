import HelloSocketsServer
import TestSupport
import XCTest

/// The channels that ship in `channels/`, over a real socket, beyond the seed transcripts.
final class ShippedChannelsTests: XCTestCase {
    var server: TestServer!

    override func setUp() async throws { server = try await TestServer.start() }
    override func tearDown() async throws { try await server.stop() }

    private func client(_ path: String = "/socket") async throws -> WebSocketTestClient {
        try await WebSocketTestClient.connect(port: server.port, path: "\(path)/websocket?vsn=2.0.0")
    }

    private func broadcast(_ topic: String, _ event: String, _ payload: String) async throws {
        let body = try PhoenixJSON.broadcastBody(topic: topic, event: event, payload: payload)
        let status = try await BroadcastClient.post(host: "127.0.0.1", port: server.port, body: body).status
        XCTAssertEqual(status, 200)
    }

    func testRequestPingIsInterceptedAndPushedAsSendPing() async throws {
        let client = try await client()
        try await client.send(text: #"["1","1","ping","phx_join",{}]"#)
        _ = try await client.receiveText()
        try await broadcast("ping", "request_ping", "{}")
        let push = try await client.receiveText()
        XCTAssertEqual(push, #"["1",null,"ping","send_ping",{"from_node":"hello_sockets@127.0.0.1"}]"#)
    }

    func testPingSubtopicsAreServedByThePingChannel() async throws {
        let client = try await client()
        try await client.send(text: #"["1","1","ping:lobby","phx_join",{}]"#)
        let reply = try await client.receiveText()
        XCTAssertEqual(reply, #"["1","1","ping:lobby","phx_reply",{"response":{},"status":"ok"}]"#)
    }

    func testDedupeSendsUniqueNumbersOnceASecond() async throws {
        let client = try await client()
        try await client.send(text: #"["1","1","dupe","phx_join",{}]"#)
        _ = try await client.receiveText()
        for number in [1, 2, 1, 3, 2] { try await broadcast("dupe", "number", #"{"number":\#(number)}"#) }
        let silent = try await client.isSilent(for: .milliseconds(500))
        XCTAssertTrue(silent, "numbers are buffered for a second")
        for number in [1, 2, 3] {
            let push = try await client.receiveText()
            XCTAssertEqual(push, #"["1",null,"dupe","number",{"value":\#(number)}]"#)
        }
    }

    func testStatsSocketJoinsAndAsyncPing() async throws {
        let client = try await client("/stats_socket")
        try await client.send(text: #"["1","1","invalid","phx_join",{}]"#)
        let invalid = try await client.receiveText()
        XCTAssertEqual(invalid, #"["1","1","invalid","phx_reply",{"response":{"reason":"always fails"},"status":"error"}]"#)
        try await client.send(text: #"["2","2","other","phx_join",{}]"#)
        let crashed = try await client.receiveText()
        XCTAssertEqual(crashed, #"["2","2","other","phx_reply",{"response":{"reason":"join crashed"},"status":"error"}]"#)
        try await client.send(text: #"["3","3","valid","phx_join",{}]"#)
        _ = try await client.receiveText()
        try await client.send(text: #"["3","4","valid","ping",{}]"#)
        let pong = try await client.receiveText()
        XCTAssertEqual(pong, #"["3","4","valid","phx_reply",{"response":{"ping":"pong"},"status":"ok"}]"#)
    }

    func testStatsParallelSlowPingsAnswerTogether() async throws {
        let client = try await client("/stats_socket")
        try await client.send(text: #"["1","1","valid","phx_join",{}]"#)
        _ = try await client.receiveText()
        let start = ContinuousClock.now
        try await client.send(text: #"["1","2","valid","parallel_slow_ping",{}]"#)
        try await client.send(text: #"["1","3","valid","parallel_slow_ping",{}]"#)
        let first = try await client.receiveText(timeout: .seconds(10))
        let second = try await client.receiveText(timeout: .seconds(10))
        XCTAssertEqual([first, second].sorted(), [
            #"["1","2","valid","phx_reply",{"response":{"ping":"pong"},"status":"ok"}]"#,
            #"["1","3","valid","phx_reply",{"response":{"ping":"pong"},"status":"ok"}]"#,
        ])
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(5), "parallel pings do not queue")
    }
}
