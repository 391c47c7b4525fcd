import TestSupport
import XCTest

/// Replays the transcripts in `Transcripts/` over a real socket and compares every frame byte for byte,
/// over WebSockets and again over LongPoll (the same socket state machine behind another transport).
///
/// A transcript is one step per line (`#` starts a comment):
/// `connect PATH` opens a new WebSocket (over LongPoll: a session at the same path with `/longpoll` for
/// `/websocket`), `send TEXT` sends one text frame (a POST), `recv TEXT` expects the next frame to be exactly
/// TEXT, `silence MS` expects nothing for MS milliseconds, `closed CODE` expects a close frame with that code
/// (WebSocket only).
final class TranscriptTests: XCTestCase {
    var server: TestServer!

    /// A short LongPoll window, so that `silence` steps over LongPoll don't hold a poll for 10 s.
    override func setUp() async throws { server = try await TestServer.start { $0.longPollWindow = .milliseconds(500) } }
    override func tearDown() async throws { try await server.stop() }

    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Transcripts")

    enum Transport { case webSocket, longPoll }

    func replay(_ name: String, over transport: Transport = .webSocket, file: StaticString = #filePath, line: UInt = #line) async throws {
        let port = server.port
        try await Self.replay(name, file: file, line: line) { path in
            switch transport {
            case .webSocket: try await WebSocketTestClient.connect(port: port, path: path)
            case .longPoll: try await LongPollTestClient.open(port: port, path: Self.longPollPath(path))
            }
        }
    }

    /// The LongPoll path beside a transcript's WebSocket path.
    static func longPollPath(_ webSocketPath: String) -> String {
        webSocketPath.replacingOccurrences(of: "/websocket", with: "/longpoll")
    }

    /// Replays transcript `name`; each `connect PATH` step opens a new client with `connect(PATH)`.
    static func replay(
        _ name: String, file: StaticString = #filePath, line: UInt = #line,
        connect: (String) async throws -> TranscriptClient
    ) async throws {
        let path = Self.directory.appendingPathComponent(name).path
        let steps = try String(contentsOfFile: path, encoding: .utf8).components(separatedBy: "\n")
        var client: TranscriptClient?
        for (index, step) in steps.enumerated() where !step.isEmpty && !step.hasPrefix("#") {
            let location = "\(name):\(index + 1)"
            let (verb, argument) = step.split(separator: " ", maxSplits: 1).map(String.init).pair
            switch verb {
            case "connect":
                await client?.close()
                client = try await connect(argument)
            case "send":
                try await XCTUnwrap(client, location).send(text: argument)
            case "recv":
                let received = try await XCTUnwrap(client, location).receiveText()
                XCTAssertEqual(received, argument, location, file: file, line: line)
            case "silence":
                let silent = try await XCTUnwrap(client, location).isSilent(for: .milliseconds(Int(argument) ?? 0))
                XCTAssertTrue(silent, location, file: file, line: line)
            case "closed":
                guard let webSocket = client as? WebSocketTestClient else {
                    return XCTFail("\(location): `closed` is a WebSocket close; LongPoll has none", file: file, line: line)
                }
                let code = try await webSocket.receiveClose()
                XCTAssertEqual(code.map(String.init), argument, location, file: file, line: line)
            default:
                XCTFail("\(location): unknown step \(verb)", file: file, line: line)
            }
        }
        await client?.close()
    }

    func testSeedPing() async throws { try await replay("seed-ping.txt") }
    func testSeedWild() async throws { try await replay("seed-wild.txt") }
    func testHeartbeat() async throws { try await replay("heartbeat.txt") }
    func testDuplicateJoin() async throws { try await replay("duplicate-join.txt") }
    func testLeave() async throws { try await replay("leave.txt") }
    func testParamPing() async throws { try await replay("param-ping.txt") }
    func testStopAndCrash() async throws { try await replay("stop-and-crash.txt") }
    func testUnmatched() async throws { try await replay("unmatched.txt") }
    func testV1Serializer() async throws { try await replay("v1.txt") }
    func testBadInputCloses1007() async throws { try await replay("bad-input.txt") }

    // The same transcripts over LongPoll (all but bad input, which closes a WebSocket; LongPollTests check
    // that a POST answers it with the error instead).
    func testSeedPingOverLongPoll() async throws { try await replay("seed-ping.txt", over: .longPoll) }
    func testSeedWildOverLongPoll() async throws { try await replay("seed-wild.txt", over: .longPoll) }
    func testHeartbeatOverLongPoll() async throws { try await replay("heartbeat.txt", over: .longPoll) }
    func testDuplicateJoinOverLongPoll() async throws { try await replay("duplicate-join.txt", over: .longPoll) }
    func testLeaveOverLongPoll() async throws { try await replay("leave.txt", over: .longPoll) }
    func testParamPingOverLongPoll() async throws { try await replay("param-ping.txt", over: .longPoll) }
    func testStopAndCrashOverLongPoll() async throws { try await replay("stop-and-crash.txt", over: .longPoll) }
    func testUnmatchedOverLongPoll() async throws { try await replay("unmatched.txt", over: .longPoll) }
    func testV1SerializerOverLongPoll() async throws { try await replay("v1.txt", over: .longPoll) }
}

/// What a transcript drives: a WebSocket or a LongPoll session.
protocol TranscriptClient: AnyObject {
    func send(text: String) async throws
    func receiveText(timeout: Duration) async throws -> String
    func isSilent(for duration: Duration) async throws -> Bool
    func close() async
}

extension TranscriptClient {
    func receiveText() async throws -> String { try await receiveText(timeout: .seconds(5)) }
}

extension WebSocketTestClient: TranscriptClient {}

extension LongPollTestClient: TranscriptClient {
    /// Nothing to close: the session ends when no longer polled.
    func close() async {}
}

extension Array where Element == String {
    fileprivate var pair: (String, String) { (self.first ?? "", self.count > 1 ? self[1] : "") }
}
