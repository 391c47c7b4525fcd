import PhoenixProtocol

/// The inner layer of a Phoenix.Token: `term_to_binary({data, signed_at_ms, max_age_s})`, as
/// `Plug.Crypto.sign` writes it. Reading also takes the older shapes Plug still accepts: `{data, signed}`
/// (Plug.Crypto 1.1) and `%{data: data, signed: signed}` (early Phoenix), both with a one-day max age.
struct PhoenixTokenPayload: Equatable {
    var data: ErlangTerm
    /// Milliseconds since 1970 when it was signed.
    var signedAt: Int64
    /// Seconds the signer allowed (`.infinity` for the atom `infinity`).
    var maxAge: Double

    /// Max age of the older shapes, which carry none.
    static let legacyMaxAge: Double = 86_400

    /// The encoded term.
    var encoded: [UInt8] {
        let maxAgeTerm: ErlangTerm
        if maxAge == .infinity {
            maxAgeTerm = .atom("infinity")
        } else if let seconds = Int64(exactly: maxAge) {
            maxAgeTerm = .integer(seconds)
        } else {
            maxAgeTerm = .float(maxAge)
        }
        return ErlangTermFormat.encode(.tuple([data, .integer(signedAt), maxAgeTerm]))
    }

    init(data: ErlangTerm, signedAt: Int64, maxAge: Double) {
        self.data = data
        self.signedAt = signedAt
        self.maxAge = maxAge
    }

    /// The payload `bytes` encode, or nil when they are not a term of one of the three shapes.
    init?(decoding bytes: [UInt8]) {
        guard let term = try? ErlangTermFormat.decode(bytes) else { return nil }
        switch term {
        case .tuple(let elements) where elements.count == 3:
            guard case .integer(let signed) = elements[1], let maxAge = Self.seconds(elements[2]) else { return nil }
            self.init(data: elements[0], signedAt: signed, maxAge: maxAge)
        case .tuple(let elements) where elements.count == 2:
            guard case .integer(let signed) = elements[1] else { return nil }
            self.init(data: elements[0], signedAt: signed, maxAge: Self.legacyMaxAge)
        case .map(let entries) where entries.count == 2:
            guard let data = entries.first(where: { $0.key == .atom("data") })?.value,
                case .integer(let signed)? = entries.first(where: { $0.key == .atom("signed") })?.value
            else { return nil }
            self.init(data: data, signedAt: signed, maxAge: Self.legacyMaxAge)
        default:
            return nil
        }
    }

    /// A max age term in seconds: an integer, a float or `infinity`.
    private static func seconds(_ term: ErlangTerm) -> Double? {
        switch term {
        case .integer(let value): return Double(value)
        case .float(let value) where !value.isNaN: return value
        case .atom("infinity"): return .infinity
        default: return nil
        }
    }
}
