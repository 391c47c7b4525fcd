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

    func testSIGTERMStopsTheProcessGracefully() async throws { try await signalServerWithLiveClients(SIGTERM) }

    func testSIGINTStopsTheProcessGracefully() async throws { try await signalServerWithLiveClients(SIGINT) }

    /// The real binary, signalled as an operator would (its ServiceGroup traps the signal): it stops
    /// accepting, closes every live socket with 1001, runs each channel's terminate and exits 0.
    private func signalServerWithLiveClients(_ signal: Int32) async throws {
        let channels = FileManager.default.temporaryDirectory.appendingPathComponent("drain-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: channels, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: channels) }
        try """
            local channel = { topic = "drain:*" }
            function channel.join(topic, payload, socket)
              socket.assigns.topic = topic
              return phx.ok()
            end
            function channel.terminate(reason, socket) print("terminate ran for " .. socket.assigns.topic) end
            return channel
            """.write(to: channels.appendingPathComponent("drain.lua"), atomically: true, encoding: .utf8)
        let server = try await ServerProcess.start(arguments: ["--channels", channels.path], test: self)

        var phoenixClients: [WebSocketTestClient] = []
        for n in 1...2 {
            let client = try await WebSocketTestClient.connect(port: server.port, path: "/socket/websocket?vsn=2.0.0")
            try await client.send(text: #"["1","1","drain:\#(n)","phx_join",{}]"#)
            let reply = try await client.receiveText()
            XCTAssertTrue(reply.contains(#""status":"ok""#), reply)
            phoenixClients.append(client)
        }
        let echo = try await WebSocketTestClient.connect(port: server.port, path: "/echo")

        server.signal(signal)
        for client in phoenixClients + [echo] {
            let code = try await client.receiveClose()
            XCTAssertEqual(code, 1001)
            try await client.send(frame: FrameBytes.close(code: 1001))
        }
        let status = try await server.waitForExit()
        XCTAssertEqual(status, 0, server.log)
        let log = server.log
        for line in ["shutting down gracefully", "terminate ran for drain:1", "terminate ran for drain:2", "stopped"] {
            XCTAssertTrue(log.contains(line), "no \"\(line)\" in the log:\n\(log)")
        }
    }
}
