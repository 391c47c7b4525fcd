/// Whether a WebSocket frame is sent as text or binary (RFC 6455 §5.6 opcodes 0x1 and 0x2).
public enum FrameKind: Equatable, Sendable {
    case text
    case binary
}

/// An encoded frame ready for the transport.
public enum OutboundFrame: Equatable, Sendable {
    case text([UInt8])
    case binary([UInt8])

    /// The frame's bytes.
    public var bytes: [UInt8] {
        switch self {
        case .text(let bytes), .binary(let bytes): return bytes
        }
    }

    /// Text or binary.
    public var kind: FrameKind {
        switch self {
        case .text: return .text
        case .binary: return .binary
        }
    }
}

/// Turns WebSocket frames into Phoenix `Message`s and back, for one protocol version.
///
/// Implementations are stateless values, safe to share between connections.
public protocol MessageSerializer: Sendable {
    /// The protocol version this serializer speaks.
    var version: SerializerVersion { get }

    /// Decodes a text frame (UTF-8 JSON) into a message.
    func decodeText(_ bytes: UnsafeRawBufferPointer) throws(MessageDecodingError) -> Message

    /// Decodes a binary frame into a message.
    func decodeBinary(_ bytes: UnsafeRawBufferPointer) throws(MessageDecodingError) -> Message

    /// Appends the encoding of `message` to `buffer` and says which kind of frame it must travel in.
    ///
    /// On error `buffer` is left as it was.
    func encode(_ message: Message, into buffer: inout [UInt8]) throws(MessageEncodingError) -> FrameKind

    /// Appends the encoding of `message` with `payloadJSON` (compact JSON text encoded earlier, e.g.
    /// once for many recipients) in place of its payload, which is ignored. Always a text frame.
    func encode(_ message: Message, payloadJSON: [UInt8], into buffer: inout [UInt8]) throws(MessageEncodingError)
}

extension MessageSerializer {
    /// Decodes a text frame held in a byte array.
    public func decodeText(_ bytes: [UInt8]) throws(MessageDecodingError) -> Message {
        let result = bytes.withUnsafeBytes { raw -> Result<Message, MessageDecodingError> in
            do throws(MessageDecodingError) { return .success(try decodeText(raw)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// Decodes a text frame held in a string.
    public func decodeText(_ string: String) throws(MessageDecodingError) -> Message {
        var string = string
        let result = string.withUTF8 { utf8 -> Result<Message, MessageDecodingError> in
            do throws(MessageDecodingError) {
                return .success(try decodeText(UnsafeRawBufferPointer(utf8)))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// Decodes a binary frame held in a byte array.
    public func decodeBinary(_ bytes: [UInt8]) throws(MessageDecodingError) -> Message {
        let result = bytes.withUnsafeBytes { raw -> Result<Message, MessageDecodingError> in
            do throws(MessageDecodingError) { return .success(try decodeBinary(raw)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// Decodes a frame of either kind.
    public func decode(_ bytes: UnsafeRawBufferPointer, kind: FrameKind) throws(MessageDecodingError) -> Message {
        switch kind {
        case .text: return try decodeText(bytes)
        case .binary: return try decodeBinary(bytes)
        }
    }

    /// Encodes `message` into a new frame.
    public func encode(_ message: Message) throws(MessageEncodingError) -> OutboundFrame {
        var buffer: [UInt8] = []
        switch try encode(message, into: &buffer) {
        case .text: return .text(buffer)
        case .binary: return .binary(buffer)
        }
    }
}

/// Parses a frame as JSON, turning a syntax error into a decoding error.
func parseFrameJSON(_ bytes: UnsafeRawBufferPointer, parser: JSONParser) throws(MessageDecodingError) -> JSONValue {
    do {
        return try parser.parse(bytes)
    } catch {
        throw MessageDecodingError(error)
    }
}

/// Writes a JSON value inside a frame, turning a write error into an encoding error.
func writeFrameJSON(_ value: JSONValue, into buffer: inout [UInt8]) throws(MessageEncodingError) {
    do {
        try JSONWriter.write(value, into: &buffer)
    } catch {
        throw MessageEncodingError(error.reason)
    }
}
