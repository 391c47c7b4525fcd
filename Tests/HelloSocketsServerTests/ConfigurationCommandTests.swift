import Foundation
import TestSupport
import XCTest

/// `hello-sockets check` on good and bad folders, the example deploy config, and SIGHUP reloads of a
/// running binary.
final class ConfigurationCommandTests: XCTestCase {
    private var folder: URL!
    private static let repository = ExamplesTests.repository

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    private func write(_ text: String, to path: String) throws {
        let url = folder.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: true, encoding: .utf8)
    }

    private func channel(_ topic: String) -> String {
        "return { topic = \"\(topic)\", join = function() return phx.ok() end }\n"
    }

    // MARK: check

    func testCheckOnAGoodFolderSaysWhatItWouldServe() async throws {
        try write(channel("room:*"), to: "channels/room.lua")
        try write(channel("stats"), to: "channels/stats_socket/stats.lua")
        try write(
            """
            host: 0.0.0.0
            max_connections: 500
            api_token: a-long-enough-api-token
            allowed_origin: [https://example.com]
            """, to: "node.yml")
        let result = try await ServerProcess.run(
            ["check", "--config", "node.yml"], in: folder,
            environment: ["HELLO_SOCKETS_IDLE_TIMEOUT": "30"])
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        // Columns are padded to the longest key: compare with runs of spaces made one.
        let out = result.stdout.replacingOccurrences(of: " {2,}", with: " ", options: .regularExpression)
        for line in [
            "listening: http://0.0.0.0:4000",
            "\n /socket/websocket\n channels/room.lua: room:*",
            "\n /stats_socket/websocket\n channels/stats_socket/stats.lua: stats",
            "\n host 0.0.0.0 (node.yml:1)",
            "\n max_connections 500 (node.yml:2)",
            "\n idle_timeout 30 ($HELLO_SOCKETS_IDLE_TIMEOUT)",
            "\n api_token [redacted] (node.yml:3)",
            "\n allowed_origin https://example.com (node.yml:4)",
            "ok: hello-sockets would start with this configuration",
        ] {
            XCTAssertTrue(out.contains(line), "missing \(line) in\n\(result.stdout)")
        }
        XCTAssertFalse(out.contains("a-long-enough-api-token"), out)
    }

    func testCheckListsEveryProblemOfABadFolder() async throws {
        try write(channel("room:*"), to: "channels/a.lua")
        try write(channel("room:*"), to: "channels/b.lua")
        try write("return { topic = \"x\",\n  join = function( end }\n", to: "channels/broken.lua")
        try write("max_connections: lots\nmax_conections: 5\n", to: "node.yml")
        let result = try await ServerProcess.run(["check", "--config", "node.yml", "--port", "99999"], in: folder)
        XCTAssertEqual(result.status, 1, result.stdout)
        let out = result.stdout
        for problem in [
            "  node.yml:1: max_connections: expected a whole number of connections from 1 to 10000000, got lots",
            "  node.yml:2: max_conections: unknown key (did you mean max_connections?)",
            "  --port: expected a whole number from 0 to 65535, got \"99999\"",
            "  channels/a.lua and channels/b.lua both claim topic \"room:*\"",
            "  channels/broken.lua:2:",
            "5 problems: hello-sockets would not start",
        ] {
            XCTAssertTrue(out.contains(problem), "missing \(problem) in\n\(out)")
        }
    }

    func testCheckWithoutAChannelsFolder() async throws {
        let result = try await ServerProcess.run(["check"], in: folder)
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(
            result.stdout.contains("  --channels: no folder at ./channels (serve runs the channel scripts"),
            result.stdout)
        XCTAssertTrue(result.stdout.contains("1 problem: hello-sockets would not start"), result.stdout)
    }

    func testTheExampleDeployConfigPassesCheck() async throws {
        // The example names TLS files and reads secrets from the environment; give it throwaway ones.
        let deploy = Self.repository.appendingPathComponent("examples/deploy")
        var text = try String(contentsOf: deploy.appendingPathComponent("hello-sockets.yml"), encoding: .utf8)
        let (certificate, key) = try TLSFixture.writePEMFiles(to: folder)
        text = text.replacingOccurrences(of: "/etc/hello-sockets/tls/fullchain.pem", with: certificate.path)
            .replacingOccurrences(of: "/etc/hello-sockets/tls/privkey.pem", with: key.path)
            .replacingOccurrences(
                of: "/srv/hello-sockets/channels", with: Self.repository.appendingPathComponent("channels").path)
        try write(text, to: "hello-sockets.yml")
        let result = try await ServerProcess.run(
            ["check", "--config", "hello-sockets.yml"], in: folder,
            environment: [
                "SECRET_KEY_BASE": String(repeating: "x", count: 64),
                "HELLO_SOCKETS_API_TOKEN": "example-token-0123456789",
            ])
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        XCTAssertTrue(result.stdout.contains("tls: \(certificate.path) with \(key.path): loaded"), result.stdout)
    }

    func testTheExampleSystemdUnitVerifies() async throws {
        let analyze = URL(fileURLWithPath: "/usr/bin/systemd-analyze")
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: analyze.path), "no systemd-analyze here")
        // verify wants the binaries the unit names to exist: point it at the one under test.
        let unit = try String(
            contentsOf: Self.repository.appendingPathComponent("examples/deploy/hello-sockets.service"),
            encoding: .utf8)
        XCTAssertTrue(unit.contains("ExecStart=/usr/local/bin/hello-sockets --config "), unit)
        try write(
            unit.replacingOccurrences(of: "/usr/local/bin/hello-sockets", with: ServerProcess.binary.path),
            to: "hello-sockets.service")
        let result = try await ServerProcess.run(
            ["verify", folder.appendingPathComponent("hello-sockets.service").path],
            in: folder, binary: analyze)
        // verify exits 0 on directives it ignores, but names them: any output is a problem.
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stdout + result.stderr, "")
        for directive in ["Restart=on-failure", "LimitNOFILE=65536", "KillSignal=SIGTERM", "TimeoutStopSec=20"] {
            XCTAssertTrue(unit.contains("\n\(directive)\n"), directive)
        }
    }

    // MARK: SIGHUP

    func testHangupChangesALimitWithoutDroppingAConnection() async throws {
        try write(channel("room:*"), to: "channels/room.lua")
        try write("max_connections: 2\nlog_level: info\n", to: "node.yml")
        let server = try await ServerProcess.start(arguments: ["--config", "node.yml"], test: self, directory: folder)
        let first = try await WebSocketTestClient.connect(port: server.port, path: "/socket/websocket?vsn=2.0.0")
        try await first.send(text: #"["1","1","room:a","phx_join",{}]"#)
        let joined = try await first.receiveText()
        XCTAssertEqual(joined, #"["1","1","room:a","phx_reply",{"response":{},"status":"ok"}]"#)

        try write("max_connections: 1\nlog_level: debug\nhost: 0.0.0.0\n", to: "node.yml")
        server.signal(SIGHUP)
        try await waitFor("needs a restart", in: server)
        XCTAssertTrue(
            server.log.contains(
                "SIGHUP: configuration reloaded (node.yml): max_connections 2 -> 1, log_level info -> debug"),
            server.log)
        XCTAssertTrue(server.log.contains("SIGHUP: host 127.0.0.1 -> 0.0.0.0 needs a restart"), server.log)

        // The open connection goes on; a second one is now past the limit.
        try await first.send(text: #"[null,"3","phoenix","heartbeat",{}]"#)
        let heartbeat = try await first.receiveText()
        XCTAssertEqual(heartbeat, #"[null,"3","phoenix","phx_reply",{"response":{},"status":"ok"}]"#)
        do {
            let second = try await WebSocketTestClient.connect(port: server.port, path: "/socket/websocket?vsn=2.0.0")
            await second.close()
            XCTFail("a second connection was accepted past max_connections 1")
        } catch let refused as WebSocketTestClient.HandshakeRefused {
            XCTAssertEqual(refused.response.status, 503)
        }
        // Debug logging is on now: connections log their opening.
        XCTAssertTrue(server.log.contains("connection opened"), server.log)

        // A broken file keeps the running configuration.
        try write("max_connections: none\n", to: "node.yml")
        server.signal(SIGHUP)
        try await waitFor("SIGHUP: the configuration has problems", in: server)
        XCTAssertTrue(server.log.contains("node.yml:1: max_connections: expected a whole number"), server.log)
        try await first.send(text: #"[null,"4","phoenix","heartbeat",{}]"#)
        let stillServed = try await first.receiveText()
        XCTAssertEqual(stillServed, #"[null,"4","phoenix","phx_reply",{"response":{},"status":"ok"}]"#)
        await first.close()
        server.signal(SIGTERM)
        let status = try await server.waitForExit()
        XCTAssertEqual(status, 0, server.log)
    }

    private func waitFor(_ text: String, in server: ServerProcess) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while !server.log.contains(text) && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        XCTAssertTrue(server.log.contains(text), "no \"\(text)\" in\n\(server.log)")
    }
}
