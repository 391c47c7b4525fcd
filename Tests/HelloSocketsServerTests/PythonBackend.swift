import Foundation
import Logging
import XCTest

/// A Python HTTP backend (standard library only) in a child process on a free loopback port: what
/// `phx.http.request` calls in the tests. Stopped at the end of the test.
final class PythonBackend: @unchecked Sendable {
    let process = Process()
    private(set) var port = 0
    private let stdout = Pipe()

    /// Starts `script` (which prints `listening on HOST:PORT` first) with `--port 0`.
    static func start(_ script: URL, test: XCTestCase) async throws -> PythonBackend {
        let backend = PythonBackend()
        backend.process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        backend.process.arguments = ["python3", script.path, "--port", "0"]
        backend.process.standardOutput = backend.stdout
        try backend.process.run()
        test.addTeardownBlock { backend.stop() }
        let line = await Task.detached { backend.stdout.fileHandleForReading.readLine() }.value
        guard let line, let port = line.split(separator: ":").last.flatMap({ Int($0) }) else {
            throw StartFailed(line: line ?? "(nothing)")
        }
        backend.port = port
        return backend
    }

    /// `http://127.0.0.1:PORT`.
    var url: String { "http://127.0.0.1:\(port)" }

    /// SIGKILL: the test process may have SIGTERM blocked, and a child inherits the mask.
    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    struct StartFailed: Error, CustomStringConvertible {
        let line: String
        var description: String { "the backend did not start: \(line)" }
    }

    /// The test fixture backend: `/slow`, `/hang`, `/big`, `/echo`.
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/http_backend.py")
}

extension FileHandle {
    /// One line (without its newline), read byte by byte: nothing past it is consumed.
    fileprivate func readLine() -> String? {
        var bytes: [UInt8] = []
        while true {
            let data = readData(ofLength: 1)
            guard let byte = data.first else { return bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self) }
            if byte == UInt8(ascii: "\n") { return String(decoding: bytes, as: UTF8.self) }
            bytes.append(byte)
        }
    }
}

/// Keeps every log line (with its metadata) for assertions: `[warning] channels/io.lua:7: … topic=io:a`.
final class CapturedLog: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []

    var logger: Logger {
        var logger = Logger(label: "test-server") { _ in Handler(log: self) }
        logger.logLevel = .info
        return logger
    }

    var text: String { lock.withLock { lines.joined(separator: "\n") } }

    /// Waits up to `timeout` for a line containing every one of `parts`; returns it.
    func line(containing parts: [String], timeout: Duration = .seconds(5)) async -> String? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let found = lock.withLock({ lines.first { line in parts.allSatisfy { line.contains($0) } } }) { return found }
            if ContinuousClock.now > deadline { return nil }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    fileprivate func append(_ line: String) { lock.withLock { lines.append(line) } }

    private struct Handler: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .info

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let all = self.metadata.merging(event.metadata ?? [:]) { $1 }
            let tags = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            log.append("[\(event.level)] \(event.message) \(tags)")
        }
    }
}
