import NIOCore
import NIOWebSocket

/// Server-to-client frames as bytes (RFC 6455 §5.2). A server never masks, so a frame is a 2–10 byte
/// header followed by the payload.
///
/// The connection frames its messages itself rather than through NIO's `WebSocketFrameEncoder`:
/// a reply built with `ByteBuffer.webSocketPayload(capacity:)` gets its header written into the room
/// left in front of it (one buffer, one iovec, no allocation), and a broadcast is framed once into a
/// `PreparedMessage` whose bytes every subscriber's socket shares.
enum ServerFrameWriter {
    /// The longest header: 2 bytes, plus 8 for a 64-bit payload length.
    static let maxHeaderSize = 10

    static func headerSize(payloadLength: Int) -> Int {
        payloadLength < 126 ? 2 : payloadLength <= Int(UInt16.max) ? 4 : 10
    }

    /// The whole frame for `payload`: written into the payload's headroom when it has some, else copied
    /// after a new header.
    static func frame(_ payload: ByteBuffer, opcode: WebSocketOpcode, rsv1: Bool = false) -> ByteBuffer {
        let length = payload.readableBytes
        let size = headerSize(payloadLength: length)
        var frame = payload
        if frame.readerIndex >= size {
            frame.moveReaderIndex(to: frame.readerIndex - size)
        } else {
            frame = ByteBufferAllocator().buffer(capacity: size + length)
            frame.moveWriterIndex(forwardBy: size)
            frame.moveReaderIndex(forwardBy: size)
            var payload = payload
            frame.writeBuffer(&payload)
            frame.moveReaderIndex(to: 0)
        }
        setHeader(in: &frame, at: frame.readerIndex, opcode: opcode, rsv1: rsv1, payloadLength: length)
        return frame
    }

    private static func setHeader(in buffer: inout ByteBuffer, at index: Int, opcode: WebSocketOpcode, rsv1: Bool, payloadLength: Int) {
        // FIN is always set: the server never fragments what it sends.
        var first: UInt8 = 0x80 | UInt8(webSocketOpcode: opcode)
        if rsv1 { first |= 0x40 }
        buffer.setInteger(first, at: index)
        switch headerSize(payloadLength: payloadLength) {
        case 2:
            buffer.setInteger(UInt8(payloadLength), at: index + 1)
        case 4:
            buffer.setInteger(UInt8(126), at: index + 1)
            buffer.setInteger(UInt16(payloadLength), at: index + 2)
        default:
            buffer.setInteger(UInt8(127), at: index + 1)
            buffer.setInteger(UInt64(payloadLength), at: index + 2)
        }
    }
}

extension ByteBuffer {
    /// An empty buffer for an outgoing message's payload, with room in front for the frame header, so that
    /// sending it costs no second buffer. Write the payload with the usual `write…` calls.
    public static func webSocketPayload(capacity: Int) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: ServerFrameWriter.maxHeaderSize + capacity)
        buffer.moveWriterIndex(forwardBy: ServerFrameWriter.maxHeaderSize)
        buffer.moveReaderIndex(forwardBy: ServerFrameWriter.maxHeaderSize)
        return buffer
    }
}

/// A message framed once for many connections (a broadcast): connections that don't compress it write
/// these very bytes (ByteBuffer is copy-on-write: sharing them copies nothing).
public struct PreparedMessage: Sendable {
    /// The message itself, for connections that compress it or observe their frames.
    public let message: WebSocketMessage
    /// The uncompressed frame: header and payload.
    let frame: ByteBuffer

    public init(_ message: WebSocketMessage) {
        self.message = message
        switch message {
        case .text(let payload): frame = ServerFrameWriter.frame(payload, opcode: .text)
        case .binary(let payload): frame = ServerFrameWriter.frame(payload, opcode: .binary)
        }
    }
}
