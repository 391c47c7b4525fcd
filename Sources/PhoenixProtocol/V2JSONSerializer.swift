/// The V2 serializer (`vsn` 2.x): JSON arrays in text frames, binary payloads in binary frames.
///
/// Text (`Phoenix.Socket.V2.JSONSerializer`): `[join_ref, ref, topic, event, payload]`; elements after the fifth are
/// ignored on input, as Phoenix's `[join_ref, ref, topic, event, payload | _]` match does. Refs are opaque JSON
/// values echoed exactly; topic and event must be strings; the payload is any JSON value.
/// Binary: see `V2BinaryFrame`. A `.binary` payload always goes out as a binary frame, a `.json` one as text.
public struct V2JSONSerializer: MessageSerializer {
    /// The parser used for inbound text frames (its depth limit applies to payloads).
    public var parser: JSONParser

    /// Makes a V2 serializer.
    public init(parser: JSONParser = JSONParser()) {
        self.parser = parser
    }

    public var version: SerializerVersion { .v2 }

    static let shapeError = "expected a JSON array of 5 elements [join_ref, ref, topic, event, payload]"

    public func decodeText(_ bytes: UnsafeRawBufferPointer) throws(MessageDecodingError) -> Message {
        let value = try parseFrameJSON(bytes, parser: parser)
        guard case .array(let elements) = value, elements.count >= 5 else {
            throw MessageDecodingError(Self.shapeError)
        }
        guard case .string(let topic) = elements[2] else { throw MessageDecodingError("topic must be a string") }
        guard case .string(let event) = elements[3] else { throw MessageDecodingError("event must be a string") }
        return Message(joinRef: elements[0], ref: elements[1], topic: topic, event: event, payload: .json(elements[4]))
    }

    public func decodeBinary(_ bytes: UnsafeRawBufferPointer) throws(MessageDecodingError) -> Message {
        try V2BinaryFrame.decode(bytes)
    }

    public func encode(_ message: Message, into buffer: inout [UInt8]) throws(MessageEncodingError) -> FrameKind {
        switch message.payload {
        case .binary(let data):
            try V2BinaryFrame.encode(message, data: data, into: &buffer)
            return .binary
        case .json(let payload):
            try encodeText(message, into: &buffer) { (buffer) throws(MessageEncodingError) in
                try writeFrameJSON(payload, into: &buffer)
            }
            return .text
        }
    }

    public func encode(_ message: Message, payloadJSON: [UInt8], into buffer: inout [UInt8]) throws(MessageEncodingError) {
        try encodeText(message, into: &buffer) { buffer in buffer.append(contentsOf: payloadJSON) }
    }

    /// `[join_ref, ref, topic, event, payload]`, the payload written by `writePayload`.
    private func encodeText(
        _ message: Message, into buffer: inout [UInt8],
        writePayload: (inout [UInt8]) throws(MessageEncodingError) -> Void
    ) throws(MessageEncodingError) {
        let start = buffer.count
        do {
            buffer.append(UInt8(ascii: "["))
            try writeFrameJSON(message.joinRef, into: &buffer)
            buffer.append(UInt8(ascii: ","))
            try writeFrameJSON(message.ref, into: &buffer)
            buffer.append(UInt8(ascii: ","))
            JSONWriter.writeString(message.topic, into: &buffer)
            buffer.append(UInt8(ascii: ","))
            JSONWriter.writeString(message.event, into: &buffer)
            buffer.append(UInt8(ascii: ","))
            try writePayload(&buffer)
            buffer.append(UInt8(ascii: "]"))
        } catch {
            buffer.removeSubrange(start...)
            throw error
        }
    }
}
