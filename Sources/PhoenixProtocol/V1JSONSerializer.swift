/// The V1 serializer (`vsn` absent or 1.x): one JSON object per text frame, no binary frames.
///
/// Input (`Phoenix.Socket.Message.from_map!/1`): `topic`, `event`, `payload` and `ref` are required (`ref` may be
/// null), `join_ref` is optional. Output (`Phoenix.Socket.V1.JSONSerializer`): exactly `event`, `payload`, `ref`,
/// `topic`, in that (sorted) order; `join_ref` is never sent.
public struct V1JSONSerializer: MessageSerializer {
    /// The parser used for inbound frames (its depth limit applies to payloads).
    public var parser: JSONParser

    /// Makes a V1 serializer.
    public init(parser: JSONParser = JSONParser()) {
        self.parser = parser
    }

    public var version: SerializerVersion { .v1 }

    public func decodeText(_ bytes: UnsafeRawBufferPointer) throws(MessageDecodingError) -> Message {
        let value = try parseFrameJSON(bytes, parser: parser)
        guard case .object(let members) = value else {
            // The usual mistake: a V2 array sent without ?vsn=2.0.0.
            throw MessageDecodingError("expected a JSON object: this socket uses the V1 serializer (vsn=1.0.0)")
        }
        guard let topicValue = members["topic"] else { throw MessageDecodingError("missing key \"topic\"") }
        guard let eventValue = members["event"] else { throw MessageDecodingError("missing key \"event\"") }
        guard let payload = members["payload"] else { throw MessageDecodingError("missing key \"payload\"") }
        // `from_map!` pattern-matches "ref" as a required key; its value may be null.
        guard let ref = members["ref"] else { throw MessageDecodingError("missing key \"ref\"") }
        guard case .string(let topic) = topicValue else { throw MessageDecodingError("topic must be a string") }
        guard case .string(let event) = eventValue else { throw MessageDecodingError("event must be a string") }
        return Message(
            joinRef: members["join_ref"] ?? .null, ref: ref, topic: topic, event: event, payload: .json(payload)
        )
    }

    public func decodeBinary(_ bytes: UnsafeRawBufferPointer) throws(MessageDecodingError) -> Message {
        throw MessageDecodingError("binary frame: the V1 serializer (vsn=1.0.0) has no binary frames")
    }

    public func encode(_ message: Message, into buffer: inout [UInt8]) throws(MessageEncodingError) -> FrameKind {
        guard case .json(let payload) = message.payload else {
            throw MessageEncodingError("the V1 serializer cannot send a binary payload (event \"\(message.event)\")")
        }
        try encodeText(message, into: &buffer) { (buffer) throws(MessageEncodingError) in
            try writeFrameJSON(payload, into: &buffer)
        }
        return .text
    }

    public func encode(_ message: Message, payloadJSON: [UInt8], into buffer: inout [UInt8]) throws(MessageEncodingError) {
        try encodeText(message, into: &buffer) { buffer in buffer.append(contentsOf: payloadJSON) }
    }

    /// `{"event":…,"payload":…,"ref":…,"topic":…}`, the payload written by `writePayload`.
    private func encodeText(
        _ message: Message, into buffer: inout [UInt8],
        writePayload: (inout [UInt8]) throws(MessageEncodingError) -> Void
    ) throws(MessageEncodingError) {
        let start = buffer.count
        do {
            // Keys in byte order, as Jason writes the 4-key map: event, payload, ref, topic.
            buffer.append(contentsOf: Self.eventKey)
            JSONWriter.writeString(message.event, into: &buffer)
            buffer.append(contentsOf: Self.payloadKey)
            try writePayload(&buffer)
            buffer.append(contentsOf: Self.refKey)
            try writeFrameJSON(message.ref, into: &buffer)
            buffer.append(contentsOf: Self.topicKey)
            JSONWriter.writeString(message.topic, into: &buffer)
            buffer.append(UInt8(ascii: "}"))
        } catch {
            buffer.removeSubrange(start...)
            throw error
        }
    }

    private static let eventKey = Array("{\"event\":".utf8)
    private static let payloadKey = Array(",\"payload\":".utf8)
    private static let refKey = Array(",\"ref\":".utf8)
    private static let topicKey = Array(",\"topic\":".utf8)
}
