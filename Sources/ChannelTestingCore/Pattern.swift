import PhoenixProtocol

/// A pattern a payload must match in `assertReply`/`assertPush`/`assertBroadcast`, as an Elixir
/// map pattern does: an object pattern matches any object holding at least its keys (each value
/// matching), an array pattern matches an array of the same length element-wise, `.any` matches
/// anything (`_`), and everything else must be equal. Write it as a literal:
/// `["ping": "pong", "id": .any]`.
public indirect enum Pattern: Equatable, Sendable, CustomStringConvertible {
    /// Matches any value, like `_`.
    case any
    case null
    case bool(Bool)
    case integer(Int64)
    case double(Double)
    case string(String)
    /// Element-wise, same length.
    case array([Pattern])
    /// A subset: every key here must be present and match.
    case object([String: Pattern])

    /// The pattern that matches exactly this value (objects still as subsets).
    public init(_ value: JSONValue) {
        switch value {
        case .null: self = .null
        case .bool(let b): self = .bool(b)
        case .integer(let i): self = .integer(i)
        case .double(let d): self = .double(d)
        case .string(let s): self = .string(s)
        case .array(let items): self = .array(items.map(Pattern.init))
        case .object(let members): self = .object(members.mapValues(Pattern.init))
        }
    }

    /// True when `value` matches.
    public func matches(_ value: JSONValue) -> Bool {
        switch (self, value) {
        case (.any, _): return true
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.integer(let a), .integer(let b)): return a == b
        case (.double(let a), .double(let b)): return a == b
        case (.string(let a), .string(let b)): return a == b
        case (.array(let patterns), .array(let items)):
            return patterns.count == items.count && zip(patterns, items).allSatisfy { $0.matches($1) }
        case (.object(let patterns), .object(let members)):
            return patterns.allSatisfy { key, pattern in members[key].map(pattern.matches) ?? false }
        default: return false
        }
    }

    /// JSON-like, with `_` for `.any` and `…` marking an open object: `{"ping":"pong",…}`.
    public var description: String {
        switch self {
        case .any: return "_"
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .integer(let i): return String(i)
        case .double(let d): return String(d)
        case .string(let s): return (try? JSONWriter.encodeToString(.string(s))) ?? "\"\(s)\""
        case .array(let items): return "[" + items.map(\.description).joined(separator: ",") + "]"
        case .object(let members):
            let inner = members.sorted { $0.key < $1.key }.map { "\(Pattern.string($0.key)):\($0.value)" }
            return "{" + (inner + ["…"]).joined(separator: ",") + "}"
        }
    }
}

extension Pattern: ExpressibleByDictionaryLiteral, ExpressibleByArrayLiteral, ExpressibleByStringLiteral,
    ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral, ExpressibleByBooleanLiteral, ExpressibleByNilLiteral
{
    public init(dictionaryLiteral elements: (String, Pattern)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { $1 }))
    }
    public init(arrayLiteral elements: Pattern...) { self = .array(elements) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .integer(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(nilLiteral: ()) { self = .null }
}

// Payloads as literals: `socket.push("ping", ["ack_phrase": "hi"])`.
extension JSONValue: ExpressibleByDictionaryLiteral, ExpressibleByArrayLiteral,
    ExpressibleByStringLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByBooleanLiteral, ExpressibleByNilLiteral
{
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { $1 }))
    }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .integer(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(nilLiteral: ()) { self = .null }
}

extension JSONValue {
    /// Compact JSON, keys sorted, for failure messages.
    var compact: String { (try? JSONWriter.encodeToString(self)) ?? "\(self)" }
}
