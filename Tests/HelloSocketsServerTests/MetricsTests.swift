@testable import HelloSocketsServer
import NIOCore
import NIOHTTP1
import TestSupport
import XCTest

/// `GET /metrics`: Prometheus text whose counters move with the traffic.
final class MetricsTests: XCTestCase {
    var server: TestServer!

    override func setUp() async throws { server = try await TestServer.start() }
    override func tearDown() async throws { try await server.stop() }

    private func scrape() async throws -> [String: Double] {
        let (response, samples) = try await server.scrapeMetrics()
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8")
        return samples
    }

    func testCountersMoveWithTraffic() async throws {
        let before = try await scrape()
        XCTAssertEqual(before["hellosockets_messages_in_total"], 0)
        XCTAssertEqual(before["hellosockets_lua_callback_seconds_count"], 0)

        let client = try await WebSocketTestClient.connect(port: server.port, path: "/socket/websocket?vsn=2.0.0")
        try await client.send(text: #"["1","1","ping","phx_join",{}]"#)
        _ = try await client.receiveText()
        for n in 2...6 {
            try await client.send(text: #"["1","\#(n)","ping","ping",{}]"#)
            _ = try await client.receiveText()
        }
        try await client.send(text: #"["1","7","nowhere","phx_join",{}]"#)  // unmatched: an error reply
        _ = try await client.receiveText()
        let body = try PhoenixJSON.broadcastBody(topic: "ping", event: "news", payload: #"{"n":1}"#)
        let status = try await BroadcastClient.post(host: "127.0.0.1", port: server.port, body: body).status
        XCTAssertEqual(status, 200)
        _ = try await client.receiveText()

        let during = try await scrape()
        XCTAssertEqual(during["hellosockets_websocket_connections"], 1)
        XCTAssertEqual(during["hellosockets_channels_joined{pattern=\"ping\"}"], 1)
        XCTAssertEqual(during["hellosockets_messages_in_total"], 7)
        XCTAssertEqual(during["hellosockets_messages_out_total"], 8)  // 7 replies + 1 broadcast
        XCTAssertGreaterThan(during["hellosockets_bytes_in_total"] ?? 0, 7 * 25)
        XCTAssertGreaterThan(during["hellosockets_bytes_out_total"] ?? 0, 8 * 25)
        XCTAssertEqual(during["hellosockets_replies_total{status=\"ok\"}"], 6)
        XCTAssertEqual(during["hellosockets_replies_total{status=\"error\"}"], 1)
        XCTAssertEqual(during["hellosockets_lua_callback_seconds_count"], 6)  // 1 join + 5 handle_in
        XCTAssertEqual(during["hellosockets_lua_callback_seconds_bucket{le=\"+Inf\"}"], 6)
        XCTAssertEqual(during["hellosockets_broadcast_deliveries_total"], 1)
        XCTAssertGreaterThanOrEqual(during["hellosockets_broadcast_fanout_seconds_count"] ?? 0, 1)
        XCTAssertNotNil(during["hellosockets_outbound_queued_bytes"])
        XCTAssertEqual(during["hellosockets_outbound_queue_peak_bytes"], 0)  // every client reads

        try await client.send(frame: FrameBytes.close(code: 1000))
        _ = try await client.receiveClose()
        await client.close()
        var after = try await scrape()
        for _ in 0..<50 where after["hellosockets_websocket_closes_total{code=\"1000\"}"] == nil {
            try await Task.sleep(for: .milliseconds(20))
            after = try await scrape()
        }
        XCTAssertEqual(after["hellosockets_websocket_closes_total{code=\"1000\"}"], 1)
        XCTAssertEqual(after["hellosockets_channels_joined{pattern=\"ping\"}"], 0)
    }

    func testMetricsRefuseOtherMethods() async throws {
        let client = try await RawClient.connect(port: server.port)
        try await client.send("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        let response = try await client.receiveHTTPResponse()
        XCTAssertEqual(response.status, 405)
        await client.close()
    }

    func testNonLoopbackNeedsTheToken() {
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/metrics")
        let remote = try! SocketAddress(ipAddress: "10.1.2.3", port: 5555)
        XCTAssertFalse(APIAuthorization.allows(head, peer: remote, token: nil))
        XCTAssertFalse(APIAuthorization.allows(head, peer: remote, token: "s3cret"))
        var withToken = head
        withToken.headers.add(name: "Authorization", value: "Bearer s3cret")
        XCTAssertTrue(APIAuthorization.allows(withToken, peer: remote, token: "s3cret"))
        XCTAssertTrue(APIAuthorization.allows(head, peer: try! SocketAddress(ipAddress: "127.0.0.1", port: 1), token: nil))
    }
}
