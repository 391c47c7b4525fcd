import Foundation
import LuaRuntime
import PhoenixProtocol
import XCTest

/// Phoenix.Token for Lua: the Swift signer and `phx.token.sign` / `phx.token.verify`.
final class TokenSignerTests: XCTestCase {
    let signer = try! TokenSigner(secretKeyBase: String(repeating: "s3cr3t-", count: 8))

    func testRoundTripsAnyJSONValue() throws {
        for value in [j(1), j("alice"), j(["id": 1, "roles": ["admin"]]), j([1, 2]), .null, j(true), j(2.5)] {
            let token = try signer.sign(salt: "salt identifier", data: value)
            XCTAssertEqual(try signer.verify(salt: "salt identifier", token: token), value)
        }
    }

    func testFormatIsBase64URLPayloadDotMAC() throws {
        let signedAt = Date(timeIntervalSince1970: 1_700_000_000.123)
        let token = try signer.sign(salt: "s", data: j(["id": 1]), signedAt: signedAt)
        let parts = token.split(separator: ".")
        XCTAssertEqual(parts.count, 2)
        XCTAssertFalse(token.contains("=") || token.contains("+") || token.contains("/"), token)
        var base64 = parts[0].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        let payload = String(decoding: try XCTUnwrap(Data(base64Encoded: base64)), as: UTF8.self)
        XCTAssertEqual(payload, #"{"data":{"id":1},"signed":1700000000123}"#)
        XCTAssertEqual(parts[1].count, 43)  // 32 bytes of HMAC-SHA256, unpadded
    }

    func testRefusesOtherSaltsSecretsAndTampering() throws {
        let token = try signer.sign(salt: "salt identifier", data: j(1))
        XCTAssertThrowsError(try signer.verify(salt: "other", token: token)) { XCTAssertEqual($0 as? TokenSigner.Failure, .invalid) }
        let other = try TokenSigner(secretKeyBase: String(repeating: "x", count: 64))
        XCTAssertThrowsError(try other.verify(salt: "salt identifier", token: token)) { XCTAssertEqual($0 as? TokenSigner.Failure, .invalid) }
        // Another payload under the original MAC.
        let forged = try signer.sign(salt: "salt identifier", data: j(2)).split(separator: ".")[0] + "." + token.split(separator: ".")[1]
        XCTAssertThrowsError(try signer.verify(salt: "salt identifier", token: String(forged))) { XCTAssertEqual($0 as? TokenSigner.Failure, .invalid) }
        for bad in ["x", "a.b.c", ".", "!!.??", token + "A", String(token.dropLast())] {
            XCTAssertThrowsError(try signer.verify(salt: "salt identifier", token: bad), bad) { XCTAssertEqual($0 as? TokenSigner.Failure, .invalid) }
        }
        for missing in [nil, ""] as [String?] {
            XCTAssertThrowsError(try signer.verify(salt: "salt identifier", token: missing)) { XCTAssertEqual($0 as? TokenSigner.Failure, .missing) }
        }
    }

    func testExpiresAfterMaxAge() throws {
        let signedAt = Date(timeIntervalSince1970: 1_000_000)
        let token = try signer.sign(salt: "s", data: j(1), signedAt: signedAt)
        XCTAssertEqual(try signer.verify(salt: "s", token: token, maxAge: 86_400, now: signedAt.addingTimeInterval(86_400)), j(1))
        XCTAssertThrowsError(try signer.verify(salt: "s", token: token, maxAge: 86_400, now: signedAt.addingTimeInterval(86_400.01))) {
            XCTAssertEqual($0 as? TokenSigner.Failure, .expired)
        }
        XCTAssertEqual(try signer.verify(salt: "s", token: token, maxAge: .infinity, now: signedAt.addingTimeInterval(1e9)), j(1))
    }

    func testShortSecretsAreRefused() {
        XCTAssertThrowsError(try TokenSigner(secretKeyBase: "short"))
    }

    // MARK: - Lua

    static let tokenChannel = """
        local channel = { topic = "tok" }
        function channel.join() return phx.ok() end
        function channel.handle_in(event, payload, socket)
          if event == "sign" then return phx.ok({ token = phx.token.sign(payload.salt, payload.data) }) end
          if event == "in_coroutine" then
            -- Natives called from a coroutine read their arguments from that coroutine's stack.
            local token = coroutine.wrap(function() return phx.token.sign("s", { from = "coroutine" }) end)()
            return phx.ok({ data = phx.token.verify("s", token) })
          end
          local data, reason = phx.token.verify(payload.salt, payload.token, payload.max_age)
          return phx.ok({ data = data == nil and phx.null or data, reason = reason })
        end
        return channel
        """

    func testLuaSignAndVerifyUseTheConfiguredSecret() throws {
        var limits = LuaLimits()
        limits.tokenSigner = signer
        let (registry, vm) = try makeVM(["tok.lua": Self.tokenChannel], limits: limits)
        let c = try join(vm, registry, topic: "tok")
        let signed = vm.handleIn(c.id, event: "sign", payload: .json(j(["salt": "s", "data": ["user": 7]])), ref: .string("1"))
        guard case .reply("ok", let response) = signed, case .string(let token)? = response["token"] else {
            return XCTFail("expected a token, got \(signed)")
        }
        XCTAssertEqual(try signer.verify(salt: "s", token: token), j(["user": 7]))

        func verify(_ payload: [String: Any?]) -> JSONValue? {
            guard case .reply("ok", let response) = vm.handleIn(c.id, event: "verify", payload: .json(j(payload)), ref: .string("2")) else { return nil }
            return response
        }
        XCTAssertEqual(verify(["salt": "s", "token": token]), j(["data": ["user": 7]]))
        XCTAssertEqual(verify(["salt": "s", "token": token, "max_age": 60]), j(["data": ["user": 7]]))
        XCTAssertEqual(verify(["salt": "t", "token": token]), j(["data": nil, "reason": "invalid"]))
        XCTAssertEqual(verify(["salt": "s"]), j(["data": nil, "reason": "missing"]))
        XCTAssertEqual(verify(["salt": "s", "token": 12]), j(["data": nil, "reason": "invalid"]))
        let old = try signer.sign(salt: "s", data: j(1), signedAt: Date().addingTimeInterval(-120))
        XCTAssertEqual(verify(["salt": "s", "token": old, "max_age": 60]), j(["data": nil, "reason": "expired"]))
        XCTAssertEqual(verify(["salt": "s", "token": old, "max_age": 600]), j(["data": 1]))

        let fromCoroutine = vm.handleIn(c.id, event: "in_coroutine", payload: .json(empty), ref: .string("4"))
        XCTAssertEqual(fromCoroutine, .reply(status: "ok", response: j(["data": ["from": "coroutine"]])))

        let crashed = vm.handleIn(c.id, event: "sign", payload: .json(j(["data": 1])), ref: .string("3"))
        XCTAssertTrue(crash(crashed)?.message.contains("bad argument #1 to 'sign'") ?? false, "\(crashed)")
    }
}
