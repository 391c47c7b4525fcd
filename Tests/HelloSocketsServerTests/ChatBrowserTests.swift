import Foundation
import TestSupport
import XCTest

/// The chat example in a real browser: two chat pages in headless Chromium (driven over the DevTools protocol, as
/// `ObserverBrowserTests` does) see each other join, type and leave through Phoenix.Presence, and the start page,
/// following this browser's connections, labels the presence frames. Skipped when Chromium is not installed.
///
/// Saves `test-output/chat.png` (git-ignored).
final class ChatBrowserTests: XCTestCase {
    func testTwoChatPagesSeeEachOtherJoinTypeAndLeave() async throws {
        guard let chromium = ObserverBrowserTests.chromiumPath() else {
            throw XCTSkip("Chromium is not installed (apt-get install -y chromium, or set CHROMIUM)")
        }
        try await ExamplesTests.withServer(
            channels: ExamplesTests.example("chat/channels"), public: ExamplesTests.example("chat/public")
        ) { port in
            let base = "http://127.0.0.1:\(port)"
            // The start page first: its cookie makes it follow every connection this browser opens to /socket.
            let browser = try await Browser.launch(chromium, url: "\(base)/")
            do {
                let observer = try await browser.page()
                try await observer.waitFor("document.querySelector('#handshake[data-ready=\"true\"]') !== null", what: "the start page")
                let (_, ada) = try await browser.newPage("\(base)/chat.html")
                let (bobID, bob) = try await browser.newPage("\(base)/chat.html")

                try await join(ada, as: "ada")
                try await ada.waitFor(members(["ada"]), what: "ada in ada's list")
                try await join(bob, as: "bob")
                for page in [ada, bob] {
                    try await page.waitFor(members(["ada", "bob"]), what: "ada and bob in both lists")
                }

                // Bob types: ada sees it (a presence update); bob sends, and stops typing.
                _ = try await bob.evaluate("""
                    const box = document.querySelector('#body'); box.value = 'hello ada'; box.dispatchEvent(new Event('input'))
                    """)
                try await ada.waitFor("document.querySelector('#users li[data-name=\"bob\"][data-typing=\"true\"]') !== null", what: "bob typing")
                _ = try await bob.evaluate("document.querySelector('#message-form').requestSubmit()")
                try await ada.waitFor("document.querySelector('#messages').innerText.includes('bob: hello ada')", what: "bob's message")
                try await ada.waitFor("document.querySelector('#users li[data-name=\"bob\"][data-typing=\"false\"]') !== null", what: "bob done typing")

                // The start page labels the presence frames it saw on the chat pages' connections.
                try await observer.waitFor("""
                    document.querySelector('tr[data-kind="presence-state"][data-event="presence_state"]') !== null
                    && document.querySelector('tr[data-kind="presence-diff"] .kind').textContent === 'presence diff'
                    """, what: "presence frames labelled in the observer")

                // Bob's tab closes: ada's list drops him.
                try await browser.closePage(bobID)
                try await ada.waitFor(members(["ada"]), what: "bob gone from ada's list")

                let png = try await ada.screenshot()
                let output = ObserverBrowserTests.repository.appendingPathComponent("test-output")
                try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
                try png.write(to: output.appendingPathComponent("chat.png"))
            } catch {
                browser.stop()
                throw error
            }
            browser.stop()
        }
    }

    private func join(_ page: DevToolsPage, as name: String) async throws {
        try await page.waitFor("window.Phoenix && window.Phoenix.Presence && document.querySelector('#join-form')", what: "the chat page")
        _ = try await page.evaluate("""
            document.querySelector('#name').value = '\(name)'; document.querySelector('#room').value = 'lobby';
            document.querySelector('#join-form').requestSubmit()
            """)
    }

    /// The member list shows exactly these names.
    private func members(_ names: [String]) -> String {
        let list = names.map { "'\($0)'" }.joined(separator: ",")
        return "JSON.stringify([...document.querySelectorAll('#users li')].map((li) => li.dataset.name)) === JSON.stringify([\(list)])"
    }
}
