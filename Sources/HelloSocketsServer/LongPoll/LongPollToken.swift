import Foundation
import PhoenixProtocol
import Tokens

/// A LongPoll session's token: `<loop>.<Phoenix.Token>`, opaque to clients.
///
/// The Phoenix.Token (salt `phx:longpoll`, the server's secret, `--secret-key-base`) signs the node, the
/// event loop and a random key of the session, as Phoenix signs `{:v1, endpoint_id, pid, priv_topic}`: what a
/// cluster will read to forward a request to the node holding the session. The loop index in front routes a
/// request to the loop holding the session without any work on the way; there the session is served only if
/// the whole token equals the one it was given, so a tampered or forged token finds nothing, and no request
/// pays for verifying a MAC.
enum LongPollToken {
    /// The salt of every session token (Phoenix uses the PubSub server's name).
    static let salt = "phx:longpoll"
    /// Phoenix's `crypto: [max_age: 1_209_600]` (two weeks); sessions end long before unless polled.
    static let maxAge: Double = 1_209_600

    /// A new session's token, for a session on `loop` of `node`, with a random key (never reused, even
    /// across restarts).
    static func make(node: String, loop: Int, signer: TokenSigner) throws -> String {
        let signed = try signer.sign(salt: salt, data: .object([
            "loop": .integer(Int64(loop)), "node": .string(node), "session": .string(UUID().uuidString),
        ]), maxAge: maxAge)
        return "\(loop).\(signed)"
    }

    /// The index of the event loop a token routes to, if it has the shape of ours.
    static func loop(of token: String) -> Int? {
        guard let dot = token.utf8.firstIndex(of: UInt8(ascii: ".")), dot != token.utf8.startIndex else { return nil }
        let digits = token.utf8[..<dot]
        guard digits.count <= 4, digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            return nil
        }
        return digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
    }
}
