import Foundation
import TestSupport
import XCTest

/// `--public DIR`: what is served, with which type, and what never is (escapes by `..` or symlink, hidden files).
final class StaticFilesTests: XCTestCase {
    func testServesKnownTypesAndNothingOutsideTheFolder() async throws {
        let fm = FileManager.default
        let base = fm.temporaryDirectory.appendingPathComponent("public-\(UUID().uuidString)")
        let root = base.appendingPathComponent("public")
        try fm.createDirectory(at: root.appendingPathComponent("docs"), withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: base) }
        let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0xFF]
        try Data(png).write(to: root.appendingPathComponent("logo.png"))
        try "<svg/>".write(to: root.appendingPathComponent("icon.svg"), atomically: true, encoding: .utf8)
        try #"{"a":1}"#.write(to: root.appendingPathComponent("data.json"), atomically: true, encoding: .utf8)
        try "docs".write(to: root.appendingPathComponent("docs/index.html"), atomically: true, encoding: .utf8)
        try "secret".write(to: root.appendingPathComponent("notes.txt"), atomically: true, encoding: .utf8)
        try "hidden".write(to: root.appendingPathComponent(".env.json"), atomically: true, encoding: .utf8)
        try "outside".write(to: base.appendingPathComponent("outside.html"), atomically: true, encoding: .utf8)
        try "inside".write(to: root.appendingPathComponent("real.html"), atomically: true, encoding: .utf8)
        // A symlink out of the folder (refused) and one within it (served).
        try fm.createSymbolicLink(atPath: root.appendingPathComponent("escape.html").path, withDestinationPath: "../outside.html")
        try fm.createSymbolicLink(atPath: root.appendingPathComponent("up").path, withDestinationPath: base.path)
        try fm.createSymbolicLink(atPath: root.appendingPathComponent("alias.html").path, withDestinationPath: "real.html")

        try await ExamplesTests.withServer(channels: TestServer.channelsDirectory, public: root.path) { port in
            func get(_ path: String, method: String = "GET") async throws -> HTTPResponse {
                let client = try await RawClient.connect(port: port)
                try await client.send("\(method) \(path) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                let response = try await client.receiveHTTPResponse()
                await client.close()
                return response
            }
            let logo = try await get("/logo.png")
            XCTAssertEqual(logo.status, 200)
            XCTAssertEqual(logo.header("Content-Type"), "image/png")
            XCTAssertEqual(logo.header("Content-Length"), "\(png.count)")
            for (path, type, body) in [("/icon.svg", "image/svg+xml", "<svg/>"), ("/data.json", "application/json", #"{"a":1}"#),
                                       ("/docs/", "text/html; charset=utf-8", "docs"), ("/alias.html", "text/html; charset=utf-8", "inside"),
                                       ("/real%2Ehtml", "text/html; charset=utf-8", "inside")] {
                let response = try await get(path)
                XCTAssertEqual(response.status, 200, path)
                XCTAssertEqual(response.header("Content-Type"), type, path)
                XCTAssertEqual(response.body, body, path)
            }
            for path in ["/escape.html", "/up/outside.html", "/../outside.html", "/%2E%2E/outside.html",
                         "/docs/../../outside.html", "/notes.txt", "/.env.json", "/docs", "/nowhere.html", "//etc/passwd",
                         "/docs%5C..%5C..%5Coutside.html"] {
                let response = try await get(path)
                XCTAssertEqual(response.status, 404, path)
                XCTAssertTrue(response.body.hasPrefix("Not found"), path)
            }
            let post = try await get("/real.html", method: "POST")
            XCTAssertEqual(post.status, 404, "only GET and HEAD read files")
            // HEAD: the head only (read it raw: the parser would wait for Content-Length bytes).
            let client = try await RawClient.connect(port: port)
            try await client.send("HEAD /real.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            let closed = try await client.waitForClose()
            XCTAssertTrue(closed)
            let head = try await client.receive("the head") { bytes -> String? in
                defer { bytes.removeAll() }
                return String(decoding: bytes, as: UTF8.self)
            }
            XCTAssertTrue(head.hasPrefix("HTTP/1.1 200 OK\r\n"), head)
            XCTAssertTrue(head.hasSuffix("\r\n\r\n"), "no body after the head: \(head)")
            await client.close()
        }
    }

    func testWithoutPublicUnroutedPathsAre404() async throws {
        try await ExamplesTests.withServer(channels: TestServer.channelsDirectory, public: nil) { port in
            let client = try await RawClient.connect(port: port)
            try await client.send("GET /chat.html HTTP/1.1\r\nHost: x\r\n\r\n")
            let response = try await client.receiveHTTPResponse()
            XCTAssertEqual(response.status, 404)
            await client.close()
        }
    }
}
