@testable import WebSocketTransport
import NIOCore
import NIOWebSocket
import XCTest

/// The connection's own frame parser (RFC 6455 §5.2), below the connection tests that run it over bytes.
final class FrameParserTests: XCTestCase {
    /// A frame arriving in many reads is appended to in place: a copy of everything so far on every read
    /// would make a 1 MiB frame sent in small pieces cost hundreds of megabytes of copying.
    func testAFrameArrivingInPiecesIsAppendedInPlace() throws {
        var parser = FrameParser(maxFrameSize: 1 << 20)
        var first = ByteBufferAllocator().buffer(capacity: 8192)
        first.writeBytes([0x82, 0xFE, 0x10, 0x00, 1, 2, 3, 4])  // binary, masked, 4096 bytes of payload to come
        first.writeBytes([UInt8](repeating: 7, count: 100))
        var bytes = parser.append(first)
        first = ByteBuffer()
        XCTAssertNil(try parser.nextFrame(in: &bytes))
        bytes = ByteBuffer()  // the connection's read ends: only the parser holds the partial frame now
        let start = parser.partial?.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        for _ in 0..<39 {
            bytes = parser.append(ByteBuffer(bytes: [UInt8](repeating: 7, count: 100)))
            XCTAssertNil(try parser.nextFrame(in: &bytes))
            bytes = ByteBuffer()
            XCTAssertEqual(parser.partial?.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }, start,
                           "the partial frame was copied")
        }
        bytes = parser.append(ByteBuffer(bytes: [UInt8](repeating: 7, count: 96)))
        let frame = try XCTUnwrap(try parser.nextFrame(in: &bytes))
        XCTAssertEqual(frame.opcode, .binary)
        XCTAssertEqual(frame.data.readableBytes, 4096)
        XCTAssertEqual(bytes.readableBytes, 0)
        XCTAssertNil(parser.partial)
    }

    func testLengthsInAllThreeEncodingsAndTheMaskKey() throws {
        var parser = FrameParser(maxFrameSize: 1 << 20)
        for length in [0, 125, 126, 65535, 65536] {
            var buffer = ByteBuffer()
            buffer.writeInteger(UInt8(0x81))
            switch length {
            case ..<126: buffer.writeInteger(UInt8(0x80 | length))
            case ..<65536: buffer.writeInteger(UInt8(0x80 | 126)); buffer.writeInteger(UInt16(length))
            default: buffer.writeInteger(UInt8(0x80 | 127)); buffer.writeInteger(UInt64(length))
            }
            buffer.writeBytes([9, 8, 7, 6])
            buffer.writeBytes([UInt8](repeating: 0x61 ^ 9, count: length))
            var bytes = parser.append(buffer)
            let frame = try XCTUnwrap(try parser.nextFrame(in: &bytes), "length \(length)")
            XCTAssertEqual(frame.maskKey, [9, 8, 7, 6])
            XCTAssertEqual(frame.data.readableBytes, length)
            XCTAssertTrue(frame.fin)
        }
    }
}
