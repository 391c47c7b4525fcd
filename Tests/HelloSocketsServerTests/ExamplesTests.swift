import Foundation
import HelloSocketsServer
import Logging
import LuaRuntime
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
    static func withServer(
        channels: String, public publicDirectory: String?, configure: (inout ServerConfiguration) -> Void = { _ in },
        _ body: (Int) async throws -> Void
    ) async throws {
        var logger = Logger(label: "examples-test")
        logger.logLevel = ProcessInfo.processInfo.environment["TEST_LOG"] == nil ? .critical : .debug
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0, channelsDirectory: channels, eventLoopCount: 2)
        configuration.publicDirectory = publicDirectory
        configure(&configuration)
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
            XCTAssertEqual(
                aliceJoined, #"["1","1","room:lobby","phx_reply",{"response":{"messages":[],"name":"alice"},"status":"ok"}]"#)
            try await Self.receive(alice, until: #"["1",null,"room:lobby","presence",{"users":["alice"]}]"#)

            try await bob.send(text: #"["7","7","room:lobby","phx_join",{"name":"bob"}]"#)
            try await Self.receive(
                bob, until: #"["7","7","room:lobby","phx_reply",{"response":{"messages":[],"name":"bob"},"status":"ok"}]"#)
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

            // A newcomer gets the room's recent messages in the join reply (phx.kv, shared by every loop's VM).
            let carol = try await WebSocketTestClient.connect(port: port, path: "/socket/websocket?vsn=2.0.0")
            try await carol.send(text: #"["1","1","room:lobby","phx_join",{"name":"carol"}]"#)
            try await Self.receive(carol, until: #"["1","1","room:lobby","phx_reply",{"response":{"messages":[{"body":"hi alice","user":"bob"}],"name":"carol"},"status":"ok"}]"#)
            await carol.raw.close()
            try await Self.receive(alice, until: #"["1",null,"room:lobby","presence",{"users":["alice","bob"]}]"#)

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
            var expected = 0
            for index in 1...3 {
                let client = try await WebSocketTestClient.connect(port: port, path: "/socket/websocket?vsn=2.0.0")
                try await client.send(text: #"["1","1","counter:main","phx_join",{}]"#)
                try await Self.receive(client, until: #"["1","1","counter:main","phx_reply",{"response":{"count":\#(expected)},"status":"ok"}]"#)
                try await client.send(text: #"["1","2","counter:main","increment",{"by":\#(index)}]"#)
                expected += index
                try await Self.receive(client, until: #"["1","2","counter:main","phx_reply",{"response":{"count":\#(expected)},"status":"ok"}]"#)
                clients.append(client)
            }
            // 1 + 2 + 3 in phx.kv, whichever loop each client is on: the last increment's broadcast and the timer say 6.
            for client in clients {
                try await Self.receive(client, until: #"[null,null,"counter:main","count",{"count":6}]"#)
                try await Self.receive(client, until: #"["1",null,"counter:main","count",{"count":6}]"#, timeout: .seconds(3))
            }
            // A newcomer gets the count in its join reply.
            let late = try await WebSocketTestClient.connect(port: port, path: "/socket/websocket?vsn=2.0.0")
            try await late.send(text: #"["1","1","counter:main","phx_join",{}]"#)
            try await Self.receive(late, until: #"["1","1","counter:main","phx_reply",{"response":{"count":6},"status":"ok"}]"#)
            for client in clients + [late] { await client.raw.close() }
        }
    }

    /// With `--redis` the count lives in Redis: two nodes (two processes) share it, and it outlives them.
    func testCounterIsSharedByTwoNodesOnRedisAndOutlivesThem() async throws {
        let redis = try RedisServer.start()
        defer { redis.stop() }
        let arguments = ["--channels", Self.example("counter/channels"), "--redis", redis.url(), "--threads", "2"]
        let first = try await ServerProcess.start(arguments: arguments, test: self)
        let second = try await ServerProcess.start(arguments: arguments, test: self)
        XCTAssertTrue(first.log.contains("phx.kv: in Redis at 127.0.0.1:\(redis.port)"), first.log)

        let ada = try await WebSocketTestClient.connect(port: first.port, path: "/socket/websocket?vsn=2.0.0")
        try await ada.send(text: #"["1","1","counter:main","phx_join",{}]"#)
        try await Self.receive(ada, until: #"["1","1","counter:main","phx_reply",{"response":{"count":0},"status":"ok"}]"#)
        try await ada.send(text: #"["1","2","counter:main","increment",{"by":5}]"#)
        try await Self.receive(ada, until: #"["1","2","counter:main","phx_reply",{"response":{"count":5},"status":"ok"}]"#)

        let bob = try await WebSocketTestClient.connect(port: second.port, path: "/socket/websocket?vsn=2.0.0")
        try await bob.send(text: #"["1","1","counter:main","phx_join",{}]"#)
        try await Self.receive(bob, until: #"["1","1","counter:main","phx_reply",{"response":{"count":5},"status":"ok"}]"#)
        try await bob.send(text: #"["1","2","counter:main","increment",{"by":2}]"#)
        try await Self.receive(bob, until: #"["1","2","counter:main","phx_reply",{"response":{"count":7},"status":"ok"}]"#)
        // Ada's node reads the same key on its next tick.
        try await Self.receive(ada, until: #"["1",null,"counter:main","count",{"count":7}]"#, timeout: .seconds(3))
        XCTAssertEqual(try redis.cli("GET", "hs:default:kv:count:counter:main"), "7")
        await ada.raw.close()
        await bob.raw.close()

        // Both nodes stop; a new one finds the count where they left it.
        for node in [first, second] {
            node.signal(SIGTERM)
            _ = try await node.waitForExit()
        }
        let third = try await ServerProcess.start(arguments: arguments, test: self)
        let carol = try await WebSocketTestClient.connect(port: third.port, path: "/socket/websocket?vsn=2.0.0")
        try await carol.send(text: #"["1","1","counter:main","phx_join",{}]"#)
        try await Self.receive(carol, until: #"["1","1","counter:main","phx_reply",{"response":{"count":7},"status":"ok"}]"#)
        await carol.raw.close()
        third.signal(SIGTERM)
        _ = try await third.waitForExit()
    }

    // MARK: backend

    /// examples/backend as run.sh runs it: backend.py on loopback, the server allowed to call it.
    func testRoomBehindTheBackendOverRealSockets() async throws {
        let backend = try await PythonBackend.start(Self.repository.appendingPathComponent("examples/backend/backend.py"), test: self)
        defer { backend.stop() }
        // The example's channels, with lib/backend.lua pointing at this backend's port.
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("backend-\(UUID().uuidString)/channels")
        try FileManager.default.createDirectory(at: folder.deletingLastPathComponent(), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder.deletingLastPathComponent()) }
        try FileManager.default.copyItem(at: URL(fileURLWithPath: Self.example("backend/channels")), to: folder)
        try "return { url = \"\(backend.url)\" }".write(
            to: folder.appendingPathComponent("lib/backend.lua"), atomically: true, encoding: .utf8)
        try await Self.withServer(channels: folder.path, public: nil, configure: {
            $0.httpAllow = [HTTPPolicy.Destination("127.0.0.1:\(backend.port)")!]
        }) { port in
            let ada = try await WebSocketTestClient.connect(port: port, path: "/socket/websocket?vsn=2.0.0")
            let grace = try await WebSocketTestClient.connect(port: port, path: "/socket/websocket?vsn=2.0.0")
            try await ada.send(text: #"["1","1","room:lobby","phx_join",{"user":"ada"}]"#)
            try await Self.receive(ada, until: #"["1","1","room:lobby","phx_reply",{"response":{"display":"Ada"},"status":"ok"}]"#)
            try await grace.send(text: #"["1","1","room:lobby","phx_join",{"user":"grace"}]"#)
            try await Self.receive(grace, until: #"["1","1","room:lobby","phx_reply",{"response":{"display":"Grace"},"status":"ok"}]"#)
            // The backend says no: unknown users, and bob outside the lobby.
            try await grace.send(text: #"["2","2","room:x","phx_join",{"user":"mallory"}]"#)
            try await Self.receive(grace, until: #"["2","2","room:x","phx_reply",{"response":{"reason":"unknown user"},"status":"error"}]"#)
            try await grace.send(text: #"["3","3","room:secret","phx_join",{"user":"bob"}]"#)
            try await Self.receive(grace, until: #"["3","3","room:secret","phx_reply",{"response":{"reason":"not allowed in this room"},"status":"error"}]"#)
            // A message is stored by the backend, then broadcast with the backend's id.
            try await ada.send(text: #"["1","2","room:lobby","new_msg",{"body":"hello"}]"#)
            try await Self.receive(ada, until: #"["1","2","room:lobby","phx_reply",{"response":{"id":1},"status":"ok"}]"#)
            try await Self.receive(grace, until: #"[null,null,"room:lobby","new_msg",{"body":"hello","id":1,"user":"Ada"}]"#)
            let stored = try await get("/messages?room=lobby", port: backend.port)
            XCTAssertEqual(stored.body, #"[{"id": 1, "room": "lobby", "user": "ada", "body": "hello"}]"#)
            for client in [ada, grace] { await client.raw.close() }
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
