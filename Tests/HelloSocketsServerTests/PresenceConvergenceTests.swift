import Foundation
import HelloSocketsServer
import XCTest

/// Presence clients converge on the server's list: `Fixtures/presence-convergence.mjs` runs members that join,
/// update, leave, drop and open second tabs, each kept by our `Phoenix.Presence` (the script every server serves)
/// and, when `PHOENIX_JS_DIR` names phoenix.js's `assets/js/phoenix` folder, by phoenix.js's own; batching off
/// and at 50 ms. Needs Node 20+ (`--experimental-websocket`); skipped without it. The page-level proof in a
/// browser is `ChatBrowserTests`.
final class PresenceConvergenceTests: XCTestCase {
    static let script: String = {
        var url = URL(fileURLWithPath: #filePath)
        url.deleteLastPathComponent()
        return url.appendingPathComponent("Fixtures/presence-convergence.mjs").path
    }()

    func testClientsConvergeOnTheServersList() async throws {
        let probe = try await PythonClientExamplesTests.run(
            ["node", "--experimental-websocket", "-e", "process.exit(typeof WebSocket === 'function' ? 0 : 1)"])
        try XCTSkipUnless(probe.status == 0, "Node 20+ with --experimental-websocket is not installed")
        let phoenixJS = ProcessInfo.processInfo.environment["PHOENIX_JS_DIR"].map { [$0] } ?? []
        for batch in [0, 50] {
            let server = try await TestServer.start(channels: PresenceWireTests.fixtures) {
                $0.presenceBatchMilliseconds = batch
            }
            let result = try await PythonClientExamplesTests.run(
                ["node", "--experimental-websocket", Self.script, "\(server.port)"] + phoenixJS, timeout: .seconds(60))
            try await server.stop()
            XCTAssertEqual(result.status, 0, "batch \(batch) ms:\n\(result.output)")
            XCTAssertTrue(result.output.contains("converged"), "batch \(batch) ms:\n\(result.output)")
            if !phoenixJS.isEmpty { XCTAssertTrue(result.output.contains("ours + phoenix.js"), result.output) }
        }
    }
}
