import CompressNIO
import NIOCore
import TestSupport
import WebSocketTransport
import XCTest

/// Hostile and broken input, row by row over real sockets. Every row checks the answer the bad
/// client gets and that a well-behaved bystander on the same server is unaffected.
final class BadInputMatrixTests: XCTestCase {
    var server: TestServer!
    var bystander: WebSocketTestClient!
    var bystanderRef = 1

    override func setUp() async throws {
        let config = WebSocketConfiguration(maxMessageSize: 64 * 1024, closeTimeout: .milliseconds(250))
        // Joins unlimited: testTooManyJoinsOnOneSocket joins 101 channels in one burst to reach --max-channels,
        // past the default --join-rate burst of 20 (AbuseLimitsTests covers the join rate).
        server = try await TestServer.start(channels: PhoenixFeatureTests.fixtures, webSocket: config, maxChannels: 100) {
            $0.socketLimits.joinRate = 0
        }
        bystander = try await WebSocketTestClient.connect(port: server.port, path: "/socket/websocket?vsn=2.0.0")
        try await bystander.send(text: #"["1","1","lab:calm","phx_join",{}]"#)
        _ = try await bystander.receiveText()
    }

    override func tearDown() async throws { try await server.stop() }

    /// The bystander still gets its replies.
    private func assertBystanderServed(file: StaticString = #filePath, line: UInt = #line) async throws {
        bystanderRef += 1
        try await bystander.send(text: #"["1","\#(bystanderRef)","lab:calm","count",{}]"#)
        let reply = try await bystander.receiveText()
        XCTAssertTrue(reply.hasPrefix(#"["1","\#(bystanderRef)","lab:calm","phx_reply""#), reply, file: file, line: line)
    }

    private func phoenixClient() async throws -> WebSocketTestClient {
        try await WebSocketTestClient.connect(port: server.port, path: "/socket/websocket?vsn=2.0.0")
    }

    private func assertHTTP(_ request: [UInt8], status: Int, file: StaticString = #filePath, line: UInt = #line) async throws {
        let client = try await RawClient.connect(port: server.port)
        try await client.send(request)
        let response = try await client.receiveHTTPResponse()
        XCTAssertEqual(response.status, status, response.body, file: file, line: line)
        await client.close()
        try await assertBystanderServed(file: file, line: line)
    }

    private func assertClose(_ frames: [[UInt8]], code: UInt16, file: StaticString = #filePath, line: UInt = #line) async throws {
        let client = try await phoenixClient()
        for frame in frames {
            // The server may answer a bomb before the client has finished sending it, and close TCP:
            // the rest of the frames then fail to send, which is that answer, not a test failure.
            do { try await client.send(frame: frame) } catch { break }
        }
        var received: UInt16?
        while received == nil {
            let frame = try await client.receiveFrame()
            if frame.opcode == 8 { received = frame.closeCode }
        }
        XCTAssertEqual(received, code, file: file, line: line)
        let closed = try await client.raw.waitForClose()
        XCTAssertTrue(closed, "TCP closed after the close frame", file: file, line: line)
        try await assertBystanderServed(file: file, line: line)
    }

    // MARK: HTTP

    func testMalformedHTTPIs400() async throws {
        try await assertHTTP(Array("GET / HTTP/1.1\r\nHost x\r\n\r\n".utf8), status: 400)
        try await assertHTTP(Array("NONSENSE\r\n\r\n".utf8), status: 400)
    }

    func testOversizedHeadersAre431() async throws {
        let huge = "X-Padding: " + String(repeating: "a", count: 128 * 1024)
        try await assertHTTP(Array("GET / HTTP/1.1\r\nHost: x\r\n\(huge)\r\n\r\n".utf8), status: 431)
    }

    func testBadUpgradeHandshakes() async throws {
        let request = WebSocketTestClient.upgradeRequest(path: "/socket/websocket?vsn=2.0.0")
        try await assertHTTP(Array(request.replacingOccurrences(of: "dGhlIHNhbXBsZSBub25jZQ==", with: "bad").utf8), status: 400)
        try await assertHTTP(Array(request.replacingOccurrences(of: "Version: 13", with: "Version: 7").utf8), status: 426)
        try await assertHTTP(Array(request.replacingOccurrences(of: "vsn=2.0.0", with: "vsn=9.9.9").utf8), status: 403)
    }

    // MARK: Frames

    func testFrameViolationsClose1002() async throws {
        try await assertClose([FrameBytes.client(opcode: 1, Array("x".utf8), masked: false)], code: 1002)
        try await assertClose([FrameBytes.client(opcode: 1, Array("x".utf8), rsv: 0b001)], code: 1002)
        try await assertClose([FrameBytes.client(opcode: 0x5, [])], code: 1002)
        try await assertClose([FrameBytes.client(opcode: 9, [UInt8](repeating: 1, count: 200))], code: 1002)
        try await assertClose([FrameBytes.close(code: 1005)], code: 1002)
    }

    func testSizeBombsClose1009() async throws {
        // Many small fragments adding up past the 64 KiB limit.
        let fragments = [FrameBytes.client(opcode: 1, [UInt8](repeating: 0x61, count: 1000), fin: false)]
            + Array(repeating: FrameBytes.client(opcode: 0, [UInt8](repeating: 0x61, count: 1000), fin: false), count: 70)
        try await assertClose(fragments, code: 1009)
        // One frame announcing more than the limit.
        try await assertClose([FrameBytes.client(opcode: 2, [UInt8](repeating: 0, count: 70_000))], code: 1009)
    }

    func testInvalidUTF8SplitAcrossFragmentsCloses1007() async throws {
        // "κ" is CE BA; CE then an ASCII byte is invalid, whichever fragment it lands in.
        try await assertClose(
            [FrameBytes.client(opcode: 1, [0x61, 0xCE], fin: false), FrameBytes.client(opcode: 0, [0x41, 0x42])],
            code: 1007
        )
    }

    func testDeflateBombCloses1009() async throws {
        let request = WebSocketTestClient.upgradeRequest(
            path: "/socket/websocket?vsn=2.0.0", extraHeaders: ["Sec-WebSocket-Extensions: permessage-deflate"])
        let raw = try await RawClient.connect(port: server.port)
        try await raw.send(request)
        let handshake = try await raw.receiveHTTPResponse()
        XCTAssertEqual(handshake.header("Sec-WebSocket-Extensions"), "permessage-deflate")
        let compressor = try ZlibCompressor(algorithm: .deflate)
        var input = ByteBuffer(bytes: [UInt8](repeating: 0x61, count: 8 << 20))
        var output = ByteBufferAllocator().buffer(capacity: compressor.maxSize(from: input))
        try compressor.deflate(from: &input, to: &output, flush: .sync)
        let bomb = Array(output.readableBytesView.dropLast(4))
        XCTAssertLessThan(bomb.count, 64 * 1024, "the bomb itself fits under the limit")
        try await raw.send(FrameBytes.client(opcode: 1, bomb, rsv: 0b100))
        let frame = try await raw.receiveFrame()
        XCTAssertEqual(frame.closeCode, 1009)
        try await assertBystanderServed()
    }

    // MARK: Phoenix

    func testUndecodablePhoenixInputCloses1007() async throws {
        for text in ["not json", "[1,2,3]", #"{"topic":"x"}"#, #"["1","1",42,"phx_join",{}]"#] {
            try await assertClose([FrameBytes.text(text)], code: 1007)
        }
    }

    func testDeepNestingIsRefused() async throws {
        let deep = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
        try await assertClose([FrameBytes.text(#"["1","2","lab:x","count",\#(deep)]"#)], code: 1007)
    }

    func testHugePayloadCloses1009() async throws {
        let big = String(repeating: "z", count: 70_000)
        try await assertClose([FrameBytes.text(#"["1","2","lab:x","count",{"z":"\#(big)"}]"#)], code: 1009)
    }

    func testTooManyJoinsOnOneSocket() async throws {
        let client = try await phoenixClient()
        for n in 1...100 { try await client.send(text: #"["\#(n)","\#(n)","lab:\#(n)","phx_join",{}]"#) }
        for _ in 1...100 {
            let reply = try await client.receiveText()
            XCTAssertTrue(reply.hasSuffix(#""status":"ok"}]"#), reply)
        }
        try await client.send(text: #"["101","101","lab:101","phx_join",{}]"#)
        let refused = try await client.receiveText()
        XCTAssertEqual(
            refused, #"["101","101","lab:101","phx_reply",{"response":{"reason":"too many channels joined"},"status":"error"}]"#)
        // Rejoining a topic already joined is not a new channel.
        try await client.send(text: #"["102","102","lab:1","phx_join",{}]"#)
        let rejoin = try await client.receiveText()
        XCTAssertTrue(rejoin.hasSuffix(#""status":"ok"}]"#), rejoin)
        try await assertBystanderServed()
    }

    func testRefsOfUnusualTypesAreEchoedExactly() async throws {
        let client = try await phoenixClient()
        for ref in ["7", "-1.5", "null", "true", #"{"a":[1]}"#, #""ünïcødé""#] {
            try await client.send(text: #"[null,\#(ref),"phoenix","heartbeat",{}]"#)
            let reply = try await client.receiveText()
            XCTAssertEqual(reply, #"[null,\#(ref),"phoenix","phx_reply",{"response":{},"status":"ok"}]"#)
        }
        try await assertBystanderServed()
    }

    // MARK: Lua

    func testBroadcastStormFromAScriptIsCut() async throws {
        let listener = try await phoenixClient()
        try await listener.send(text: #"["1","1","lab:storm","phx_join",{}]"#)
        _ = try await listener.receiveText()
        let stormer = try await phoenixClient()
        try await stormer.send(text: #"["1","1","lab:storm","phx_join",{}]"#)
        _ = try await stormer.receiveText()
        // A loop of a million broadcasts: the callback is stopped at the send cap and crashes.
        try await stormer.send(text: #"["1","2","lab:storm","storm",{}]"#)
        let error = try await stormer.receiveText(timeout: .seconds(20))
        XCTAssertEqual(error, #"["1","1","lab:storm","phx_error",{}]"#)
        var broadcasts = 0
        while (try? await listener.receiveText(timeout: .milliseconds(500))) != nil { broadcasts += 1 }
        XCTAssertEqual(broadcasts, 10_000, "what was sent before the per-callback cap")
        try await assertBystanderServed()
    }
}
