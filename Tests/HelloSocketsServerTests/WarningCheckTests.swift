import Foundation
import XCTest

/// `scripts/check-warnings.sh`, which scripts/test.sh runs on its build log: our warnings fail it, our
/// dependencies' don't.
final class WarningCheckTests: XCTestCase {
    static let root = ObserverBrowserTests.repository.resolvingSymlinksInPath().path

    /// The script's exit status and what it printed, for a log of these lines.
    private func check(_ lines: [String]) throws -> (status: Int32, output: String) {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("hs-build-\(UUID().uuidString).log")
        try (lines.joined(separator: "\n") + "\n").write(to: log, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: log) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [Self.root + "/scripts/check-warnings.sh", log.path]
        let output = Pipe()
        process.standardError = output
        process.standardOutput = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, text)
    }

    func testDependenciesMayWarn() throws {
        let result = try check([
            "[12/900] Compiling NIOCore ByteBuffer-core.swift",
            "\(Self.root)/.build/checkouts/swift-nio/Sources/NIOCore/Foo.swift:3:4: warning: 'bar' is deprecated",
            "warning: 'swift-nio': found 1 file(s) which are unhandled; explicitly declare them as resources or exclude from the target",
            "    \(Self.root)/.build/checkouts/swift-nio/Sources/NIOCore/notes.txt",
            "Build complete! (12.00s)",
        ])
        XCTAssertEqual(result.status, 0, result.output)
    }

    func testOurCompilerWarningFails() throws {
        let warning = "\(Self.root)/Sources/HelloSocketsServer/Metrics/MetricsEndpoint.swift:38:58: warning: converting non-Sendable function value"
        let result = try check(["[3/9] Compiling HelloSocketsServer MetricsEndpoint.swift", warning, "36 | x", "   |  `- warning: converting"])
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.output.contains(warning), result.output)
        XCTAssertTrue(result.output.contains("1 found"), result.output)
    }

    func testSwiftPMWarningAboutOurFilesFails() throws {
        let result = try check([
            "warning: 'hello-sockets': found 2 file(s) which are unhandled; explicitly declare them as resources or exclude from the target",
            "    \(Self.root)/Tests/HelloSocketsServerTests/Transcripts/v1.txt",
            "    \(Self.root)/Tests/HelloSocketsServerTests/Transcripts/leave.txt",
            "Building for debugging...",
        ])
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.output.contains("found 2 file(s) which are unhandled"), result.output)
    }
}
