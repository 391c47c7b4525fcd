import Foundation
import LuaRuntime
import Tokens
import XCTest

/// `examples/python/*.py` run against a server started here, as the README tells a newcomer to run them.
/// Skipped when `python3` or its `websockets` package is missing (`scripts/test.sh` installs it).
final class PythonClientExamplesTests: XCTestCase {
    override func setUp() async throws {
        let check = try await Self.run(["python3", "-c", "import websockets"], timeout: .seconds(30))
        try XCTSkipUnless(check.status == 0, "python3 with websockets is not installed: python3 -m pip install websockets")
    }

    func testJoinAndPing() async throws {
        try await ExamplesTests.withServer(channels: TestServer.channelsDirectory, public: nil) { port in
            let result = try await Self.run([
                "python3", Self.script("join_and_ping.py"),
                "--url", "ws://127.0.0.1:\(port)/socket/websocket?vsn=2.0.0",
                "--count", "3", "--interval", "0.3", "--heartbeat", "0.2",
            ])
            XCTAssertEqual(result.status, 0, result.output)
            for line in [
                #"< ["1","1","ping","phx_reply",{"response":{},"status":"ok"}]"#,
                #"< ["1","2","ping","phx_reply",{"response":{"ping":"pong"},"status":"ok"}]"#,
                #"  ping 2: ok {"ping": "hello #2"}"#,
                #"  ping 3: ok {"ping": "pong"}"#,
            ] {
                XCTAssertTrue(result.output.contains(line), "missing \(line) in:\n\(result.output)")
            }
            // Heartbeats went out and were answered.
            XCTAssertTrue(result.output.contains(#""phoenix","heartbeat",{}]"#), result.output)
            XCTAssertTrue(result.output.contains(#""phoenix","phx_reply",{"response":{},"status":"ok"}]"#), result.output)
        }
    }

    func testChatClient() async throws {
        let channels = ExamplesTests.example("chat/channels")
        try await ExamplesTests.withServer(channels: channels, public: nil) { port in
            let url = "ws://127.0.0.1:\(port)/socket/websocket?vsn=2.0.0"
            // Ada listens; once she has joined, Bob says hello and listens a little.
            async let ada = Self.run(["python3", Self.script("chat_client.py"), "--url", url, "--name", "ada", "--listen", "4"])
            try await Task.sleep(for: .seconds(1.5))
            let bob = try await Self.run([
                "python3", Self.script("chat_client.py"), "--url", url, "--name", "bob", "--message", "hello, room", "--listen", "1",
            ])
            XCTAssertEqual(bob.status, 0, bob.output)
            XCTAssertTrue(bob.output.contains("joined room:lobby as bob"), bob.output)
            XCTAssertTrue(bob.output.contains("bob: hello, room"), bob.output)
            XCTAssertTrue(bob.output.contains("here now: ada, bob"), bob.output)
            let adaResult = try await ada
            XCTAssertEqual(adaResult.status, 0, adaResult.output)
            XCTAssertTrue(adaResult.output.contains("joined room:lobby as ada"), adaResult.output)
            XCTAssertTrue(adaResult.output.contains("here now: ada, bob"), adaResult.output)
            XCTAssertTrue(adaResult.output.contains("bob: hello, room"), adaResult.output)
        }
    }

    func testAuthenticatedUserChannel() async throws {
        try await ExamplesTests.withServer(channels: TestServer.channelsDirectory, public: nil) { port in
            // The in-process server signs with this process's default secret, as the token CLI would with the same one.
            let token = try TokenSigner.processDefault.sign(salt: "salt identifier", data: .integer(42))
            let base = "ws://127.0.0.1:\(port)"
            let granted = try await Self.run(["python3", Self.script("auth_user.py"), "--base", base, "--token", token, "--user", "42"])
            XCTAssertEqual(granted.status, 0, granted.output)
            XCTAssertTrue(granted.output.contains("join user:42: ok"), granted.output)
            XCTAssertTrue(granted.output.contains(#"join user:someone-else: error {"reason": "unauthorized"}"#), granted.output)
            let forged = try await Self.run(["python3", Self.script("auth_user.py"), "--base", base, "--token", token + "x", "--user", "42"])
            XCTAssertEqual(forged.status, 1, forged.output)
            XCTAssertTrue(forged.output.contains("connection refused: HTTP 403"), forged.output)
        }
    }

    static func script(_ name: String) -> String { ExamplesTests.example("python/\(name)") }

    /// Runs a command (found on PATH) to its end; stdout and stderr together.
    static func run(_ arguments: [String], timeout: Duration = .seconds(30)) async throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        var environment = ProcessInfo.processInfo.environment
        environment["PYTHONUNBUFFERED"] = "1"
        process.environment = environment
        try process.run()
        // Read on another thread (a full pipe would block the script), and stop a script that hangs.
        let reader = Task.detached { pipe.fileHandleForReading.readDataToEndOfFile() }
        let watchdog = Task.detached {
            try await Task.sleep(for: timeout)
            if process.isRunning { process.terminate() }
        }
        let data = await reader.value
        process.waitUntilExit()
        watchdog.cancel()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
