import Foundation
import PhoenixProtocol

/// Verifies JWTs (RFC 7519, compact JWS) from an application's backend: `phx.jwt.verify` in Lua and
/// `hello-sockets token verify --jwt` on the command line.
///
/// Keys: HS256 (and HS384 / HS512 when it is long enough) with a shared secret (`--jwt-secret`), and the
/// public keys of a JWKS file (`--jwt-jwks`: RS256, ES256, and the other algorithms jwt-kit verifies),
/// chosen by the token's `kid`. A token's `alg` must be the algorithm of the key it names: `alg: none`,
/// an unknown `alg` and an HMAC token aimed at a public key (algorithm confusion) find no key. HMAC tokens
/// are checked only with the secret, never with JWKS material.
///
/// After the signature, the claims: `exp` (expired when now >= exp + leeway), `nbf` (not yet valid when
/// now + leeway < nbf), and, when asked, `iss` and `aud` (a string or an array containing the audience).
public final class JWTVerifier: Sendable, Equatable {
    /// What a verification checks besides the signature and the time claims.
    public struct Options: Sendable, Equatable {
        /// The `iss` claim required, if any.
        public var issuer: String?
        /// The audience required in `aud`, if any.
        public var audience: String?
        /// Seconds of clock skew allowed on `exp` and `nbf`.
        public var leeway: Double

        /// Options with the given values (no issuer or audience required, no leeway by default).
        public init(issuer: String? = nil, audience: String? = nil, leeway: Double = 0) {
            self.issuer = issuer
            self.audience = audience
            self.leeway = leeway
        }
    }

    /// Why a token was not accepted; the raw values are the reasons Lua and the command line see.
    public enum Failure: String, Error, Sendable {
        /// No token (nil or empty).
        case missing
        /// Not three base64url parts, a header or claims that are not JSON objects, a time claim that is
        /// not a number, a `crit` header (no extension is understood).
        case malformed
        /// No key for the token's `kid` and `alg` (this includes `alg: none`).
        case unknownKey = "unknown key"
        /// The key's signature check failed.
        case badSignature = "bad signature"
        case expired
        case notYetValid = "not yet valid"
        case claimIss = "claim iss"
        case claimAud = "claim aud"
    }

    /// Shortest JWT secret: RFC 7518 §3.2 asks for a key at least as long as the hash (32 bytes for HS256).
    public static let minimumSecretLength = 32

    /// Longest token looked at; longer ones are malformed without further work.
    public static let maxTokenLength = 64 << 10

    /// The keys of `--jwt-secret`.
    private let hmacKeys: [JWTKey]
    /// The JWKS file of `--jwt-jwks`, if any (the server watches it).
    public let jwks: JWKSFile?

    /// A verifier without keys: every token is `unknown key` (a server started without JWT flags).
    public static let unconfigured = JWTVerifier(hmacKeys: [], jwks: nil)

    private init(hmacKeys: [JWTKey], jwks: JWKSFile?) {
        self.hmacKeys = hmacKeys
        self.jwks = jwks
    }

    /// A verifier with the keys of `secret` and of the JWKS file `jwks`, with the report of that file's
    /// first read. Throws for a secret shorter than 32 bytes, or a file that cannot be read, is not a JWKS
    /// or has no usable key.
    public static func make(secret: String?, jwksPath: String?) async throws -> (verifier: JWTVerifier, jwks: JWKSFile.Report?) {
        var hmacKeys: [JWTKey] = []
        if let secret { hmacKeys = try await JWTKeys.hmac(secret: secret) }
        guard let jwksPath else { return (JWTVerifier(hmacKeys: hmacKeys, jwks: nil), nil) }
        let (file, report) = try await JWKSFile.load(path: jwksPath)
        return (JWTVerifier(hmacKeys: hmacKeys, jwks: file), report)
    }

    /// Whether any key is configured.
    public var hasKeys: Bool { !hmacKeys.isEmpty || jwks != nil }

    /// The claims of `token` (a JSON object) when it is signed by one of our keys and its claims pass;
    /// throws a `Failure` otherwise.
    public func verify(_ token: String?, options: Options = Options(), now: Date = Date()) throws(Failure) -> JSONValue {
        guard let token, !token.isEmpty else { throw .missing }
        let bytes = Array(token.utf8)
        guard bytes.count <= Self.maxTokenLength else { throw .malformed }
        let parts = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 3,
            let headerBytes = Base64URL.decode(parts[0]),
            case .object(let header)? = try? JSONParser().parse(headerBytes),
            case .string(let alg)? = header["alg"],
            header["crit"] == nil,
            let signature = Base64URL.decode(parts[2])
        else { throw .malformed }
        let kid: String?
        switch header["kid"] {
        case nil: kid = nil
        case .string(let value)?: kid = value
        default: throw .malformed
        }
        guard let key = key(alg: alg, kid: kid) else { throw .unknownKey }
        let signingInput = bytes[..<parts[1].endIndex]
        guard (try? key.algorithm.verify(signature, signs: signingInput)) == true else { throw .badSignature }
        guard let payloadBytes = Base64URL.decode(parts[1]),
            case .object(let claims)? = try? JSONParser().parse(payloadBytes)
        else { throw .malformed }
        try Self.check(claims, options: options, now: now.timeIntervalSince1970)
        return .object(claims)
    }

    /// The key a token with this header is checked with: HMAC algorithms use the secret's key; others the
    /// JWKS key with that `kid` (or, without one, the only key for that `alg`), if its algorithm is `alg`.
    private func key(alg: String, kid: String?) -> JWTKey? {
        if alg.hasPrefix("HS") { return hmacKeys.first { $0.alg == alg } }
        let published = jwks?.keys ?? []
        guard let kid else {
            let candidates = published.filter { $0.alg == alg }
            return candidates.count == 1 ? candidates[0] : nil
        }
        return published.first { $0.kid == kid && $0.alg == alg }
    }

    private static func check(_ claims: [String: JSONValue], options: Options, now: Double) throws(Failure) {
        if let exp = claims["exp"] {
            guard let exp = seconds(exp) else { throw .malformed }
            if now >= exp + options.leeway { throw .expired }
        }
        if let nbf = claims["nbf"] {
            guard let nbf = seconds(nbf) else { throw .malformed }
            if now + options.leeway < nbf { throw .notYetValid }
        }
        if let issuer = options.issuer, claims["iss"]?.stringValue != issuer { throw .claimIss }
        if let audience = options.audience {
            switch claims["aud"] {
            case .string(let value)? where value == audience: break
            case .array(let values)? where values.contains(.string(audience)): break
            default: throw .claimAud
            }
        }
    }

    /// A NumericDate: seconds since 1970, integer or not.
    private static func seconds(_ value: JSONValue) -> Double? {
        switch value {
        case .integer(let seconds): return Double(seconds)
        case .double(let seconds): return seconds
        default: return nil
        }
    }

    public static func == (a: JWTVerifier, b: JWTVerifier) -> Bool {
        a === b
    }
}
