import TestSupport
import XCTest

/// Replays the transcripts in `Transcripts/` over a real socket and compares every frame byte for byte.
///
/// A transcript is one step per line (`#` starts a comment):
/// `connect PATH` opens a new WebSocket, `send TEXT` sends one text frame, `recv TEXT` expects the next
/// frame to be exactly TEXT, `silence MS` expects nothing for MS milliseconds, `closed CODE` expects a
/// close frame with that code.
final class TranscriptTests: XCTestCase {
    var server: TestServer!

    override func setUp() async throws { server = try await TestServer.start() }
    override func tearDown() async throws { try await server.stop() }

    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Transcripts")

    func replay(_ name: String, file: StaticString = #filePath, line: UInt = #line) async throws {
        let path = Self.directory.appendingPathComponent(name).path
        let steps = try String(contentsOfFile: path, encoding: .utf8).components(separatedBy: "\n")
        var client: WebSocketTestClient?
        for (index, step) in steps.enumerated() where !step.isEmpty && !step.hasPrefix("#") {
            let location = "\(name):\(index + 1)"
            let (verb, argument) = step.split(separator: " ", maxSplits: 1).map(String.init).pair
            switch verb {
            case "connect":
                await client?.close()
                client = try await WebSocketTestClient.connect(port: server.port, path: argument)
            case "send":
                try await XCTUnwrap(client, location).send(text: argument)
            case "recv":
                let received = try await XCTUnwrap(client, location).receiveText()
                XCTAssertEqual(received, argument, location, file: file, line: line)
            case "silence":
                let silent = try await XCTUnwrap(client, location).isSilent(for: .milliseconds(Int(argument) ?? 0))
                XCTAssertTrue(silent, location, file: file, line: line)
            case "closed":
                let code = try await XCTUnwrap(client, location).receiveClose()
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
}

extension Array where Element == String {
    fileprivate var pair: (String, String) { (self.first ?? "", self.count > 1 ? self[1] : "") }
}
