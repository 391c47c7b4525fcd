import CLua
import CLuaShim
import Foundation
import PhoenixProtocol
import Tokens

/// The natives behind `phx.token.sign` / `phx.token.verify` (Phoenix.Token) and `phx.jwt.verify`.
/// Like every native they return the number of results, or -1 after pushing an error message.
extension LuaVM {
    /// `phx.token.sign(salt, data[, {max_age = s, signed_at = s}])` → token.
    func tokenSign() -> Int32 {
        guard let salt = string(at: 1) else {
            return fail("bad argument #1 to 'sign' (salt string expected, got \(describe(at: 1)))")
        }
        var maxAge = TokenSigner.defaultMaxAge
        var signedAt = Date()
        let problem = readOptions(at: 3, function: "sign", known: ["max_age", "signed_at"]) { name, index in
            guard lua_type(L, index) == LUA_TNUMBER else { return "number expected, got \(describe(at: index))" }
            let value = hs_tonumber(L, index)
            if name == "max_age" {
                guard value >= 0 else { return "seconds >= 0 expected (math.huge: no limit)" }
                maxAge = value
            } else {
                guard value.isFinite else { return "seconds since 1970 expected" }
                signedAt = Date(timeIntervalSince1970: value)
            }
            return nil
        }
        if let problem { return fail(problem) }
        let token: String
        do {
            let data = try readJSON(at: 2, path: "data")
            token = try limits.tokenSigner.sign(salt: salt, data: data, signedAt: signedAt, maxAge: maxAge)
        } catch {
            return fail("bad argument #2 to 'sign' (\(error))")
        }
        pushString(token)
        return 1
    }

    /// `phx.token.verify(salt, token[, max_age])` → data, or nil and "missing" / "invalid" / "expired".
    /// Without max_age the token's own applies (the signer's, one day by default), as Phoenix.Token.
    func tokenVerify() -> Int32 {
        guard let salt = string(at: 1) else {
            return fail("bad argument #1 to 'verify' (salt string expected, got \(describe(at: 1)))")
        }
        var maxAge: Double?
        if lua_type(L, 3) == LUA_TNUMBER {
            let seconds = hs_tonumber(L, 3)
            guard seconds >= 0 else { return fail("bad argument #3 to 'verify' (max_age: seconds >= 0 expected)") }
            maxAge = seconds
        } else if lua_type(L, 3) > LUA_TNIL {
            return fail("bad argument #3 to 'verify' (max_age: number expected, got \(describe(at: 3)))")
        }
        do {
            push(try limits.tokenSigner.verify(salt: salt, token: tokenArgument(at: 2), maxAge: maxAge))
            return 1
        } catch {
            return pushFailure(error.rawValue)
        }
    }

    /// `phx.jwt.verify(token[, {iss = …, aud = …, leeway_s = …}])` → claims, or nil and a reason
    /// (`JWTVerifier.Failure`'s raw values: "expired", "bad signature", "claim iss"…).
    func jwtVerify() -> Int32 {
        var options = JWTVerifier.Options()
        let problem = readOptions(at: 2, function: "verify", known: ["iss", "aud", "leeway_s"]) { name, index in
            if name == "leeway_s" {
                guard lua_type(L, index) == LUA_TNUMBER, hs_tonumber(L, index) >= 0 else {
                    return "seconds >= 0 expected, got \(describe(at: index))"
                }
                options.leeway = hs_tonumber(L, index)
                return nil
            }
            guard let value = string(at: index) else { return "string expected, got \(describe(at: index))" }
            if name == "iss" { options.issuer = value } else { options.audience = value }
            return nil
        }
        if let problem { return fail(problem) }
        do {
            push(try limits.jwtVerifier.verify(tokenArgument(at: 1), options: options))
            return 1
        } catch {
            return pushFailure(error.rawValue)
        }
    }

    /// A token argument: nil (or phx.null) is no token; anything but a string cannot be one (a NUL is
    /// never a valid token).
    private func tokenArgument(at index: Int32) -> String? {
        switch lua_type(L, index) {
        case LUA_TNIL, LUA_TNONE: return nil
        case LUA_TSTRING: return string(at: index)
        default: return isNull(at: index) ? nil : "\u{0}"
        }
    }

    /// Pushes nil and `reason`: the `nil, reason` of a refused token.
    private func pushFailure(_ reason: String) -> Int32 {
        lua_pushnil(L)
        pushString(reason)
        return 2
    }

    /// Reads the options table at `index` (absent or nil: no options). Every key must be one of `known`;
    /// `read` gets each name and its value's index and returns a problem or nil. Returns the first problem
    /// as a "bad argument" message, or nil.
    private func readOptions(
        at index: Int32, function: String, known: [String], _ read: (String, Int32) -> String?
    ) -> String? {
        let argument = "bad argument #\(index) to '\(function)'"
        switch lua_type(L, index) {
        case LUA_TNONE, LUA_TNIL: return nil
        case LUA_TTABLE: break
        default: return "\(argument) (options table expected, got \(describe(at: index)))"
        }
        let table = lua_absindex(L, index)
        lua_pushnil(L)
        while lua_next(L, table) != 0 {
            let value = lua_absindex(L, -1)
            guard lua_type(L, -2) == LUA_TSTRING, let name = string(at: -2), known.contains(name) else {
                let key = lua_type(L, -2) == LUA_TSTRING ? "'\(string(at: -2) ?? "")'" : describe(at: -2)
                hs_pop(L, 2)
                return "\(argument) (unknown option \(key); options: \(known.joined(separator: ", ")))"
            }
            if let problem = read(name, value) {
                hs_pop(L, 2)
                return "\(argument) (\(name): \(problem))"
            }
            hs_pop(L, 1)
        }
        return nil
    }
}
