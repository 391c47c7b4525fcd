import Foundation
import NIOCore
import NIOHTTP1
import PhoenixChannels
import PhoenixProtocol

/// Observes one LongPoll session for the feed and `--trace`, on the session's event loop: each request and
/// its answer, and the frames inside, shown as the WebSocket's are (so the start page labels them alike).
///
/// Feed events (besides the WebSocket ones, see `ConnectionObserver`), all with `"transport":"longpoll"` and
/// `conn` the session ("lp3"), `http_conn` the HTTP connection that carried the request ("c5"):
/// - `open`: the GET that made the session, with `request` and `response` (`line`, `headers`, `body`);
/// - `http`: any later request and its answer, with `status` (the body's), `frames` (how many) and `held_ms`;
/// - `frame`: one Phoenix frame, `dir` `in` (from a POST) or `out` (in a poll's answer), shaped like a
///   WebSocket frame event (`opcode` text or binary, `fin` true, no mask);
/// - `closed`, with `reason` (timeout, overflow, disconnect, shutdown).
/// Session tokens are shown as `[redacted]`, in URLs, headers and bodies.
final class LongPollObserver {
    private let hub: ObserverHub
    let sessionID: String
    private let token: String
    private let followID: String?

    init(hub: ObserverHub, sessionID: String, token: String, followID: String?) {
        self.hub = hub
        self.sessionID = sessionID
        self.token = token
        self.followID = followID
    }

    /// The GET that opened the session and its 410.
    func opened(_ request: LongPollRequest, answer: LongPollAnswer) {
        let status = answer.bodyStatus ?? 0
        hub.trace?.line("\(sessionID) \(requestLine(request.head)) → \(status), new session (\(request.connectionID))")
        guard hub.feedEnabled else { return }
        var members = exchange(request, answer: answer)
        members["type"] = .string("open")
        members["peer"] = .string(request.peer?.description ?? "?")
        members["follow"] = followID.map(JSONValue.string) ?? .null
        hub.connectionOpened(sessionID, followID: followID, event: ObserverHub.encode(members))
    }

    /// A POST, the frames it carried (up to the first undecodable one, included) and its answer.
    func posted(_ request: LongPollRequest, frames: [PhoenixFrame], answer: LongPollAnswer) {
        if let trace = hub.trace {
            trace.line("\(sessionID) \(requestLine(request.head)) → \(answer.bodyStatus ?? 0) (\(request.connectionID))")
            for frame in frames { trace.line("\(sessionID) > \(Self.brief(frame))") }
        }
        publish(request, answer: answer, frames: frames, direction: "in")
    }

    /// A GET's answer (frames, 204 after the window, 410 when the session ended).
    func polled(_ request: LongPollRequest, answer: LongPollAnswer) {
        if let trace = hub.trace {
            let frames = answer.frames.count == 1 ? "1 frame" : "\(answer.frames.count) frames"
            let via = "\(request.connectionID), held \(heldMilliseconds(request)) ms"
            trace.line("\(sessionID) \(requestLine(request.head)) → \(answer.bodyStatus ?? 0), \(frames) (\(via))")
            for frame in answer.frames { trace.line("\(sessionID) < \(Self.brief(frame))") }
        }
        publish(request, answer: answer, frames: answer.frames, direction: "out")
    }

    /// A request no session answered (a refusal, a preflight, an unknown token on POST): a `http` event named by
    /// its HTTP connection (`conn` "c5", no session), and a trace line.
    static func outsideSessions(hub: ObserverHub, request: LongPollRequest, answer: LongPollAnswer) {
        let observer = LongPollObserver(
            hub: hub, sessionID: request.connectionID, token: "", followID: Redaction.followID(in: request.head.headers))
        let status = answer.bodyStatus.map { "\($0)" } ?? "HTTP \(answer.status.code)"
        hub.trace?.line("\(request.connectionID) \(observer.requestLine(request.head)) → \(status), no session")
        observer.publish(request, answer: answer, frames: [], direction: "in")
    }

    func closed(reason: LongPollEnd) {
        hub.trace?.line("\(sessionID) closed (\(reason.rawValue))")
        guard hub.feedEnabled else { return }
        let event = ObserverHub.encode([
            "type": .string("closed"), "transport": .string("longpoll"), "conn": .string(sessionID),
            "t": .integer(ObserverHub.now()), "reason": .string(reason.rawValue),
        ])
        hub.connectionClosed(sessionID, followID: followID, event: event)
    }

    // MARK: Feed events

    private func publish(
        _ request: LongPollRequest, answer: LongPollAnswer, frames: [PhoenixFrame], direction: String
    ) {
        guard hub.hasSubscribers else { return }
        var members = exchange(request, answer: answer)
        members["type"] = .string("http")
        members["status"] = answer.bodyStatus.map { .integer(Int64($0)) } ?? .null
        members["frames"] = .integer(Int64(frames.count))
        members["held_ms"] = .integer(heldMilliseconds(request))
        hub.publish(ObserverHub.encode(members), followID: followID)
        for frame in frames {
            var event: [String: JSONValue] = [
                "type": .string("frame"), "transport": .string("longpoll"), "conn": .string(sessionID),
                "t": .integer(ObserverHub.now()), "dir": .string(direction),
                "fin": .bool(true), "rsv1": .bool(false), "rsv2": .bool(false), "rsv3": .bool(false),
                "masked": .bool(false), "mask": .null, "length": .integer(Int64(frame.bytes.readableBytes)),
            ]
            switch frame {
            case .text: (event["opcode"], event["opcode_value"]) = (.string("text"), .integer(1))
            case .binary: (event["opcode"], event["opcode_value"]) = (.string("binary"), .integer(2))
            }
            ConnectionObserver.addPayload(frame.bytes, to: &event)
            hub.publish(ObserverHub.encode(event), followID: followID)
        }
    }

    /// The members every request event shares: the request and the answer as HTTP.
    private func exchange(_ request: LongPollRequest, answer: LongPollAnswer) -> [String: JSONValue] {
        let status = answer.status
        var responseHeaders = answer.headers
        responseHeaders.add(name: "content-length", value: "\(answer.body.readableBytes)")
        var body: [String: JSONValue] = [:]
        ConnectionObserver.addPayload(ByteBuffer(string: redacted(String(buffer: answer.body))), to: &body)
        return [
            "transport": .string("longpoll"),
            "conn": .string(sessionID),
            "http_conn": .string(request.connectionID),
            "t": .integer(ObserverHub.now()),
            "request": .object([
                "line": .string(requestLine(request.head)),
                "headers": ConnectionObserver.headers(request.head.headers, redacting: true),
            ]),
            "response": .object([
                "line": .string("HTTP/1.1 \(status.code) \(status.reasonPhrase)"),
                "headers": ConnectionObserver.headers(responseHeaders, redacting: false),
                "body": body["payload"] ?? .null,
            ]),
        ]
    }

    private func requestLine(_ head: HTTPRequestHead) -> String {
        "\(head.method.rawValue) \(Redaction.uri(head.uri)) HTTP/\(head.version.major).\(head.version.minor)"
    }

    private func redacted(_ text: String) -> String {
        token.isEmpty ? text : text.replacingOccurrences(of: token, with: Redaction.placeholder)
    }

    private func heldMilliseconds(_ request: LongPollRequest) -> Int64 {
        (NIODeadline.now() - request.received).nanoseconds / 1_000_000
    }

    private static func brief(_ frame: PhoenixFrame) -> String {
        switch frame {
        case .text(let bytes): return ConnectionObserver.brief(bytes, text: true)
        case .binary(let bytes): return "[binary] " + ConnectionObserver.brief(bytes, text: false)
        }
    }
}
