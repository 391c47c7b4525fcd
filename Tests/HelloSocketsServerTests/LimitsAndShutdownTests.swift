import Foundation
import HelloSocketsServer
import NIOCore
import TestSupport
import WebSocketTransport
import XCTest

/// Connection limits, the request (slowloris) timeout and graceful shutdown.
final class LimitsAndShutdownTests: XCTestCase {
    func testConnectionsPastTheLimitGet503AndOthersAreUnaffected() async throws {
        let server = try await TestServer.start(maxConnections: 2)
        addTeardownBlock { try? await server.stop() }
        let first = try await WebSocketTestClient.connect(port: server.port, path: "/echo")
        let second = try await WebSocketTestClient.connect(port: server.port, path: "/echo")
        do {
            _ = try await WebSocketTestClient.connect(port: server.port, path: "/echo")
            XCTFail("a third WebSocket must be refused")
        } catch let refused as WebSocketTestClient.HandshakeRefused {
            XCTAssertEqual(refused.response.status, 503)
        }
        try await first.send(text: "still served")
        let echo = try await first.receiveText()
        XCTAssertEqual(echo, "still served")
        // A slot frees up when a connection closes.
        await second.close()
        var third: WebSocketTestClient?
        for _ in 0..<100 where third == nil {
            third = try? await WebSocketTestClient.connect(port: server.port, path: "/echo")
            if third == nil { try await Task.sleep(for: .milliseconds(20)) }
        }
        XCTAssertNotNil(third)
    }

    func testSlowlorisIsClosedAfterTheHandshakeTimeout() async throws {
        let server = try await TestServer.start(handshakeTimeout: .milliseconds(300))
        addTeardownBlock { try? await server.stop() }
        let slow = try await RawClient.connect(port: server.port)
        let good = try await WebSocketTestClient.connect(port: server.port, path: "/echo")
        for byte in "GET / HTTP/1.1\r\nHost: x\r\n".utf8 {
            try? await slow.send([byte])
            try await Task.sleep(for: .milliseconds(20))
            if slow.isClosed { break }
        }
        let closed = try await slow.waitForClose(timeout: .seconds(2))
        XCTAssertTrue(closed, "a request dribbled byte by byte is cut off")
        try await good.send(text: "fine")
        let echo = try await good.receiveText()
        XCTAssertEqual(echo, "fine")
    }

    func testShutdownSendsGoingAwayToEveryWebSocket() async throws {
        let server = try await TestServer.start()
        let phoenix = try await WebSocketTestClient.connect(port: server.port, path: "/socket/websocket?vsn=2.0.0")
        try await phoenix.send(text: #"["1","1","ping","phx_join",{}]"#)
        _ = try await phoenix.receiveText()
        let echo = try await WebSocketTestClient.connect(port: server.port, path: "/echo")
        let stopping = Task { try await server.stop() }
        for client in [phoenix, echo] {
            let code = try await client.receiveClose()
            XCTAssertEqual(code, 1001)
            try await client.send(frame: FrameBytes.close(code: 1001))
        }
        try await stopping.value
    }

    /// The real binary, signalled as an operator would: it closes live sockets with 1001 and exits 0.
    func testSIGTERMStopsTheProcessGracefully() async throws {
        let binary = URL(fileURLWithPath: TestServer.channelsDirectory).deletingLastPathComponent()
            .appendingPathComponent(".build/debug/hello-sockets")
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: binary.path), "build hello-sockets first")
        let process = Process()
        process.executableURL = binary
        process.arguments = ["--port", "0", "--channels", TestServer.channelsDirectory]
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        addTeardownBlock { if process.isRunning { process.terminate() } }

        // The port comes from the "listening on http://127.0.0.1:PORT" log line.
        var log = ""
        var port: Int?
        while port == nil {
            let data = errors.fileHandleForReading.availableData
            guard !data.isEmpty else { break }
            log += String(decoding: data, as: UTF8.self)
            if let range = log.range(of: #"listening on http://127\.0\.0\.1:(\d+)"#, options: .regularExpression) {
                port = Int(log[range].split(separator: ":").last ?? "")
            }
        }
        let client = try await WebSocketTestClient.connect(port: try XCTUnwrap(port, log), path: "/socket/websocket?vsn=2.0.0")
        try await client.send(text: #"["1","1","ping","phx_join",{}]"#)
        _ = try await client.receiveText()

        process.terminate()  // SIGTERM
        let code = try await client.receiveClose()
        XCTAssertEqual(code, 1001)
        try await client.send(frame: FrameBytes.close(code: 1001))
        let deadline = ContinuousClock.now + .seconds(10)
        while process.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        XCTAssertFalse(process.isRunning)
        XCTAssertEqual(process.terminationStatus, 0)
    }
}
