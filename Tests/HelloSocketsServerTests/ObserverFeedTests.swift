import Foundation
import HelloSocketsServer
import Logging
import NIOCore
import TestSupport
import WebSocketTransport
import XCTest

/// The observer feed `/observe`: what it reports must be exactly the frames that crossed the wire.
final class ObserverFeedTests: XCTestCase {
    private func startServer(observe: Bool? = nil, host: String = "127.0.0.1") async throws -> (HelloSocketsServer, Int) {
        var logger = Logger(label: "observer-test")
        logger.logLevel = .critical
        var configuration = ServerConfiguration(host: host, port: 0, channelsDirectory: TestServer.channelsDirectory, eventLoopCount: 2)
        configuration.observe = observe
        let server = HelloSocketsServer(configuration: configuration, logger: logger)
        let address = try await server.start()
        return (server, try XCTUnwrap(address.port))
    }

    /// Reads feed events (JSON objects) until `stop` says so.
    private func events(_ feed: WebSocketTestClient, until stop: ([String: Any]) -> Bool) async throws -> [[String: Any]] {
        var all: [[String: Any]] = []
        while true {
            let text = try await feed.receiveText()
            let event = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
            all.append(event)
            if stop(event) { return all }
        }
    }

    func testFeedReportsEveryFrameBothWaysInOrder() async throws {
        let (server, port) = try await startServer()
        defer { Task { try await server.shutdown() } }
        let feed = try await WebSocketTestClient.connect(port: port, path: "/observe")
        let hello = try await events(feed) { _ in true }
        XCTAssertEqual(hello.first?["type"] as? String, "hello")

        let client = try await WebSocketTestClient.connect(
            port: port, path: "/socket/websocket?token=s3cret&vsn=2.0.0", extraHeaders: ["Authorization: Bearer xyz"])
        let join = #"["1","1","ping","phx_join",{}]"#
        try await client.send(frame: FrameBytes.client(opcode: 1, Array(join.utf8), mask: [1, 2, 3, 4]))
        let joinReply = try await client.receiveText()
        try await client.send(frame: FrameBytes.client(opcode: 9, Array("hi".utf8), mask: [0xA, 0xB, 0xC, 0xD]))
        let pong = try await client.receiveFrame()
        // A heartbeat in two fragments.
        let heartbeat = Array(#"[null,"2","phoenix","heartbeat",{}]"#.utf8)
        try await client.send(frame: FrameBytes.client(opcode: 1, Array(heartbeat[..<10]), fin: false))
        try await client.send(frame: FrameBytes.client(opcode: 0, Array(heartbeat[10...])))
        let heartbeatReply = try await client.receiveText()
        try await client.send(frame: FrameBytes.close(code: 1000, reason: "bye"))
        let closeCode = try await client.receiveClose()
        XCTAssertEqual(closeCode, 1000)

        let seen = try await events(feed) { $0["type"] as? String == "closed" }
        let open = try XCTUnwrap(seen.first)
        XCTAssertEqual(open["type"] as? String, "open")
        let request = try XCTUnwrap(open["request"] as? [String: Any])
        XCTAssertEqual(request["line"] as? String, "GET /socket/websocket?token=[redacted]&vsn=2.0.0 HTTP/1.1")
        let headers = try XCTUnwrap(request["headers"] as? [[String]])
        XCTAssertTrue(headers.contains(["Authorization", "[redacted]"]), "\(headers)")
        XCTAssertTrue(headers.contains(["Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="]))
        let response = try XCTUnwrap(open["response"] as? [String: Any])
        XCTAssertEqual(response["line"] as? String, "HTTP/1.1 101 Switching Protocols")
        let accept = try XCTUnwrap(open["accept"] as? [String: Any])
        XCTAssertEqual(accept["accept"] as? String, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")  // RFC 6455's example
        XCTAssertEqual(accept["sha1_hex"] as? String, "b37a4f2cc0624f1690f64606cf385945b2bec4ea")

        let frames = seen.filter { $0["type"] as? String == "frame" }
        struct Expected {
            var dir, opcode: String; var fin: Bool; var mask: String?; var payload: String; var length: Int? = nil
        }
        let expected = [
            Expected(dir: "in", opcode: "text", fin: true, mask: "01020304", payload: join),
            Expected(dir: "out", opcode: "text", fin: true, mask: nil, payload: joinReply),
            Expected(dir: "in", opcode: "ping", fin: true, mask: "0a0b0c0d", payload: "hi"),
            Expected(dir: "out", opcode: "pong", fin: true, mask: nil, payload: pong.text),
            Expected(dir: "in", opcode: "text", fin: false, mask: "37fa213d", payload: String(decoding: heartbeat[..<10], as: UTF8.self)),
            Expected(dir: "in", opcode: "continuation", fin: true, mask: "37fa213d", payload: String(decoding: heartbeat[10...], as: UTF8.self)),
            Expected(dir: "out", opcode: "text", fin: true, mask: nil, payload: heartbeatReply),
            Expected(dir: "in", opcode: "close", fin: true, mask: "37fa213d", payload: "03e8627965", length: 5),  // not UTF-8: hex
            Expected(dir: "out", opcode: "close", fin: true, mask: nil, payload: "03e8", length: 2),
        ]
        XCTAssertEqual(frames.count, expected.count, "\(frames)")
        for (frame, want) in zip(frames, expected) {
            XCTAssertEqual(frame["dir"] as? String, want.dir)
            XCTAssertEqual(frame["opcode"] as? String, want.opcode)
            XCTAssertEqual(frame["fin"] as? Bool, want.fin)
            XCTAssertEqual(frame["rsv1"] as? Bool, false)
            XCTAssertEqual(frame["masked"] as? Bool, want.mask != nil)
            XCTAssertEqual(frame["mask"] as? String, want.mask)
            XCTAssertEqual(frame["length"] as? Int, want.length ?? want.payload.utf8.count)
            XCTAssertEqual(frame["payload"] as? String, want.payload, "\(frame)")
            XCTAssertEqual(frame["conn"] as? String, open["conn"] as? String)
        }
        XCTAssertEqual(frames.last?["close_code"] as? Int, 1000)
        XCTAssertEqual(frames[7]["close_reason"] as? String, "bye")
        await client.close()
        await feed.close()
    }

    func testFollowShowsOnlyConnectionsCarryingTheCookie() async throws {
        let (server, port) = try await startServer()
        defer { Task { try await server.shutdown() } }
        let feed = try await WebSocketTestClient.connect(port: port, path: "/observe?follow=abc123")
        _ = try await feed.receiveText()  // hello
        let other = try await WebSocketTestClient.connect(port: port, path: "/socket/websocket?vsn=2.0.0")
        try await other.send(text: #"["1","1","ping","phx_join",{}]"#)
        _ = try await other.receiveText()
        let mine = try await WebSocketTestClient.connect(
            port: port, path: "/socket/websocket?token=undefined&vsn=2.0.0", extraHeaders: ["Cookie: a=1; hs_observe=abc123"])
        let text = try await feed.receiveText()
        let open = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        XCTAssertEqual(open["type"] as? String, "open")
        XCTAssertEqual(open["follow"] as? String, "abc123")
        let request = try XCTUnwrap(open["request"] as? [String: Any])
        // token=undefined carries no secret and stays visible; other cookies are hidden.
        XCTAssertEqual(request["line"] as? String, "GET /socket/websocket?token=undefined&vsn=2.0.0 HTTP/1.1")
        XCTAssertTrue((request["headers"] as? [[String]] ?? []).contains(["Cookie", "a=[redacted]; hs_observe=abc123"]))
        await mine.close()
        await other.close()
        await feed.close()
    }

    func testFeedIsOffOffLoopbackUnlessAskedFor() async throws {
        let (server, port) = try await startServer(observe: false)
        defer { Task { try await server.shutdown() } }
        let raw = try await RawClient.connect(port: port)
        try await raw.send(WebSocketTestClient.upgradeRequest(path: "/observe"))
        let response = try await raw.receiveHTTPResponse()
        XCTAssertEqual(response.status, 404)
        XCTAssertTrue(response.body.contains("--observe"))
        await raw.close()
    }
}
