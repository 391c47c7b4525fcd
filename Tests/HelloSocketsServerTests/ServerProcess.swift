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
    /// `directory`: the working directory (default: the test's); `environment`: added to the test's own.
    static func start(
        arguments: [String], test: XCTestCase, directory: URL? = nil, environment: [String: String] = [:]
    ) async throws -> ServerProcess {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: binary.path), "build hello-sockets first")
        let server = ServerProcess()
        server.process.executableURL = binary
        server.process.arguments = ["--port", "0", "--no-watch"] + arguments
        server.process.currentDirectoryURL = directory
        server.process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
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

    /// What a finished run of the binary printed, and its exit status.
    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs the binary to completion (bounded: killed after `timeout`) in `directory`, with `environment`
    /// added to the test's own (a value of "" removes the variable).
    static func run(
        _ arguments: [String], in directory: URL, environment: [String: String] = [:], binary: URL = binary,
        timeout: Duration = .seconds(60)
    ) async throws -> Run {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: binary.path), "build hello-sockets first")
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.currentDirectoryURL = directory
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }.filter { !$0.value.isEmpty }
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Read both pipes on threads of their own while it runs: a full pipe would block the child.
        let stdout = Self.drain(output), stderr = Self.drain(errors)
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        return Run(status: process.terminationStatus, stdout: await stdout.value, stderr: await stderr.value)
    }

    /// Reads a pipe to its end on a thread of its own (a blocking read must not hold a cooperative-pool thread).
    private final class Drain: @unchecked Sendable {
        private let lock = NSLock()
        private var data: Data?

        init(_ pipe: Pipe) {
            let handle = pipe.fileHandleForReading
            Thread { [self] in
                let all = handle.readDataToEndOfFile()
                lock.withLock { data = all }
            }.start()
        }

        /// Everything read, once the writer closed the pipe (bounded wait).
        var value: String {
            get async {
                let deadline = ContinuousClock.now + .seconds(10)
                while lock.withLock({ data == nil }) && ContinuousClock.now < deadline {
                    try? await Task.sleep(for: .milliseconds(10))
                }
                return String(decoding: lock.withLock { data } ?? Data(), as: UTF8.self)
            }
        }
    }

    private static func drain(_ pipe: Pipe) -> Drain { Drain(pipe) }

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
