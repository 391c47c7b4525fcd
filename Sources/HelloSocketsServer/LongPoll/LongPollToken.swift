import Foundation
import PhoenixProtocol
import Tokens

/// The node a LongPoll session lives on, as its token names it: in a cluster its `--node-name` and incarnation
/// (so a restarted node's old sessions are known to be gone); a lone node's `phx.node`, without incarnation (its
/// tokens are never forwarded).
struct LongPollOwner: Sendable, Equatable {
    var name: String
    var incarnation: String?
}

/// A LongPoll session's token: `<loop>.<Phoenix.Token>`, opaque to clients.
///
/// The Phoenix.Token (salt `phx:longpoll`, the server's secret, `--secret-key-base`) signs the node, the
/// event loop and a random key of the session, as Phoenix signs `{:v1, endpoint_id, pid, priv_topic}`: what a
/// cluster reads to forward a request to the node holding the session (`LongPollForwarder`). The loop index in
/// front routes a request to the loop holding the session without any work on the way; there the session is
/// served only if the whole token equals the one it was given, so a tampered or forged token finds nothing, and
/// only a token no session here holds, on a clustered node, pays for verifying its MAC.
enum LongPollToken {
    /// The salt of every session token (Phoenix uses the PubSub server's name).
    static let salt = "phx:longpoll"
    /// Phoenix's `crypto: [max_age: 1_209_600]` (two weeks); sessions end long before unless polled.
    static let maxAge: Double = 1_209_600

    /// A new session's token, for a session on `loop` of `node`, with a random key (never reused, even
    /// across restarts).
    static func make(owner: LongPollOwner, loop: Int, signer: TokenSigner) throws -> String {
        var data: [String: JSONValue] = [
            "loop": .integer(Int64(loop)), "node": .string(owner.name), "session": .string(UUID().uuidString),
        ]
        if let incarnation = owner.incarnation { data["incarnation"] = .string(incarnation) }
        let signed = try signer.sign(salt: salt, data: .object(data), maxAge: maxAge)
        return "\(loop).\(signed)"
    }

    /// The node a token names, if it is one of ours: signed with this server's secret, not expired, and with the
    /// loop in front that it signs (nil otherwise: forged, altered, or not a session token).
    static func owner(of token: String, signer: TokenSigner) -> LongPollOwner? {
        guard let loop = loop(of: token), let dot = token.firstIndex(of: "."),
            let data = try? signer.verify(salt: salt, token: String(token[token.index(after: dot)...]), maxAge: maxAge),
            data["loop"] == .integer(Int64(loop)), case .string(let name)? = data["node"]
        else { return nil }
        return LongPollOwner(name: name, incarnation: data["incarnation"]?.stringValue)
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
