import Crypto
import Foundation
import PhoenixProtocol
import Tokens
import XCTest

/// `hello-sockets token sign|verify`, run as the built binary: the Phoenix vectors, our tokens byte for
/// byte, and JWTs from the example backend (Python) and from swift-crypto keys in a JWKS file.
final class TokenCommandTests: XCTestCase {
    static let keyBase = String(repeating: "k", count: 64)
    static let vectors: [(token: String, json: String)] = [
        ("SFMyNTY.g2gDYSpuBgAAXlbuoQFiAAFRgA.W6L3um0B-XdARtGQWnQLTv1I99rZ35L1nxzjW1L0czg", "42"),
        ("SFMyNTY.g2gDdAAAAAJtAAAABG5hbWVtAAAAA2FuYW0AAAAHdXNlcl9pZGEHbgYAAF5W7qEBYgABUYA.ixvHooI1ksi_iOJMix0eVoq3fbk6ZiKnaZd2BEbDmbo",
         #"{"name":"ana","user_id":7}"#),
        ("SFMyNTY.g2gDbQAAAAN1LTluBgAAXlbuoQFiAAAOEA.n-0NSZsv0ahHhm3hjC328m3ELI3c4HElTI_NAO97lCA", #""u-9""#),
    ]

    /// Runs `hello-sockets ARGUMENTS` with `environment` added; exit status and stdout (stderr after it).
    func tool(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: ServerProcess.binary.path), "build hello-sockets first")
        let process = Process()
        process.executableURL = ServerProcess.binary
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["SECRET_KEY_BASE"] = nil
        env["JWT_SECRET"] = nil
        env.merge(environment) { $1 }
        process.environment = env
        let stdout = Pipe(), stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        let errors = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output + errors, as: UTF8.self))
    }

    func testPhoenixVectors() throws {
        let env = ["SECRET_KEY_BASE": Self.keyBase]
        for vector in Self.vectors {
            let any = try tool(["token", "verify", "user socket", vector.token, "--max-age", "infinity"], environment: env)
            XCTAssertEqual(any.status, 0, any.output)
            XCTAssertEqual(any.output, vector.json + "\n")
            let now = try tool(["token", "verify", "user socket", vector.token], environment: env)
            XCTAssertEqual(now.status, 1)
            XCTAssertEqual(now.output, "expired\n")
            let otherSalt = try tool(["token", "verify", "salt identifier", vector.token, "--max-age", "infinity"], environment: env)
            XCTAssertEqual(otherSalt.status, 1)
            XCTAssertEqual(otherSalt.output, "invalid\n")
        }
        let flag = try tool(["token", "verify", "user socket", Self.vectors[0].token, "--max-age", "infinity",
                             "--secret-key-base", Self.keyBase])
        XCTAssertEqual(flag.output, "42\n")
        let wrongSecret = try tool(["token", "verify", "user socket", Self.vectors[0].token, "--max-age", "infinity"],
                                   environment: ["SECRET_KEY_BASE": String(repeating: "j", count: 64)])
        XCTAssertEqual(wrongSecret.output, "invalid\n")
    }

    func testSignGivesPhoenixsBytesAndRoundTrips() throws {
        let env = ["SECRET_KEY_BASE": Self.keyBase]
        for (index, data, maxAge) in [(0, "42", "86400"), (1, #"{"user_id":7,"name":"ana"}"#, "86400"), (2, #""u-9""#, "3600")] {
            let signed = try tool(["token", "sign", "user socket", data, "--signed-at", "1795000000", "--max-age", maxAge], environment: env)
            XCTAssertEqual(signed.status, 0, signed.output)
            XCTAssertEqual(signed.output, Self.vectors[index].token + "\n")
        }
        let fresh = try tool(["token", "sign", "salt identifier", #"{"id":[1,2.5,null,true]}"#], environment: env)
        let token = fresh.output.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(token.hasPrefix("SFMyNTY."), token)
        let back = try tool(["token", "verify", "salt identifier", token], environment: env)
        XCTAssertEqual(back.status, 0, back.output)
        XCTAssertEqual(back.output, #"{"id":[1,2.5,null,true]}"# + "\n")
        let noSecret = try tool(["token", "sign", "s", "1"])
        XCTAssertNotEqual(noSecret.status, 0)
        XCTAssertTrue(noSecret.output.contains("no secret"), noSecret.output)
    }

    func testJWTs() async throws {
        let secret = "0123456789abcdef0123456789abcdef"
        let backend = ExamplesTests.example("backend_tokens/backend.py")
        func mint(_ arguments: [String]) async throws -> String {
            let result = try await PythonClientExamplesTests.run(["python3", backend, "jwt", "--secret", secret] + arguments)
            XCTAssertEqual(result.status, 0, result.output)
            return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let token = try await mint(["--sub", "42", "--iss", "example-backend", "--claims", #"{"exp":4102444800,"iat":1}"#])
        let ok = try tool(["token", "verify", "--jwt", token, "--jwt-secret", secret, "--iss", "example-backend"])
        XCTAssertEqual(ok.status, 0, ok.output)
        XCTAssertEqual(ok.output, #"{"exp":4102444800,"iat":1,"iss":"example-backend","sub":"42"}"# + "\n")
        let fromEnvironment = try tool(["token", "verify", "--jwt", token], environment: ["JWT_SECRET": secret])
        XCTAssertEqual(fromEnvironment.status, 0, fromEnvironment.output)
        for (arguments, reason) in [
            (["--iss", "someone-else"], "claim iss"), (["--aud", "hello-sockets"], "claim aud"),
        ] {
            let refused = try tool(["token", "verify", "--jwt", token, "--jwt-secret", secret] + arguments)
            XCTAssertEqual(refused.status, 1)
            XCTAssertEqual(refused.output, reason + "\n")
        }
        let expired = try tool(["token", "verify", "--jwt", try await mint(["--sub", "1", "--ttl", "-60"]), "--jwt-secret", secret])
        XCTAssertEqual(expired.output, "expired\n")
        let wrong = try tool(["token", "verify", "--jwt", token, "--jwt-secret", secret.uppercased()])
        XCTAssertEqual(wrong.output, "bad signature\n")
        let noKey = try tool(["token", "verify", "--jwt", token])
        XCTAssertEqual(noKey.status, 64, noKey.output)
        XCTAssertTrue(noKey.output.contains("no JWT key"), noKey.output)

        // ES256 with a JWKS file.
        let key = P256.Signing.PrivateKey()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cli-jwks-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let jwks = directory.appendingPathComponent("keys.json")
        try JWKSFiles.document([(kid: "k1", key: key.publicKey)]).write(to: jwks)
        let es256 = try JWKSFiles.es256(#"{"sub":"7"}"#, kid: "k1", key: key)
        let verified = try tool(["token", "verify", "--jwt", es256, "--jwt-jwks", jwks.path])
        XCTAssertEqual(verified.output, #"{"sub":"7"}"# + "\n")
        let unknown = try tool(["token", "verify", "--jwt", try JWKSFiles.es256("{}", kid: "k2", key: key), "--jwt-jwks", jwks.path])
        XCTAssertEqual(unknown.output, "unknown key\n")
    }
}

/// JWKS documents and ES256 tokens from swift-crypto P-256 keys.
enum JWKSFiles {
    static func document(_ keys: [(kid: String, key: P256.Signing.PublicKey)]) throws -> Data {
        let entries: [JSONValue] = keys.map { entry in
            let point = Array(entry.key.rawRepresentation)  // X || Y
            return .object([
                "kty": .string("EC"), "crv": .string("P-256"), "alg": .string("ES256"), "kid": .string(entry.kid),
                "x": .string(Base64URL.encode(point.prefix(32))), "y": .string(Base64URL.encode(point.suffix(32))),
            ])
        }
        return Data(try JSONWriter.encode(.object(["keys": .array(entries)])))
    }

    static func es256(_ claims: String, kid: String, key: P256.Signing.PrivateKey) throws -> String {
        let header = #"{"alg":"ES256","kid":"\#(kid)"}"#
        let input = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(Array(claims.utf8))
        let signature = try key.signature(for: Array(input.utf8))
        return input + "." + Base64URL.encode(Array(signature.rawRepresentation))
    }
}
