import Crypto
import Foundation
import TestSupport
import Tokens
import XCTest

/// examples/backend_tokens over real sockets: tokens minted by its Python backend stand-in (Phoenix.Token
/// and HS256) open the socket; forged, expired and misaddressed ones get 403; a JWKS file rotated on disk
/// is picked up while the server runs.
final class BackendTokensExampleTests: XCTestCase {
    static let secretKeyBase = String(repeating: "example-secret-key-base/", count: 3)
    static let jwtSecret = "an example JWT secret, 32+ bytes long"
    static let channels = ExamplesTests.example("backend_tokens/channels")

    func backend(_ arguments: [String]) async throws -> String {
        let result = try await PythonClientExamplesTests.run(["python3", ExamplesTests.example("backend_tokens/backend.py")] + arguments)
        XCTAssertEqual(result.status, 0, result.output)
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Connects with `query`, joins `user:<user>` and returns the join reply, or the HTTP status that refused it.
    func join(port: Int, query: String, user: String) async throws -> String {
        let client: WebSocketTestClient
        do {
            client = try await WebSocketTestClient.connect(port: port, path: "/socket/websocket?vsn=2.0.0&" + query)
        } catch let refused as WebSocketTestClient.HandshakeRefused {
            return "HTTP \(refused.response.status)"
        }
        defer { Task { await client.close() } }
        try await client.send(text: #"["1","1","user:\#(user)","phx_join",{}]"#)
        return try await client.receiveText()
    }

    func testTokensFromTheBackendOpenTheSocket() async throws {
        let signer = try TokenSigner(secretKeyBase: Self.secretKeyBase)
        let server = try await TestServer.start(channels: Self.channels) {
            $0.lua.tokenSigner = signer
            $0.jwtSecret = Self.jwtSecret
        }
        defer { Task { try await server.stop() } }
        let port = server.port

        let phoenix = try await backend(["phoenix", "--secret-key-base", Self.secretKeyBase, "42"])
        var reply = try await join(port: port, query: "token=\(phoenix)", user: "42")
        XCTAssertEqual(reply, #"["1","1","user:42","phx_reply",{"response":{"user_id":"42","via":"phoenix"},"status":"ok"}]"#)
        reply = try await join(port: port, query: "token=\(phoenix)", user: "7")
        XCTAssertEqual(reply, #"["1","1","user:7","phx_reply",{"response":{"reason":"unauthorized"},"status":"error"}]"#)

        let jwt = try await backend(["jwt", "--secret", Self.jwtSecret, "--sub", "ana", "--iss", "example-backend", "--aud", "hello-sockets"])
        reply = try await join(port: port, query: "jwt=\(jwt)", user: "ana")
        XCTAssertEqual(reply, #"["1","1","user:ana","phx_reply",{"response":{"user_id":"ana","via":"jwt"},"status":"ok"}]"#)

        let refused: [(String, String)] = [
            ("another secret_key_base", "token=" + (try await backend(["phoenix", "--secret-key-base", String(repeating: "x", count: 64), "42"]))),
            ("another salt", "token=" + (try await backend(["phoenix", "--secret-key-base", Self.secretKeyBase, "--salt", "admin", "42"]))),
            ("an expired Phoenix.Token", "token=" + (try await backend([
                "phoenix", "--secret-key-base", Self.secretKeyBase, "--signed-at", "\(Int(Date().timeIntervalSince1970) - 120)",
                "--max-age", "60", "42",
            ]))),
            ("another JWT secret", "jwt=" + (try await backend(["jwt", "--secret", Self.jwtSecret + "!", "--sub", "ana",
                                                                 "--iss", "example-backend", "--aud", "hello-sockets"]))),
            ("another audience", "jwt=" + (try await backend(["jwt", "--secret", Self.jwtSecret, "--sub", "ana",
                                                               "--iss", "example-backend", "--aud", "billing"]))),
            ("an expired JWT", "jwt=" + (try await backend(["jwt", "--secret", Self.jwtSecret, "--sub", "ana", "--ttl", "-60",
                                                             "--iss", "example-backend", "--aud", "hello-sockets"]))),
            ("no token", "x=1"),
        ]
        for (what, query) in refused {
            let status = try await join(port: port, query: query, user: "42")
            XCTAssertEqual(status, "HTTP 403", what)
        }
    }

    /// `--jwt-jwks`: a key rotated on disk (written elsewhere and renamed over the file, as tools do) is
    /// used by the next connection; the retired key no longer opens the socket; a broken file keeps the keys.
    func testTheJWKSFileIsReReadWhenItChanges() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("jwks-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let jwks = directory.appendingPathComponent("keys.json")
        func publish(_ data: Data) throws {
            try data.write(to: jwks, options: .atomic)  // a temporary file renamed over it
        }
        let november = P256.Signing.PrivateKey(), december = P256.Signing.PrivateKey()
        try publish(try JWKSFiles.document([(kid: "2026-11", key: november.publicKey)]))
        let server = try await TestServer.start(channels: Self.channels) { $0.jwtJWKSPath = jwks.path }
        defer { Task { try await server.stop() } }
        let claims = #"{"sub":"7","iss":"example-backend","aud":"hello-sockets","exp":\#(Int(Date().timeIntervalSince1970) + 600)}"#
        let old = "jwt=" + (try JWKSFiles.es256(claims, kid: "2026-11", key: november))
        let new = "jwt=" + (try JWKSFiles.es256(claims, kid: "2026-12", key: december))
        let accepted = #"["1","1","user:7","phx_reply",{"response":{"user_id":"7","via":"jwt"},"status":"ok"}]"#
        var reply = try await join(port: server.port, query: old, user: "7")
        XCTAssertEqual(reply, accepted)
        reply = try await join(port: server.port, query: new, user: "7")
        XCTAssertEqual(reply, "HTTP 403")

        try publish(try JWKSFiles.document([(kid: "2026-12", key: december.publicKey)]))
        let deadline = ContinuousClock.now + .seconds(10)
        repeat {
            reply = try await join(port: server.port, query: new, user: "7")
            if reply == accepted { break }
            try await Task.sleep(for: .milliseconds(20))
        } while ContinuousClock.now < deadline
        XCTAssertEqual(reply, accepted, "the new key is used")
        reply = try await join(port: server.port, query: old, user: "7")
        XCTAssertEqual(reply, "HTTP 403", "the retired key is not")

        try publish(Data("{\"keys\": [".utf8))
        try await Task.sleep(for: .milliseconds(300))
        reply = try await join(port: server.port, query: new, user: "7")
        XCTAssertEqual(reply, accepted, "a broken file keeps the keys in use")
    }
}
