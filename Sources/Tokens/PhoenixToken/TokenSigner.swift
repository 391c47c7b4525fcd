import Crypto
import Foundation
import PhoenixProtocol

/// Phoenix.Token for HelloSockets: `phx.token.sign` / `phx.token.verify` in Lua, `hello-sockets token` on
/// the command line. Tokens are Plug.Crypto's, so a Phoenix app with the same `secret_key_base` verifies
/// ours and we verify its (`Phoenix.Token.sign(conn, "user socket", user_id)`):
///
/// - the key for a salt is PBKDF2-HMAC-SHA256(secret_key_base, salt, 1000 rounds, 32 bytes), derived once
///   per salt and shared by every event loop;
/// - the payload is `term_to_binary({data, signed_at_ms, max_age_s})` (`PhoenixTokenPayload`), the data
///   converted from JSON as `ErlangTerm(json:)` says and back as `ErlangTerm.json` says;
/// - the token is `"SFMyNTY." <> base64url(payload) <> "." <> base64url(HMAC-SHA256(key, the part before))`,
///   unpadded (`PlugMessageVerifier`).
///
/// Tokens in HelloSockets' earlier format (`LegacyToken`) still verify. Tokens are signed, not encrypted:
/// anyone holding one can read its data.
public struct TokenSigner: Sendable, Equatable {
    /// Why a token was not accepted (Phoenix.Token's `:missing`, `:invalid`, `:expired`).
    public enum Failure: String, Error, Sendable {
        case missing, invalid, expired
    }

    /// The secret every key is derived from (`--secret-key-base`, `$SECRET_KEY_BASE`).
    private let secret: [UInt8]
    /// Each salt's PBKDF2 key.
    private let keys = DerivedKeyCache()

    /// Max age a token is signed with when the signer gives none: one day, as Phoenix.Token.
    public static let defaultMaxAge: Double = 86_400

    /// Shortest secret accepted by `init(secretKeyBase:)` (Phoenix asks for 64 bytes; we accept 32).
    public static let minimumSecretLength = 32

    /// Longest token looked at; longer ones are invalid without further work.
    public static let maxTokenLength = 64 << 10

    /// PBKDF2 rounds and key length, Plug.Crypto's defaults (`:key_iterations`, `:key_length`).
    static let keyIterations = 1000
    static let keyLength = 32

    /// A signer with this secret. Throws when it is shorter than `minimumSecretLength` bytes.
    public init(secretKeyBase: String) throws {
        guard secretKeyBase.utf8.count >= Self.minimumSecretLength else {
            throw TokenSignerError.secretTooShort(minimum: Self.minimumSecretLength)
        }
        self.secret = Array(secretKeyBase.utf8)
    }

    /// A signer with a fresh random 64-byte secret: its tokens die with the process.
    public static func random() -> TokenSigner {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<64).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return TokenSigner(rawSecret: bytes)
    }

    /// The signer VMs get when nobody configured one: `$SECRET_KEY_BASE` when set (and long enough),
    /// else random for this process (the spec runner and tests use it).
    public static let processDefault: TokenSigner = {
        if let value = ProcessInfo.processInfo.environment["SECRET_KEY_BASE"], let signer = try? TokenSigner(secretKeyBase: value) {
            return signer
        }
        return .random()
    }()

    private init(rawSecret: [UInt8]) {
        self.secret = rawSecret
    }

    /// The MAC key for one salt.
    private func key(salt: String) -> SymmetricKey {
        keys.key(salt: salt) {
            SymmetricKey(data: PBKDF2.sha256(
                password: secret, salt: Array(salt.utf8), iterations: Self.keyIterations, length: Self.keyLength))
        }
    }

    /// Signs `data` (any JSON value) for `salt`, stamped with `signedAt` (default now) and carrying
    /// `maxAge` seconds (`.infinity`: no limit), the lifetime verifiers use when they pass none.
    /// Throws for a NaN or infinite number in `data` (no term holds one) or a negative or NaN `maxAge`.
    public func sign(
        salt: String, data: JSONValue, signedAt: Date = Date(), maxAge: Double = TokenSigner.defaultMaxAge
    ) throws -> String {
        guard maxAge >= 0 else { throw TokenSignerError.badMaxAge }
        guard Self.isFinite(data) else { throw TokenSignerError.nonFiniteNumber }
        let payload = PhoenixTokenPayload(
            data: ErlangTerm(json: data), signedAt: Self.milliseconds(signedAt), maxAge: maxAge)
        return PlugMessageVerifier.sign(payload.encoded, key: key(salt: salt))
    }

    /// Verifies a token signed for `salt` and returns its data. `maxAge` in seconds (`.infinity`: any
    /// age) overrides the one in the token; nil uses it, as `Plug.Crypto.verify`. A token is expired when
    /// `signed_at_ms + max_age * 1000 < now` (or max age <= 0), invalid when signed in the future (both as
    /// Plug), when its MAC is wrong (another salt, another secret, tampered, truncated), or when its data
    /// has no JSON form (a pid, a reference, a fun, an improper list…). Throws a `Failure`.
    public func verify(
        salt: String, token: String?, maxAge: Double? = nil, now: Date = Date()
    ) throws(Failure) -> JSONValue {
        guard let token, !token.isEmpty else { throw .missing }
        guard token.utf8.count <= Self.maxTokenLength else { throw .invalid }
        let nowMilliseconds = Self.milliseconds(now)
        guard PlugMessageVerifier.isSignedMessage(token) else {
            guard let legacy = LegacyToken.open(token, secret: secret, salt: salt) else { throw .invalid }
            let limit = maxAge ?? LegacyToken.defaultMaxAge
            if limit.isFinite, Double(nowMilliseconds - legacy.signedAt) > limit * 1000 { throw .expired }
            return legacy.data
        }
        guard let bytes = PlugMessageVerifier.verify(token, key: key(salt: salt)),
            let payload = PhoenixTokenPayload(decoding: bytes)
        else { throw .invalid }
        try Self.checkAge(signedAt: payload.signedAt, maxAge: maxAge ?? payload.maxAge, now: nowMilliseconds)
        guard let data = payload.data.json else { throw .invalid }
        return data
    }

    /// Plug.Crypto's `validate_age`: `infinity` passes; max age <= 0 is expired; signed in the future is
    /// invalid; `signed + trunc(max_age * 1000) < now` is expired.
    static func checkAge(signedAt: Int64, maxAge: Double, now: Int64) throws(Failure) {
        if maxAge == .infinity { return }
        guard maxAge > 0 else { throw .expired }
        if signedAt > now { throw .invalid }
        if Double(signedAt) + (maxAge * 1000).rounded(.towardZero) < Double(now) { throw .expired }
    }

    /// Milliseconds since 1970, truncated (Plug: `trunc(signed_at * 1000)`, `System.os_time(:millisecond)`).
    static func milliseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1000).rounded(.towardZero))
    }

    private static func isFinite(_ value: JSONValue) -> Bool {
        switch value {
        case .double(let number): return number.isFinite
        case .array(let elements): return elements.allSatisfy(isFinite)
        case .object(let members): return members.values.allSatisfy(isFinite)
        default: return true
        }
    }

    public static func == (a: TokenSigner, b: TokenSigner) -> Bool {
        a.secret == b.secret
    }
}

/// Why a signer could not be made or could not sign.
public enum TokenSignerError: Error, CustomStringConvertible {
    case secretTooShort(minimum: Int)
    case badMaxAge
    case nonFiniteNumber

    public var description: String {
        switch self {
        case .secretTooShort(let minimum):
            return "the secret key base must be at least \(minimum) bytes (e.g. `openssl rand -base64 48`)"
        case .badMaxAge:
            return "max_age must be a number of seconds >= 0"
        case .nonFiniteNumber:
            return "NaN and infinity cannot be signed"
        }
    }
}
