import CLua
import CLuaShim
import Foundation
import KeyValueStore
import Logging
import PhoenixProtocol

/// `phx.http.request`, `phx.kv.*` and `phx.json.*`: the natives that reach outside the VM.
/// Requests and store calls that have to wait suspend the calling callback (`LuaVM+Coroutines`);
/// failures the script can do nothing about come back as `nil, err` and are logged with the
/// script's file:line and topic.
extension LuaVM {
    /// A bad argument to a native, raised with the caller's position.
    struct ArgumentError: Error {
        var message: String
    }

    // MARK: phx.http.request

    func httpRequest() -> Int32 {
        let bad = { (what: String) in self.fail("bad argument #1 to 'request' (\(what))") }
        guard lua_type(L, 1) == LUA_TTABLE else { return bad("table expected, got \(describe(at: 1))") }
        var method = "GET"
        if field("method", ofTableAt: 1) != LUA_TNIL {
            guard let m = string(at: -1), !m.isEmpty, m.utf8.allSatisfy({ $0 >= 0x41 && $0 <= 0x5A || $0 >= 0x61 && $0 <= 0x7A }) else {
                hs_pop(L, 1)
                return bad("method: a word such as \"POST\" expected")
            }
            method = m.uppercased()
        }
        hs_pop(L, 1)
        field("url", ofTableAt: 1)
        let urlText = string(at: -1)
        hs_pop(L, 1)
        guard let urlText, let url = URL(string: urlText), let scheme = url.scheme?.lowercased(),
            scheme == "http" || scheme == "https", url.host?.isEmpty == false
        else { return bad("url: an http:// or https:// URL with a host expected") }
        var headers: [(name: String, value: String)] = []
        if field("headers", ofTableAt: 1) != LUA_TNIL {
            guard lua_type(L, -1) == LUA_TTABLE else {
                hs_pop(L, 1)
                return bad("headers: a table of name = value expected")
            }
            lua_pushnil(L)
            while lua_next(L, -2) != 0 {
                let name = lua_type(L, -2) == LUA_TSTRING ? string(at: -2) : nil
                let value = lua_type(L, -1) == LUA_TNUMBER ? String(cString: lua_tolstring(L, -1, nil)) : string(at: -1)
                hs_pop(L, 1)
                guard let name, let value, !name.isEmpty, Self.isHeaderSafe(name), Self.isHeaderSafe(value) else {
                    hs_pop(L, 2)
                    return bad("headers: names and values must be strings without line breaks")
                }
                headers.append((name, value))
            }
        }
        hs_pop(L, 1)
        var body: [UInt8]?
        if field("body", ofTableAt: 1) != LUA_TNIL {
            guard let bytes = bytes(at: -1) else {
                hs_pop(L, 1)
                return bad("body: a string expected (phx.json.encode makes one from a table)")
            }
            body = bytes
        }
        hs_pop(L, 1)
        let policy = services.httpPolicy
        var timeout = policy.defaultTimeoutMilliseconds
        if field("timeout_ms", ofTableAt: 1) != LUA_TNIL {
            guard lua_type(L, -1) == LUA_TNUMBER, hs_tonumber(L, -1) > 0, hs_tonumber(L, -1).isFinite else {
                hs_pop(L, 1)
                return bad("timeout_ms: milliseconds > 0 expected")
            }
            timeout = Int(min(hs_tonumber(L, -1).rounded(.up), Double(Int32.max)))
        }
        hs_pop(L, 1)
        if let why = cannotWait("phx.http.request") { return fail(why) }

        let call = HTTPCallContext(
            method: method, url: urlText, site: position(in: L, level: 1) ?? runningScript?.path ?? "?",
            topic: runningScript?.topic, start: DispatchTime.now().uptimeNanoseconds)
        guard policy.allows(url) else { return httpFailed(.notAllowed, call) }
        guard let client = services.http else { return httpFailed(.unavailable, call) }
        guard httpInFlight < policy.maxConcurrentPerVM else {
            return httpFailed(.tooManyRequests(limit: policy.maxConcurrentPerVM), call)
        }
        httpInFlight += 1
        let wait = makeWaitID()
        let request = ScriptHTTPRequest(method: method, url: url, headers: headers, body: body, timeoutMilliseconds: timeout)
        let executor = services.executor
        let cancel = client.execute(request) { [weak self] result in
            executor {
                guard let self else { return }
                self.httpInFlight -= 1
                if case .failure(let error) = result { self.logHTTPFailure(error, call) }
                self.recordHTTP(result.map(\.status), call)
                self.resume(wait) { vm in vm.pushHTTPResult(result) }
            }
        }
        return suspend(wait, what: "phx.http.request \(method) \(urlText)", site: call.site, cancel: cancel)
    }

    /// Where and when a request was made, for its log line and record.
    struct HTTPCallContext {
        var method: String
        var url: String
        var site: String
        var topic: String?
        var start: UInt64
    }

    /// A request that fails before it starts: logged and recorded, `nil, err` for the script.
    private func httpFailed(_ error: ScriptHTTPError, _ call: HTTPCallContext) -> Int32 {
        logHTTPFailure(error, call)
        recordHTTP(.failure(error), call)
        return pushHTTPResult(.failure(error))
    }

    private func logHTTPFailure(_ error: ScriptHTTPError, _ call: HTTPCallContext) {
        var metadata: Logger.Metadata = [:]
        if let topic = call.topic { metadata["topic"] = .string(topic) }
        logger.warning("\(call.site): phx.http.request \(call.method) \(call.url): \(error)", metadata: metadata)
    }

    private func recordHTTP(_ outcome: Result<Int, ScriptHTTPError>, _ call: HTTPCallContext) {
        guard let observer = services.onHTTPCall else { return }
        observer(HTTPCallRecord(
            method: call.method, url: call.url, outcome: outcome,
            durationNanoseconds: DispatchTime.now().uptimeNanoseconds &- call.start, site: call.site, topic: call.topic))
    }

    /// `response` (`{status, headers, body}`), or `nil, reason`.
    func pushHTTPResult(_ result: Result<ScriptHTTPResponse, ScriptHTTPError>) -> Int32 {
        switch result {
        case .success(let response):
            lua_createtable(L, 0, 3)
            lua_pushinteger(L, Int64(response.status))
            lua_setfield(L, -2, "status")
            var merged: [String: String] = [:]
            for (name, value) in response.headers {
                let key = name.lowercased()
                merged[key] = merged[key].map { "\($0), \(value)" } ?? value
            }
            lua_createtable(L, 0, Int32(clamping: merged.count))
            for (name, value) in merged {
                pushString(value)
                lua_setfield(L, -2, name)
            }
            lua_setfield(L, -2, "headers")
            pushBytes(response.body)
            lua_setfield(L, -2, "body")
            return 1
        case .failure(let error):
            lua_pushnil(L)
            pushString(error.reason)
            return 2
        }
    }

    private static func isHeaderSafe(_ text: String) -> Bool {
        !text.utf8.contains { $0 == 0x0D || $0 == 0x0A || $0 == 0 }
    }

    func pushBytes(_ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { _ = lua_pushlstring(L, $0.baseAddress, $0.count) }
        }
    }

    // MARK: phx.json

    func json(_ native: Native) -> Int32 {
        if native == .jsonEncode {
            do {
                let bytes = try JSONWriter.encode(try readJSON(at: 1, path: "value"))
                pushBytes(bytes)
                return 1
            } catch {
                return fail("bad argument #1 to 'encode' (\(error))")
            }
        }
        guard let text = bytes(at: 1) else {
            return fail("bad argument #1 to 'decode' (string expected, got \(describe(at: 1)))")
        }
        do {
            push(try JSONParser(maxDepth: limits.maxValueDepth).parse(text))
            return 1
        } catch {
            lua_pushnil(L)
            pushString("invalid JSON: \(error)")
            return 2
        }
    }

    // MARK: phx.kv

    /// Longest key `phx.kv` takes, in bytes.
    static let maxKeyBytes = 1024

    func keyValue(_ native: Native) -> Int32 {
        let name = String(native.luaName.dropFirst(3))  // kv_get -> get
        guard let key = string(at: 1), !key.isEmpty, key.utf8.count <= Self.maxKeyBytes else {
            return fail("bad argument #1 to '\(name)' (a key expected: a string of 1 to \(Self.maxKeyBytes) bytes)")
        }
        func integer(_ index: Int32, _ what: String, default value: Int64?, minimum: Int64) -> Result<Int64, ArgumentError> {
            if lua_type(L, index) <= LUA_TNIL, let value { return .success(value) }
            guard lua_type(L, index) == LUA_TNUMBER, hs_isinteger(L, index) != 0, hs_tointeger(L, index) >= minimum else {
                let bound = minimum == .min ? "" : " >= \(minimum)"
                return .failure(ArgumentError(
                    message: "bad argument #\(index) to '\(name)' (\(what): an integer\(bound) expected, got \(describe(at: index)))"))
            }
            return .success(hs_tointeger(L, index))
        }
        func value(_ index: Int32) -> Result<JSONValue, ArgumentError> {
            do { return .success(try readJSON(at: index, path: "value")) } catch {
                return .failure(ArgumentError(message: "bad argument #\(index) to '\(name)' (\(error))"))
            }
        }
        let command: KVCommand
        switch native {
        case .kvSet:
            let ttl = integer(3, "ttl_ms", default: 0, minimum: 0)
            switch (value(2), ttl) {
            case (.success(let v), .success(let t)): command = .set(key: key, value: v, ttlMilliseconds: t > 0 ? Int(t) : nil)
            case (.failure(let error), _), (_, .failure(let error)): return fail(error.message)
            }
        case .kvIncr:
            switch integer(2, "by", default: 1, minimum: Int64.min) {
            case .success(let by): command = .incr(key: key, by: by)
            case .failure(let error): return fail(error.message)
            }
        case .kvDelete:
            command = .delete(key: key)
        case .kvPush:
            let length = integer(3, "max_len", default: nil, minimum: 1)
            switch (value(2), length) {
            case (.success(let v), .success(let n)): command = .push(key: key, value: v, maxLength: Int(clamping: n))
            case (.failure(let error), _), (_, .failure(let error)): return fail(error.message)
            }
        case .kvRange:
            switch integer(2, "n", default: nil, minimum: 0) {
            case .success(let n): command = .range(key: key, count: Int(clamping: n))
            case .failure(let error): return fail(error.message)
            }
        default:
            command = .get(key: key)
        }
        let site = position(in: L, level: 1) ?? runningScript?.path ?? "?"
        let topic = runningScript?.topic
        guard let store = services.kv else {
            return pushKVResult(.failure(KVError(reason: "unavailable", message: "unavailable: no key-value store")),
                                command, site: site, topic: topic)
        }
        if let answer = store.answerNow(command) { return pushKVResult(answer, command, site: site, topic: topic) }
        if let why = cannotWait("phx.kv.\(name)") { return fail(why) }
        let wait = makeWaitID()
        let executor = services.executor
        store.execute(command) { [weak self] result in
            executor { self?.resume(wait) { vm in vm.pushKVResult(result, command, site: site, topic: topic) } }
        }
        return suspend(wait, what: "phx.kv.\(name) \(key)", site: site, cancel: nil)
    }

    /// The reply as the script sees it (`value`, the new integer, a list, `true`), or `nil, err` (logged).
    func pushKVResult(_ result: Result<KVReply, KVError>, _ command: KVCommand, site: String, topic: String?) -> Int32 {
        switch result {
        case .success(.value(let value?)): push(value)
        case .success(.value(nil)): lua_pushnil(L)
        case .success(.integer(let n)): lua_pushinteger(L, n)
        case .success(.list(let items)): push(.array(items))
        case .success(.stored): lua_pushboolean(L, 1)
        case .success(.deleted(let existed)): lua_pushboolean(L, existed ? 1 : 0)
        case .failure(let error):
            var metadata: Logger.Metadata = [:]
            if let topic { metadata["topic"] = .string(topic) }
            logger.warning("\(site): phx.kv.\(command.name) \(command.key): \(error.message)", metadata: metadata)
            lua_pushnil(L)
            pushString(error.message)
            return 2
        }
        return 1
    }
}
