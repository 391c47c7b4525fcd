/// The payload of a Phoenix message: a JSON value, or raw bytes (V2 binary frames only).
public enum Payload: Equatable, Sendable {
    case json(JSONValue)
    case binary([UInt8])
}

/// One Phoenix message, in either direction: `[join_ref, ref, topic, event, payload]`.
///
/// Refs are opaque to the server and echoed exactly as the client sent them (a string, a
/// number or null), which is why they are JSON values rather than strings.
public struct Message: Equatable, Sendable {
    public var joinRef: JSONValue
    public var ref: JSONValue
    public var topic: String
    public var event: String
    public var payload: Payload
    /// The status of a `phx_reply` whose payload is `.binary` (V2 binary reply, kind 1), e.g. "ok".
    ///
    /// A JSON reply carries its status inside the payload (`{"response":…,"status":"ok"}`) and leaves this nil;
    /// a binary reply has nowhere else to put it. Use `Message.reply(joinRef:ref:topic:status:binary:)`.
    public var replyStatus: String?

    public init(
        joinRef: JSONValue, ref: JSONValue, topic: String, event: String, payload: Payload, replyStatus: String? = nil
    ) {
        self.joinRef = joinRef
        self.ref = ref
        self.topic = topic
        self.event = event
        self.payload = payload
        self.replyStatus = replyStatus
    }
}
