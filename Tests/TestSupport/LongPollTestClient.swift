import Foundation

/// A Phoenix LongPoll client for tests, over raw HTTP/1.1 (one connection per request, as a browser's
/// poll and its POSTs run side by side): a GET opens the session and keeps its token, `send` POSTs frames
/// as `application/x-ndjson`, `receiveText` polls until a frame comes.
public final class LongPollTestClient: @unchecked Sendable {
    public let port: Int
    /// The transport's path with the client's params, e.g. `/socket/longpoll?vsn=2.0.0`.
    public let path: String
    /// The source address every request comes from (127.0.0.2… for the per-address limits), nil: the default.
    public let localAddress: String?
    /// The session's token (set by the first 410).
    public private(set) var token: String?
    /// Frames polled and not yet taken by `receiveText`.
    private var inbox: [String] = []
    /// When set, each request goes to the next of these ports in turn (nodes behind a round-robin balancer)
    /// instead of `port`.
    public var roundRobin: [Int] = []
    private var turn = 0
    /// The port each request went to, in order (with `roundRobin`).
    public private(set) var portsUsed: [Int] = []

    public struct UnexpectedAnswer: Error, CustomStringConvertible {
        public let description: String
    }

    private init(port: Int, path: String, localAddress: String?) {
        self.port = port
        self.path = path
        self.localAddress = localAddress
    }

    /// Opens a session: a GET without token, answered 410 with the token.
    public static func open(port: Int, path: String, localAddress: String? = nil) async throws -> LongPollTestClient {
        let client = LongPollTestClient(port: port, path: path, localAddress: localAddress)
        let (status, answer) = try await client.poll()
        guard status == 410, client.token != nil else {
            throw UnexpectedAnswer(description: "opening \(path): expected a 410 with a token, got \(answer.statusLine) \(answer.body)")
        }
        return client
    }

    /// `path`, plus `token=` when the session has one.
    public var sessionURI: String {
        guard let token else { return path }
        return path + (path.contains("?") ? "&" : "?") + "token=" + token
    }

    /// One request on a new connection; the answer (it waits up to `timeout`, a held poll included).
    public func request(
        _ method: String, uri: String? = nil, headers: [String] = [], body: String = "", timeout: Duration = .seconds(15)
    ) async throws -> HTTPResponse {
        var target = port
        if !roundRobin.isEmpty {
            target = roundRobin[turn % roundRobin.count]
            turn += 1
            portsUsed.append(target)
        }
        let raw = try await RawClient.connect(port: target, localAddress: localAddress)
        var text = "\(method) \(uri ?? sessionURI) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        for header in headers { text += header + "\r\n" }
        if !body.isEmpty || method == "POST" { text += "Content-Length: \(body.utf8.count)\r\n" }
        text += "\r\n" + body
        do {
            try await raw.send(text)
            let answer = try await raw.receiveHTTPResponse(timeout: timeout)
            await raw.close()
            return answer
        } catch {
            await raw.close()
            throw error
        }
    }

    /// A GET: the body's status and the frames it carried (kept for `receiveText` too). Takes the token
    /// of a 410 as the session's.
    @discardableResult
    public func poll(timeout: Duration = .seconds(15)) async throws -> (status: Int, answer: HTTPResponse) {
        let answer = try await request("GET", timeout: timeout)
        let body = try Self.json(answer.body)
        let status = body["status"] as? Int ?? 0
        if status == 410, let token = body["token"] as? String { self.token = token }
        inbox += body["messages"] as? [String] ?? []
        return (status, answer)
    }

    /// POSTs frames as `application/x-ndjson`, one per line; returns the body's status.
    @discardableResult
    public func send(_ frames: [String]) async throws -> Int {
        let answer = try await request("POST", headers: ["Content-Type: application/x-ndjson"], body: frames.joined(separator: "\n"))
        return try Self.json(answer.body)["status"] as? Int ?? 0
    }

    /// POSTs one frame: a V2 array as an ndjson line (phoenix.js 1.7+), anything else as the whole body
    /// (phoenix.js up to 1.6, which V1 JSON objects need: an ndjson line not starting with `[` is base64).
    public func send(text: String) async throws {
        let answer = text.hasPrefix("[")
            ? try await request("POST", headers: ["Content-Type: application/x-ndjson"], body: text)
            : try await request("POST", headers: ["Content-Type: application/json"], body: text)
        let status = try Self.json(answer.body)["status"] as? Int ?? 0
        guard status == 200 else { throw UnexpectedAnswer(description: "POST \(text): \(answer.body)") }
    }

    /// The next frame the server sent: polls until one comes or `timeout` passes.
    public func receiveText(timeout: Duration = .seconds(15)) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while inbox.isEmpty {
            guard ContinuousClock.now < deadline else { throw UnexpectedAnswer(description: "no frame within \(timeout)") }
            let (status, answer) = try await poll(timeout: timeout)
            guard status == 200 || status == 204 else {
                throw UnexpectedAnswer(description: "poll answered \(status): \(answer.body)")
            }
        }
        return inbox.removeFirst()
    }

    /// Whether no frame comes for `duration`: polls (each held up to the server's window) until it passed.
    public func isSilent(for duration: Duration) async throws -> Bool {
        let deadline = ContinuousClock.now + duration
        while inbox.isEmpty && ContinuousClock.now < deadline {
            let (status, answer) = try await poll()
            guard status == 200 || status == 204 else {
                throw UnexpectedAnswer(description: "poll answered \(status): \(answer.body)")
            }
        }
        return inbox.isEmpty
    }

    /// Frames polled and not yet taken.
    public var pendingFrames: [String] { inbox }

    public static func json(_ text: String) throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw UnexpectedAnswer(description: "not a JSON object: \(text)")
        }
        return object
    }
}
