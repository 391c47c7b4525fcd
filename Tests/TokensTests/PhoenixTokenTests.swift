import Crypto
import Foundation
import PhoenixProtocol
@testable import Tokens
import XCTest

/// Phoenix.Token: the vectors a Phoenix 1.7.24 app signed, our tokens byte for byte against them, round
/// trips, every way a token is refused, the older formats, and the key cache across threads.
final class PhoenixTokenTests: XCTestCase {
    /// The Phoenix app's `secret_key_base` and salt for the vectors, which it signed at 1,795,000,000 s.
    static let phoenix = try! TokenSigner(secretKeyBase: String(repeating: "k", count: 64))
    static let salt = "user socket"
    static let signedAt = Date(timeIntervalSince1970: 1_795_000_000)

    static let vectors: [(token: String, data: JSONValue, maxAge: Double)] = [
        ("SFMyNTY.g2gDYSpuBgAAXlbuoQFiAAFRgA.W6L3um0B-XdARtGQWnQLTv1I99rZ35L1nxzjW1L0czg", .integer(42), 86_400),
        ("SFMyNTY.g2gDdAAAAAJtAAAABG5hbWVtAAAAA2FuYW0AAAAHdXNlcl9pZGEHbgYAAF5W7qEBYgABUYA.ixvHooI1ksi_iOJMix0eVoq3fbk6ZiKnaZd2BEbDmbo",
         .object(["name": .string("ana"), "user_id": .integer(7)]), 86_400),
        ("SFMyNTY.g2gDbQAAAAN1LTluBgAAXlbuoQFiAAAOEA.n-0NSZsv0ahHhm3hjC328m3ELI3c4HElTI_NAO97lCA", .string("u-9"), 3_600),
    ]

    func testPhoenixVectorsDecodeToTheirData() throws {
        for vector in Self.vectors {
            let justAfter = Self.signedAt.addingTimeInterval(1)
            XCTAssertEqual(try Self.phoenix.verify(salt: Self.salt, token: vector.token, now: justAfter), vector.data)
            XCTAssertEqual(try Self.phoenix.verify(salt: Self.salt, token: vector.token, maxAge: .infinity), vector.data)
            XCTAssertEqual(tokenFailure { try Self.phoenix.verify(salt: Self.salt, token: vector.token) }, .expired, "expired by now")
            XCTAssertEqual(tokenFailure { try Self.phoenix.verify(salt: "other salt", token: vector.token, maxAge: .infinity) }, .invalid)
        }
    }

    func testTheTokensOwnMaxAgeAppliesUnlessTheVerifierGivesOne() throws {
        for vector in Self.vectors {
            let lastValid = Self.signedAt.addingTimeInterval(vector.maxAge)
            XCTAssertEqual(try Self.phoenix.verify(salt: Self.salt, token: vector.token, now: lastValid), vector.data)
            XCTAssertEqual(tokenFailure {
                try Self.phoenix.verify(salt: Self.salt, token: vector.token, now: lastValid.addingTimeInterval(0.001))
            }, .expired)
        }
        let hourLong = Self.vectors[2].token
        let inTwoHours = Self.signedAt.addingTimeInterval(7_200)
        XCTAssertEqual(try Self.phoenix.verify(salt: Self.salt, token: hourLong, maxAge: 86_400, now: inTwoHours), .string("u-9"))
        let dayLong = Self.vectors[0].token
        XCTAssertEqual(tokenFailure { try Self.phoenix.verify(salt: Self.salt, token: dayLong, maxAge: 60, now: inTwoHours) }, .expired)
        XCTAssertEqual(tokenFailure { try Self.phoenix.verify(salt: Self.salt, token: dayLong, maxAge: 0, now: Self.signedAt) }, .expired)
    }

    func testOurTokensAreWhatPhoenixSigns() throws {
        for vector in Self.vectors {
            let ours = try Self.phoenix.sign(salt: Self.salt, data: vector.data, signedAt: Self.signedAt, maxAge: vector.maxAge)
            XCTAssertEqual(ours, vector.token)
        }
    }

    func testRoundTrips() throws {
        let signer = try TokenSigner(secretKeyBase: String(repeating: "s3cr3t-", count: 8))
        let values: [JSONValue] = [
            .integer(1), .integer(-1), .integer(0), .integer(300), .integer(-70_000), .integer(.max), .integer(.min),
            .double(2.5), .double(-1e300), .string(""), .string("alice ✓"), .null, .bool(true), .bool(false),
            .array([]), .array([.integer(1), .integer(2)]), .array([.string("a"), .null]),
            .object([:]), .object(["id": .integer(1), "roles": .array([.string("admin")]), "nested": .object(["x": .null])]),
        ]
        for value in values {
            let token = try signer.sign(salt: "salt identifier", data: value)
            XCTAssertTrue(token.hasPrefix("SFMyNTY."), token)
            XCTAssertEqual(try signer.verify(salt: "salt identifier", token: token), value)
        }
        var deep = JSONValue.integer(1)
        for _ in 0..<100 { deep = .array([deep]) }  // deeper than a Lua value may nest (64)
        XCTAssertEqual(try signer.verify(salt: "s", token: try signer.sign(salt: "s", data: deep)), deep)
        XCTAssertThrowsError(try signer.sign(salt: "s", data: .array([.double(.nan)])))
        XCTAssertThrowsError(try signer.sign(salt: "s", data: .integer(1), maxAge: -1))
        let forever = try signer.sign(salt: "s", data: .integer(1), signedAt: Date(timeIntervalSince1970: 0), maxAge: .infinity)
        XCTAssertEqual(try signer.verify(salt: "s", token: forever), .integer(1), "max_age :infinity in the token")
    }

    func testRefusals() throws {
        let token = Self.vectors[1].token
        let now = Self.signedAt.addingTimeInterval(10)
        func reason(_ candidate: String?, salt: String = PhoenixTokenTests.salt, signer: TokenSigner = PhoenixTokenTests.phoenix) -> TokenSigner.Failure? {
            tokenFailure { try signer.verify(salt: salt, token: candidate, now: now) }
        }
        XCTAssertNil(reason(token))
        XCTAssertEqual(reason(nil), .missing)
        XCTAssertEqual(reason(""), .missing)
        XCTAssertEqual(reason(token, salt: "user socket "), .invalid, "wrong salt")
        XCTAssertEqual(reason(token, signer: try TokenSigner(secretKeyBase: String(repeating: "k", count: 63) + "j")), .invalid, "wrong secret")
        // Tampered: every character of the token changed in turn.
        let characters = Array(token)
        for index in characters.indices where characters[index] != "." {
            var changed = characters
            changed[index] = characters[index] == "A" ? "B" : "A"
            XCTAssertEqual(reason(String(changed)), .invalid, "character \(index) changed")
        }
        // Truncated at every length.
        for length in 0..<characters.count {
            XCTAssertEqual(reason(String(characters.prefix(length))), length == 0 ? .missing : .invalid, "cut at \(length)")
        }
        // Another payload under the original MAC, extra parts, padding.
        let parts = token.split(separator: ".")
        let other = Self.vectors[0].token.split(separator: ".")
        XCTAssertEqual(reason("\(parts[0]).\(other[1]).\(parts[2])"), .invalid)
        XCTAssertEqual(reason(token + ".x"), .invalid)
        XCTAssertEqual(reason(token + "="), .invalid)
        XCTAssertEqual(reason("SFM5OTk.\(parts[1]).\(parts[2])"), .invalid, "unknown digest header")
        XCTAssertEqual(reason(String(repeating: "A", count: TokenSigner.maxTokenLength + 1)), .invalid)
    }

    func testExpiryAndTheFuture() throws {
        let signer = try TokenSigner(secretKeyBase: String(repeating: "s3cr3t-", count: 8))
        let signedAt = Date(timeIntervalSince1970: 1_000_000)
        let token = try signer.sign(salt: "s", data: .integer(1), signedAt: signedAt)
        XCTAssertEqual(try signer.verify(salt: "s", token: token, now: signedAt.addingTimeInterval(86_400)), .integer(1))
        XCTAssertEqual(tokenFailure { try signer.verify(salt: "s", token: token, now: signedAt.addingTimeInterval(86_400.002)) }, .expired)
        XCTAssertEqual(try signer.verify(salt: "s", token: token, maxAge: .infinity, now: signedAt.addingTimeInterval(1e9)), .integer(1))
        // Signed after "now" is invalid, as Plug.Crypto says (unless any age is accepted).
        XCTAssertEqual(tokenFailure { try signer.verify(salt: "s", token: token, now: signedAt.addingTimeInterval(-1)) }, .invalid)
        XCTAssertEqual(try signer.verify(salt: "s", token: token, maxAge: .infinity, now: signedAt.addingTimeInterval(-1)), .integer(1))
    }

    /// Payloads a Phoenix app could sign that have no JSON form, and the older payload shapes Plug reads.
    func testPayloadShapes() throws {
        let key = SymmetricKey(data: PBKDF2.sha256(password: Array(repeating: UInt8(ascii: "k"), count: 64),
                                                   salt: Array(Self.salt.utf8), iterations: 1000, length: 32))
        let signed = ErlangTerm.integer(1_795_000_000_000)
        let now = Self.signedAt.addingTimeInterval(1)
        func verify(_ payload: ErlangTerm) -> Result<JSONValue, TokenSigner.Failure> {
            let token = PlugMessageVerifier.sign(ErlangTermFormat.encode(payload), key: key)
            return Result { () throws(TokenSigner.Failure) in try Self.phoenix.verify(salt: Self.salt, token: token, now: now) }
        }
        XCTAssertEqual(verify(.tuple([.atom("true"), signed])), .success(.bool(true)), "{data, signed} (Plug.Crypto 1.1)")
        XCTAssertEqual(verify(.map([.init(.atom("data"), .string("x")), .init(.atom("signed"), signed)])), .success(.string("x")),
                       "%{data: data, signed: signed} (early Phoenix)")
        XCTAssertEqual(verify(.tuple([.integer(1), signed, .float(1.5)])), .success(.integer(1)), "a float max age")
        XCTAssertEqual(verify(.tuple([.integer(1), signed, .atom("infinity")])), .success(.integer(1)))
        XCTAssertEqual(verify(.tuple([.binary([0xff]), signed, .integer(60)])), .failure(.invalid), "not UTF-8")
        XCTAssertEqual(verify(.tuple([.map([.init(.integer(1), .integer(2))]), signed, .integer(60)])), .failure(.invalid))
        XCTAssertEqual(verify(.tuple([.integer(1), .string("yesterday"), .integer(60)])), .failure(.invalid))
        XCTAssertEqual(verify(.tuple([.integer(1), signed, .atom("forever")])), .failure(.invalid))
        XCTAssertEqual(verify(.tuple([.integer(1), signed, .integer(60), .integer(0)])), .failure(.invalid))
        XCTAssertEqual(verify(.list([.integer(1), signed, .integer(60)])), .failure(.invalid))
        // A pid as data: the decoder refuses it, so the token is invalid (never a crash).
        let pid = [131, 104, 3, 88, 119, 1, 97, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0] + ErlangTermFormat.encode(signed).dropFirst()
            + ErlangTermFormat.encode(.integer(60)).dropFirst()
        let pidToken = PlugMessageVerifier.sign(pid, key: key)
        XCTAssertEqual(tokenFailure { try Self.phoenix.verify(salt: Self.salt, token: pidToken, now: now) }, .invalid)
    }

    func testSHA384AndSHA512MessagesVerifyAsInPlug() throws {
        let key = SymmetricKey(data: PBKDF2.sha256(password: Array(repeating: UInt8(ascii: "k"), count: 64),
                                                   salt: Array(Self.salt.utf8), iterations: 1000, length: 32))
        let payload = Base64URL.encode(PhoenixTokenPayload(data: .integer(5), signedAt: 1_795_000_000_000, maxAge: 60).encoded)
        for (header, mac) in [
            ("SFMzODQ", Array(HMAC<SHA384>.authenticationCode(for: Array("SFMzODQ.\(payload)".utf8), using: key))),
            ("SFM1MTI", Array(HMAC<SHA512>.authenticationCode(for: Array("SFM1MTI.\(payload)".utf8), using: key))),
        ] {
            let token = "\(header).\(payload).\(Base64URL.encode(mac))"
            XCTAssertEqual(try Self.phoenix.verify(salt: Self.salt, token: token, now: Self.signedAt), .integer(5), header)
            XCTAssertEqual(tokenFailure { try Self.phoenix.verify(salt: Self.salt, token: "SFMyNTY.\(payload).\(Base64URL.encode(mac))") }, .invalid)
        }
    }

    /// HelloSockets' earlier format keeps verifying (tokens issued before the switch).
    func testLegacyTokensStillVerify() throws {
        let secret = String(repeating: "s3cr3t-", count: 8)
        let signer = try TokenSigner(secretKeyBase: secret)
        func legacy(_ data: JSONValue, signedAt: Int64, salt: String) throws -> String {
            let payload = Base64URL.encode(try JSONWriter.encode(.object(["data": data, "signed": .integer(signedAt)])))
            let key = SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: Array(salt.utf8), using: SymmetricKey(data: Array(secret.utf8))))
            return payload + "." + Base64URL.encode(Array(HMAC<SHA256>.authenticationCode(for: Array(payload.utf8), using: key)))
        }
        // A token from before the switch, as the old signer wrote it for user 1 at 1,700,000,000.123 s.
        let old = try legacy(.object(["id": .integer(1)]), signedAt: 1_700_000_000_123, salt: "salt identifier")
        XCTAssertTrue(old.hasPrefix("eyJkYXRhIjp7ImlkIjoxfSwic2lnbmVkIjoxNzAwMDAwMDAwMTIzfQ."), old)
        let then = Date(timeIntervalSince1970: 1_700_000_000.123)
        XCTAssertEqual(try signer.verify(salt: "salt identifier", token: old, now: then.addingTimeInterval(86_400)),
                       .object(["id": .integer(1)]))
        XCTAssertEqual(tokenFailure { try signer.verify(salt: "salt identifier", token: old, now: then.addingTimeInterval(86_401)) },
                       .expired, "one day without a max age")
        XCTAssertEqual(try signer.verify(salt: "salt identifier", token: old, maxAge: .infinity), .object(["id": .integer(1)]))
        XCTAssertEqual(tokenFailure { try signer.verify(salt: "other", token: old, maxAge: .infinity) }, .invalid)
        XCTAssertEqual(tokenFailure { try signer.verify(salt: "salt identifier", token: old + "A", maxAge: .infinity) }, .invalid)
    }

    func testPBKDF2() {
        // RFC 7914 §11 (PBKDF2-HMAC-SHA256, "passwd", "salt", 1 round, 64 bytes: two blocks).
        XCTAssertEqual(PBKDF2.sha256(password: Array("passwd".utf8), salt: Array("salt".utf8), iterations: 1, length: 64),
                       hex("55 ac 04 6e 56 e3 08 9f ec 16 91 c2 25 44 b6 05 f9 41 85 21 6d de 04 65 e6 8b 9d 57 c2 0d ac bc "
                           + "49 ca 9c cc f1 79 b6 45 99 16 64 b3 9d 77 ef 31 7c 71 b8 45 b1 e3 0b d5 09 11 20 41 d3 a1 97 83"))
        // Plug's parameters (1000 rounds, 32 bytes); the value is Python's hashlib.pbkdf2_hmac.
        XCTAssertEqual(PBKDF2.sha256(password: Array(repeating: UInt8(ascii: "k"), count: 64), salt: Array("user socket".utf8),
                                     iterations: 1000, length: 32),
                       hex("20 1c 99 ef b0 65 df 40 15 6f 52 c8 84 b8 eb e3 00 c9 1b 45 d3 3d 84 8b 29 dc 1e 99 64 ae e4 82"))
    }

    /// One signer shared by many threads (as by every event loop's VM): each salt's key is derived and
    /// cached while others read it.
    func testTheKeyCacheIsSafeAcrossThreads() throws {
        let signer = try TokenSigner(secretKeyBase: String(repeating: "s3cr3t-", count: 8))
        let tokens = try (0..<8).map { try signer.sign(salt: "salt \($0)", data: .integer(Int64($0))) }
        let failures = Counter()
        DispatchQueue.concurrentPerform(iterations: 64) { iteration in
            let index = iteration % 8
            if (try? signer.verify(salt: "salt \(index)", token: tokens[index])) != .integer(Int64(index)) { failures.add() }
            if (try? signer.verify(salt: "salt \((index + 1) % 8)", token: tokens[index])) != nil { failures.add() }
        }
        XCTAssertEqual(failures.value, 0)
        // Past the cache's capacity the oldest salts are derived again, with the same keys.
        for salt in 0..<(DerivedKeyCache.capacity + 10) { _ = try signer.sign(salt: "many \(salt)", data: .null) }
        XCTAssertEqual(try signer.verify(salt: "salt 3", token: tokens[3]), .integer(3))
    }
}

/// The failure `body` throws, nil when it returns.
func tokenFailure(_ body: () throws -> JSONValue) -> TokenSigner.Failure? {
    caught(body)
}

/// The failure `body` throws, nil when it returns.
func jwtFailure(_ body: () throws -> JSONValue) -> JWTVerifier.Failure? {
    caught(body)
}

private func caught<Failure: Error>(_ body: () throws -> JSONValue) -> Failure? {
    do {
        _ = try body()
        return nil
    } catch let failure as Failure {
        return failure
    } catch {
        XCTFail("unexpected error \(error)")
        return nil
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func add() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
