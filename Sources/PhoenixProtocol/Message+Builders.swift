/// The event names Phoenix reserves for its own control messages.
public enum PhoenixEvent {
    /// Client → server: join a topic.
    public static let join = "phx_join"
    /// Client → server: leave a topic.
    public static let leave = "phx_leave"
    /// Server → client: the answer to a message that carried a ref.
    public static let reply = "phx_reply"
    /// Server → client: the channel has closed normally.
    public static let close = "phx_close"
    /// Server → client: the channel has crashed.
    public static let error = "phx_error"
    /// Client → server on topic "phoenix": keep-alive.
    public static let heartbeat = "heartbeat"
}

/// The frames a Phoenix server sends, as `Message`s ready for any serializer.
extension Message {
    /// A reply: `[join_ref, ref, topic, "phx_reply", {"response": response, "status": status}]`.
    public static func reply(
        joinRef: JSONValue, ref: JSONValue, topic: String, status: String, response: JSONValue
    ) -> Message {
        // Phoenix.Socket.Reply is encoded with the payload %{status: status, response: response} (V1/V2 serializers).
        let payload = JSONValue.object(["response": response, "status": .string(status)])
        return Message(joinRef: joinRef, ref: ref, topic: topic, event: PhoenixEvent.reply, payload: .json(payload))
    }

    /// A reply whose response is raw bytes: sent by V2 as a binary frame of kind 1 (reply).
    public static func reply(
        joinRef: JSONValue, ref: JSONValue, topic: String, status: String, binary: [UInt8]
    ) -> Message {
        Message(
            joinRef: joinRef, ref: ref, topic: topic, event: PhoenixEvent.reply, payload: .binary(binary),
            replyStatus: status
        )
    }

    /// A push from a channel to its client: `[join_ref, null, topic, event, payload]`.
    public static func push(joinRef: JSONValue, topic: String, event: String, payload: Payload) -> Message {
        Message(joinRef: joinRef, ref: .null, topic: topic, event: event, payload: payload)
    }

    /// A broadcast (fastlane) to every subscriber of a topic: `[null, null, topic, event, payload]`.
    public static func broadcast(topic: String, event: String, payload: Payload) -> Message {
        Message(joinRef: .null, ref: .null, topic: topic, event: event, payload: payload)
    }

    /// `phx_close` for a channel: `[join_ref, join_ref, topic, "phx_close", {}]`.
    ///
    /// Phoenix's `encode_close` (lib/phoenix/socket.ex) sets ref to the join_ref.
    public static func channelClose(joinRef: JSONValue, topic: String) -> Message {
        Message(joinRef: joinRef, ref: joinRef, topic: topic, event: PhoenixEvent.close, payload: .json(.emptyObject))
    }

    /// `phx_error` for a crashed channel: `[join_ref, join_ref, topic, "phx_error", {}]` (Phoenix `encode_on_exit`).
    public static func channelError(joinRef: JSONValue, topic: String) -> Message {
        Message(joinRef: joinRef, ref: joinRef, topic: topic, event: PhoenixEvent.error, payload: .json(.emptyObject))
    }

    /// The JSON payload, when the payload is JSON.
    public var jsonPayload: JSONValue? {
        if case .json(let value) = payload { return value }
        return nil
    }
}
