import PhoenixProtocol

/// An Erlang term of the kinds an application puts in a token: numbers, atoms, binaries, tuples, proper
/// lists and maps. Pids, ports, references, funs, bit strings and improper lists have no case: the decoder
/// (`ErlangTermFormat`) refuses them.
public indirect enum ErlangTerm: Equatable, Sendable {
    /// An integer that fits 64 bits, however it was encoded (small, 32-bit or big).
    case integer(Int64)
    /// An integer beyond 64 bits: its sign and magnitude (little-endian bytes, no trailing zeros).
    case bigInteger(negative: Bool, magnitude: [UInt8])
    case float(Double)
    /// An atom by name (`nil`, `true`, `false`, `infinity`, `user_id`…).
    case atom(String)
    case binary([UInt8])
    case tuple([ErlangTerm])
    /// A proper list; `[]` is `.list([])`.
    case list([ErlangTerm])
    /// A map's entries in encoded order.
    case map([Entry])

    /// One key and value of a map.
    public struct Entry: Equatable, Sendable {
        public var key: ErlangTerm
        public var value: ErlangTerm

        /// The entry `key => value`.
        public init(_ key: ErlangTerm, _ value: ErlangTerm) {
            self.key = key
            self.value = value
        }
    }

    /// A binary holding `text`'s UTF-8 (an Elixir string).
    public static func string(_ text: String) -> ErlangTerm {
        .binary(Array(text.utf8))
    }
}

// MARK: - JSON

extension ErlangTerm {
    /// The term as JSON, the way HelloSockets hands token data to Lua: integers (beyond 64 bits: floats),
    /// finite floats, UTF-8 binaries → strings, `nil`/`true`/`false` → null/booleans, other atoms → their
    /// names, tuples and lists → arrays, maps whose keys are binaries or atoms → objects. Nil for anything
    /// else: a non-UTF-8 binary, another kind of map key, two keys with one name (`:a` and `"a"`), a number
    /// JSON cannot hold.
    public var json: JSONValue? {
        switch self {
        case .integer(let value):
            return .integer(value)
        case .bigInteger(let negative, let magnitude):
            let value = Self.nearestDouble(magnitude)
            return value.isFinite ? .double(negative ? -value : value) : nil
        case .float(let value):
            return value.isFinite ? .double(value) : nil
        case .atom("nil"):
            return .null
        case .atom("true"):
            return .bool(true)
        case .atom("false"):
            return .bool(false)
        case .atom(let name):
            return .string(name)
        case .binary(let bytes):
            return Self.utf8String(bytes).map(JSONValue.string)
        case .tuple(let elements), .list(let elements):
            var array: [JSONValue] = []
            array.reserveCapacity(elements.count)
            for element in elements {
                guard let value = element.json else { return nil }
                array.append(value)
            }
            return .array(array)
        case .map(let entries):
            var object: [String: JSONValue] = [:]
            object.reserveCapacity(entries.count)
            for entry in entries {
                let key: String
                switch entry.key {
                case .atom(let name): key = name
                case .binary(let bytes):
                    guard let text = Self.utf8String(bytes) else { return nil }
                    key = text
                default: return nil
                }
                guard let value = entry.value.json, object.updateValue(value, forKey: key) == nil else { return nil }
            }
            return .object(object)
        }
    }

    /// The term a Phoenix app reads for `json`: null → `nil`, booleans → `true`/`false`, numbers as they
    /// are, strings → binaries, arrays → lists, objects → maps with binary keys in byte order (the order
    /// `term_to_binary` writes a small map in).
    public init(json: JSONValue) {
        switch json {
        case .null: self = .atom("nil")
        case .bool(let value): self = .atom(value ? "true" : "false")
        case .integer(let value): self = .integer(value)
        case .double(let value): self = .float(value)
        case .string(let text): self = .string(text)
        case .array(let elements): self = .list(elements.map(ErlangTerm.init(json:)))
        case .object(let members):
            let keys = members.keys.map { Array($0.utf8) }.sorted { $0.lexicographicallyPrecedes($1) }
            self = .map(keys.map { key in
                Entry(.binary(key), ErlangTerm(json: members[String(decoding: key, as: UTF8.self)] ?? .null))
            })
        }
    }

    /// The double nearest a magnitude (little-endian bytes), rounded once: its top 64 bits, with a sticky bit
    /// standing for any lower one (at least 4 bits are rounded off them), scaled by a power of two.
    private static func nearestDouble(_ magnitude: [UInt8]) -> Double {
        let digits = magnitude.reversed().drop { $0 == 0 }
        let top = digits.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard digits.count > 8 else { return Double(top) }
        let sticky: UInt64 = digits.dropFirst(8).contains { $0 != 0 } ? 1 : 0
        return Double(sign: .plus, exponent: 8 * (digits.count - 8), significand: Double(top | sticky))
    }

    /// The text of valid UTF-8 (decoding replaces bad sequences, so a changed round trip means invalid).
    private static func utf8String(_ bytes: [UInt8]) -> String? {
        let text = String(decoding: bytes, as: UTF8.self)
        return text.utf8.elementsEqual(bytes) ? text : nil
    }
}
