import Foundation
import PhoenixProtocol
import Tokens

/// What a LongPoll session token names: the node and event loop that own the session, and the
/// session's random key. Signed with the server's secret (`--secret-key-base`), as Phoenix signs
/// `{:v1, endpoint_id, pid, priv_topic}`: opaque to clients, unforgeable, and enough for a cluster
/// to forward a request to the node holding the session.
struct LongPollToken: Equatable {
    /// The salt of every session token (Phoenix uses the PubSub server's name).
    static let salt = "phx:longpoll"
    /// Phoenix's `crypto: [max_age: 1_209_600]` (two weeks); sessions end long before unless polled.
    static let maxAge: Double = 1_209_600

    /// The node owning the session (`phx.node`).
    var node: String
    /// The index of the owning event loop in the server's group.
    var loop: Int
    /// The session's random key: never reused, even across restarts.
    var session: String

    func signed(with signer: TokenSigner) throws -> String {
        try signer.sign(salt: Self.salt, data: .object([
            "loop": .integer(Int64(loop)), "node": .string(node), "session": .string(session),
        ]), maxAge: Self.maxAge)
    }

    /// The token's contents, or nil when it is not one of ours (bad signature, wrong shape, expired).
    init?(verifying token: String, with signer: TokenSigner) {
        guard let data = try? signer.verify(salt: Self.salt, token: token, maxAge: Self.maxAge),
              case .string(let node)? = data["node"],
              case .integer(let loop)? = data["loop"], loop >= 0, loop < Int64(Int32.max),
              case .string(let session)? = data["session"]
        else { return nil }
        self.init(node: node, loop: Int(loop), session: session)
    }

    init(node: String, loop: Int, session: String) {
        self.node = node
        self.loop = loop
        self.session = session
    }

    /// A fresh random session key (a random UUID: 122 random bits).
    static func newSessionKey() -> String { UUID().uuidString }
}
