import Foundation
import JWTKit
import PhoenixProtocol

/// One key a JWT may be verified with: jwt-kit's algorithm for it (its `name` is the JWS `alg` it
/// checks: "HS256", "RS256", "ES256"…) and the `kid` it is published under, if any.
struct JWTKey: Sendable {
    let kid: String?
    let algorithm: any JWTAlgorithm

    var alg: String { algorithm.name }
}

/// Turning configuration into jwt-kit algorithms. jwt-kit hands them out only through its
/// `JWTKeyCollection` actor (asynchronously); we ask it once per load and keep what it returns, so that
/// verifying, which runs inside a Lua call on an event loop, is synchronous.
enum JWTKeys {
    /// HS256, and HS384 / HS512 when the secret is long enough for them (48 / 64 bytes, RFC 7518 §3.2).
    static func hmac(secret: String) async throws -> [JWTKey] {
        let length = secret.utf8.count
        let minimum = JWTVerifier.minimumSecretLength
        guard length >= minimum else { throw JWTConfigurationError.secretTooShort(minimum: minimum) }
        let collection = JWTKeyCollection()
        var keys: [JWTKey] = []
        for (name, digest, minimum) in [("HS256", DigestAlgorithm.sha256, 32), ("HS384", .sha384, 48), ("HS512", .sha512, 64)]
        where length >= minimum {
            let kid = JWKIdentifier(string: name)
            await collection.add(hmac: HMACKey(from: secret), digestAlgorithm: digest, kid: kid)
            keys.append(JWTKey(kid: nil, algorithm: try await collection.getKey(for: kid)))
        }
        return keys
    }

    /// The public keys of a JWKS document (RFC 7517 §5), and a note for each key that is not usable
    /// (an unknown `kty`, missing parameters, an `alg` jwt-kit does not verify). Throws when the document
    /// is not a JWKS (`path` names it in the error).
    static func jwks(json: [UInt8], path: String) async throws -> (keys: [JWTKey], skipped: [String]) {
        guard let document = try? JSONParser().parse(json), case .array(let entries)? = document["keys"] else {
            throw JWTConfigurationError.notJWKS(path: path)
        }
        let collection = JWTKeyCollection()
        var keys: [JWTKey] = []
        var skipped: [String] = []
        for (index, entry) in entries.enumerated() {
            let kid = entry["kid"]?.stringValue
            let label = "key \(index)" + (kid.map { " (kid \($0))" } ?? "")
            guard let kty = entry["kty"]?.stringValue, ["RSA", "EC", "OKP"].contains(kty) else {
                skipped.append("\(label): kty \(entry["kty"]?.stringValue ?? "missing") is not a public key type verified here (RSA, EC, OKP)")
                continue
            }
            do {
                var jwk = try DefaultJWTParser().jsonDecoder.decode(JWK.self, from: Data(try JSONWriter.encode(entry)))
                guard let alg = jwk.algorithm?.rawValue ?? defaultAlgorithm(of: jwk) else {
                    skipped.append("\(label): no alg, and none follows from kty \(jwk.keyType.rawValue)")
                    continue
                }
                // jwt-kit files keys by kid; one without gets a private name (a token cannot ask for it).
                let storedUnder = JWKIdentifier(string: "\u{0}\(index)")
                jwk.keyIdentifier = storedUnder
                try await collection.add(jwk: jwk, isDefault: false)
                let algorithm = try await collection.getKey(for: storedUnder, alg: alg)
                guard algorithm.name == alg else {
                    skipped.append("\(label): alg \(alg) is not verified here")
                    continue
                }
                keys.append(JWTKey(kid: kid, algorithm: algorithm))
            } catch {
                skipped.append("\(label): \(error)")
            }
        }
        return (keys, skipped)
    }

    /// The algorithm a key without `alg` is used with: RS256 for RSA, ES256/384/512 by curve, EdDSA.
    private static func defaultAlgorithm(of jwk: JWK) -> String? {
        switch (jwk.keyType, jwk.curve?.rawValue) {
        case (.rsa, _): return "RS256"
        case (.ecdsa, "P-256"): return "ES256"
        case (.ecdsa, "P-384"): return "ES384"
        case (.ecdsa, "P-521"): return "ES512"
        case (.octetKeyPair, "Ed25519"): return "EdDSA"
        default: return nil
        }
    }
}

/// Why JWT keys could not be loaded.
public enum JWTConfigurationError: Error, CustomStringConvertible {
    case secretTooShort(minimum: Int)
    case unreadable(path: String, reason: String)
    case notJWKS(path: String)
    case noUsableKey(path: String, skipped: [String])

    public var description: String {
        switch self {
        case .secretTooShort(let minimum):
            return "the JWT secret must be at least \(minimum) bytes (RFC 7518 §3.2; e.g. `openssl rand -base64 48`)"
        case .unreadable(let path, let reason):
            return "cannot read \(path): \(reason)"
        case .notJWKS(let path):
            return "\(path) is not a JWKS document (a JSON object with a \"keys\" array)"
        case .noUsableKey(let path, let skipped):
            return "no usable key in \(path)" + (skipped.isEmpty ? "" : " (" + skipped.joined(separator: "; ") + ")")
        }
    }
}
