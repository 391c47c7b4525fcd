import Foundation
import TestSupport
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// `examples/cluster/run.sh` as a user runs it: one command starts redis-server, three nodes of the chat example
/// and nginx round robin in front; clients on different nodes and through nginx chat and see each other's
/// presence; stopping the script stops everything it started.
final class ClusterExampleTests: XCTestCase {
    func testOneCommandRunsThreeNodesBehindNginxThatChatAsOne() async throws {
        let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"].first { FileManager.default.isExecutableFile(atPath: $0) }
        try XCTSkipIf(nginx == nil, "nginx is not installed (scripts/install-deps.sh installs it)")
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: ServerProcess.binary.path), "build hello-sockets first")
        let front = try RedisServer.freePort()
        let nodes = try (0..<3).map { _ in try RedisServer.freePort() }
        let redis = try RedisServer.freePort()
        let script = ExamplesTests.repository.appendingPathComponent("examples/cluster/run.sh")

        // As from a terminal: a process group of its own (the test signals the script and all it started as one),
        // and SIGINT/SIGTERM neither blocked nor ignored (the test process's own mask and dispositions would be
        // inherited through exec, and bash cannot trap a signal ignored on entry).
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", "-c",
            """
            import os, signal, sys
            signal.pthread_sigmask(signal.SIG_SETMASK, [])
            for s in (signal.SIGINT, signal.SIGTERM): signal.signal(s, signal.SIG_DFL)
            try: os.setsid()
            except OSError: pass  # already a process group leader of its own: as good
            os.execvp("bash", ["bash", sys.argv[1]])
            """,
            script.path,
        ]
        process.environment = ProcessInfo.processInfo.environment.merging([
            "FRONT_PORT": "\(front)", "NODE_PORTS": nodes.map(String.init).joined(separator: " "),
            "REDIS_PORT": "\(redis)", "HELLO_SOCKETS_BIN": ServerProcess.binary.path,
        ]) { $1 }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let group = process.processIdentifier
        addTeardownBlock { kill(-group, SIGKILL) }

        // Up when the page comes through nginx.
        let deadline = ContinuousClock.now + .seconds(60)
        var page: HTTPResponse?
        while ContinuousClock.now < deadline, process.isRunning {
            if let response = try? await Self.get("/chat.html", port: front), response.status == 200 {
                page = response
                break
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        XCTAssertEqual(page?.status, 200, "the front never served the chat page")
        guard page != nil else { return }

        // Ada on the first node, Bob on the third, Carol through nginx.
        let ada = try await Self.join(port: nodes[0], name: "ada")
        let bob = try await Self.join(port: nodes[2], name: "bob")
        let carol = try await Self.join(port: front, name: "carol")
        // Everyone's list comes to hold all three, whichever node holds each.
        for client in [ada, bob, carol] {
            try await Self.receive(client, containingAll: [#""presence_diff""#, #""carol""#])
        }
        try await ada.send(text: #"["1","2","room:lobby","new_msg",{"body":"hello from node 1"}]"#)
        for client in [ada, bob, carol] {
            try await Self.receive(client, containingAll: [#""new_msg""#, #""body":"hello from node 1","user":"ada""#])
        }
        // Bob leaves: the others see it in a diff, across nodes.
        await bob.close()
        for client in [ada, carol] {
            try await Self.receive(client, containingAll: [#""presence_diff""#, #""leaves":{"bob""#])
        }
        await ada.close()
        await carol.close()

        // Stopping the script stops all it started.
        kill(-group, SIGTERM)
        let stopDeadline = ContinuousClock.now + .seconds(20)
        while process.isRunning, ContinuousClock.now < stopDeadline { try await Task.sleep(for: .milliseconds(50)) }
        XCTAssertFalse(process.isRunning, "run.sh did not stop on SIGTERM")
        for port in [front, redis] + nodes {
            XCTAssertFalse(Self.accepts(port: port), "port \(port) still open after run.sh stopped")
        }
    }

    static func get(_ path: String, port: Int) async throws -> HTTPResponse {
        let client = try await RawClient.connect(port: port)
        defer { Task { await client.close() } }
        try await client.send("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        return try await client.receiveHTTPResponse()
    }

    static func join(port: Int, name: String) async throws -> WebSocketTestClient {
        let client = try await WebSocketTestClient.connect(port: port, path: "/socket/websocket?vsn=2.0.0")
        try await client.send(text: #"["1","1","room:lobby","phx_join",{"name":"\#(name)"}]"#)
        try await receive(client, containingAll: [#"["1","1","room:lobby","phx_reply""#, #""status":"ok""#])
        return client
    }

    /// Reads frames until one contains every fragment (bounded: 10 s).
    static func receive(
        _ client: WebSocketTestClient, containingAll fragments: [String], file: StaticString = #filePath,
        line: UInt = #line
    ) async throws {
        var seen: [String] = []
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            guard let text = try? await client.receiveText(timeout: .seconds(1)) else { continue }
            if fragments.allSatisfy({ text.contains($0) }) { return }
            seen.append(text)
        }
        XCTFail("no frame with \(fragments); saw:\n\(seen.joined(separator: "\n"))", file: file, line: line)
    }

    static func accepts(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}
