import NIOCore
import NIOWebSocket

/// Cuts a client's frames out of the bytes its socket delivers (RFC 6455 §5.2), keeping the bytes of a frame
/// that has not fully arrived for the next read.
///
/// The connection parses its own frames rather than putting a frame decoder in front of it: one pipeline
/// handler less per connection (~350 bytes of handler, context and decoder state) and one hop less per read.
/// Frames keep their payload masked, as NIO's decoder hands them over; `WebSocketFrame.unmaskedData` unmasks.
struct FrameParser {
    /// Frames whose payload is longer are refused (`messageTooBig`).
    let maxFrameSize: Int
    /// The start of a frame still arriving: the tail of the previous read.
    private(set) var partial: ByteBuffer?

    init(maxFrameSize: Int) {
        self.maxFrameSize = maxFrameSize
    }

    /// Takes a read's bytes; then `nextFrame` returns its frames one by one.
    mutating func append(_ bytes: ByteBuffer) -> ByteBuffer {
        guard var partial else { return bytes }
        // Let go of the stored copy first: appending to a buffer held twice would copy it whole, on every read
        // of a frame arriving in many pieces (quadratic in the frame's size).
        self.partial = nil
        var bytes = bytes
        partial.writeBuffer(&bytes)
        return partial
    }

    /// The next whole frame in `bytes`, or nil when the rest is incomplete (kept for the next read).
    /// Throws on a frame no later bytes can make valid: too long, or a control frame fragmented or over
    /// 125 bytes (§5.5); the connection then fails with the error's close code.
    mutating func nextFrame(in bytes: inout ByteBuffer) throws(WebSocketCloseError) -> WebSocketFrame? {
        guard let frame = try Self.frame(at: &bytes, maxFrameSize: maxFrameSize) else {
            if bytes.readableBytes > 0 { partial = bytes }
            return nil
        }
        return frame
    }

    private static func frame(at bytes: inout ByteBuffer, maxFrameSize: Int) throws(WebSocketCloseError) -> WebSocketFrame? {
        let start = bytes.readerIndex
        guard let first = bytes.getInteger(at: start, as: UInt8.self),
              let second = bytes.getInteger(at: start + 1, as: UInt8.self) else { return nil }
        var headerLength = 2
        var length = UInt64(second & 0x7F)
        if length == 126 {
            guard let word = bytes.getInteger(at: start + 2, as: UInt16.self) else { return nil }
            length = UInt64(word)
            headerLength = 4
        } else if length == 127 {
            guard let quad = bytes.getInteger(at: start + 2, as: UInt64.self) else { return nil }
            length = quad
            headerLength = 10
        }
        // Judged as soon as the length is known, before waiting for a payload that may never come.
        let isControl = first & 0x08 != 0
        if isControl && first & 0x80 == 0 { throw .protocolError("fragmented control frame") }
        if isControl && length > 125 { throw .protocolError("control frame longer than 125 bytes") }
        guard length <= UInt64(maxFrameSize) else { throw .messageTooBig(limit: maxFrameSize) }

        var maskKey: WebSocketMaskingKey?
        if second & 0x80 != 0 {
            let keyStart = start + headerLength
            guard bytes.readableBytes >= headerLength + 4 else { return nil }
            // Four bytes as a literal: the key's Collection initializer is generic, unspecialized here.
            maskKey = [bytes.getInteger(at: keyStart)!, bytes.getInteger(at: keyStart + 1)!,
                       bytes.getInteger(at: keyStart + 2)!, bytes.getInteger(at: keyStart + 3)! as UInt8]
            headerLength += 4
        }
        guard bytes.readableBytes >= headerLength + Int(length) else { return nil }
        bytes.moveReaderIndex(forwardBy: headerLength)
        guard let payload = bytes.readSlice(length: Int(length)),
              let opcode = WebSocketOpcode(encodedWebSocketOpcode: first & 0x0F) else { return nil }
        return WebSocketFrame(
            fin: first & 0x80 != 0, rsv1: first & 0x40 != 0, rsv2: first & 0x20 != 0, rsv3: first & 0x10 != 0,
            opcode: opcode, maskKey: maskKey, data: payload)
    }
}
