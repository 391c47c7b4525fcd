import NIOCore
import NIOWebSocket
import TestSupport
import XCTest

@testable import WebSocketTransport

final class ServerFrameWriterTests: XCTestCase {
    private let lengths = [0, 1, 125, 126, 127, 65_535, 65_536, 70_000]

    private func payload(_ count: Int) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31) } }

    /// RFC 6455 §5.2 length encodings at every boundary, with and without headroom: the same bytes.
    func testHeaderLengthsAtEveryBoundaryWithAndWithoutHeadroom() {
        for length in lengths {
            let bytes = payload(length)
            var roomy = ByteBuffer.webSocketPayload(capacity: length)
            roomy.writeBytes(bytes)
            let withRoom = ServerFrameWriter.frame(roomy, opcode: .binary)
            let copied = ServerFrameWriter.frame(ByteBuffer(bytes: bytes), opcode: .binary)
            XCTAssertEqual(Array(withRoom.readableBytesView), Array(copied.readableBytesView), "length \(length)")
            let headerSize = length < 126 ? 2 : length <= 65_535 ? 4 : 10
            XCTAssertEqual(withRoom.readableBytes, headerSize + length, "length \(length)")
            XCTAssertEqual(ServerFrame.parseAll(Array(withRoom.readableBytesView)),
                           [ServerFrame(fin: true, rsv1: false, opcode: 2, payload: bytes)], "length \(length)")
        }
    }

    func testOpcodeAndRSV1Bits() {
        let frame = ServerFrameWriter.frame(ByteBuffer(string: "hi"), opcode: .text, rsv1: true)
        XCTAssertEqual(Array(frame.readableBytesView), [0xC1, 0x02, 0x68, 0x69])
        let close = ServerFrameWriter.frame(ByteBuffer(bytes: [0x03, 0xE8]), opcode: .connectionClose)
        XCTAssertEqual(Array(close.readableBytesView), [0x88, 0x02, 0x03, 0xE8])
    }

    /// Framing a payload another owner still holds must not change that owner's bytes (copy-on-write).
    func testFramingASharedPayloadLeavesTheOtherCopyIntact() {
        var shared = ByteBuffer.webSocketPayload(capacity: 5)
        shared.writeString("hello")
        let before = Array(shared.readableBytesView)
        let frame = ServerFrameWriter.frame(shared, opcode: .text)
        XCTAssertEqual(Array(shared.readableBytesView), before)
        XCTAssertEqual(Array(frame.readableBytesView), [0x81, 0x05] + before)
    }

    func testPreparedMessageIsTheFrameOfItsMessage() {
        for length in lengths {
            let prepared = PreparedMessage(.text(ByteBuffer(bytes: payload(length))))
            XCTAssertEqual(ServerFrame.parseAll(Array(prepared.frame.readableBytesView)),
                           [ServerFrame(fin: true, rsv1: false, opcode: 1, payload: payload(length))])
        }
    }
}
