import Crypto
import Foundation
import PhoenixProtocol
import Tokens
import XCTest

/// The JWT matrix: HS256 tokens from a Python script (the example backend, standard library hmac), RS256
/// and ES256 tokens and keys from openssl, and every refusal with its reason.
final class JWTVerifierTests: XCTestCase {
    static let secret = "0123456789abcdef0123456789abcdef"  // 32 bytes: HS256 only
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("jwt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    func verifier(secret: String? = JWTVerifierTests.secret, jwks: Data? = nil) async throws -> JWTVerifier {
        var path: String?
        if let jwks {
            path = directory.appendingPathComponent("jwks.json").path
            try jwks.write(to: URL(fileURLWithPath: path!))
        }
        return try await JWTVerifier.make(secret: secret, jwksPath: path).verifier
    }

    func reason(_ verifier: JWTVerifier, _ token: String?, _ options: JWTVerifier.Options = .init()) -> String? {
        jwtFailure { try verifier.verify(token, options: options) }?.rawValue
    }

    func hs(_ arguments: [String], secret: String = JWTVerifierTests.secret) throws -> String {
        try TokenTools.python(["jwt", "--secret", secret] + arguments)
    }

    func testHS256FromPython() async throws {
        let jwt = try await verifier()
        let token = try hs(["--sub", "42", "--iss", "example-backend", "--aud", "hello-sockets", "--claims", #"{"role":"admin"}"#])
        let claims = try jwt.verify(token, options: .init(issuer: "example-backend", audience: "hello-sockets"))
        XCTAssertEqual(claims["sub"], .string("42"))
        XCTAssertEqual(claims["role"], .string("admin"))
        XCTAssertNotNil(claims["exp"])
        XCTAssertEqual(reason(jwt, token), nil, "iss and aud are checked only when asked for")
        XCTAssertEqual(reason(jwt, token, .init(issuer: "someone-else")), "claim iss")
        XCTAssertEqual(reason(jwt, token, .init(audience: "another-app")), "claim aud")
        let noIssuer = try hs(["--sub", "42"])
        XCTAssertEqual(reason(jwt, noIssuer, .init(issuer: "example-backend")), "claim iss")
        XCTAssertEqual(reason(jwt, noIssuer, .init(audience: "hello-sockets")), "claim aud")
        let audiences = try hs(["--sub", "1", "--claims", #"{"aud":["billing","hello-sockets"]}"#])
        XCTAssertEqual(reason(jwt, audiences, .init(audience: "hello-sockets")), nil)
        XCTAssertEqual(reason(jwt, audiences, .init(audience: "hello")), "claim aud")
    }

    func testTimeClaims() async throws {
        let jwt = try await verifier()
        let expired = try hs(["--sub", "1", "--ttl", "-30"])
        XCTAssertEqual(reason(jwt, expired), "expired")
        XCTAssertEqual(reason(jwt, expired, .init(leeway: 60)), nil)
        let early = try hs(["--sub", "1", "--nbf", "60"])
        XCTAssertEqual(reason(jwt, early), "not yet valid")
        XCTAssertEqual(reason(jwt, early, .init(leeway: 120)), nil)
        let exp = 1_800_000_000.0
        let token = try hs(["--sub", "1", "--claims", #"{"exp":1800000000.5,"nbf":1700000000}"#])
        XCTAssertEqual(jwtFailure { try jwt.verify(token, now: Date(timeIntervalSince1970: exp)) }, nil)
        XCTAssertEqual(jwtFailure { try jwt.verify(token, now: Date(timeIntervalSince1970: exp + 0.5)) }, .expired, "now >= exp")
        XCTAssertEqual(jwtFailure { try jwt.verify(token, now: Date(timeIntervalSince1970: 1_699_999_999)) }, .notYetValid)
        XCTAssertEqual(reason(jwt, try hs(["--sub", "1", "--claims", #"{"exp":"tomorrow"}"#])), "malformed")
        XCTAssertEqual(reason(jwt, try hs(["--sub", "1", "--claims", #"{"nbf":null}"#])), "malformed")
    }

    func testHMACKeysAndSecrets() async throws {
        let long = String(repeating: "0123456789abcdef", count: 4)  // 64 bytes: HS384 and HS512 too
        let both = try await verifier(secret: long)
        for alg in ["HS256", "HS384", "HS512"] {
            XCTAssertEqual(reason(both, try hs(["--sub", "1", "--alg", alg], secret: long)), nil, alg)
        }
        let short = try await verifier()
        XCTAssertEqual(reason(short, try hs(["--sub", "1", "--alg", "HS512"])), "unknown key", "HS512 needs 64 bytes")
        XCTAssertEqual(reason(short, try hs(["--sub", "1"], secret: Self.secret + "!")), "bad signature")
        let none = try await verifier(secret: nil)
        XCTAssertEqual(reason(none, try hs(["--sub", "1"])), "unknown key")
        XCTAssertEqual(reason(JWTVerifier.unconfigured, try hs(["--sub", "1"])), "unknown key")
        do {
            _ = try await JWTVerifier.make(secret: "too short", jwksPath: nil)
            XCTFail("a 9-byte secret was accepted")
        } catch {
            XCTAssertTrue("\(error)".contains("at least 32 bytes"), "\(error)")
        }
    }

    func testMalformedAndTampered() async throws {
        let jwt = try await verifier()
        let token = try hs(["--sub", "1"])
        let parts = token.split(separator: ".").map(String.init)
        func signed(header: String, payload: String) -> String {
            let input = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(Array(payload.utf8))
            let mac = HMAC<SHA256>.authenticationCode(for: Array(input.utf8), using: SymmetricKey(data: Array(Self.secret.utf8)))
            return input + "." + Base64URL.encode(Array(mac))
        }
        XCTAssertEqual(reason(jwt, nil), "missing")
        XCTAssertEqual(reason(jwt, ""), "missing")
        for bad in ["abc", "a.b", "a.b.c.d", parts[0] + "." + parts[1], token + ".", "!!.\(parts[1]).\(parts[2])",
                    "\(parts[0]).\(parts[1]).\(parts[2])=", String(repeating: "a", count: JWTVerifier.maxTokenLength + 1)] {
            XCTAssertEqual(reason(jwt, bad), "malformed", bad)
        }
        XCTAssertEqual(reason(jwt, signed(header: "[1]", payload: "{}")), "malformed", "header not an object")
        XCTAssertEqual(reason(jwt, signed(header: #"{"typ":"JWT"}"#, payload: "{}")), "malformed", "no alg")
        XCTAssertEqual(reason(jwt, signed(header: #"{"alg":"HS256","kid":7}"#, payload: "{}")), "malformed")
        XCTAssertEqual(reason(jwt, signed(header: #"{"alg":"HS256","crit":["exp"]}"#, payload: "{}")), "malformed")
        XCTAssertEqual(reason(jwt, signed(header: #"{"alg":"HS256"}"#, payload: "not json")), "malformed")
        XCTAssertEqual(reason(jwt, signed(header: #"{"alg":"HS256"}"#, payload: "[1,2]")), "malformed")
        XCTAssertEqual(try jwt.verify(signed(header: #"{"alg":"HS256","kid":"anything"}"#, payload: #"{"a":1}"#)),
                       .object(["a": .integer(1)]))
        // Another payload under the original signature; a changed signature.
        let other = try hs(["--sub", "2"]).split(separator: ".")[1]
        XCTAssertEqual(reason(jwt, "\(parts[0]).\(other).\(parts[2])"), "bad signature")
        var signature = Array(parts[2])
        signature[5] = signature[5] == "A" ? "B" : "A"
        XCTAssertEqual(reason(jwt, "\(parts[0]).\(parts[1]).\(String(signature))"), "bad signature")
        XCTAssertEqual(reason(jwt, "\(parts[0]).\(parts[1])."), "bad signature", "no signature")
    }

    func testAlgNoneIsRefused() async throws {
        let rsa = try TokenTools.rsaKey(in: directory, kid: "rsa-1")
        let jwt = try await verifier(jwks: try TokenTools.jwks([rsa]))
        let claims = Base64URL.encode(Array(#"{"sub":"1"}"#.utf8))
        for header in [#"{"alg":"none"}"#, #"{"alg":"none","kid":"rsa-1"}"#, #"{"alg":"None"}"#, #"{"alg":"HS999"}"#] {
            let unsigned = Base64URL.encode(Array(header.utf8)) + "." + claims + "."
            XCTAssertEqual(reason(jwt, unsigned), "unknown key", header)
        }
    }

    func testRS256AndES256FromOpenSSL() async throws {
        let rsa = try TokenTools.rsaKey(in: directory, kid: "rsa-1")
        let ec = try TokenTools.ecKey(in: directory, kid: "ec-1")
        let jwt = try await verifier(secret: nil, jwks: try TokenTools.jwks([rsa, ec]))
        let claims = JSONValue.object(["sub": .string("42"), "exp": .integer(Int64(Date().timeIntervalSince1970) + 600)])
        XCTAssertEqual(try jwt.verify(try rsa.sign(claims, header: ["kid": .string("rsa-1")])), claims)
        XCTAssertEqual(try jwt.verify(try ec.sign(claims, header: ["kid": .string("ec-1")])), claims)
        // Without a kid: the only key for the algorithm.
        XCTAssertEqual(try jwt.verify(try rsa.sign(claims)), claims)
        XCTAssertEqual(try jwt.verify(try ec.sign(claims)), claims)
        // Refusals.
        let expired = JSONValue.object(["exp": .integer(1_000)])
        XCTAssertEqual(reason(jwt, try rsa.sign(expired, header: ["kid": .string("rsa-1")])), "expired")
        XCTAssertEqual(reason(jwt, try rsa.sign(claims, header: ["kid": .string("rsa-2")])), "unknown key")
        XCTAssertEqual(reason(jwt, try ec.sign(claims, header: ["kid": .string("rsa-1")])), "unknown key", "ES256 token, RSA kid")
        let impostor = try TokenTools.rsaKey(in: directory, kid: "rsa-1")
        XCTAssertEqual(reason(jwt, try impostor.sign(claims, header: ["kid": .string("rsa-1")])), "bad signature")
        let impostorEC = try TokenTools.ecKey(in: directory, kid: "ec-1")
        XCTAssertEqual(reason(jwt, try impostorEC.sign(claims, header: ["kid": .string("ec-1")])), "bad signature")
        XCTAssertEqual(reason(jwt, try hs(["--sub", "1", "--header", #"{"kid":"rsa-1"}"#])), "unknown key", "no --jwt-secret")
        // Two keys for one algorithm: a token must say which.
        let second = try TokenTools.ecKey(in: directory, kid: "ec-2")
        let two = try await verifier(secret: nil, jwks: try TokenTools.jwks([ec, second]))
        XCTAssertEqual(reason(two, try ec.sign(claims)), "unknown key")
        XCTAssertEqual(reason(two, try second.sign(claims, header: ["kid": .string("ec-2")])), nil)
    }

    /// The classic confusion: an HS256 token whose HMAC key is the server's RSA public key (which is
    /// public), naming that key's kid. HMAC tokens are only checked with the JWT secret.
    func testAlgorithmConfusionIsRefused() async throws {
        let rsa = try TokenTools.rsaKey(in: directory, kid: "rsa-1")
        let publicPEM = try TokenTools.run(["openssl", "pkey", "-in", rsa.pem, "-pubout"])
        let header = Base64URL.encode(Array(#"{"alg":"HS256","kid":"rsa-1"}"#.utf8))
        let input = header + "." + Base64URL.encode(Array(#"{"sub":"admin"}"#.utf8))
        for key in [publicPEM, TokenTools.bytes(hex: "")] + [Array((try JSONWriter.encode(.object(rsa.jwk))))] {
            let mac = HMAC<SHA256>.authenticationCode(for: Array(input.utf8), using: SymmetricKey(data: key))
            let forged = input + "." + Base64URL.encode(Array(mac))
            let jwksOnly = try await verifier(secret: nil, jwks: try TokenTools.jwks([rsa]))
            XCTAssertEqual(reason(jwksOnly, forged), "unknown key")
            let both = try await verifier(jwks: try TokenTools.jwks([rsa]))
            XCTAssertEqual(reason(both, forged), "bad signature")
        }
        // And an RS256 token against a key published for ES256 only.
        let ec = try TokenTools.ecKey(in: directory, kid: "k")
        let mixed = try await verifier(secret: nil, jwks: try TokenTools.jwks([ec]))
        XCTAssertEqual(reason(mixed, try rsa.sign(.object([:]), header: ["kid": .string("k")])), "unknown key")
    }

    func testJWKSDocuments() async throws {
        let rsa = try TokenTools.rsaKey(in: directory, kid: nil)
        var noAlg = try TokenTools.ecKey(in: directory, kid: "no-alg")
        noAlg = TokenTools.Key(alg: "ES256", pem: noAlg.pem, jwk: noAlg.jwk.filter { $0.key != "alg" })
        let oct = JSONValue.object(["kty": .string("oct"), "kid": .string("sym"), "k": .string("c2VjcmV0")])
        let broken = JSONValue.object(["kty": .string("RSA"), "kid": .string("broken"), "alg": .string("RS256")])
        let path = directory.appendingPathComponent("keys.json").path
        try TokenTools.jwks([rsa, noAlg], extra: [oct, broken]).write(to: URL(fileURLWithPath: path))
        let (jwt, report) = try await JWTVerifier.make(secret: nil, jwksPath: path)
        XCTAssertEqual(report?.keyCount, 2)
        XCTAssertEqual(report?.skipped.count, 2, "\(report?.skipped ?? [])")
        XCTAssertEqual(report?.skipped.first, "key 2 (kid sym): kty oct is not a public key type verified here (RSA, EC, OKP)")
        XCTAssertTrue(report?.skipped.last?.hasPrefix("key 3 (kid broken): ") ?? false, "\(report?.skipped ?? [])")
        XCTAssertEqual(reason(jwt, try rsa.sign(.object([:]))), nil, "a key without kid, for tokens without one")
        XCTAssertEqual(reason(jwt, try noAlg.sign(.object([:]), header: ["kid": .string("no-alg")])), nil, "EC P-256 without alg: ES256")

        for (contents, message) in [("{}", "is not a JWKS"), ("not json", "is not a JWKS"), (#"{"keys":[]}"#, "no usable key")] {
            try Data(contents.utf8).write(to: URL(fileURLWithPath: path))
            do {
                _ = try await JWTVerifier.make(secret: nil, jwksPath: path)
                XCTFail("\(contents) was accepted")
            } catch {
                XCTAssertTrue("\(error)".contains(message), "\(error)")
            }
        }
        do {
            _ = try await JWTVerifier.make(secret: nil, jwksPath: directory.appendingPathComponent("missing.json").path)
            XCTFail("a missing file was accepted")
        } catch {
            XCTAssertTrue("\(error)".contains("cannot read"), "\(error)")
        }
    }

    func testReloadSwapsKeysAndKeepsThemOnABadFile() async throws {
        let first = try TokenTools.ecKey(in: directory, kid: "2026-11")
        let next = try TokenTools.ecKey(in: directory, kid: "2026-12")
        let path = directory.appendingPathComponent("keys.json")
        try TokenTools.jwks([first]).write(to: path)
        let (jwt, _) = try await JWTVerifier.make(secret: nil, jwksPath: path.path)
        let jwks = try XCTUnwrap(jwt.jwks)
        let old = try first.sign(.object([:]), header: ["kid": .string("2026-11")])
        let new = try next.sign(.object([:]), header: ["kid": .string("2026-12")])
        XCTAssertEqual(reason(jwt, old), nil)
        XCTAssertEqual(reason(jwt, new), "unknown key")
        let unchanged = try await jwks.reloadIfChanged()
        XCTAssertNil(unchanged)

        try TokenTools.jwks([next]).write(to: path)
        let report = try await jwks.reloadIfChanged()
        XCTAssertEqual(report?.keyCount, 1)
        XCTAssertEqual(reason(jwt, new), nil)
        XCTAssertEqual(reason(jwt, old), "unknown key")

        try Data("{\"keys\": [".utf8).write(to: path)
        do {
            _ = try await jwks.reloadIfChanged()
            XCTFail("a broken file was accepted")
        } catch {
            XCTAssertTrue("\(error)".contains("is not a JWKS"), "\(error)")
        }
        XCTAssertEqual(reason(jwt, new), nil, "the keys in use stay")
    }
}
