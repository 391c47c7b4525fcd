import Crypto
import Foundation
import PhoenixProtocol

/// Signed, time-limited tokens: Phoenix.Token for HelloSockets (`phx.token.sign` / `phx.token.verify`
/// in Lua, `hello-sockets token sign` on the command line).
///
/// A token is `base64url(payload) "." base64url(mac)`, both without padding, where
/// - `payload` is the compact JSON object `{"data":<any JSON value>,"signed":<milliseconds since 1970>}`
///   (keys sorted, as all our JSON), and
/// - `mac` is HMAC-SHA256 over the ASCII bytes of the first part, keyed with
///   `HMAC-SHA256(key: secret_key_base, message: salt)`: one key per salt, so a token signed for
///   one purpose ("salt identifier") does not verify for another.
///
/// Tokens are signed, not encrypted: anyone holding one can read its data. Verification compares
/// MACs in constant time, then checks the age: `signed + max_age * 1000 < now` is "expired".
public struct TokenSigner: Sendable, Equatable {
    /// Why a token was not accepted (Phoenix.Token's `:missing`, `:invalid`, `:expired`).
    public enum Failure: String, Error, Sendable {
        case missing, invalid, expired
    }

    /// The secret every key is derived from (`--secret-key-base`, `$SECRET_KEY_BASE`).
    private let secret: [UInt8]

    /// Default lifetime accepted by `verify`: one day, as Phoenix.Token.
    public static let defaultMaxAge: Double = 86_400

    /// Shortest secret accepted by `init(secretKeyBase:)` (Phoenix asks for 64 bytes; we accept 32).
    public static let minimumSecretLength = 32

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
        let derived = HMAC<SHA256>.authenticationCode(for: Array(salt.utf8), using: SymmetricKey(data: secret))
        return SymmetricKey(data: Data(derived))
    }

    /// Signs `data` (any JSON value) for `salt`, stamped with `signedAt` (default now).
    public func sign(salt: String, data: JSONValue, signedAt: Date = Date()) throws -> String {
        let milliseconds = Int64((signedAt.timeIntervalSince1970 * 1000).rounded(.down))
        let payload = try JSONWriter.encode(.object(["data": data, "signed": .integer(milliseconds)]))
        let message = Self.base64URL(payload)
        let mac = HMAC<SHA256>.authenticationCode(for: Array(message.utf8), using: key(salt: salt))
        return message + "." + Self.base64URL(Array(mac))
    }

    /// Verifies a token signed for `salt` no more than `maxAge` seconds before `now` and returns its
    /// data. `maxAge` of `.infinity` accepts any age. Throws a `Failure`.
    public func verify(
        salt: String, token: String?, maxAge: Double = TokenSigner.defaultMaxAge, now: Date = Date()
    ) throws(Failure) -> JSONValue {
        guard let token, !token.isEmpty else { throw .missing }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let mac = Self.decodeBase64URL(parts[1]) else { throw .invalid }
        guard HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: Array(parts[0].utf8), using: key(salt: salt)) else {
            throw .invalid
        }
        guard let payload = Self.decodeBase64URL(parts[0]),
            let decoded = try? JSONParser().parse(payload),
            let data = decoded["data"],
            case .integer(let signed)? = decoded["signed"]
        else { throw .invalid }
        if maxAge.isFinite {
            let ageMilliseconds = now.timeIntervalSince1970 * 1000 - Double(signed)
            if ageMilliseconds > maxAge * 1000 { throw .expired }
        }
        return data
    }

    public static func == (a: TokenSigner, b: TokenSigner) -> Bool {
        a.secret == b.secret
    }

    // MARK: - base64url without padding (RFC 4648 §5)

    static func base64URL(_ bytes: [UInt8]) -> String {
        var s = Data(bytes).base64EncodedString()
        s = s.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        while s.hasSuffix("=") { s.removeLast() }
        return s
    }

    static func decodeBase64URL(_ text: Substring) -> [UInt8]? {
        guard text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else { return nil }
        var s = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while s.count % 4 != 0 { s.append("=") }
        return Data(base64Encoded: s).map(Array.init)
    }
}

public enum TokenSignerError: Error, CustomStringConvertible {
    case secretTooShort(minimum: Int)

    public var description: String {
        switch self {
        case .secretTooShort(let minimum):
            return "the secret key base must be at least \(minimum) bytes (e.g. `openssl rand -base64 48`)"
        }
    }
}
