import TestSupport
import XCTest

/// The HTTP side and the WebSocket upgrade, over a real loopback socket.
final class HTTPServerTests: XCTestCase {
    var server: TestServer!

    override func setUp() async throws { server = try await TestServer.start() }
    override func tearDown() async throws { try await server.stop() }

    private func get(_ request: String) async throws -> (HTTPResponse, RawClient) {
        let client = try await RawClient.connect(port: server.port)
        try await client.send(request)
        return (try await client.receiveHTTPResponse(), client)
    }

    func testStartPageIsServedWithKeepAlive() async throws {
        let (first, client) = try await get("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(first.status, 200)
        XCTAssertEqual(first.header("Content-Type"), "text/html; charset=utf-8")
        XCTAssertTrue(first.body.contains(#"<script src="/js/observer.js"></script>"#), first.body)
        // Keep-alive: a second request on the same connection.
        try await client.send("GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n")
        let second = try await client.receiveHTTPResponse()
        XCTAssertEqual(second.status, 404)
        XCTAssertTrue(second.body.contains("/nowhere"))
        await client.close()
    }

    func testPlainGetOfAWebSocketRouteIs400() async throws {
        for path in ["/echo", "/socket/websocket"] {
            let (response, client) = try await get("GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n")
            XCTAssertEqual(response.status, 400, path)
            XCTAssertTrue(response.body.contains("WebSocket upgrade is expected"), response.body)
            await client.close()
        }
    }

    func testUnsupportedVersionIs426() async throws {
        let request = WebSocketTestClient.upgradeRequest(path: "/echo").replacingOccurrences(
            of: "Sec-WebSocket-Version: 13", with: "Sec-WebSocket-Version: 8")
        let (response, client) = try await get(request)
        XCTAssertEqual(response.status, 426)
        XCTAssertEqual(response.header("Sec-WebSocket-Version"), "13")
        await client.close()
    }

    func testMissingKeyIs400() async throws {
        let request = WebSocketTestClient.upgradeRequest(path: "/echo").replacingOccurrences(
            of: "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", with: "")
        let (response, client) = try await get(request)
        XCTAssertEqual(response.status, 400)
        await client.close()
    }

    func testUpgradeAnswers101WithTheAcceptDigest() async throws {
        let client = try await WebSocketTestClient.connect(port: server.port, path: "/echo")
        XCTAssertEqual(client.handshake.statusLine, "HTTP/1.1 101 Switching Protocols")
        XCTAssertEqual(client.handshake.header("Sec-WebSocket-Accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        await client.close()
    }

    func testEchoReturnsEveryMessageUnchanged() async throws {
        let client = try await WebSocketTestClient.connect(port: server.port, path: "/echo")
        try await client.send(text: "hello, κόσμε")
        let got1 = try await client.receiveText()
        XCTAssertEqual(got1, "hello, κόσμε")
        try await client.send(frame: FrameBytes.client(opcode: 2, [0, 255, 1]))
        let got2 = try await client.receiveFrame().payload
        XCTAssertEqual(got2, [0, 255, 1])
        try await client.send(frame: FrameBytes.close(code: 1000))
        let got3 = try await client.receiveClose()
        XCTAssertEqual(got3, 1000)
        let ok4 = try await client.raw.waitForClose()
        XCTAssertTrue(ok4)
    }

    func testFramesSentWithTheHandshakeAreNotLost() async throws {
        // A client may pipeline its first frame right behind the upgrade request (same TCP segment).
        let raw = try await RawClient.connect(port: server.port)
        try await raw.send(Array(WebSocketTestClient.upgradeRequest(path: "/echo").utf8) + FrameBytes.text("eager"))
        let got5 = try await raw.receiveHTTPResponse().status
        XCTAssertEqual(got5, 101)
        let got6 = try await raw.receiveFrame().text
        XCTAssertEqual(got6, "eager")
        await raw.close()
    }

    func testBadFrameClosesOnlyThatConnection() async throws {
        let bad = try await WebSocketTestClient.connect(port: server.port, path: "/echo")
        let good = try await WebSocketTestClient.connect(port: server.port, path: "/echo")
        try await bad.send(frame: FrameBytes.client(opcode: 1, [0xC0, 0x80]))
        let got7 = try await bad.receiveClose()
        XCTAssertEqual(got7, 1007)
        let ok8 = try await bad.raw.waitForClose()
        XCTAssertTrue(ok8)
        try await good.send(text: "still fine")
        let got9 = try await good.receiveText()
        XCTAssertEqual(got9, "still fine")
        await good.close()
    }
}
