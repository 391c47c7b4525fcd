import Foundation
import XCTest

/// The built `hello-sockets` binary in a child process, for what only a real process shows: signals,
/// the exit status, its resident memory.
final class ServerProcess: @unchecked Sendable {
    let process = Process()
    private(set) var port = 0
    private let stderr = Pipe()
    /// Everything the server wrote to stderr so far, and whether it closed stderr (it exited).
    private let lock = NSLock()
    private var output = (log: "", ended: false)

    static let binary = URL(fileURLWithPath: TestServer.channelsDirectory).deletingLastPathComponent()
        .appendingPathComponent(".build/debug/hello-sockets")

    /// Starts the binary on a free loopback port and waits for its "listening on" line.
    /// Skips the test when the binary isn't built.
    static func start(arguments: [String], test: XCTestCase) async throws -> ServerProcess {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: binary.path), "build hello-sockets first")
        let server = ServerProcess()
        server.process.executableURL = binary
        server.process.arguments = ["--port", "0", "--no-watch"] + arguments
        server.process.standardError = server.stderr
        try server.process.run()
        test.addTeardownBlock { if server.process.isRunning { server.process.terminate() } }
        server.readStderr()
        let deadline = ContinuousClock.now + .seconds(30)
        while server.port == 0 && ContinuousClock.now < deadline && server.process.isRunning {
            let log = server.log
            if let range = log.range(of: #"listening on http://127\.0\.0\.1:(\d+)"#, options: .regularExpression) {
                server.port = Int(log[range].split(separator: ":").last ?? "") ?? 0
            } else {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        guard server.port != 0 else { throw StartFailed(log: server.log) }
        return server
    }

    struct StartFailed: Error, CustomStringConvertible {
        let log: String
        var description: String { "hello-sockets did not start listening:\n\(log)" }
    }

    var log: String { lock.withLock { output.log } }

    /// A thread of its own: a blocking read must not hold one of the few cooperative-pool threads.
    private func readStderr() {
        let handle = stderr.fileHandleForReading
        Thread { [self] in
            while true {
                let data = handle.availableData
                if data.isEmpty { break }
                lock.withLock { output.log += String(decoding: data, as: UTF8.self) }
            }
            lock.withLock { output.ended = true }
        }.start()
    }

    func signal(_ number: Int32) {
        kill(process.processIdentifier, number)
    }

    /// Waits (bounded) for the process to exit and for the rest of its log; returns its exit status,
    /// nil if it is still running.
    func waitForExit(timeout: Duration = .seconds(15)) async throws -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while (process.isRunning || !lock.withLock { output.ended }) && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        return process.isRunning ? nil : process.terminationStatus
    }

    /// Resident memory (VmRSS in /proc/PID/status), in bytes.
    func residentBytes() throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kilobytes = Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "")
        else { throw NoRSS(status: status) }
        return kilobytes * 1024
    }

    struct NoRSS: Error, CustomStringConvertible {
        let status: String
        var description: String { "no VmRSS line in /proc/PID/status:\n\(status)" }
    }
}
