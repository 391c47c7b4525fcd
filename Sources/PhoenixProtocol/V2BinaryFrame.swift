/// The V2 binary frame layout (Phoenix 1.5.7+, `Phoenix.Socket.V2.JSONSerializer` and phoenix.js `serializer.js`).
///
/// A one-byte kind, one unsigned byte per variable-length field, the fields, then the raw payload:
///
/// | kind        | direction | header                                  | body                         |
/// |-------------|-----------|-----------------------------------------|------------------------------|
/// | 0 push      | C→S       | `0, jr_len, ref_len, topic_len, event_len` | jr, ref, topic, event, data |
/// | 0 push      | S→C       | `0, jr_len, topic_len, event_len`          | jr, topic, event, data      |
/// | 1 reply     | S→C       | `1, jr_len, ref_len, topic_len, status_len`| jr, ref, topic, status, data|
/// | 2 broadcast | S→C       | `2, topic_len, event_len`                  | topic, event, data          |
///
/// Every length is one byte, so a field over 255 bytes cannot be sent: Phoenix raises and phoenix.js throws.
public enum V2BinaryFrame {
    /// Kind byte of a push (both directions).
    public static let pushKind: UInt8 = 0
    /// Kind byte of a reply (server → client only).
    public static let replyKind: UInt8 = 1
    /// Kind byte of a broadcast (server → client only).
    public static let broadcastKind: UInt8 = 2

    /// Decodes a client → server binary frame (kind 0, push) into a message with a `.binary` payload.
    ///
    /// join_ref and ref arrive as bytes and become strings (possibly empty), as in Phoenix.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(MessageDecodingError) -> Message {
        guard let kind = bytes.first else { throw MessageDecodingError("binary frame: empty frame") }
        switch kind {
        case pushKind: break
        case replyKind, broadcastKind:
            // Phoenix's decode_binary/1 only matches @push: a client cannot send replies or broadcasts.
            throw MessageDecodingError("binary frame: kind \(kind) is sent by servers, not clients")
        default:
            throw MessageDecodingError("binary frame: unknown kind \(kind)")
        }
        let headerLength = 5
        guard bytes.count >= headerLength else { throw MessageDecodingError("binary frame: header longer than frame") }
        let joinRefLength = Int(bytes[1])
        let refLength = Int(bytes[2])
        let topicLength = Int(bytes[3])
        let eventLength = Int(bytes[4])
        let joinRefStart = headerLength
        let refStart = joinRefStart + joinRefLength
        let topicStart = refStart + refLength
        let eventStart = topicStart + topicLength
        let dataStart = eventStart + eventLength
        guard dataStart <= bytes.count else { throw MessageDecodingError("binary frame: header longer than frame") }

        let joinRef = try field(bytes, joinRefStart..<refStart, name: "join_ref")
        let ref = try field(bytes, refStart..<topicStart, name: "ref")
        let topic = try field(bytes, topicStart..<eventStart, name: "topic")
        let event = try field(bytes, eventStart..<dataStart, name: "event")
        let data = [UInt8](UnsafeRawBufferPointer(rebasing: bytes[dataStart...]))
        return Message(joinRef: .string(joinRef), ref: .string(ref), topic: topic, event: event, payload: .binary(data))
    }

    /// A header field as a string; it must be UTF-8 (Phoenix would accept any bytes, but topics and events are
    /// strings everywhere else, and Lua channels see them as such).
    static func field(
        _ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, name: String
    ) throws(MessageDecodingError) -> String {
        let slice = UnsafeRawBufferPointer(rebasing: bytes[range])
        let string = slice.withMemoryRebound(to: UInt8.self) { String(validating: $0, as: UTF8.self) }
        guard let string else { throw MessageDecodingError("binary frame: \(name) is not valid UTF-8") }
        return string
    }

    /// Appends the server → client binary frame for `message`, whose payload is `data`.
    ///
    /// A `phx_reply` becomes kind 1 (it needs `replyStatus`); a message with neither join_ref nor ref becomes a
    /// broadcast (kind 2); anything else is a push (kind 0), which carries no ref.
    public static func encode(
        _ message: Message, data: [UInt8], into buffer: inout [UInt8]
    ) throws(MessageEncodingError) {
        let topic = Array(message.topic.utf8)
        let start = buffer.count
        let kind: UInt8
        let fields: [(name: String, bytes: [UInt8])]
        if message.event == PhoenixEvent.reply {
            guard let status = message.replyStatus else {
                throw MessageEncodingError("binary frame: a phx_reply with a binary payload needs a replyStatus")
            }
            // Phoenix: `to_string(reply.join_ref)`, so a null ref is sent as zero bytes.
            kind = replyKind
            fields = [
                ("join_ref", refBytes(message.joinRef)), ("ref", refBytes(message.ref)), ("topic", topic),
                ("status", Array(status.utf8)),
            ]
        } else if message.joinRef == .null && message.ref == .null {
            kind = broadcastKind
            fields = [("topic", topic), ("event", Array(message.event.utf8))]
        } else {
            kind = pushKind
            fields = [("join_ref", refBytes(message.joinRef)), ("topic", topic), ("event", Array(message.event.utf8))]
        }
        // The header: the kind, one length byte per field; then the fields themselves.
        buffer.append(kind)
        for field in fields { try appendLength(field.bytes.count, of: field.name, into: &buffer, start: start) }
        for field in fields { buffer.append(contentsOf: field.bytes) }
        buffer.append(contentsOf: data)
    }

    /// Appends a one-byte length, or undoes the frame and throws when it does not fit.
    static func appendLength(
        _ length: Int, of name: String, into buffer: inout [UInt8], start: Int
    ) throws(MessageEncodingError) {
        guard length <= 255 else {
            buffer.removeSubrange(start...)
            throw MessageEncodingError("binary frame: \(name) is \(length) bytes, over the 255-byte limit")
        }
        buffer.append(UInt8(length))
    }

    /// A ref as header bytes, like Elixir's `to_string/1`: a string's bytes, nothing for null, otherwise its JSON.
    static func refBytes(_ ref: JSONValue) -> [UInt8] {
        switch ref {
        case .null: return []
        case .string(let string): return Array(string.utf8)
        default: return (try? JSONWriter.encode(ref)) ?? []
        }
    }
}
