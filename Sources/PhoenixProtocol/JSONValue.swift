/// A JSON value as Phoenix payloads carry it.
///
/// Integers that fit Int64 stay integers (so `1` round-trips as `1`, not `1.0`); every other
/// number is a Double. Objects are unordered: the encoder writes keys sorted, as Phoenix's
/// encoder does for small maps, so output is deterministic and byte-comparable with Phoenix.
public enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case integer(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// The empty object, `{}`: the payload of most control frames.
    public static let emptyObject = JSONValue.object([:])
}

extension JSONValue {
    /// What kind of value this is, for messages: "a string", "an object", "null"…
    public var kindDescription: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .integer, .double: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    /// The value at `key` when this is an object.
    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    /// The string, when this is a string.
    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }
}
