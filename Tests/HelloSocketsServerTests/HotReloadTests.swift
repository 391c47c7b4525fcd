import Foundation
import HelloSocketsServer
import Logging
import NIOConcurrencyHelpers
import TestSupport
import WebSocketTransport
import XCTest

/// Hot reload over real sockets: each test gets its own temp channels folder, edits it while
/// clients are connected, and waits on the server's reload events (polled, with a deadline).
final class HotReloadTests: XCTestCase {
    private var folder: URL!
    private var channels: URL!
    private var server: HelloSocketsServer!
    private var port = 0
    private var events: ReloadRecorder!

    static let counter = """
        local channel = { topic = "counter" }
        function channel.join(topic, payload, socket)
          socket.assigns.count = 0
          return phx.ok()
        end
        function channel.handle_in(event, payload, socket)
          socket.assigns.count = socket.assigns.count + 1
          return phx.reply("ok", { count = socket.assigns.count, code = "one" })
        end
        return channel
        """

    override func setUp() async throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("reload-\(UUID().uuidString)")
        channels = folder.appendingPathComponent("channels")
        try FileManager.default.createDirectory(at: channels.appendingPathComponent("lib"), withIntermediateDirectories: true)
        try write("counter.lua", Self.counter)
    }

    override func tearDown() async throws {
        try await server?.shutdown()
        events?.stop()
        try? FileManager.default.removeItem(at: folder)
    }

    // MARK: - Helpers

    private func start(watch: Bool = true) async throws {
        var logger = Logger(label: "reload-test")
        logger.logLevel = ProcessInfo.processInfo.environment["TEST_LOG"] == nil ? .critical : .debug
        let configuration = ServerConfiguration(
            host: "127.0.0.1", port: 0, channelsDirectory: channels.path, eventLoopCount: 2,
            webSocket: WebSocketConfiguration(closeTimeout: .milliseconds(250)), watchChannels: watch)
        server = HelloSocketsServer(configuration: configuration, logger: logger)
        events = ReloadRecorder(server.reloadEvents())
        let address = try await server.start()
        port = try XCTUnwrap(address.port)
    }

    /// Writes a file in place (an IN_CLOSE_WRITE).
    private func write(_ name: String, _ text: String) throws {
        try text.write(to: channels.appendingPathComponent(name), atomically: false, encoding: .utf8)
    }

    /// Saves as editors do: a temp file renamed over the original (an IN_MOVED_TO).
    private func save(_ name: String, _ text: String) throws {
        let target = channels.appendingPathComponent(name)
        let temp = target.deletingLastPathComponent().appendingPathComponent(".\(target.lastPathComponent).swp")
        try text.write(to: temp, atomically: false, encoding: .utf8)
        XCTAssertEqual(rename(temp.path, target.path), 0)
    }

    private func connect(_ query: String = "vsn=2.0.0") async throws -> WebSocketTestClient {
        try await WebSocketTestClient.connect(port: port, path: "/socket/websocket?\(query)")
    }

    /// Sends a join and returns the reply `[join_ref, ref, topic, event, payload]`.
    private func join(_ client: WebSocketTestClient, _ topic: String, ref: String = "1") async throws -> [Any] {
        try await client.send(text: #"["\#(ref)","\#(ref)","\#(topic)","phx_join",{}]"#)
        return try await receive(client)
    }

    private func joined(_ topic: String) async throws -> WebSocketTestClient {
        let client = try await connect()
        let reply = try await join(client, topic)
        XCTAssertEqual(status(reply), "ok", "\(reply)")
        return client
    }

    private var nextRef = 10
    /// Pushes `event` on `topic` and returns the reply's response object.
    private func push(_ client: WebSocketTestClient, _ topic: String, _ event: String = "inc") async throws -> [String: Any] {
        nextRef += 1
        try await client.send(text: #"["1","\#(nextRef)","\#(topic)","\#(event)",{}]"#)
        let reply = try await receive(client)
        XCTAssertEqual(reply[3] as? String, "phx_reply", "\(reply)")
        return ((reply[4] as? [String: Any])?["response"] as? [String: Any]) ?? [:]
    }

    private func receive(_ client: WebSocketTestClient) async throws -> [Any] {
        let text = try await client.receiveText()
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [Any], text)
    }

    private func status(_ reply: [Any]) -> String? { (reply[4] as? [String: Any])?["status"] as? String }
    private func reason(_ reply: [Any]) -> String? {
        ((reply[4] as? [String: Any])?["response"] as? [String: Any])?["reason"] as? String
    }

    // MARK: - Tests

    func testEditWhileJoinedRunsNewCodeAndAssignsSurvive() async throws {
        try await start()
        let client = try await joined("counter")
        let first = try await push(client, "counter")
        XCTAssertEqual(first["count"] as? Int, 1)
        XCTAssertEqual(first["code"] as? String, "one")

        try save("counter.lua", Self.counter.replacingOccurrences(of: #"code = "one""#, with: #"code = "two""#))
        let event = try await events.wait { $0.kind == .reloaded && $0.name == "counter" }
        XCTAssertEqual(event.version?.rawValue, 2)
        XCTAssertTrue(event.message.hasPrefix("reloaded channels/counter.lua (v2, topic counter) in "), event.message)
        XCTAssertTrue(event.message.hasSuffix(" ms"), event.message)

        let second = try await push(client, "counter")
        XCTAssertEqual(second["count"] as? Int, 2, "assigns survive the reload")
        XCTAssertEqual(second["code"] as? String, "two")
        // A new join runs the new code too.
        let other = try await joined("counter")
        let fresh = try await push(other, "counter")
        XCTAssertEqual(fresh["count"] as? Int, 1)
        XCTAssertEqual(fresh["code"] as? String, "two")
    }

    /// The shipped ping channel itself, edited while a client is joined: the next reply changes; a
    /// syntax error then leaves that version serving.
    func testEditingTheShippedPingChannelChangesTheNextReply() async throws {
        let shipped = URL(fileURLWithPath: TestServer.channelsDirectory).appendingPathComponent("ping.lua")
        let original = try String(contentsOf: shipped, encoding: .utf8)
        try write("ping.lua", original)
        try await start()
        let client = try await joined("ping")
        try await client.send(text: #"["1","2","ping","ping",{}]"#)
        let before = try await client.receiveText()
        XCTAssertEqual(before, #"["1","2","ping","phx_reply",{"response":{"ping":"pong"},"status":"ok"}]"#)

        let edited = original.replacingOccurrences(of: #"phx.ok({ ping = "pong" })"#, with: #"phx.ok({ ping = "pong, reloaded" })"#)
        XCTAssertNotEqual(edited, original, "the edit must change ping.lua")
        try save("ping.lua", edited)
        _ = try await events.wait { $0.kind == .reloaded && $0.name == "ping" }
        try await client.send(text: #"["1","3","ping","ping",{}]"#)
        let after = try await client.receiveText()
        XCTAssertEqual(after, #"["1","3","ping","phx_reply",{"response":{"ping":"pong, reloaded"},"status":"ok"}]"#)

        try save("ping.lua", edited + "\nfunction broken(")
        _ = try await events.wait { $0.kind == .failed && $0.name == "ping" }
        try await client.send(text: #"["1","4","ping","ping",{}]"#)
        let still = try await client.receiveText()
        XCTAssertEqual(still, #"["1","4","ping","phx_reply",{"response":{"ping":"pong, reloaded"},"status":"ok"}]"#)
    }

    func testMigrateRunsOncePerChannelBeforeItsFirstCallbackOnTheNewVersion() async throws {
        try await start()
        let client = try await joined("counter")
        _ = try await push(client, "counter")
        _ = try await push(client, "counter")
        let v2 = """
            local channel = { topic = "counter" }
            function channel.join(topic, payload, socket) socket.assigns.count = 0 return phx.ok() end
            function channel.migrate(assigns, old_version)
              return { count = assigns.count * 10, from = old_version, migrations = (assigns.migrations or 0) + 1 }
            end
            function channel.handle_in(event, payload, socket)
              local a = socket.assigns
              a.count = a.count + 1
              return phx.reply("ok", { count = a.count, from = a.from, migrations = a.migrations })
            end
            return channel
            """
        try write("counter.lua", v2)  // in place this time (IN_CLOSE_WRITE)
        _ = try await events.wait { $0.kind == .reloaded && $0.name == "counter" }
        let migrated = try await push(client, "counter")
        XCTAssertEqual(migrated["count"] as? Int, 21)
        XCTAssertEqual(migrated["from"] as? Int, 1)
        XCTAssertEqual(migrated["migrations"] as? Int, 1)
        let again = try await push(client, "counter")
        XCTAssertEqual(again["count"] as? Int, 22)
        XCTAssertEqual(again["migrations"] as? Int, 1, "migrate runs once")
    }

    func testSyntaxErrorKeepsThePreviousVersionAndReportsFileAndLine() async throws {
        try await start()
        let client = try await joined("counter")
        try save("counter.lua", "local channel = { topic = \"counter\" }\nfunction channel.join(\nreturn channel\n")
        let event = try await events.wait { $0.kind == .failed && $0.name == "counter" }
        XCTAssertEqual(event.version?.rawValue, 1, "keeps v1")
        let error = try XCTUnwrap(event.error)
        XCTAssertTrue(error.message.hasPrefix("channels/counter.lua:3:"), error.message)
        XCTAssertTrue(event.message.contains("keeping v1"), event.message)
        let reply = try await push(client, "counter")
        XCTAssertEqual(reply["code"] as? String, "one")
        XCTAssertEqual(reply["count"] as? Int, 1)

        // Fixing the file gets v2 (the failed attempt consumed no version).
        try save("counter.lua", Self.counter.replacingOccurrences(of: #""one""#, with: #""fixed""#))
        let fixed = try await events.wait { $0.kind == .reloaded && $0.name == "counter" }
        XCTAssertEqual(fixed.version?.rawValue, 2)
        let after = try await push(client, "counter")
        XCTAssertEqual(after["code"] as? String, "fixed")
    }

    func testNewFileRegistersItsTopic() async throws {
        try await start()
        let client = try await connect()
        let before = try await join(client, "fresh:1")
        XCTAssertEqual(reason(before), "unmatched topic")
        try save("fresh.lua", """
            local channel = { topic = "fresh:*" }
            function channel.join(topic) return phx.ok({ hello = topic }) end
            return channel
            """)
        let event = try await events.wait { $0.kind == .added && $0.name == "fresh" }
        XCTAssertEqual(event.topics, ["fresh:*"])
        let after = try await join(client, "fresh:1", ref: "2")
        XCTAssertEqual(status(after), "ok", "\(after)")
    }

    func testDeletedFileClosesJoinedChannelsWithPhxErrorAndUnregistersItsTopic() async throws {
        try await start()
        // Several clients, so both event loops have channels of the script.
        var clients: [WebSocketTestClient] = []
        for _ in 0..<4 { clients.append(try await joined("counter")) }
        let bystander = try await connect()
        try FileManager.default.removeItem(at: channels.appendingPathComponent("counter.lua"))
        let event = try await events.wait { $0.kind == .removed && $0.name == "counter" }
        XCTAssertEqual(event.closedChannels, 4)
        for client in clients {
            let message = try await receive(client)
            XCTAssertEqual(message[2] as? String, "counter")
            XCTAssertEqual(message[3] as? String, "phx_error")
            XCTAssertEqual(message[0] as? String, "1")
        }
        let refused = try await join(bystander, "counter")
        XCTAssertEqual(reason(refused), "unmatched topic")
        // The socket itself lives on: heartbeats still work.
        try await clients[0].send(text: #"[null,"99","phoenix","heartbeat",{}]"#)
        let heartbeat = try await receive(clients[0])
        XCTAssertEqual(status(heartbeat), "ok")
    }

    func testPatternClashIsRefusedWithAReason() async throws {
        try await start()
        try save("copycat.lua", """
            local channel = { topic = { "copycat", "counter" } }
            function channel.join() return phx.ok() end
            return channel
            """)
        let event = try await events.wait { $0.kind == .failed && $0.name == "copycat" }
        XCTAssertTrue(event.message.contains(#"both claim topic "counter""#), event.message)
        let client = try await connect()
        let reply = try await join(client, "copycat")
        XCTAssertEqual(reason(reply), "unmatched topic", "the refused script registered nothing")
        let counter = try await join(client, "counter", ref: "2")
        XCTAssertEqual(status(counter), "ok")
    }

    func testSocketScriptChangeAppliesToNewConnectionsOnly() async throws {
        let socketScript = """
            local socket = {}
            function socket.connect(params)
              if params.token == "a" then return phx.ok({ user = "a" }) end
              return phx.error()
            end
            return socket
            """
        try write("socket.lua", socketScript)
        try await start()
        let old = try await connect("vsn=2.0.0&token=a")
        try save("socket.lua", socketScript.replacingOccurrences(of: #""a""#, with: #""b""#))
        let event = try await events.wait { $0.kind == .reloaded && $0.name == "socket" }
        XCTAssertTrue(event.message.contains("applies to new connections"), event.message)
        do {
            _ = try await connect("vsn=2.0.0&token=a")
            XCTFail("token a is refused by the new socket.lua")
        } catch let refused as WebSocketTestClient.HandshakeRefused {
            XCTAssertEqual(refused.response.status, 403)
        }
        _ = try await connect("vsn=2.0.0&token=b")
        // The connection made before the change stays up.
        let reply = try await join(old, "counter")
        XCTAssertEqual(status(reply), "ok")
    }

    func testLibModuleChangeReloadsTheScriptsThatRequireIt() async throws {
        try write("lib/words.lua", #"return { greeting = "hello" }"#)
        try write("greeter.lua", """
            local words = require("words")
            local channel = { topic = "greeter" }
            function channel.join() return phx.ok() end
            function channel.handle_in() return phx.reply("ok", { text = words.greeting }) end
            return channel
            """)
        try await start()
        let client = try await joined("greeter")
        let before = try await push(client, "greeter", "say")
        XCTAssertEqual(before["text"] as? String, "hello")

        let temp = channels.appendingPathComponent("lib/.words.lua.tmp")
        try #"return { greeting = "bonjour" }"#.write(to: temp, atomically: false, encoding: .utf8)
        XCTAssertEqual(rename(temp.path, channels.appendingPathComponent("lib/words.lua").path), 0)
        let library = try await events.wait { $0.kind == .library && $0.name == "words" }
        XCTAssertTrue(library.message.contains("channels/greeter.lua"), library.message)
        let dependent = try await events.wait { $0.kind == .reloaded && $0.name == "greeter" }
        XCTAssertEqual(dependent.version?.rawValue, 2)
        XCTAssertFalse(events.all.contains { $0.name == "counter" }, "scripts that don't require it are left alone")
        let after = try await push(client, "greeter", "say")
        XCTAssertEqual(after["text"] as? String, "bonjour")

        // A module with a syntax error keeps the old module and dependents.
        try write("lib/words.lua", "return { greeting = ")
        let failed = try await events.wait { $0.kind == .failed && $0.name == "words" }
        XCTAssertTrue(failed.error?.message.hasPrefix("channels/lib/words.lua:1:") ?? false, failed.message)
        let still = try await push(client, "greeter", "say")
        XCTAssertEqual(still["text"] as? String, "bonjour")
    }

    func testScriptsOfASocketSubfolderReloadToo() async throws {
        let room = channels.appendingPathComponent("room_socket")
        try FileManager.default.createDirectory(at: room, withIntermediateDirectories: true)
        try write("room_socket/room.lua", Self.counter.replacingOccurrences(of: #"topic = "counter""#, with: #"topic = "room""#))
        try await start()
        let client = try await WebSocketTestClient.connect(port: port, path: "/room_socket/websocket?vsn=2.0.0")
        let joinedRoom = try await join(client, "room")
        XCTAssertEqual(status(joinedRoom), "ok")
        try save("room_socket/room.lua", Self.counter
            .replacingOccurrences(of: #"topic = "counter""#, with: #"topic = "room""#)
            .replacingOccurrences(of: #""one""#, with: #""two""#))
        let event = try await events.wait { $0.kind == .reloaded && $0.name == "room" }
        XCTAssertEqual(event.path, "channels/room_socket/room.lua")
        let reply = try await push(client, "room")
        XCTAssertEqual(reply["code"] as? String, "two")
        XCTAssertEqual(reply["count"] as? Int, 1)
    }

    func testNoWatchMeansNoReload() async throws {
        try await start(watch: false)
        let client = try await joined("counter")
        try save("counter.lua", Self.counter.replacingOccurrences(of: #""one""#, with: #""two""#))
        try save("fresh.lua", "local c = { topic = \"fresh\" } function c.join() return phx.ok() end return c")
        // Nothing to wait for: check for a while (bounded, short) that the old code keeps answering.
        let deadline = ContinuousClock.now + .milliseconds(300)
        while ContinuousClock.now < deadline {
            let reply = try await push(client, "counter")
            XCTAssertEqual(reply["code"] as? String, "one")
            try await Task.sleep(for: .milliseconds(30))
        }
        let fresh = try await join(client, "fresh", ref: "2")
        XCTAssertEqual(reason(fresh), "unmatched topic")
        XCTAssertTrue(events.all.isEmpty)
    }
}

/// Collects a server's reload events; `wait` polls them with a deadline.
final class ReloadRecorder: @unchecked Sendable {
    private let events = NIOLockedValueBox<[ReloadEvent]>([])
    private var task: Task<Void, Never>?

    init(_ stream: AsyncStream<ReloadEvent>) {
        task = Task { [events] in
            for await event in stream { events.withLockedValue { $0.append(event) } }
        }
    }

    var all: [ReloadEvent] { events.withLockedValue { $0 } }

    func stop() { task?.cancel() }

    struct Timeout: Error, CustomStringConvertible {
        let seen: [ReloadEvent]
        var description: String { "no matching reload event; seen: \(seen.map(\.message))" }
    }

    /// The first event matching `predicate`, waiting up to `timeout` for it.
    func wait(timeout: Duration = .seconds(10), _ predicate: (ReloadEvent) -> Bool) async throws -> ReloadEvent {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let event = all.first(where: predicate) { return event }
            guard ContinuousClock.now < deadline else { throw Timeout(seen: all) }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}
