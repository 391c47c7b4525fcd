import Foundation
import TestSupport
import XCTest

/// The `hello-sockets` binary as a user runs it: from a temporary folder (no `./channels`), reading its
/// exit status, stdout and stderr.
final class CommandLineTests: XCTestCase {
    private var folder: URL!
    private static let repository = ExamplesTests.repository
    private static let shippedChannels = repository.appendingPathComponent("channels").path
    private static let secret = "0123456789abcdef0123456789abcdef-test-secret"

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    private func run(_ arguments: [String], environment: [String: String] = [:]) async throws -> ServerProcess.Run {
        try await ServerProcess.run(arguments, in: folder, environment: environment)
    }

    private func write(_ text: String, to path: String) throws {
        let url = folder.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: true, encoding: .utf8)
    }

    // MARK: --version, --help

    func testVersionNamesTheVersionAndTheCommitBuiltFrom() async throws {
        let result = try await run(["--version"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let version = try String(contentsOf: Self.repository.appendingPathComponent("VERSION"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let line = result.stdout.trimmingCharacters(in: .newlines)
        XCTAssertTrue(line.hasPrefix("hello-sockets \(version) (commit "), line)
        let commit = try XCTUnwrap(
            line.range(of: #"\(commit ([0-9a-f]{12})(-dirty)?\)$"#, options: .regularExpression)
                .map { String(line[$0].dropFirst("(commit ".count).prefix(12)) }, line)
        // A commit of this repository (HEAD itself in a fresh clone, as in CI; an earlier one if the binary
        // was built before the last commit).
        let git = Process()
        git.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        git.arguments = ["git", "-C", Self.repository.path, "cat-file", "-t", commit]
        let output = Pipe()
        git.standardOutput = output
        git.standardError = FileHandle.nullDevice
        try git.run()
        git.waitUntilExit()
        let type = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(type, "commit\n", "\(commit) is no commit of \(Self.repository.path)")
    }

    func testHelpGroupsFlagsOnceEach() async throws {
        for arguments in [["--help"], ["serve", "--help"], ["help"], ["-h"]] {
            let result = try await run(arguments)
            XCTAssertEqual(result.status, 0, "\(arguments): \(result.stderr)")
            let help = result.stdout
            var position = help.startIndex
            for heading in ["NETWORK:", "CHANNELS:", "LIMITS:", "SECURITY:", "OBSERVABILITY:"] {
                let found = try XCTUnwrap(
                    help.range(of: "\n\(heading)\n", range: position..<help.endIndex), "\(heading) in\n\(help)")
                position = found.upperBound
            }
            XCTAssertEqual(
                help.components(separatedBy: "(default: 16384)").count, 2, "one default for --max-connections")
            XCTAssertEqual(
                help.components(separatedBy: "--[no-]observe").count, 2, "one line for --observe and --no-observe")
            XCTAssertTrue(help.contains("USAGE: hello-sockets [serve] [--config FILE] [FLAGS]"), help)
        }
        let check = try await run(["check", "--help"])
        XCTAssertTrue(check.stdout.hasPrefix("USAGE: hello-sockets check"), check.stdout)
        XCTAssertTrue(check.stdout.contains("--max-connections N"), check.stdout)
    }

    func testAnUnknownFlagShowsTheProblemAndWhereTheHelpIs() async throws {
        let result = try await run(["--max-conections", "5", "--channels", Self.shippedChannels])
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(
            result.stderr.hasPrefix("Error: unknown flag --max-conections (did you mean --max-connections?)"),
            result.stderr)
        XCTAssertTrue(result.stderr.contains("hello-sockets --help"), result.stderr)
    }

    // MARK: subcommands from any folder

    func testTokenAndTestWorkFromAFolderWithoutChannels() async throws {
        let environment = ["SECRET_KEY_BASE": Self.secret]
        let signed = try await run(["token", "sign", "salt identifier", "42"], environment: environment)
        XCTAssertEqual(signed.status, 0, signed.stderr)
        let token = signed.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let verified = try await run(["token", "verify", "salt identifier", token], environment: environment)
        XCTAssertEqual(verified.stdout, "42\n", verified.stderr)

        let specs = try await run(["test", Self.shippedChannels])
        XCTAssertEqual(specs.status, 0, specs.stdout + specs.stderr)
        XCTAssertTrue(specs.stdout.hasSuffix(" passed, 0 failed\n"), specs.stdout)

        try write("secret_key_base: \(Self.secret)\n", to: "node.yml")
        let fromFile = try await run(
            ["token", "verify", "--config", "node.yml", "salt identifier", token],
            environment: ["SECRET_KEY_BASE": ""])
        XCTAssertEqual(fromFile.stdout, "42\n", fromFile.stderr)
    }

    func testBroadcastWorksFromAFolderWithoutChannels() async throws {
        let server = try await ServerProcess.start(arguments: ["--channels", Self.shippedChannels], test: self)
        let client = try await WebSocketTestClient.connect(port: server.port, path: "/socket/websocket?vsn=2.0.0")
        try await client.send(text: #"["1","1","ping","phx_join",{}]"#)
        _ = try await client.receiveText()
        let result = try await run(["broadcast", "--port", String(server.port), "ping", "request_ping", "{}"])
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        let push = try await client.receiveText()
        XCTAssertTrue(push.contains(#""ping","send_ping""#), push)
        await client.close()
    }

    // MARK: hello-sockets test

    func testTestCommandRefusesToPassOnNothing() async throws {
        let missing = try await run(["test", "nowhere"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertEqual(missing.stderr, "Error: no folder at nowhere\n")

        try write("return { topic = \"x\", join = function() return phx.ok() end }\n", to: "empty/x.lua")
        let noSpecs = try await run(["test", "empty"])
        XCTAssertEqual(noSpecs.status, 1)
        XCTAssertTrue(noSpecs.stderr.hasPrefix("Error: no specs in empty: spec files end in _test.lua"), noSpecs.stderr)

        try write("return { topic = \"x\",\n  join = function( end }\n", to: "broken/x.lua")
        try write(
            "it(\"joins\", function() assert.truthy(ct.subscribe_and_join(\"x\", {})) end)\n", to: "broken/x_test.lua")
        let broken = try await run(["test", "broken"])
        XCTAssertEqual(broken.status, 1, broken.stdout)
        XCTAssertTrue(broken.stdout.contains("broken/x.lua:2:"), broken.stdout)
        XCTAssertTrue(broken.stdout.hasSuffix("0 passed, 1 failed\n"), broken.stdout)

        let unmatched = try await run(["test", Self.shippedChannels, "--filter", "no test is called this"])
        XCTAssertEqual(unmatched.status, 1)
        XCTAssertEqual(unmatched.stderr, "Error: no test matches --filter no test is called this\n")
    }

    // MARK: messages

    func testTakenPortIsTheFirstThingSaidAndSaysWhatToDo() async throws {
        let first = try await ServerProcess.start(arguments: ["--channels", Self.shippedChannels], test: self)
        let second = try await run(["--channels", Self.shippedChannels, "--port", String(first.port)])
        XCTAssertEqual(second.status, 1)
        XCTAssertTrue(
            second.stderr.hasPrefix(
                "Error: cannot listen on 127.0.0.1:\(first.port): the port is already in use (another hello-sockets, "
                    + "or another server). Stop that one, or choose another port with --port N (or $PORT)."),
            second.stderr)
        XCTAssertFalse(second.stderr.contains("hot reload"), second.stderr)
    }

    func testScriptPathsReadAsGivenAndFolderCountsAreGrammatical() async throws {
        let server = try await ServerProcess.start(
            arguments: ["--channels", "examples/chat/channels", "--watch"], test: self, directory: Self.repository)
        let log = server.log
        XCTAssertTrue(log.contains("/socket: examples/chat/channels/room.lua serves room:*"), log)
        XCTAssertTrue(log.contains("hot reload: watching 1 folder under examples/chat/channels"), log)
    }

    func testARefusedConnectIsLoggedPlainly() async throws {
        let server = try await ServerProcess.start(arguments: ["--channels", Self.shippedChannels], test: self)
        let client = try await RawClient.connect(port: server.port)
        try await client.send(WebSocketTestClient.upgradeRequest(path: "/auth_socket/websocket?vsn=2.0.0"))
        let response = try await client.receiveHTTPResponse()
        await client.close()
        XCTAssertEqual(response.status, 403)
        XCTAssertEqual(response.body, "Connect refused by socket.lua.\n")
        let deadline = ContinuousClock.now + .seconds(5)
        while !server.log.contains("refused WebSocket connection") && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        XCTAssertTrue(
            server.log.contains(
                "refused WebSocket connection to /auth_socket/websocket (403): Connect refused by socket.lua."),
            server.log)
        XCTAssertFalse(server.log.contains("{}"), server.log)
    }

    // MARK: install

    func testInstalledBinaryRunsTheReadmeCommandsFromAnyFolder() async throws {
        let prefix = folder.appendingPathComponent("prefix")
        let install = Process()
        install.executableURL = Self.repository.appendingPathComponent("scripts/install.sh")
        install.arguments = ["--debug", "--no-build", prefix.path]
        install.standardOutput = FileHandle.nullDevice
        try install.run()
        install.waitUntilExit()
        XCTAssertEqual(install.terminationStatus, 0)
        let binary = prefix.appendingPathComponent("bin/hello-sockets")
        let environment = ["SECRET_KEY_BASE": Self.secret]
        let version = try await ServerProcess.run(["--version"], in: folder, binary: binary)
        XCTAssertTrue(version.stdout.hasPrefix("hello-sockets "), version.stdout)
        let token = try await ServerProcess.run(
            ["token", "sign", "salt identifier", "1"], in: folder,
            environment: environment, binary: binary)
        XCTAssertEqual(token.status, 0, token.stderr)
        let specs = try await ServerProcess.run(
            ["test", "examples/chat/channels"], in: Self.repository, binary: binary)
        XCTAssertEqual(specs.status, 0, specs.stdout + specs.stderr)
        let check = try await ServerProcess.run(["check"], in: Self.repository, binary: binary)
        XCTAssertEqual(check.status, 0, check.stdout + check.stderr)
    }
}
