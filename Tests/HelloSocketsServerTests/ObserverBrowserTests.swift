import Foundation
import TestSupport
import XCTest

/// The start page in a real browser: headless Chromium loads `/` from a running server, driven over the
/// DevTools protocol (a WebSocket, spoken with our own test client). Skipped when Chromium is not installed,
/// except in CI, where `.ci/run` installs it and sets HELLO_SOCKETS_REQUIRE_BROWSER=1: there it fails instead.
///
/// Saves `test-output/observer.png` (git-ignored); `docs/observer.png` in the README is a copy of it.
final class ObserverBrowserTests: XCTestCase {
    static let repository: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }()

    static func chromiumPath() -> String? {
        let candidates = [ProcessInfo.processInfo.environment["CHROMIUM"], "/usr/bin/chromium", "/usr/bin/chromium-browser",
                          "/usr/bin/google-chrome", "/snap/bin/chromium"]
        return candidates.compactMap { $0 }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Whether a missing Chromium fails the browser tests rather than skipping them (CI).
    static var browserRequired: Bool { ProcessInfo.processInfo.environment["HELLO_SOCKETS_REQUIRE_BROWSER"] != nil }

    /// Chromium's path; without Chromium, a skip, or a failure where it is required.
    static func requireChromium() throws -> String {
        if let path = chromiumPath() { return path }
        let message = "Chromium is not installed (apt-get install -y chromium, or set CHROMIUM)"
        if browserRequired { throw BrowserMissing(description: message + "; HELLO_SOCKETS_REQUIRE_BROWSER is set") }
        throw XCTSkip(message)
    }

    /// Runs `body` on the start page of a fresh server, in a fresh headless Chromium; `browserArguments` are
    /// more Chromium switches (a proxy).
    private func withStartPage(
        query: String = "", browserArguments: [String] = [], _ body: (DevToolsPage) async throws -> Void
    ) async throws {
        let chromium = try Self.requireChromium()
        let server = try await TestServer.start()
        let url = "http://127.0.0.1:\(server.port)/\(query)"
        let browser = try await Browser.launch(chromium, url: url, arguments: browserArguments)
        do {
            let page = try await browser.page()
            try await body(page)
            await page.close()
        } catch {
            browser.stop()
            try await server.stop()
            throw error
        }
        browser.stop()
        try await server.stop()
    }

    func testPageShowsHandshakeJoinReplyAndHeartbeat() async throws {
        try await withStartPage(query: "?heartbeat=1000") { page in
            try await page.waitFor("""
                document.querySelector('#handshake[data-ready="true"]') !== null
                && document.querySelector('#handshake').innerText.includes('101 Switching Protocols')
                && document.querySelector('#handshake .check') !== null
                && document.querySelector('tr[data-dir="in"][data-event="phx_join"]') !== null
                && document.querySelector('tr[data-dir="out"][data-kind="reply"][data-reply-to="phx_join"]') !== null
                && document.querySelector('tr[data-dir="in"][data-kind="heartbeat"]') !== null
                && document.querySelector('tr[data-dir="out"][data-kind="heartbeat-reply"]') !== null
                """, what: "the handshake, phx_join, its phx_reply and a heartbeat")
            // The accept value shown is the one derived on the page's steps, and the URL is the book's.
            let url = try await page.evaluate("document.querySelector('#handshake .start-line').textContent")
            XCTAssertEqual(url as? String, "GET /socket/websocket?token=undefined&vsn=2.0.0 HTTP/1.1")

            // A few controls, so the screenshot shows a push, its reply, a server push and a broadcast.
            _ = try await page.evaluate("document.querySelector('#push').click()")
            try await page.waitFor("document.querySelector('tr[data-kind=\"reply\"][data-reply-to=\"ping\"]') !== null", what: "the ping reply")
            _ = try await page.evaluate("document.querySelector('#broadcast').click()")
            try await page.waitFor("document.querySelector('tr[data-kind=\"server-push\"][data-event=\"send_ping\"]') !== null", what: "send_ping")
            _ = try await page.evaluate("""
                document.querySelector('#bc-event').value = 'hello'; document.querySelector('#bc-payload').value = '{"from": "curl"}';
                document.querySelector('#broadcast').click()
                """)
            try await page.waitFor("document.querySelector('tr[data-kind=\"broadcast\"][data-event=\"hello\"]') !== null", what: "a broadcast")
            _ = try await page.evaluate("document.querySelector('#hide-heartbeats').click()")
            _ = try await page.evaluate("document.querySelector('#frames-scroll').scrollTop = 0")

            let png = try await page.screenshot()
            let output = Self.repository.appendingPathComponent("test-output")
            try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
            try png.write(to: output.appendingPathComponent("observer.png"))
            XCTAssertGreaterThan(png.count, 10_000)
        }
    }

    /// `/?transport=longpoll`: the page runs over Phoenix's LongPoll, and shows the session's first exchange (the
    /// 410 that opened it), then the frames inside the POSTs and GET answers, labelled as a WebSocket's.
    func testStartPageOverLongPoll() async throws {
        try await withStartPage(query: "?transport=longpoll") { page in
            try await page.waitFor("""
                document.querySelector('#handshake[data-ready="true"][data-transport="longpoll"]') !== null
                && document.querySelector('#handshake').innerText.includes('"status":410')
                && document.querySelector('tr[data-dir="in"][data-event="phx_join"]') !== null
                && document.querySelector('tr[data-dir="out"][data-kind="reply"][data-reply-to="phx_join"]') !== null
                """, what: "the session's 410, phx_join and its reply")
            let line = try await page.evaluate("document.querySelector('#handshake .start-line').textContent")
            XCTAssertEqual(line as? String, "GET /socket/longpoll?token=undefined&vsn=2.0.0 HTTP/1.1")
            let conn = try await page.evaluate("document.querySelector('#conn-id').textContent")
            XCTAssertTrue((conn as? String)?.hasPrefix("lp") == true, "\(conn ?? "nil")")
            _ = try await page.evaluate("document.querySelector('#push').click()")
            try await page.waitFor("document.querySelector('tr[data-kind=\"reply\"][data-reply-to=\"ping\"]') !== null", what: "the ping reply")
            _ = try await page.evaluate("""
                document.querySelector('#bc-event').value = 'hello'; document.querySelector('#bc-payload').value = '{"over": "longpoll"}';
                document.querySelector('#broadcast').click()
                """)
            try await page.waitFor("document.querySelector('tr[data-kind=\"broadcast\"][data-event=\"hello\"]') !== null", what: "a broadcast")
            // Each request shows as a row of its own: the POSTs and the GETs that carried the frames.
            try await page.waitFor("document.querySelector('tr[data-kind=\"note-http\"]')?.textContent.includes('POST /socket/longpoll')",
                                   what: "a POST exchange row")
            let transport = try await page.evaluate("window.helloSocket.transportName()")
            XCTAssertEqual(transport as? String, "LongPoll")
        }
    }

    /// Behind a proxy that breaks WebSockets (`Fixtures/proxy/websocket_refusing_proxy.py`: HTTP forwarded, the
    /// CONNECT tunnels of ws:// refused, the observer feed's included), the page falls back to LongPoll as
    /// phoenix.js's `longPollFallbackMs` does, remembers it for the tab, joins `ping`, pings, and shows the
    /// exchange as the browser saw it. (DevTools' `Network.setBlockedURLs` would be simpler, but Chromium 156
    /// applies it to HTTP requests only, not to WebSockets.)
    func testStartPageFallsBackToLongPollBehindAProxyThatBreaksWebSockets() async throws {
        let proxy = try await RefusingProxy.start()
        defer { proxy.stop() }
        let arguments = ["--proxy-server=http://127.0.0.1:\(proxy.port)", "--proxy-bypass-list=<-loopback>"]
        try await withStartPage(browserArguments: arguments) { page in
            try await page.waitFor("""
                window.helloSocket && window.helloSocket.transportName() === 'LongPoll' && window.helloSocket.isConnected()
                && document.querySelector('tr[data-dir="out"][data-kind="reply"][data-reply-to="phx_join"]') !== null
                """, what: "LongPoll connected and ping joined")
            _ = try await page.evaluate("document.querySelector('#push').click()")
            try await page.waitFor("document.querySelector('tr[data-kind=\"reply\"][data-reply-to=\"ping\"]') !== null", what: "the ping reply")
            let remembered = try await page.evaluate("sessionStorage.getItem('phx:fallback:LongPoll')")
            XCTAssertEqual(remembered as? String, "true")
            let status = try await page.evaluate("document.querySelector('#ws-status').textContent + ' | ' + document.querySelector('#url').textContent")
            let shown = try XCTUnwrap(status as? String)
            XCTAssertTrue(shown.hasPrefix("open (LongPoll) | http://127.0.0.1:"), shown)
            XCTAssertTrue(shown.hasSuffix("/socket/longpoll?token=undefined&vsn=2.0.0"), shown)
            let feed = try await page.evaluate("document.querySelector('#feed-status').textContent")
            XCTAssertEqual(feed as? String, "observer feed off")
            XCTAssertTrue(proxy.output.contains("refused CONNECT 127.0.0.1:"), proxy.output)
        }
    }

    /// A join button is off while its topic is joining or joined, and on again once it is left.
    func testJoinButtonsAreOffWhileTheirTopicIsJoined() async throws {
        try await withStartPage { page in
            try await page.waitFor("document.querySelector('#push-topic')?.textContent.includes('ping (joined)')", what: "ping joined")
            try await page.waitFor("document.querySelector('#join-ping')?.disabled", what: "Join ping disabled while joined")
            _ = try await page.evaluate("document.querySelector('#push-topic').value = 'ping'; document.querySelector('#leave').click()")
            try await page.waitFor("document.querySelector('#push-topic')?.textContent.includes('ping (left)')", what: "ping left")
            try await page.waitFor("!document.querySelector('#join-ping').disabled", what: "Join ping enabled once left")
            _ = try await page.evaluate("document.querySelector('#join-ping').click()")
            try await page.waitFor("document.querySelector('#push-topic')?.textContent.includes('ping (joined)')", what: "ping joined again")
            try await page.waitFor("document.querySelector('#join-ping')?.disabled", what: "Join ping disabled again")

            // wild:A:B follows its inputs: off for the topic joined, on for another.
            let wildOff = try await page.evaluate("document.querySelector('#join-wild').disabled")
            XCTAssertEqual(wildOff as? Bool, false)
            _ = try await page.evaluate("document.querySelector('#join-wild').click()")
            try await page.waitFor("document.querySelector('#push-topic')?.textContent.includes('wild:1:2 (joined)')", what: "wild:1:2 joined")
            try await page.waitFor("document.querySelector('#join-wild').disabled", what: "Join wild disabled while wild:1:2 is joined")
            _ = try await page.evaluate("""
                const b = document.querySelector('#wild-b'); b.value = '4'; b.dispatchEvent(new Event('input'))
                """)
            let otherWildOff = try await page.evaluate("document.querySelector('#join-wild').disabled")
            XCTAssertEqual(otherWildOff as? Bool, false, "wild:1:4 is not joined")
        }
    }

    /// The Replies box shows all it keeps (its last line was cut in half), header values wrap between words only,
    /// and each list says which clock its times come from.
    func testRepliesUnclippedHeadersUnsplitAndClocksNamed() async throws {
        try await withStartPage { page in
            try await page.waitFor("document.querySelector('#push-topic')?.textContent.includes('ping (joined)')", what: "ping joined")
            // The page keeps the last 8 replies: make 8 (the join's and 7 pings').
            _ = try await page.evaluate("for (let i = 0; i < 7; i++) document.querySelector('#push').click()")
            try await page.waitFor("document.querySelectorAll('#results li').length === 8", what: "8 replies")
            let clipped = try await page.evaluate("""
                (() => {
                  const list = document.querySelector('#results');
                  const bottom = list.getBoundingClientRect().bottom;
                  return [...list.children].filter((li) => li.getBoundingClientRect().bottom > bottom + 0.5).length
                    + (list.scrollHeight > list.clientHeight + 0.5 ? 100 : 0);
                })()
                """)
            XCTAssertEqual(clipped as? Int, 0, "replies hidden or cut (100 = the list scrolls)")

            // At 1100 px the request's Sec-WebSocket-Extensions line wraps: between its words, never inside one.
            _ = try await page.call("Emulation.setDeviceMetricsOverride", ["width": 1100, "height": 1400, "deviceScaleFactor": 1, "mobile": false])
            try await page.waitFor("document.querySelector('#handshake[data-ready=\"true\"]') !== null", what: "the handshake")
            let layout = try await page.evaluate("""
                (() => {
                  const split = [];
                  let extensionLines = 0;
                  for (const line of document.querySelectorAll('#handshake .hline')) {
                    const tops = new Set();
                    const walker = document.createTreeWalker(line, NodeFilter.SHOW_TEXT);
                    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
                      for (const word of node.data.matchAll(/\\S+/g)) {
                        const range = document.createRange();
                        range.setStart(node, word.index);
                        range.setEnd(node, word.index + word[0].length);
                        const rects = [...range.getClientRects()].filter((r) => r.width > 0);
                        if (rects.length !== 1) split.push(word[0]);
                        rects.forEach((r) => tops.add(Math.round(r.top)));
                      }
                    }
                    if (line.textContent.startsWith('Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits'))
                      extensionLines = Math.max(extensionLines, tops.size);
                  }
                  return JSON.stringify({ split, extensionLines });
                })()
                """)
            _ = try await page.call("Emulation.clearDeviceMetricsOverride", [:])
            let result = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(XCTUnwrap(layout as? String).utf8)) as? [String: Any])
            XCTAssertEqual(result["split"] as? [String], [], "words broken across lines")
            XCTAssertGreaterThan(result["extensionLines"] as? Int ?? 0, 1, "the line should wrap at this width: \(result)")

            // Which clock: the frames' times are the server's, the replies' the browser's.
            let labels = try await page.evaluate("""
                [document.querySelector('#frames thead th').textContent,
                 document.querySelector('#results').closest('.card').querySelector('h2').textContent,
                 document.querySelector('#results .time').title, document.querySelector('#frames td.time').title].join(' | ')
                """)
            XCTAssertEqual(labels as? String,
                           "Server time · direction | Replies · browser time | browser clock | server clock")
        }
    }
}

/// A headless Chromium process with its DevTools endpoint.
final class Browser {
    let process: Process
    let port: Int
    let profile: URL

    /// - Parameter arguments: more command-line switches (e.g. a proxy).
    static func launch(_ path: String, url: String, arguments: [String] = []) async throws -> Browser {
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("hs-chromium-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: profile, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
                             "--remote-debugging-port=0", "--user-data-dir=\(profile.path)", "--window-size=1440,1500"]
            + arguments + [url]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Chromium writes the port it chose to DevToolsActivePort (it also prints "DevTools listening on ws://…").
        let portFile = profile.appendingPathComponent("DevToolsActivePort")
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if let text = try? String(contentsOf: portFile, encoding: .utf8),
               let port = text.split(separator: "\n").first.flatMap({ Int($0) }) {
                return Browser(process: process, port: port, profile: profile)
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        process.terminate()
        throw BrowserTimeout(waitingFor: "Chromium's DevTools port")
    }

    private init(process: Process, port: Int, profile: URL) {
        self.process = process
        self.port = port
        self.profile = profile
    }

    /// The DevTools session of the first page.
    func page() async throws -> DevToolsPage {
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            let raw = try await RawClient.connect(port: port)
            try await raw.send("GET /json/list HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            let response = try await raw.receiveHTTPResponse()
            await raw.close()
            let targets = try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [[String: Any]] ?? []
            if let id = targets.first(where: { $0["type"] as? String == "page" })?["id"] as? String {
                return DevToolsPage(client: try await WebSocketTestClient.connect(port: port, path: "/devtools/page/\(id)"))
            }
            guard ContinuousClock.now < deadline else { throw BrowserTimeout(waitingFor: "a page target") }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    /// Opens another tab at `url`: its target id and DevTools session.
    func newPage(_ url: String) async throws -> (id: String, page: DevToolsPage) {
        let raw = try await RawClient.connect(port: port)
        try await raw.send("PUT /json/new?\(url) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        let response = try await raw.receiveHTTPResponse()
        await raw.close()
        guard let target = try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any],
              let id = target["id"] as? String else {
            throw DevToolsPage.ProtocolError(description: "no new tab: \(response.statusLine) \(response.body)")
        }
        return (id, DevToolsPage(client: try await WebSocketTestClient.connect(port: port, path: "/devtools/page/\(id)")))
    }

    /// Closes a tab (its page's connections go with it).
    func closePage(_ id: String) async throws {
        let raw = try await RawClient.connect(port: port)
        try await raw.send("GET /json/close/\(id) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        _ = try await raw.receiveHTTPResponse()
        await raw.close()
    }

    func stop() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: profile)
    }
}

/// Commands to one page over the Chrome DevTools protocol.
final class DevToolsPage {
    let client: WebSocketTestClient
    private var nextID = 0

    init(client: WebSocketTestClient) { self.client = client }

    struct ProtocolError: Error, CustomStringConvertible { let description: String }

    func call(_ method: String, _ params: [String: Any] = [:]) async throws -> [String: Any] {
        nextID += 1
        let id = nextID
        let request = try JSONSerialization.data(withJSONObject: ["id": id, "method": method, "params": params])
        try await client.send(text: String(decoding: request, as: UTF8.self))
        while true {
            var payload: [UInt8] = []
            while true {  // a message may come in fragments
                let frame = try await client.receiveFrame(timeout: .seconds(30))
                payload += frame.payload
                if frame.fin { break }
            }
            guard let message = try JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any],
                  message["id"] as? Int == id else { continue }  // events and other replies
            if let error = message["error"] { throw ProtocolError(description: "\(method): \(error)") }
            return message["result"] as? [String: Any] ?? [:]
        }
    }

    /// Evaluates a JavaScript expression in the page and returns its value.
    func evaluate(_ expression: String) async throws -> Any? {
        let result = try await call("Runtime.evaluate", ["expression": expression, "returnByValue": true])
        if let exception = result["exceptionDetails"] { throw ProtocolError(description: "\(expression): \(exception)") }
        return (result["result"] as? [String: Any])?["value"]
    }

    /// Polls a JavaScript condition until it is true.
    func waitFor(_ condition: String, what: String, timeout: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await evaluate("!!(\(condition))") as? Bool == true { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        // What the page shows, and what it loaded: enough to tell a dead feed from a script that never ran.
        let state = try await evaluate("""
            JSON.stringify({ url: location.href, socket: document.querySelector('#ws-status')?.textContent,
              feed: document.querySelector('#feed-status')?.textContent, frames: document.querySelector('#frames')?.innerText,
              loaded: performance.getEntriesByType('resource').map((r) => `${r.name} ${r.responseStatus} ${Math.round(r.duration)} ms`) })
            """)
        throw BrowserTimeout(waitingFor: "\(what) in the page; the page: \(state ?? "none")")
    }

    /// Compiles `source` as a classic script without running it (V8's parser): nil, or its syntax error as
    /// `name:line:column: message`.
    func syntaxError(in source: String, name: String) async throws -> String? {
        let result = try await call("Runtime.compileScript", ["expression": source, "sourceURL": name, "persistScript": false])
        guard let details = result["exceptionDetails"] as? [String: Any] else { return nil }
        let line = (details["lineNumber"] as? Int ?? 0) + 1
        let column = (details["columnNumber"] as? Int ?? 0) + 1
        let message = (details["exception"] as? [String: Any])?["description"] as? String ?? details["text"] as? String
        return "\(name):\(line):\(column): \(message ?? "syntax error")"
    }

    func screenshot() async throws -> Data {
        let result = try await call("Page.captureScreenshot", ["format": "png"])
        guard let base64 = result["data"] as? String, let data = Data(base64Encoded: base64) else {
            throw ProtocolError(description: "no screenshot data")
        }
        return data
    }

    func close() async { await client.close() }
}

struct BrowserMissing: Error, CustomStringConvertible { let description: String }

struct BrowserTimeout: Error, CustomStringConvertible {
    let waitingFor: String
    var description: String { "timed out waiting for \(waitingFor)" }
}

/// `Fixtures/proxy/websocket_refusing_proxy.py` in a child process: an HTTP proxy that refuses WebSockets.
final class RefusingProxy: @unchecked Sendable {
    let process = Process()
    private let input = Pipe()
    private let outputPipe = Pipe()
    private let lock = NSLock()
    private var text = ""
    private(set) var port = 0

    static func start() async throws -> RefusingProxy {
        let proxy = RefusingProxy()
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/proxy/websocket_refusing_proxy.py")
        proxy.process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        proxy.process.arguments = ["python3", script.path]
        proxy.process.standardInput = proxy.input
        proxy.process.standardOutput = proxy.outputPipe
        proxy.process.standardError = proxy.outputPipe
        try proxy.process.run()
        let handle = proxy.outputPipe.fileHandleForReading
        Thread {
            while true {
                let data = handle.availableData
                if data.isEmpty { break }
                proxy.lock.withLock { proxy.text += String(decoding: data, as: UTF8.self) }
            }
        }.start()
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let line = proxy.output.split(separator: "\n").first(where: { $0.hasPrefix("listening on ") }),
               let port = Int(line.dropFirst("listening on ".count)) {
                proxy.port = port
                return proxy
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        proxy.stop()
        throw BrowserTimeout(waitingFor: "the proxy to listen: \(proxy.output)")
    }

    /// What the proxy printed (its port, each refusal).
    var output: String { lock.withLock { text } }

    func stop() {
        try? input.fileHandleForWriting.close()
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }
}
