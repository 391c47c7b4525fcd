import Foundation
import HelloSocketsServer
import TestSupport
import XCTest

/// Names `phx_ref` values R1, R2… in the order they first appear (across every client of a test), so
/// exchanges compare as text; every value must be 16 url-safe base64 characters.
final class RefNames {
    private var names: [String: String] = [:]
    private(set) var malformed: [String] = []
    private static let pattern = try! NSRegularExpression(pattern: #""(phx_ref|phx_ref_prev)":"([^"]*)""#)
    private static let shape = try! NSRegularExpression(pattern: #"^[A-Za-z0-9_-]{16}$"#)

    /// Every distinct ref seen so far.
    var count: Int { names.count }

    /// `text` with each ref replaced by its name; new refs get the next names, front to back.
    func normalize(_ text: String) -> String {
        let matches = Self.pattern.matches(in: text, range: NSRange(text.startIndex..., in: text))
        for match in matches {
            guard let range = Range(match.range(at: 2), in: text) else { continue }
            let value = String(text[range])
            guard names[value] == nil else { continue }
            names[value] = "R\(names.count + 1)"
            if Self.shape.firstMatch(in: value, range: NSRange(value.startIndex..., in: value)) == nil {
                malformed.append(value)
            }
        }
        var result = text
        for match in matches.reversed() {  // back to front: earlier ranges stay valid
            guard let field = Range(match.range(at: 1), in: text), let value = Range(match.range(at: 2), in: text),
                  let whole = Range(match.range, in: result), let name = names[String(text[value])] else { continue }
            result.replaceSubrange(whole, with: "\"\(text[field])\":\"\(name)\"")
        }
        return result
    }
}

/// A Phoenix client over a real WebSocket for the presence tests: V2 frames in, text frames out with
/// their refs named by a shared `RefNames`.
final class PresenceClient {
    let socket: WebSocketTestClient
    let refs: RefNames
    let name: String

    private init(socket: WebSocketTestClient, refs: RefNames, name: String) {
        self.socket = socket
        self.refs = refs
        self.name = name
    }

    static func connect(port: Int, refs: RefNames, name: String) async throws -> PresenceClient {
        PresenceClient(
            socket: try await WebSocketTestClient.connect(port: port, path: "/socket/websocket?vsn=2.0.0"),
            refs: refs, name: name)
    }

    func send(_ text: String) async throws { try await socket.send(text: text) }

    /// The next text frame, refs named.
    func next(timeout: Duration = .seconds(5)) async throws -> String {
        refs.normalize(try await socket.receiveText(timeout: timeout))
    }

    /// The next frames are exactly `expected`, in order.
    func expect(_ expected: String..., file: StaticString = #filePath, line: UInt = #line) async throws {
        for frame in expected {
            let received = try await next()
            XCTAssertEqual(received, frame, "\(name) received", file: file, line: line)
        }
    }

    /// Nothing more arrives within `duration`.
    func expectSilence(for duration: Duration = .milliseconds(300), file: StaticString = #filePath, line: UInt = #line)
        async throws
    {
        do {
            let frame = try await socket.receiveFrame(timeout: duration)
            XCTFail("\(name) received \(refs.normalize(frame.text)); expected nothing more", file: file, line: line)
        } catch is RawClient.Timeout {}
    }

    /// Sends a close frame and waits for the server's (frames before it are dropped).
    func closeCleanly() async throws {
        try await socket.send(frame: FrameBytes.close(code: 1000))
        while try await socket.receiveFrame().opcode != 8 {}
        await socket.close()
    }

    /// Cuts the TCP connection without a close frame.
    func drop() async { await socket.close() }
}
