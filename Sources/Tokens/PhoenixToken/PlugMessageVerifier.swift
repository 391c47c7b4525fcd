import Crypto

/// Plug.Crypto.MessageVerifier's signed messages, the outer layer of a Phoenix.Token:
/// `protected "." base64url(payload) "." base64url(HMAC(key, protected "." base64url(payload)))`, unpadded,
/// where `protected` names the digest: `SFMyNTY` (base64 of "HS256"), `SFMzODQ` (HS384) or `SFM1MTI` (HS512).
/// Phoenix signs with SHA-256; all three verify, as in Plug.
enum PlugMessageVerifier {
    /// The protected header Phoenix.Token signs with.
    static let sha256Header = "SFMyNTY"

    /// Whether `token` starts with one of Plug's protected headers (else it is not in this format).
    static func isSignedMessage(_ token: String) -> Bool {
        token.hasPrefix("SFMyNTY.") || token.hasPrefix("SFMzODQ.") || token.hasPrefix("SFM1MTI.")
    }

    /// `payload` signed with HMAC-SHA256 under `key`.
    static func sign(_ payload: [UInt8], key: SymmetricKey) -> String {
        let plainText = sha256Header + "." + Base64URL.encode(payload)
        let mac = HMAC<SHA256>.authenticationCode(for: Array(plainText.utf8), using: key)
        return plainText + "." + Base64URL.encode(Array(mac))
    }

    /// The payload of `token` when its MAC under `key` is right (compared in constant time), else nil.
    static func verify(_ token: String, key: SymmetricKey) -> [UInt8]? {
        let parts = token.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 3, let payload = Base64URL.decode(parts[1]), let signature = Base64URL.decode(parts[2])
        else { return nil }
        let plainText = token.utf8[parts[0].startIndex..<parts[1].endIndex]
        let authentic: Bool
        switch String(Substring(parts[0])) {
        case "SFMyNTY": authentic = HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: Array(plainText), using: key)
        case "SFMzODQ": authentic = HMAC<SHA384>.isValidAuthenticationCode(signature, authenticating: Array(plainText), using: key)
        case "SFM1MTI": authentic = HMAC<SHA512>.isValidAuthenticationCode(signature, authenticating: Array(plainText), using: key)
        default: authentic = false
        }
        return authentic ? payload : nil
    }
}
