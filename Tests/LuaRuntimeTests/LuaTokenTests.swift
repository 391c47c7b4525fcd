import Crypto
import Foundation
import LuaRuntime
import PhoenixProtocol
import Tokens
import XCTest

/// `phx.token.sign` / `phx.token.verify` (Phoenix.Token) and `phx.jwt.verify` as channel scripts see them.
final class LuaTokenTests: XCTestCase {
    /// A Phoenix app's `secret_key_base`; the vectors below were signed with it (salt "user socket",
    /// at 1,795,000,000 s) by Phoenix 1.7.24.
    let phoenix = try! TokenSigner(secretKeyBase: String(repeating: "k", count: 64))
    let vectors: [(token: String, data: JSONValue)] = [
        ("SFMyNTY.g2gDYSpuBgAAXlbuoQFiAAFRgA.W6L3um0B-XdARtGQWnQLTv1I99rZ35L1nxzjW1L0czg", j(42)),
        ("SFMyNTY.g2gDdAAAAAJtAAAABG5hbWVtAAAAA2FuYW0AAAAHdXNlcl9pZGEHbgYAAF5W7qEBYgABUYA.ixvHooI1ksi_iOJMix0eVoq3fbk6ZiKnaZd2BEbDmbo",
         j(["name": "ana", "user_id": 7])),
        ("SFMyNTY.g2gDbQAAAAN1LTluBgAAXlbuoQFiAAAOEA.n-0NSZsv0ahHhm3hjC328m3ELI3c4HElTI_NAO97lCA", j("u-9")),
    ]

    static let tokenChannel = """
        local channel = { topic = "tok" }
        function channel.join() return phx.ok() end
        local function result(value, reason) return phx.ok({ value = value == nil and phx.null or value, reason = reason }) end
        function channel.handle_in(event, p, socket)
          if event == "sign" then return phx.ok({ token = phx.token.sign(p.salt, p.data, p.opts) }) end
          if event == "sign_forever" then return phx.ok({ token = phx.token.sign("s", 1, { max_age = math.huge, signed_at = 0 }) }) end
          if event == "verify" then
            return result(phx.token.verify(p.salt, p.token, p.max_age == "huge" and math.huge or p.max_age))
          end
          if event == "jwt" then return result(phx.jwt.verify(p.token, p.opts)) end
          if event == "in_coroutine" then
            -- Natives called from a coroutine read their arguments from that coroutine's stack.
            local token = coroutine.wrap(function() return phx.token.sign("s", { from = "coroutine" }) end)()
            return phx.ok({ data = phx.token.verify("s", token) })
          end
          if event == "bad_sign" then return phx.ok({ token = phx.token.sign("s", 1, p.opts) }) end
          if event == "bad_jwt" then return phx.ok({ claims = phx.jwt.verify("x", p.opts) }) end
          error("no clause for " .. event)
        end
        return channel
        """

    /// The token channel joined on a VM with these limits.
    final class TokenChannel {
        let registry: ChannelRegistry
        let joined: Joined
        var ref = 0

        init(_ limits: LuaLimits) throws {
            let (registry, vm) = try makeVM(["tok.lua": LuaTokenTests.tokenChannel], limits: limits)
            self.registry = registry
            self.joined = try join(vm, registry, topic: "tok")
        }

        func send(_ event: String, _ payload: [String: Any?]) -> CallbackResult {
            ref += 1
            return joined.vm.handleIn(joined.id, event: event, payload: .json(j(payload)), ref: .string("\(ref)"))
        }
    }

    func channel(_ limits: LuaLimits) throws -> TokenChannel {
        try TokenChannel(limits)
    }

    func testPhoenixVectorsThroughLua() throws {
        var limits = LuaLimits()
        limits.tokenSigner = phoenix
        let tok = try channel(limits)
        for vector in vectors {
            XCTAssertEqual(tok.send("verify", ["salt": "user socket", "token": vector.token, "max_age": "huge"]),
                           .reply(status: "ok", response: .object(["value": vector.data])))
            XCTAssertEqual(tok.send("verify", ["salt": "user socket", "token": vector.token]),
                           .reply(status: "ok", response: j(["value": nil, "reason": "expired"])), "the token's own max age")
            XCTAssertEqual(tok.send("verify", ["salt": "other", "token": vector.token, "max_age": "huge"]),
                           .reply(status: "ok", response: j(["value": nil, "reason": "invalid"])))
        }
        // Signing with Phoenix's options gives Phoenix's bytes.
        let signed = tok.send("sign", ["salt": "user socket", "data": "u-9", "opts": ["signed_at": 1_795_000_000, "max_age": 3600]])
        XCTAssertEqual(signed, .reply(status: "ok", response: j(["token": vectors[2].token])))
    }

    func testSignAndVerifyUseTheConfiguredSecret() throws {
        let signer = try TokenSigner(secretKeyBase: String(repeating: "s3cr3t-", count: 8))
        var limits = LuaLimits()
        limits.tokenSigner = signer
        let tok = try channel(limits)
        guard case .reply("ok", let response) = tok.send("sign", ["salt": "s", "data": ["user": 7]]),
            case .string(let token)? = response["token"]
        else { return XCTFail("expected a token") }
        XCTAssertTrue(token.hasPrefix("SFMyNTY."), token)
        XCTAssertEqual(try signer.verify(salt: "s", token: token), j(["user": 7]))

        func verify(_ payload: [String: Any?]) -> JSONValue? {
            guard case .reply("ok", let response) = tok.send("verify", payload) else { return nil }
            return response
        }
        XCTAssertEqual(verify(["salt": "s", "token": token]), j(["value": ["user": 7]]))
        XCTAssertEqual(verify(["salt": "s", "token": token, "max_age": 60]), j(["value": ["user": 7]]))
        XCTAssertEqual(verify(["salt": "t", "token": token]), j(["value": nil, "reason": "invalid"]))
        XCTAssertEqual(verify(["salt": "s"]), j(["value": nil, "reason": "missing"]))
        XCTAssertEqual(verify(["salt": "s", "token": 12]), j(["value": nil, "reason": "invalid"]))
        let old = try signer.sign(salt: "s", data: j(1), signedAt: Date().addingTimeInterval(-120))
        XCTAssertEqual(verify(["salt": "s", "token": old, "max_age": 60]), j(["value": nil, "reason": "expired"]))
        XCTAssertEqual(verify(["salt": "s", "token": old, "max_age": 600]), j(["value": 1]))
        let shortLived = try signer.sign(salt: "s", data: j(1), signedAt: Date().addingTimeInterval(-120), maxAge: 60)
        XCTAssertEqual(verify(["salt": "s", "token": shortLived]), j(["value": nil, "reason": "expired"]), "its own 60 s")
        XCTAssertEqual(verify(["salt": "s", "token": shortLived, "max_age": 600]), j(["value": 1]), "the verifier's 600 s")

        guard case .reply("ok", let forever) = tok.send("sign_forever", [:]), case .string(let ancient)? = forever["token"] else {
            return XCTFail("expected a token")
        }
        XCTAssertEqual(try signer.verify(salt: "s", token: ancient), j(1), "signed in 1970 with max_age math.huge")

        XCTAssertEqual(tok.send("in_coroutine", [:]), .reply(status: "ok", response: j(["data": ["from": "coroutine"]])))
    }

    func testBadArgumentsCrashTheChannelWithAMessage() throws {
        let cases: [(String, [String: Any?], String)] = [
            ("sign", ["data": 1], "bad argument #1 to 'sign' (salt string expected, got a nil)"),
            ("bad_sign", ["opts": ["max_age": -1]], "bad argument #3 to 'sign' (max_age: seconds >= 0 expected"),
            ("bad_sign", ["opts": ["maxage": 1]], "bad argument #3 to 'sign' (unknown option 'maxage'; options: max_age, signed_at)"),
            ("bad_sign", ["opts": ["signed_at": "now"]], "bad argument #3 to 'sign' (signed_at: number expected, got a string)"),
            ("bad_sign", ["opts": "forever"], "bad argument #3 to 'sign' (options table expected, got a string)"),
            ("verify", ["salt": "s", "token": "x", "max_age": -5], "bad argument #3 to 'verify' (max_age: seconds >= 0 expected)"),
            ("bad_jwt", ["opts": ["issuer": "x"]], "bad argument #2 to 'verify' (unknown option 'issuer'; options: iss, aud, leeway_s)"),
            ("bad_jwt", ["opts": ["leeway_s": -1]], "bad argument #2 to 'verify' (leeway_s: seconds >= 0 expected"),
            ("bad_jwt", ["opts": ["aud": 3]], "bad argument #2 to 'verify' (aud: string expected, got a number)"),
        ]
        for (event, payload, message) in cases {
            let tok = try channel(LuaLimits())
            let result = tok.send(event, payload)
            XCTAssertTrue(crash(result)?.message.contains(message) ?? false, "\(event) \(payload): \(result)")
        }
    }

    func testJWTVerifyThroughLua() async throws {
        let secret = "0123456789abcdef0123456789abcdef"
        func hs256(_ claims: String) -> String {
            let input = Base64URL.encode(Array(#"{"alg":"HS256","typ":"JWT"}"#.utf8)) + "." + Base64URL.encode(Array(claims.utf8))
            let mac = HMAC<SHA256>.authenticationCode(for: Array(input.utf8), using: SymmetricKey(data: Array(secret.utf8)))
            return input + "." + Base64URL.encode(Array(mac))
        }
        var limits = LuaLimits()
        limits.jwtVerifier = try await JWTVerifier.make(secret: secret, jwksPath: nil).verifier
        let tok = try channel(limits)
        let later = Int(Date().timeIntervalSince1970) + 600
        let token = hs256(#"{"sub":"42","iss":"backend","aud":["a","hello"],"exp":\#(later),"roles":["admin"]}"#)
        func verify(_ token: String?, _ opts: [String: Any]? = nil) -> JSONValue? {
            guard case .reply("ok", let response) = tok.send("jwt", ["token": token, "opts": opts]) else { return nil }
            return response
        }
        XCTAssertEqual(verify(token, ["iss": "backend", "aud": "hello"])?["value"]?["roles"], j(["admin"]))
        XCTAssertEqual(verify(token, ["iss": "someone"]), j(["value": nil, "reason": "claim iss"]))
        XCTAssertEqual(verify(token, ["aud": "b"]), j(["value": nil, "reason": "claim aud"]))
        XCTAssertEqual(verify(hs256(#"{"exp":1000}"#)), j(["value": nil, "reason": "expired"]))
        XCTAssertEqual(verify(hs256(#"{"nbf":\#(later)}"#)), j(["value": nil, "reason": "not yet valid"]))
        XCTAssertEqual(verify(hs256(#"{"nbf":\#(later)}"#), ["leeway_s": 601])?["reason"], nil)
        XCTAssertEqual(verify(token + "x"), j(["value": nil, "reason": "bad signature"]))
        XCTAssertEqual(verify("a.b"), j(["value": nil, "reason": "malformed"]))
        XCTAssertEqual(verify(nil), j(["value": nil, "reason": "missing"]))

        let unconfigured = try channel(LuaLimits())
        XCTAssertEqual(unconfigured.send("jwt", ["token": token]),
                       .reply(status: "ok", response: j(["value": nil, "reason": "unknown key"])))
    }
}
