import Foundation
import TestSupport
import WebSocketTransport
import XCTest

/// A client that stops reading is closed with 1008 once its outbound queue passes the high-water mark
/// (`--max-outbound-buffer`), instead of growing the server's memory; the others keep receiving everything.
///
/// No timing is asserted: the proof is what the server holds. NIO counts the bytes queued for each
/// socket; `/metrics` shows their sum and the largest queue a slow client reached, so the test checks
/// that the non-reader never held more than the mark plus the one message that crossed it, and that
/// nothing stays queued once it is gone. The process-level check (RSS of the real binary under 50× the
/// mark) is `testResidentMemoryStaysBoundedUnderANonReader`.
final class BackpressureTests: XCTestCase {
    static let mark = 256 * 1024
    static let messageSize = 64 * 1024

    func testStalledSubscriberIsClosedAtTheMarkAndOthersGetEverythingInOrder() async throws {
        // A long close timeout keeps the stalled connection, and its queue, until the test reads it out.
        let config = WebSocketConfiguration(closeTimeout: .seconds(30), maxPendingOutbound: Self.mark)
        let server = try await TestServer.start(channels: PhoenixFeatureTests.fixtures, webSocket: config)
        addTeardownBlock { try? await server.stop() }
        let stalled = try await Self.join(port: server.port, receiveBufferSize: 4096)
        try await stalled.raw.setReading(false)
        let watcher = try await Self.join(port: server.port)
        let publisher = try await Self.join(port: server.port)

        // 4 MiB of broadcasts: far more than the stalled client's small socket buffers and the mark together.
        let count = 64
        try await Self.flood(publisher, messages: count)

        // The stalled connection sits closing (1008 queued behind its data) until it reads or the timeout.
        var samples = try await server.scrapeMetrics().samples
        for _ in 0..<250 where (samples["hellosockets_outbound_queued_bytes"] ?? 0) <= Double(Self.mark) {
            try await Task.sleep(for: .milliseconds(20))
            samples = try await server.scrapeMetrics().samples
        }
        let maxQueue = Double(Self.mark + Self.messageSize + 1024)  // the mark, the message that crossed it, framing
        let queuedWhileStalled = try XCTUnwrap(samples["hellosockets_outbound_queued_bytes"])
        XCTAssertGreaterThan(queuedWhileStalled, Double(Self.mark), "the stalled client's queue reached the mark")
        XCTAssertLessThanOrEqual(queuedWhileStalled, maxQueue)

        // Everyone else got every broadcast, in order.
        for n in 0..<count {
            let frame = try await watcher.receiveFrame(timeout: .seconds(20))
            XCTAssertEqual(Self.sequenceNumber(of: frame), n)
        }

        // Resume reading: what fit, then the 1008 close.
        try await stalled.raw.setReading(true)
        var received = 0
        var closeCode: UInt16?
        while closeCode == nil {
            let frame = try await stalled.receiveFrame(timeout: .seconds(10))
            if frame.opcode == 8 { closeCode = frame.closeCode } else { received += 1 }
        }
        XCTAssertEqual(closeCode, 1008)
        XCTAssertLessThan(received, count, "the stalled client cannot have been sent everything")
        try await stalled.send(frame: FrameBytes.close(code: 1008))
        let closed = try await stalled.raw.waitForClose()
        XCTAssertTrue(closed)

        // Once it is gone nothing stays queued; its close and the size it reached are counted.
        for _ in 0..<250 where samples["hellosockets_websocket_connections"] != 2 {
            try await Task.sleep(for: .milliseconds(20))
            samples = try await server.scrapeMetrics().samples
        }
        XCTAssertEqual(samples["hellosockets_websocket_connections"], 2)
        XCTAssertEqual(samples["hellosockets_outbound_queued_bytes"], 0)
        XCTAssertEqual(samples["hellosockets_websocket_closes_total{code=\"1008\"}"], 1)
        let peak = try XCTUnwrap(samples["hellosockets_outbound_queue_peak_bytes"])
        XCTAssertGreaterThan(peak, Double(Self.mark))
        XCTAssertLessThanOrEqual(peak, maxQueue)
        // Gone before the teardown's shutdown, which would otherwise wait out their 30 s close timeout.
        for client in [watcher, publisher] { await client.close() }
    }

    /// The real binary's resident memory while 50× the mark is broadcast past a client that never reads:
    /// without the mark the server holds nearly all of it for that client (tried: 15 MiB of growth for
    /// 12.5 MiB pushed with --max-outbound-buffer 1 GiB; under 1 MiB with the mark).
    func testResidentMemoryStaysBoundedUnderANonReader() async throws {
        let server = try await ServerProcess.start(
            arguments: ["--channels", PhoenixFeatureTests.fixtures, "--max-outbound-buffer", "\(Self.mark)", "--threads", "2"],
            test: self)
        let stalled = try await Self.join(port: server.port, receiveBufferSize: 4096)
        try await stalled.raw.setReading(false)
        let publisher = try await Self.join(port: server.port)

        try await Self.flood(publisher, messages: 32)  // warm-up: buffers, the Lua VM, the allocator's arenas
        let before = try server.residentBytes()
        let pushed = 50 * Self.mark
        try await Self.flood(publisher, messages: pushed / Self.messageSize)
        let growth = try server.residentBytes() - before
        XCTAssertLessThan(growth, pushed / 2, "RSS grew by \(growth >> 20) MiB while \(pushed >> 20) MiB went past a non-reader")
        XCTAssertTrue(server.log.contains("client is not reading: closing"), "the non-reader hit the mark:\n\(server.log)")
    }

    /// A Phoenix client joined to `lab:flood`.
    private static func join(port: Int, receiveBufferSize: Int? = nil) async throws -> WebSocketTestClient {
        let client = try await WebSocketTestClient.connect(
            port: port, path: "/socket/websocket?vsn=2.0.0", receiveBufferSize: receiveBufferSize)
        try await client.send(text: #"["1","1","lab:flood","phx_join",{}]"#)
        _ = try await client.receiveText()
        return client
    }

    /// `messages` binary broadcasts of `messageSize` bytes (V2 binary push → binary broadcast, no JSON work),
    /// numbered from 0 in their first 4 bytes; waits for the publisher's own copies, 16 at a time.
    private static func flood(_ publisher: WebSocketTestClient, messages: Int) async throws {
        let topic = Array("lab:flood".utf8), event = Array("shout".utf8)
        for batch in stride(from: 0, to: messages, by: 16) {
            let numbers = batch..<min(batch + 16, messages)
            for n in numbers {
                let ref = Array("\(n + 2)".utf8)
                let data = withUnsafeBytes(of: UInt32(n).bigEndian, Array.init) + [UInt8](repeating: 0x2A, count: messageSize - 4)
                let push: [UInt8] = [0, 1, UInt8(ref.count), UInt8(topic.count), UInt8(event.count)]
                    + Array("1".utf8) + ref + topic + event + data
                try await publisher.send(frame: FrameBytes.client(opcode: 2, push))
            }
            for n in numbers {
                let echo = try await publisher.receiveFrame(timeout: .seconds(20))
                XCTAssertEqual(sequenceNumber(of: echo), n)
            }
        }
    }

    /// The number in a broadcast frame's payload (its last `messageSize` bytes); nil for anything else.
    private static func sequenceNumber(of frame: ServerFrame) -> Int? {
        guard frame.opcode == 2, frame.payload.count >= messageSize else { return nil }
        return frame.payload.suffix(messageSize).prefix(4).reduce(0) { $0 << 8 | Int($1) }
    }
}
