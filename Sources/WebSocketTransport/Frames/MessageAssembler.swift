import NIOCore
import NIOWebSocket

/// A complete WebSocket message, reassembled from its frames.
public enum WebSocketMessage: Equatable, Sendable {
    case text(ByteBuffer)
    case binary(ByteBuffer)

    /// The message's bytes, whatever its kind.
    public var payload: ByteBuffer {
        switch self {
        case .text(let bytes), .binary(let bytes): return bytes
        }
    }
}

/// Reassembles data frames into messages (RFC 6455 §5.4), enforcing the rules NIOWebSocket
/// leaves to the application: continuation order, RSV bits, the size cap (applied to the
/// inflated size, so compression can't smuggle a bomb past it) and UTF-8 for text, checked
/// frame by frame so bad text fails fast even mid-message.
struct MessageAssembler {
    private enum State {
        case idle
        case assembling(opcode: WebSocketOpcode, compressed: Bool)
    }

    private var state = State.idle
    private var buffer: ByteBuffer
    private var utf8 = UTF8Validator()
    let maxMessageSize: Int
    let deflate: DeflateCodec?

    init(maxMessageSize: Int, deflate: DeflateCodec?, allocator: ByteBufferAllocator) {
        self.maxMessageSize = maxMessageSize
        self.deflate = deflate
        self.buffer = allocator.buffer(capacity: 0)
    }

    /// Takes one data frame (text, binary or continuation); returns the message when this frame completes one.
    mutating func receive(_ frame: WebSocketFrame) throws -> WebSocketMessage? {
        let opcode: WebSocketOpcode
        let compressed: Bool
        switch (state, frame.opcode) {
        case (.idle, .text), (.idle, .binary):
            opcode = frame.opcode
            // RFC 7692 §6: RSV1 marks the first frame of a compressed message, only when negotiated.
            guard !frame.rsv1 || deflate != nil else {
                throw WebSocketCloseError.protocolError("RSV1 set but permessage-deflate was not negotiated")
            }
            compressed = frame.rsv1
            buffer.clear()
            utf8.reset()
        case (.idle, .continuation):
            throw WebSocketCloseError.protocolError("continuation frame without a message to continue")
        case (.assembling, .text), (.assembling, .binary):
            throw WebSocketCloseError.protocolError("new data frame before the fragmented message ended")
        case (.assembling(let current, let isCompressed), _):
            guard !frame.rsv1 else { throw WebSocketCloseError.protocolError("RSV1 set on a continuation frame") }
            opcode = current
            compressed = isCompressed
        default:
            throw WebSocketCloseError.protocolError("unexpected opcode \(frame.opcode)")
        }

        var data = frame.unmaskedData
        if compressed, let deflate {
            let alreadyValidated = buffer.readableBytes
            try deflate.inflate(&data, isFinal: frame.fin, into: &buffer, limit: maxMessageSize)
            if opcode == .text {
                let valid = buffer.withUnsafeReadableBytes {
                    utf8.feed(UnsafeRawBufferPointer(rebasing: $0[alreadyValidated...]))
                }
                guard valid else { throw WebSocketCloseError.invalidPayload("invalid UTF-8 in text message") }
            }
        } else {
            guard buffer.readableBytes + data.readableBytes <= maxMessageSize else {
                throw WebSocketCloseError.messageTooBig(limit: maxMessageSize)
            }
            if opcode == .text {
                let valid = data.withUnsafeReadableBytes { utf8.feed($0) }
                guard valid else { throw WebSocketCloseError.invalidPayload("invalid UTF-8 in text message") }
            }
            if buffer.readableBytes == 0 && frame.fin {
                state = .idle
                try checkTextComplete(opcode)
                return opcode == .text ? .text(data) : .binary(data)  // unfragmented: no copy
            }
            buffer.writeBuffer(&data)
        }

        guard frame.fin else {
            state = .assembling(opcode: opcode, compressed: compressed)
            return nil
        }
        state = .idle
        try checkTextComplete(opcode)
        let message = buffer
        buffer = ByteBufferAllocator().buffer(capacity: 0)
        return opcode == .text ? .text(message) : .binary(message)
    }

    private func checkTextComplete(_ opcode: WebSocketOpcode) throws {
        guard opcode != .text || utf8.isComplete else {
            throw WebSocketCloseError.invalidPayload("text message ends mid-character")
        }
    }
}
