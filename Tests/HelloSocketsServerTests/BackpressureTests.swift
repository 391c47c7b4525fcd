import TestSupport
import WebSocketTransport
import XCTest

/// A client that stops reading is closed once its outbound queue passes the high-water mark,
/// instead of growing the server's memory; the others keep receiving everything.
final class BackpressureTests: XCTestCase {
    func testStalledSubscriberIsClosedAndOthersUnaffected() async throws {
        let config = WebSocketConfiguration(closeTimeout: .milliseconds(300), maxPendingOutbound: 256 * 1024)
        let server = try await TestServer.start(channels: PhoenixFeatureTests.fixtures, webSocket: config)
        addTeardownBlock { try? await server.stop() }

        let stalled = try await WebSocketTestClient.connect(
            port: server.port, path: "/socket/websocket?vsn=2.0.0", receiveBufferSize: 4096)
        try await stalled.send(text: #"["1","1","lab:flood","phx_join",{}]"#)
        _ = try await stalled.receiveText()
        try await stalled.raw.setReading(false)

        let publisher = try await WebSocketTestClient.connect(port: server.port, path: "/socket/websocket?vsn=2.0.0")
        try await publisher.send(text: #"["1","1","lab:flood","phx_join",{}]"#)
        _ = try await publisher.receiveText()

        // 4 MiB of binary broadcasts (V2 binary push → binary broadcast, no JSON work): more than the stalled
        // client's small socket buffers and the 256 KiB mark together.
        let topic = Array("lab:flood".utf8), event = Array("shout".utf8)
        let data = [UInt8](repeating: 0x2A, count: 64 * 1024)
        let count = 64
        for batch in stride(from: 0, to: count, by: 16) {
            for n in batch..<(batch + 16) {
                let ref = Array("\(n + 2)".utf8)
                let push: [UInt8] = [0, 1, UInt8(ref.count), UInt8(topic.count), UInt8(event.count)]
                    + Array("1".utf8) + ref + topic + event + data
                try await publisher.send(frame: FrameBytes.client(opcode: 2, push))
            }
            for _ in 0..<16 {
                let echo = try await publisher.receiveFrame(timeout: .seconds(20))
                XCTAssertEqual(echo.opcode, 2)
            }
        }

        // Resume reading: the stalled client finds the connection closed with 1008 after what fit.
        try await Task.sleep(for: .milliseconds(500))
        try await stalled.raw.setReading(true)
        var received = 0
        var closeCode: UInt16?
        while closeCode == nil {
            guard let frame = try? await stalled.receiveFrame(timeout: .seconds(1)) else { break }
            if frame.opcode == 8 { closeCode = frame.closeCode } else { received += 1 }
        }
        let closed = try await stalled.raw.waitForClose()
        XCTAssertTrue(closed)
        XCTAssertLessThan(received, count, "the stalled client cannot have been sent everything")
        if let closeCode { XCTAssertEqual(closeCode, 1008) }
    }
}
