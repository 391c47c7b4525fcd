import Foundation
import TestSupport
import XCTest

/// The start page's files (Sources/HelloSocketsServer/Observer/Assets/), compiled into the binary: served byte for
/// byte as they are in the tree, and JavaScript that a real engine parses.
final class ObserverAssetsTests: XCTestCase {
    static let folder = ObserverBrowserTests.repository.appendingPathComponent("Sources/HelloSocketsServer/Observer/Assets")

    /// Every file of the folder, the path it is served on and its type.
    static let served: [(file: String, path: String, type: String)] = [
        ("index.html", "/", "text/html; charset=utf-8"),
        ("observer.css", "/css/observer.css", "text/css; charset=utf-8"),
        ("phoenix-client.js", "/js/phoenix-client.js", "text/javascript; charset=utf-8"),
        ("observer.js", "/js/observer.js", "text/javascript; charset=utf-8"),
    ]

    func testEveryFileIsServedAsItIsInTheTree() async throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.folder.path)
        XCTAssertEqual(files.sorted(), Self.served.map(\.file).sorted(), "a file in Assets/ that no path serves")
        let server = try await TestServer.start()
        do {
            let client = try await RawClient.connect(port: server.port)
            for (file, path, type) in Self.served {
                let bytes = try Data(contentsOf: Self.folder.appendingPathComponent(file))
                try await client.send("GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n")
                let response = try await client.receiveHTTPResponse()
                XCTAssertEqual(response.status, 200, path)
                XCTAssertEqual(response.header("Content-Type"), type, path)
                XCTAssertEqual(response.header("Content-Length"), "\(bytes.count)", path)
                XCTAssertEqual(response.body, String(decoding: bytes, as: UTF8.self), "\(path) is not \(file) as it is in the tree")
            }
            // What the page loads is there.
            let page = try String(contentsOf: Self.folder.appendingPathComponent("index.html"), encoding: .utf8)
            let loaded = page.matches(of: #/(?:src|href)="(\/[^"]+)"/#).map { String($0.1) }
            XCTAssertEqual(Set(loaded), ["/css/observer.css", "/js/phoenix-client.js", "/js/observer.js"])
            await client.close()
        } catch {
            try await server.stop()
            throw error
        }
        try await server.stop()
    }

    func testJavaScriptParses() async throws {
        let scripts = try Self.served.filter { $0.file.hasSuffix(".js") }.map { asset in
            (name: asset.file, source: try String(contentsOf: Self.folder.appendingPathComponent(asset.file), encoding: .utf8))
        }
        let errors = try await JavaScriptSyntax.errors(in: scripts)
        XCTAssertEqual(errors, [])
    }

    /// The check itself: a script with a syntax error is reported, with where.
    func testSyntaxCheckReportsABrokenScript() async throws {
        let errors = try await JavaScriptSyntax.errors(in: [
            (name: "fine.js", source: "const answer = 6 * 7;\n"),
            (name: "broken.js", source: "const ok = 1;\nfunction ( {\n"),
        ])
        XCTAssertEqual(errors.count, 1, "\(errors)")
        XCTAssertTrue(errors.first?.hasPrefix("broken.js:2") == true, "\(errors)")
        XCTAssertTrue(errors.first?.contains("SyntaxError") == true, "\(errors)")
    }
}

/// JavaScript syntax errors, found by a real engine: V8 in headless Chromium (which CI installs), else Node's
/// `--check` on a machine without Chromium. Skipped when neither is installed, except where the browser is
/// required (HELLO_SOCKETS_REQUIRE_BROWSER, set by .ci/run): there the check always runs.
enum JavaScriptSyntax {
    /// One `name:line[:column]: message` per script that does not parse.
    static func errors(in scripts: [(name: String, source: String)]) async throws -> [String] {
        if ObserverBrowserTests.chromiumPath() == nil, !ObserverBrowserTests.browserRequired, let node = nodePath() {
            return try scripts.compactMap { try nodeError(node, in: $0.source, name: $0.name) }
        }
        let chromium = try ObserverBrowserTests.requireChromium()
        let browser = try await Browser.launch(chromium, url: "about:blank")
        do {
            let page = try await browser.page()
            _ = try await page.call("Runtime.enable")
            var errors: [String] = []
            for script in scripts {
                if let error = try await page.syntaxError(in: script.source, name: script.name) { errors.append(error) }
            }
            await page.close()
            browser.stop()
            return errors
        } catch {
            browser.stop()
            throw error
        }
    }

    private static func nodePath() -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/node" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// `node --check` prints `FILE:LINE`, the line, a caret, then `SyntaxError: …`.
    private static func nodeError(_ node: String, in source: String, name: String) throws -> String? {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("hs-js-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent(name)
        try source.write(to: file, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: node)
        process.arguments = ["--check", file.path]
        let stderr = Pipe()
        process.standardError = stderr
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let output = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus != 0 else { return nil }
        let lines = output.split(separator: "\n")
        let line = lines.first.flatMap { $0.split(separator: ":").last }.map(String.init) ?? "?"
        let message = lines.first { $0.contains("Error") }.map(String.init) ?? output
        return "\(name):\(line): \(message)"
    }
}
