import Crypto
import PhoenixProtocol

/// The token format HelloSockets signed before it spoke Phoenix's, still verified so tokens already
/// issued keep working until they expire: `base64url(payload) "." base64url(mac)`, unpadded, where
/// `payload` is the JSON `{"data":…,"signed":<ms since 1970>}` and `mac` is HMAC-SHA256 over the first
/// part, keyed with HMAC-SHA256(key: secret_key_base, message: salt).
enum LegacyToken {
    /// The max age of these tokens when the verifier gives none: they carry none.
    static let defaultMaxAge: Double = 86_400

    /// The data and signing time of `token` when its MAC is right, else nil.
    static func open(_ token: String, secret: [UInt8], salt: String) -> (data: JSONValue, signedAt: Int64)? {
        let parts = token.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 2, let mac = Base64URL.decode(parts[1]) else { return nil }
        let key = SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: Array(salt.utf8), using: SymmetricKey(data: secret)))
        guard HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: Array(parts[0]), using: key),
            let payload = Base64URL.decode(parts[0]),
            let decoded = try? JSONParser().parse(payload),
            let data = decoded["data"],
            case .integer(let signed)? = decoded["signed"]
        else { return nil }
        return (data, signed)
    }
}
