import CompressNIO
import Foundation
import Logging
import NIOCore
import NIOEmbedded
import NIOWebSocket
import TestSupport
import XCTest

@testable import WebSocketTransport

/// Records what the connection delivers; echoes when asked to.
private final class RecordingSession: WebSocketSession {
    var messages: [WebSocketMessage] = []
    var closed = false
    let echo: Bool
    /// Answers to `webSocketAdmission`, in order (then `.proceed`), and how many were asked.
    var admissions: [MessageAdmission] = []
    var admissionsAsked = 0
    init(echo: Bool) { self.echo = echo }

    func webSocketAdmission(_ connection: WebSocketConnection) -> MessageAdmission {
        admissionsAsked += 1
        return admissions.isEmpty ? .proceed : admissions.removeFirst()
    }

    func webSocketDidOpen(_ connection: WebSocketConnection) {}
    func webSocket(_ connection: WebSocketConnection, didReceive message: WebSocketMessage) {
        messages.append(message)
        guard echo else { return }
        switch message {
        case .text(let text): connection.send(text: text)
        case .binary(let data): connection.send(binary: data)
        }
    }
    func webSocketDidClose(_ connection: WebSocketConnection) { closed = true }
}

/// Drives one WebSocketConnection over an EmbeddedChannel: raw bytes in, raw bytes out.
private final class Harness {
    let loop = EmbeddedEventLoop()
    let channel: EmbeddedChannel
    let session: RecordingSession
    let connection: WebSocketConnection

    init(
        configuration: WebSocketConfiguration = WebSocketConfiguration(),
        deflate: PerMessageDeflate.Parameters? = nil,
        echo: Bool = true
    ) throws {
        session = RecordingSession(echo: echo)
        channel = EmbeddedChannel(loop: loop)
        connection = WebSocketConnection(
            id: "t1",
            session: session,
            configuration: configuration,
            deflate: deflate,
            logger: Logger(label: "test")
        )
        try channel.pipeline.syncOperations.addHandler(connection)  // it parses the socket's bytes itself
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
    }

    func send(_ bytes: [UInt8]) throws {
        try channel.writeInbound(ByteBuffer(bytes: bytes))
    }

    /// Every frame written so far.
    func frames() throws -> [ServerFrame] {
        var bytes: [UInt8] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { bytes += Array(buffer.readableBytesView) }
        return ServerFrame.parseAll(bytes)
    }

    var isOpen: Bool { channel.isActive }
}

final class ConnectionTests: XCTestCase {
    private func assertClosed(with code: UInt16, after bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) throws {
        let harness = try Harness()
        try harness.send(bytes)
        let frames = try harness.frames()
        XCTAssertEqual(frames.last?.closeCode, code, "frames: \(frames)", file: file, line: line)
        XCTAssertFalse(harness.isOpen, "the TCP connection should be closed", file: file, line: line)
        XCTAssertTrue(harness.session.messages.isEmpty, file: file, line: line)
    }

    func testEchoesTextAndBinary() throws {
        let harness = try Harness()
        try harness.send(FrameBytes.text("hello") + FrameBytes.client(opcode: 2, [0, 1, 2]))
        XCTAssertEqual(try harness.frames(), [
            ServerFrame(fin: true, rsv1: false, opcode: 1, payload: Array("hello".utf8)),
            ServerFrame(fin: true, rsv1: false, opcode: 2, payload: [0, 1, 2]),
        ])
    }

    func testReassemblesFragmentsWithControlFramesInBetween() throws {
        let harness = try Harness()
        try harness.send(FrameBytes.text("hel", fin: false))
        try harness.send(FrameBytes.client(opcode: 9, [7]))  // a ping between fragments (§5.4)
        try harness.send(FrameBytes.client(opcode: 0, Array("lo".utf8)))
        let frames = try harness.frames()
        XCTAssertEqual(frames.map(\.opcode), [10, 1])
        XCTAssertEqual(frames[0].payload, [7])
        XCTAssertEqual(frames[1].text, "hello")
    }

    func testPingIsAnsweredWithTheSamePayload() throws {
        let harness = try Harness()
        try harness.send(FrameBytes.client(opcode: 9, Array("are you there?".utf8)))
        XCTAssertEqual(try harness.frames(), [ServerFrame(fin: true, rsv1: false, opcode: 10, payload: Array("are you there?".utf8))])
    }

    func testCloseIsEchoedWithThePeersCodeAndTCPClosed() throws {
        let harness = try Harness()
        try harness.send(FrameBytes.close(code: 4001, reason: "bye"))
        let frames = try harness.frames()
        XCTAssertEqual(frames.map(\.closeCode), [4001])
        XCTAssertFalse(harness.isOpen)
        XCTAssertTrue(harness.session.closed)
    }

    func testEmptyCloseIsAnsweredWithAnEmptyClose() throws {
        let harness = try Harness()
        try harness.send(FrameBytes.close(code: nil))
        XCTAssertEqual(try harness.frames(), [ServerFrame(fin: true, rsv1: false, opcode: 8, payload: [])])
    }

    func testProtocolViolationsClose1002() throws {
        try assertClosed(with: 1002, after: FrameBytes.client(opcode: 1, Array("hi".utf8), masked: false))
        try assertClosed(with: 1002, after: FrameBytes.client(opcode: 1, Array("hi".utf8), rsv: 0b010))
        try assertClosed(with: 1002, after: FrameBytes.client(opcode: 1, Array("hi".utf8), rsv: 0b100))  // RSV1 without deflate
        try assertClosed(with: 1002, after: FrameBytes.client(opcode: 3, []))
        try assertClosed(with: 1002, after: FrameBytes.client(opcode: 11, []))
        try assertClosed(with: 1002, after: FrameBytes.client(opcode: 9, Array(repeating: 0, count: 126)))
        try assertClosed(with: 1002, after: FrameBytes.client(opcode: 9, [1], fin: false))
        try assertClosed(with: 1002, after: FrameBytes.client(opcode: 0, [1]))  // continuation of nothing
        try assertClosed(with: 1002, after: FrameBytes.text("a", fin: false) + FrameBytes.text("b"))
        try assertClosed(with: 1002, after: FrameBytes.client(opcode: 8, [3]))  // 1-byte close payload
    }

    func testInvalidCloseCodesClose1002() throws {
        for code: UInt16 in [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000] {
            try assertClosed(with: 1002, after: FrameBytes.close(code: code))
        }
    }

    func testInvalidUTF8Closes1007EvenMidMessage() throws {
        try assertClosed(with: 1007, after: FrameBytes.client(opcode: 1, [0xCE]))
        try assertClosed(with: 1007, after: FrameBytes.client(opcode: 1, [0x68, 0xC0, 0x80], fin: false))
        try assertClosed(with: 1007, after: FrameBytes.client(opcode: 8, [0x03, 0xE8, 0xFF]))  // close reason
    }

    func testMessageOverTheLimitCloses1009() throws {
        let harness = try Harness(configuration: WebSocketConfiguration(maxMessageSize: 1000))
        try harness.send(FrameBytes.text(String(repeating: "a", count: 600), fin: false))
        try harness.send(FrameBytes.client(opcode: 0, Array(repeating: 0x61, count: 600)))
        XCTAssertEqual(try harness.frames().last?.closeCode, 1009)
        XCTAssertTrue(harness.session.messages.isEmpty)
    }

    func testSingleFrameOverTheLimitCloses1009() throws {
        let harness = try Harness(configuration: WebSocketConfiguration(maxMessageSize: 1000))
        try harness.send(FrameBytes.client(opcode: 2, Array(repeating: 1, count: 1001)))
        XCTAssertEqual(try harness.frames().last?.closeCode, 1009)
    }

    /// The connection parses the socket's bytes itself: a frame may arrive in any number of reads, and
    /// one read may carry several frames.
    func testFramesSplitAcrossReadsAndSharingOneAreAllTaken() throws {
        let harness = try Harness()
        let long = String(repeating: "x", count: 300)  // a 16-bit length field
        let stream = FrameBytes.text("one") + FrameBytes.text(long) + FrameBytes.client(opcode: 9, [4, 2])
            + FrameBytes.text("two", fin: false) + FrameBytes.client(opcode: 0, Array("!".utf8))
        for byte in stream { try harness.send([byte]) }  // one byte per read
        try harness.send(FrameBytes.text("a") + FrameBytes.text("b") + Array(FrameBytes.text("c").prefix(3)))
        try harness.send(Array(FrameBytes.text("c").dropFirst(3)))
        XCTAssertEqual(harness.session.messages.count, 6)
        XCTAssertEqual(try harness.frames().map(\.opcode), [1, 1, 10, 1, 1, 1, 1])
    }

    /// A length over the limit is refused as soon as the header has arrived, not after waiting for the payload.
    func testAnOversizedLengthClosesBeforeItsPayloadArrives() throws {
        let harness = try Harness(configuration: WebSocketConfiguration(maxMessageSize: 1000))
        let header: [UInt8] = [0x82, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]  // 64-bit length ≈ 2⁶³
        try harness.send(header)
        XCTAssertEqual(try harness.frames().last?.closeCode, 1009)
        XCTAssertFalse(harness.isOpen)
        try harness.send(FrameBytes.text("ignored"))  // the stream is broken: nothing more is parsed
        XCTAssertTrue(harness.session.messages.isEmpty)
    }

    func testIdleConnectionIsClosedWith1000() throws {
        let harness = try Harness(configuration: WebSocketConfiguration(idleTimeout: .seconds(60)))
        harness.loop.advanceTime(by: .seconds(30))
        try harness.send(FrameBytes.text("still here"))
        harness.loop.advanceTime(by: .seconds(45))  // 75 s since open, but only 45 s since the last frame
        XCTAssertEqual(try harness.frames().map(\.opcode), [1])
        harness.loop.advanceTime(by: .seconds(16))
        let frames = try harness.frames()
        XCTAssertEqual(frames.map(\.closeCode), [1000])
        harness.loop.advanceTime(by: .seconds(5))  // no close from the client: close timeout ends TCP
        XCTAssertFalse(harness.isOpen)
    }

    /// A broadcast framed once goes out as those bytes, or compressed on a connection that deflates.
    func testPreparedMessagesAreSentAsFramedOrCompressed() throws {
        let text = String(repeating: "broadcast to everyone ", count: 40)
        let prepared = PreparedMessage(.text(ByteBuffer(string: text)))
        let plain = try Harness(echo: false)
        plain.connection.send(prepared)
        plain.channel.pipeline.fireChannelReadComplete()
        XCTAssertEqual(try plain.frames(), [ServerFrame(fin: true, rsv1: false, opcode: 1, payload: Array(text.utf8))])

        let parameters = PerMessageDeflate.negotiate(offers: ["permessage-deflate"], policy: .init(minimumCompressedSize: 0))
        let compressing = try Harness(deflate: parameters, echo: false)
        compressing.connection.send(prepared)
        let frame = try XCTUnwrap(try compressing.frames().first)
        XCTAssertTrue(frame.rsv1)
        XCTAssertEqual(try inflateRaw(frame.payload), Array(text.utf8))
    }

    func testCompressedMessagesAreInflatedAndRepliesDeflated() throws {
        let parameters = PerMessageDeflate.negotiate(offers: ["permessage-deflate"], policy: .init(minimumCompressedSize: 0))
        let harness = try Harness(deflate: parameters)
        let text = String(repeating: "Hello, compressed world! ", count: 40)
        try harness.send(FrameBytes.client(opcode: 1, try deflateRaw(Array(text.utf8)), rsv: 0b100))
        guard case .text(let received)? = harness.session.messages.first else { return XCTFail("no message") }
        XCTAssertEqual(String(buffer: received), text)
        let reply = try XCTUnwrap(try harness.frames().first)
        XCTAssertTrue(reply.rsv1)
        XCTAssertEqual(try inflateRaw(reply.payload), Array(text.utf8))
    }

    func testDecompressionBombIsStoppedAtTheSizeLimit() throws {
        let parameters = PerMessageDeflate.negotiate(offers: ["permessage-deflate"], policy: .init())
        let harness = try Harness(configuration: WebSocketConfiguration(maxMessageSize: 64 * 1024), deflate: parameters)
        let bomb = try deflateRaw(Array(repeating: 0x61, count: 10 * 1024 * 1024))  // 10 MiB of 'a' in ~10 KiB
        XCTAssertLessThan(bomb.count, 64 * 1024)
        try harness.send(FrameBytes.client(opcode: 1, bomb, rsv: 0b100))
        XCTAssertEqual(try harness.frames().last?.closeCode, 1009)
        XCTAssertTrue(harness.session.messages.isEmpty)
    }

    /// Found by fuzz/ (fuzz-ws-frames): a compressed message ending in a DEFLATE block with BFINAL set, which
    /// RFC 7692 §7.2.3.4 allows, made zlib stop (Z_STREAM_END) before the appended 00 00 FF FF, and the inflate
    /// loop spun forever on the bytes it would never consume. The input is the RFC's own example ("Hello").
    func testCompressedMessageEndingInABFINALBlockIsInflated() throws {
        let parameters = PerMessageDeflate.negotiate(offers: ["permessage-deflate"], policy: .init())
        let bfinalHello: [UInt8] = [0xF3, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00, 0x00]
        let next = try deflateRaw(Array("again".utf8))  // a client that ends streams starts a fresh one
        // Before the fix this never returned: fail instead of hanging the suite.
        let outcome = try onOwnThread(timeout: 10) { () throws -> (texts: [String], isOpen: Bool) in
            let harness = try Harness(deflate: parameters, echo: false)
            try harness.send(FrameBytes.client(opcode: 1, bfinalHello, rsv: 0b100))
            try harness.send(FrameBytes.client(opcode: 1, next, rsv: 0b100))
            let texts = harness.session.messages.compactMap { message -> String? in
                if case .text(let text) = message { return String(buffer: text) } else { return nil }
            }
            return (texts, harness.isOpen)
        }
        guard let outcome else { return XCTFail("inflate did not terminate") }
        XCTAssertEqual(outcome.texts, ["Hello", "again"])
        XCTAssertTrue(outcome.isOpen)
    }

    /// Runs `body` on a thread of its own and waits for it at most `timeout`: nil if it did not finish (the
    /// stuck thread is abandoned). The harness must be made inside `body`, on that thread: an EmbeddedEventLoop
    /// may only be used from the thread that created it (SwiftNIO reports any other use as API misuse).
    private func onOwnThread<T>(timeout seconds: Double, _ body: @escaping @Sendable () throws -> T) throws -> T? {
        let outcome = ThreadOutcome<T>()
        let worker = Thread { outcome.finish(Result(catching: body)) }
        worker.start()
        guard outcome.finished.wait(timeout: .now() + seconds) == .success else { return nil }
        return try outcome.result?.get()
    }

    // permessage-deflate framing: raw deflate, sync flush, the trailing 00 00 FF FF removed (RFC 7692 §7.2.1).
    private func deflateRaw(_ bytes: [UInt8]) throws -> [UInt8] {
        let compressor = try ZlibCompressor(algorithm: .deflate)
        var input = ByteBuffer(bytes: bytes)
        var output = ByteBufferAllocator().buffer(capacity: compressor.maxSize(from: input))
        try compressor.deflate(from: &input, to: &output, flush: .sync)
        return Array(output.readableBytesView.dropLast(4))
    }

    private func inflateRaw(_ bytes: [UInt8]) throws -> [UInt8] {
        let decompressor = try ZlibDecompressor(algorithm: .deflate)
        var input = ByteBuffer(bytes: bytes + [0, 0, 0xFF, 0xFF])
        var output = ByteBufferAllocator().buffer(capacity: 1 << 20)
        try? decompressor.inflate(from: &input, to: &output)
        return Array(output.readableBytesView)
    }

    // MARK: Pacing (a session's inbound rate limit)

    private func texts(_ messages: [WebSocketMessage]) -> [String] {
        messages.map { message in
            switch message {
            case .text(let text): return String(buffer: text)
            case .binary(let data): return "binary \(data.readableBytes)"
            }
        }
    }

    /// The last `autoRead` the connection set on its channel (true when it never touched it).
    private func autoRead(_ channel: EmbeddedChannel) -> Bool {
        channel.options.last { $0.option is ChannelOptions.Types.AutoReadOption }?.value as? Bool ?? true
    }

    func testAMessageMadeToWaitIsHeldWithEverythingAfterItThenTakenInOrder() throws {
        let harness = try Harness(echo: false)
        harness.session.admissions = [.proceed, .wait(until: harness.loop.now + .milliseconds(500))]
        // One read: two messages, a ping, a fragmented message, one more.
        try harness.send(
            FrameBytes.text("one") + FrameBytes.text("two") + FrameBytes.client(opcode: 9, [7])
                + FrameBytes.text("thr", fin: false) + FrameBytes.client(opcode: 0, Array("ee".utf8), fin: true)
                + FrameBytes.text("four"))
        XCTAssertEqual(texts(harness.session.messages), ["one"])
        XCTAssertFalse(autoRead(harness.channel), "the socket is not read while a message waits")
        XCTAssertEqual(try harness.frames(), [], "the ping waits its turn too")
        harness.loop.advanceTime(by: .milliseconds(450))
        XCTAssertEqual(texts(harness.session.messages), ["one"])
        harness.loop.advanceTime(by: .milliseconds(200))  // past the deadline (the wheel ticks every 100 ms here)
        XCTAssertEqual(texts(harness.session.messages), ["one", "two", "three", "four"])
        XCTAssertEqual(try harness.frames().map(\.opcode), [10], "the pong")
        XCTAssertTrue(autoRead(harness.channel), "reading again")
        XCTAssertEqual(harness.session.admissionsAsked, 5, "asked once per message (the waiting one twice), not per frame")
        try harness.send(FrameBytes.text("five"))
        XCTAssertEqual(texts(harness.session.messages).last, "five")
    }

    func testFramesReadWhilePausedJoinTheLine() throws {
        let harness = try Harness(echo: false)
        let now = harness.loop.now
        harness.session.admissions = [.wait(until: now + .milliseconds(100)), .proceed, .wait(until: now + .milliseconds(300))]
        try harness.send(FrameBytes.text("a"))
        try harness.send(FrameBytes.text("b") + FrameBytes.text("c"))  // the rest of the same socket read
        XCTAssertEqual(texts(harness.session.messages), [])
        harness.loop.advanceTime(by: .milliseconds(250))
        XCTAssertEqual(texts(harness.session.messages), ["a"], "b was made to wait in turn")
        XCTAssertFalse(autoRead(harness.channel))
        harness.loop.advanceTime(by: .milliseconds(200))
        XCTAssertEqual(texts(harness.session.messages), ["a", "b", "c"])
        XCTAssertTrue(autoRead(harness.channel))
    }

    func testTheSessionClosesAClientOverItsLimitWith1008() throws {
        let harness = try Harness(echo: false)
        harness.session.admissions = [.wait(until: harness.loop.now + .milliseconds(100)), .close(reason: "too fast")]
        try harness.send(FrameBytes.text("a") + FrameBytes.text("b"))
        harness.loop.advanceTime(by: .milliseconds(250))
        let frames = try harness.frames()
        XCTAssertEqual(frames.map(\.closeCode), [1008])
        XCTAssertEqual(String(decoding: frames[0].payload.dropFirst(2), as: UTF8.self), "too fast")
        XCTAssertEqual(texts(harness.session.messages), [], "held messages are not taken after the close")
        XCTAssertFalse(harness.isOpen, "no wait for the client's close: it is not being read")
    }

    func testClosingWhilePausedReadsAgainToSeeThePeersClose() throws {
        let harness = try Harness(echo: false)
        harness.session.admissions = [.wait(until: harness.loop.now + .seconds(30))]
        try harness.send(FrameBytes.text("a"))
        XCTAssertFalse(autoRead(harness.channel))
        harness.connection.close(code: .goingAway, reason: "shutting down")
        XCTAssertTrue(autoRead(harness.channel))
        try harness.send(FrameBytes.text("b") + FrameBytes.close(code: 1001))
        XCTAssertEqual(try harness.frames().map(\.closeCode), [1001])
        XCTAssertFalse(harness.isOpen, "the peer's close ends it at once")
        XCTAssertEqual(texts(harness.session.messages), [], "data after our close is discarded (RFC 6455 §7.1.4)")
    }

    func testAPausedClientIsNotIdle() throws {
        let harness = try Harness(configuration: WebSocketConfiguration(idleTimeout: .seconds(1)), echo: false)
        harness.session.admissions = [.wait(until: harness.loop.now + .seconds(3))]
        try harness.send(FrameBytes.text("a"))
        harness.loop.advanceTime(by: .milliseconds(2500))
        XCTAssertTrue(harness.isOpen, "it is sending; we are the ones not reading")
        harness.loop.advanceTime(by: .milliseconds(600))
        XCTAssertEqual(texts(harness.session.messages), ["a"])
        XCTAssertTrue(harness.isOpen)
    }
}

/// What a worker thread produced, handed to the waiting test (the semaphore orders the write before the read).
private final class ThreadOutcome<T>: @unchecked Sendable {
    let finished = DispatchSemaphore(value: 0)
    private(set) var result: Result<T, Error>?

    func finish(_ result: Result<T, Error>) {
        self.result = result
        finished.signal()
    }
}
