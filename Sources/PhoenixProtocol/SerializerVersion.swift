/// The serializer a client asks for with the `vsn` query parameter of the socket URL.
///
/// PROTOCOL.md, our rule 9: `vsn` absent → V1; major version 1 → V1; major 2 → V2; anything else (unparsable,
/// 3.0.0) → no serializer, and the server answers the handshake with HTTP 403, as Phoenix does when
/// `negotiate_serializer` finds no match (`lib/phoenix/socket.ex`). Phoenix's own requirements are `~> 1.0.0` and
/// `~> 2.0.0`; we accept any minor and patch of a known major, which no released client can tell apart.
public enum SerializerVersion: Equatable, Sendable, CustomStringConvertible {
    /// JSON objects `{"topic", "event", "payload", "ref", "join_ref"}`; no binary frames.
    case v1
    /// JSON arrays `[join_ref, ref, topic, event, payload]`, plus binary frames for binary payloads.
    case v2

    /// The version for a `vsn` query value, or nil when the handshake must be refused.
    public init?(vsn: String?) {
        // Phoenix: `params["vsn"] || "1.0.0"`.
        guard let vsn else {
            self = .v1
            return
        }
        switch parseSemanticVersionMajor(vsn) {
        case 1: self = .v1
        case 2: self = .v2
        default: return nil
        }
    }

    /// A serializer for this version.
    public var serializer: any MessageSerializer {
        switch self {
        case .v1: return V1JSONSerializer()
        case .v2: return V2JSONSerializer()
        }
    }

    /// "1.0.0" or "2.0.0".
    public var description: String {
        switch self {
        case .v1: return "1.0.0"
        case .v2: return "2.0.0"
        }
    }
}

/// The major version of a Semantic Versioning 2.0.0 string (`MAJOR.MINOR.PATCH[-pre][+build]`), or nil when the
/// string is not one. Elixir's `Version.parse/1`, which Phoenix uses, needs all three numbers too ("2.0" fails).
func parseSemanticVersionMajor(_ text: String) -> Int? {
    let utf8 = Array(text.utf8)
    var index = 0
    var numbers: [Int] = []
    for part in 0..<3 {
        if part > 0 {
            guard index < utf8.count, utf8[index] == UInt8(ascii: ".") else { return nil }
            index += 1
        }
        let start = index
        var value = 0
        while index < utf8.count, utf8[index] >= UInt8(ascii: "0"), utf8[index] <= UInt8(ascii: "9") {
            value = value * 10 + Int(utf8[index] - UInt8(ascii: "0"))
            index += 1
            if index - start > 9 { return nil }
        }
        let digits = index - start
        // No empty numbers, no leading zeros (SemVer §2).
        if digits == 0 || (digits > 1 && utf8[start] == UInt8(ascii: "0")) { return nil }
        numbers.append(value)
    }
    if index < utf8.count {
        // Pre-release ("-rc.1") and build ("+build.5") identifiers: [0-9A-Za-z-], dot-separated, none empty.
        guard utf8[index] == UInt8(ascii: "-") || utf8[index] == UInt8(ascii: "+") else { return nil }
        var sawBuild = utf8[index] == UInt8(ascii: "+")
        index += 1
        var identifierLength = 0
        while index < utf8.count {
            let byte = utf8[index]
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "a")...UInt8(ascii: "z"):
                identifierLength += 1
            case UInt8(ascii: "-"):
                identifierLength += 1
            case UInt8(ascii: "."):
                if identifierLength == 0 { return nil }
                identifierLength = 0
            case UInt8(ascii: "+") where !sawBuild:
                if identifierLength == 0 { return nil }
                identifierLength = 0
                sawBuild = true
            default:
                return nil
            }
            index += 1
        }
        if identifierLength == 0 { return nil }
    }
    return numbers[0]
}
