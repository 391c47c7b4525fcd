import Foundation
import HelloSocketsServer
import Logging
import TestSupport
import XCTest

/// The examples (`examples/`) run as a newcomer runs them: a real server with the example's channels and
/// `--public` folder, the page fetched over HTTP, and scripted sessions over real WebSockets.
final class ExamplesTests: XCTestCase {
    static let repository: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }()

    static func example(_ path: String) -> String { repository.appendingPathComponent("examples/\(path)").path }

    /// `hello-sockets --channels CHANNELS --public PUBLIC` on a free port, two event loops (so two clients
    /// usually land on different loops, with different Lua VMs).
    static func withServer(channels: String, public publicDirectory: String?, _ body: (Int) async throws -> Void) async throws {
        var logger = Logger(label: "examples-test")
        logger.logLevel = ProcessInfo.processInfo.environment["TEST_LOG"] == nil ? .critical : .debug
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0, channelsDirectory: channels, eventLoopCount: 2)
        configuration.publicDirectory = publicDirectory
        let server = HelloSocketsServer(configuration: configuration, logger: logger)
        let address = try await server.start()
        do {
            try await body(try XCTUnwrap(address.port))
        } catch {
            try await server.shutdown()
            throw error
        }
        try await server.shutdown()
    }

    private func get(_ path: String, port: Int) async throws -> HTTPResponse {
        let client = try await RawClient.connect(port: port)
        defer { Task { await client.close() } }
        try await client.send("GET \(path) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        return try await client.receiveHTTPResponse()
    }

    // MARK: chat

    func testChatPageAndScriptsAreServed() async throws {
        try await Self.withServer(channels: Self.example("chat/channels"), public: Self.example("chat/public")) { port in
            let page = try await get("/chat.html", port: port)
            XCTAssertEqual(page.status, 200)
            XCTAssertEqual(page.header("Content-Type"), "text/html; charset=utf-8")
            XCTAssertTrue(page.body.contains(#"<script src="/js/phoenix-client.js"></script>"#), page.body)
            for (path, type) in [("/chat.js", "text/javascript; charset=utf-8"), ("/chat.css", "text/css; charset=utf-8"),
                                 ("/js/phoenix-client.js", "text/javascript; charset=utf-8")] {
                let response = try await get(path, port: port)
                XCTAssertEqual(response.status, 200, path)
                XCTAssertEqual(response.header("Content-Type"), type, path)
            }
            let script = try await get("/chat.js", port: port)
            XCTAssertTrue(script.body.contains(#"channel.push("new_msg""#))
            // The routes the server already has still win; the start page stays at /.
            let start = try await get("/", port: port)
            XCTAssertTrue(start.body.contains(#"<script src="/js/observer.js"></script>"#), start.body)
            // Nothing outside the folder, nothing hidden, nothing missing.
            for path in ["/../channels/room.lua", "/%2e%2e/channels/room.lua", "/..%2fchannels%2froom.lua", "/.hidden.html",
                         "/missing.html", "/chat.html/", "/%00.html"] {
                let response = try await get(path, port: port)
                XCTAssertEqual(response.status, 404, path)
            }
        }
    }

    func testScriptedChatOverRealSockets() async throws {
        try await Self.withServer(channels: Self.example("chat/channels"), public: nil) { port in
            let alice = try await WebSocketTestClient.connect(port: port, path: "/socket/websocket?vsn=2.0.0")
            let bob = try await WebSocketTestClient.connect(port: port, path: "/socket/websocket?vsn=2.0.0")

            try await alice.send(text: #"["1","1","room:lobby","phx_join",{"name":"alice"}]"#)
            let aliceJoined = try await alice.receiveText()
            XCTAssertEqual(aliceJoined, #"["1","1","room:lobby","phx_reply",{"response":{"name":"alice"},"status":"ok"}]"#)
            try await Self.receive(alice, until: #"["1",null,"room:lobby","presence",{"users":["alice"]}]"#)

            try await bob.send(text: #"["7","7","room:lobby","phx_join",{"name":"bob"}]"#)
            try await Self.receive(bob, until: #"["7","7","room:lobby","phx_reply",{"response":{"name":"bob"},"status":"ok"}]"#)
            try await Self.receive(bob, until: #"["7",null,"room:lobby","presence",{"users":["alice","bob"]}]"#)
            try await Self.receive(alice, until: #"["1",null,"room:lobby","presence",{"users":["alice","bob"]}]"#)

            // A nameless join is refused.
            try await bob.send(text: #"["8","8","room:other","phx_join",{}]"#)
            try await Self.receive(bob, until: #"["8","8","room:other","phx_reply",{"response":{"reason":"a name is required"},"status":"error"}]"#)

            // new_msg: a reply to the sender, and the broadcast to everyone in the room (the sender too).
            try await bob.send(text: #"["7","9","room:lobby","new_msg",{"body":"hi alice"}]"#)
            try await Self.receive(bob, until: #"["7","9","room:lobby","phx_reply",{"response":{},"status":"ok"}]"#)
            try await Self.receive(bob, until: #"[null,null,"room:lobby","new_msg",{"body":"hi alice","user":"bob"}]"#)
            try await Self.receive(alice, until: #"[null,null,"room:lobby","new_msg",{"body":"hi alice","user":"bob"}]"#)

            // Bob's connection goes away: alice's list follows.
            await bob.raw.close()
            try await Self.receive(alice, until: #"["1",null,"room:lobby","presence",{"users":["alice"]}]"#)
            await alice.raw.close()
        }
    }

    // MARK: counter

    func testCounterAgreesAcrossEventLoops() async throws {
        try await Self.withServer(channels: Self.example("counter/channels"), public: Self.example("counter/public")) { port in
            let page = try await get("/counter.html", port: port)
            XCTAssertEqual(page.status, 200)
            XCTAssertTrue(page.body.contains(#"socket.channel("counter:main""#))

            var clients: [WebSocketTestClient] = []
            for index in 1...3 {
                let client = try await WebSocketTestClient.connect(port: port, path: "/socket/websocket?vsn=2.0.0")
                try await client.send(text: #"["1","1","counter:main","phx_join",{}]"#)
                try await Self.receive(client, until: #"["1","1","counter:main","phx_reply",{"response":{"count":0},"status":"ok"}]"#)
                try await client.send(text: #"["1","2","counter:main","increment",{"by":\#(index)}]"#)
                clients.append(client)
            }
            // 1 + 2 + 3: everyone converges on 6, whichever loop they are on, and the timer keeps pushing it.
            for client in clients {
                try await Self.receive(client, until: #"["1",null,"counter:main","count",{"count":6}]"#)
                try await Self.receive(client, until: #"["1",null,"counter:main","count",{"count":6}]"#, timeout: .seconds(3))
            }
            // A newcomer learns the count from the others.
            let late = try await WebSocketTestClient.connect(port: port, path: "/socket/websocket?vsn=2.0.0")
            try await late.send(text: #"["1","1","counter:main","phx_join",{}]"#)
            try await Self.receive(late, until: #"["1",null,"counter:main","count",{"count":6}]"#)
            for client in clients + [late] { await client.raw.close() }
        }
    }

    /// Reads text frames until `expected` arrives; fails listing what came instead.
    static func receive(
        _ client: WebSocketTestClient, until expected: String, timeout: Duration = .seconds(5),
        file: StaticString = #filePath, line: UInt = #line
    ) async throws {
        var seen: [String] = []
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard let frame = try? await client.receiveFrame(timeout: deadline - ContinuousClock.now) else { break }
            if frame.text == expected { return }
            seen.append(frame.text)
        }
        XCTFail("expected \(expected); received instead: \(seen)", file: file, line: line)
        throw CancellationError()
    }
}
