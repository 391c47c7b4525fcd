import Foundation
import LuaRuntime
import PhoenixProtocol

/// What a stubbed `phx.http.request` answers (`ct.http.stub(method, url, response)`).
public struct HTTPStubResponse: Sendable, Equatable {
    /// The response, or the failure the script sees as `nil, err`.
    public var result: Result<ScriptHTTPResponse, ScriptHTTPError>
    /// How long the answer takes on the manual clock (0: as soon as the harness runs).
    public var delayMilliseconds: Int

    /// A response with this status, body and headers.
    public init(status: Int = 200, body: String = "", headers: [String: String] = [:], delayMilliseconds: Int = 0) {
        result = .success(ScriptHTTPResponse(
            status: status, headers: headers.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, body: Array(body.utf8)))
        self.delayMilliseconds = delayMilliseconds
    }

    /// A failure: `.timeout`, `.refused`…
    public init(error: ScriptHTTPError, delayMilliseconds: Int = 0) {
        result = .failure(error)
        self.delayMilliseconds = delayMilliseconds
    }

    /// A Lua spec's `{status, body, headers, delay_ms}` or `{error = "timeout"|"refused"|…, delay_ms}`.
    init(spec value: JSONValue) throws {
        guard case .object(let fields) = value else {
            throw SpecCallFailure(message: "bad argument #3 to 'ct.http.stub' (a response table expected)")
        }
        var delay = 0
        switch fields["delay_ms"] {
        case nil, .null?: break
        case .integer(let ms)? where ms >= 0: delay = Int(ms)
        default: throw SpecCallFailure(message: "bad argument #3 to 'ct.http.stub' (delay_ms: an integer >= 0 expected)")
        }
        if let error = fields["error"]?.stringValue {
            let known: [String: ScriptHTTPError] = [
                "timeout": .timeout, "refused": .refused, "not allowed": .notAllowed, "too large": .tooLarge(limit: 0),
                "unavailable": .unavailable,
            ]
            self.init(error: known[error] ?? .failed(error), delayMilliseconds: delay)
            return
        }
        var status = 200
        if case .integer(let s)? = fields["status"] { status = Int(s) }
        var headers: [String: String] = [:]
        if case .object(let members)? = fields["headers"] {
            for (name, value) in members { headers[name] = value.stringValue ?? value.compact }
        }
        self.init(status: status, body: fields["body"]?.stringValue ?? "", headers: headers, delayMilliseconds: delay)
    }
}

/// `phx.http.request` in the in-memory harness: answers from stubs (`ct.http.stub`), records every
/// request, and never touches the network. A request nobody stubbed fails with
/// `failed: no stub for GET http://…`, which the script sees as `nil, err`.
public final class HTTPStubs: ScriptHTTPClient {
    /// Every request made, in order.
    public private(set) var requests: [ScriptHTTPRequest] = []
    private var stubs: [(method: String, url: String, response: HTTPStubResponse)] = []
    /// Runs a closure after some milliseconds on the harness's manual clock (set by the transport).
    var schedule: (Int, @escaping () -> Void) -> Void = { _, body in body() }

    public init() {}

    /// Answers `method url` with `response` from now on (a later stub for the same request wins).
    public func stub(_ method: String, _ url: String, _ response: HTTPStubResponse) {
        stubs.append((method.uppercased(), url, response))
    }

    public func execute(
        _ request: ScriptHTTPRequest, completion: @escaping @Sendable (Result<ScriptHTTPResponse, ScriptHTTPError>) -> Void
    ) -> ScriptCancellable? {
        requests.append(request)
        let url = request.url.absoluteString
        guard let stub = stubs.last(where: { $0.method == request.method && $0.url == url }) else {
            completion(.failure(.failed("no stub for \(request.method) \(url) (ct.http.stub)")))
            return nil
        }
        if stub.response.delayMilliseconds > 0 {
            schedule(stub.response.delayMilliseconds) { completion(stub.response.result) }
        } else {
            completion(stub.response.result)
        }
        return nil
    }
}

extension ScriptHTTPRequest {
    /// `{method, url, headers, body}` as a Lua spec sees it (`ct.http.requests()`).
    var specValue: JSONValue {
        var headers: [String: JSONValue] = [:]
        for (name, value) in self.headers { headers[name.lowercased()] = .string(value) }
        return .object([
            "method": .string(method), "url": .string(url.absoluteString), "headers": .object(headers),
            "body": body.map { .string(String(decoding: $0, as: UTF8.self)) } ?? .null,
        ])
    }
}
