import PhoenixProtocol

/// JSON helpers the command-line tool needs without depending on the protocol module itself.
public enum PhoenixJSON {
    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    /// The body of `POST /api/broadcast`; the payload must be a JSON object.
    public static func broadcastBody(topic: String, event: String, payload: String) throws -> String {
        let value: JSONValue
        do {
            value = try JSONParser().parse(payload)
        } catch {
            throw Invalid(description: "payload: \(error)")
        }
        guard case .object = value else { throw Invalid(description: "payload must be a JSON object") }
        return try JSONWriter.encodeToString(.object(["topic": .string(topic), "event": .string(event), "payload": value]))
    }
}
