import Crypto
import Foundation
import Logging
import LuaRuntime
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOSSL
import PhoenixChannels
import SwiftASN1
import TestSupport
import Tokens
import WebSocketTransport
import X509
import XCTest

@testable import HelloSocketsServer

/// check_origin, TLS, the admin endpoints' token rule and the book's AuthSocket, over real sockets.
final class SecurityTests: XCTestCase {
    /// An upgrade request to `path` with the given Host and optional Origin.
    private func upgrade(_ port: Int, path: String = "/socket/websocket?vsn=2.0.0", host: String = "127.0.0.1:4000", origin: String?) async throws -> HTTPResponse {
        let raw = try await RawClient.connect(port: port)
        defer { Task { await raw.close() } }
        let request = (["GET \(path) HTTP/1.1", "Host: \(host)", "Upgrade: websocket", "Connection: Upgrade",
                        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"]
                       + (origin.map { ["Origin: \($0)"] } ?? [])).joined(separator: "\r\n") + "\r\n\r\n"
        try await raw.send(request)
        return try await raw.receiveHTTPResponse()
    }

    // MARK: - check_origin

    func testOriginMustMatchTheHostWhenChecked() async throws {
        let server = try await TestServer.start { $0.checkOrigin = true }
        defer { Task { try await server.stop() } }
        do { let value = try await upgrade(server.port, origin: nil).status; XCTAssertEqual(value, 101, "no Origin: not checked") }
        do { let value = try await upgrade(server.port, origin: "http://127.0.0.1:4000").status; XCTAssertEqual(value, 101) }
        do { let value = try await upgrade(server.port, host: "chat.example.com", origin: "https://chat.example.com").status; XCTAssertEqual(value, 101) }
        let refused = try await upgrade(server.port, origin: "https://evil.example")
        XCTAssertEqual(refused.status, 403)
        XCTAssertTrue(refused.body.contains("Origin not allowed: https://evil.example"), refused.body)
        do { let value = try await upgrade(server.port, origin: "null").status; XCTAssertEqual(value, 403) }
        do { let value = try await upgrade(server.port, path: "/echo", origin: "https://evil.example").status; XCTAssertEqual(value, 403) }
    }

    func testOriginIsNotCheckedOnLoopbackByDefault() async throws {
        let server = try await TestServer.start()
        defer { Task { try await server.stop() } }
        do { let value = try await upgrade(server.port, origin: "https://evil.example").status; XCTAssertEqual(value, 101) }
        XCTAssertFalse(ServerConfiguration(host: "127.0.0.1").checksOrigin)
        XCTAssertTrue(ServerConfiguration(host: "0.0.0.0").checksOrigin)
        var forcedOff = ServerConfiguration(host: "0.0.0.0")
        forcedOff.checkOrigin = false
        XCTAssertFalse(forcedOff.checksOrigin)
    }

    func testAllowedOriginsReplaceTheHostRule() async throws {
        let server = try await TestServer.start {
            $0.checkOrigin = true
            $0.allowedOrigins = ["//*.example.com", "http://localhost:4000"]
        }
        defer { Task { try await server.stop() } }
        do { let value = try await upgrade(server.port, origin: "https://app.example.com").status; XCTAssertEqual(value, 101) }
        do { let value = try await upgrade(server.port, origin: "http://example.com:8080").status; XCTAssertEqual(value, 101) }
        do { let value = try await upgrade(server.port, origin: "http://localhost:4000").status; XCTAssertEqual(value, 101) }
        do { let value = try await upgrade(server.port, origin: "http://localhost:4001").status; XCTAssertEqual(value, 403) }
        do { let value = try await upgrade(server.port, origin: "https://localhost:4000").status; XCTAssertEqual(value, 403) }
        do { let value = try await upgrade(server.port, origin: "https://example.com.evil.org").status; XCTAssertEqual(value, 403) }
        do { let value = try await upgrade(server.port, host: "127.0.0.1", origin: "http://127.0.0.1").status; XCTAssertEqual(value, 403, "the list replaces the Host rule") }
    }

    func testOriginParsing() throws {
        func allowed(_ origin: String, _ list: [String], host: String = "example.com") throws -> Bool {
            var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/")
            head.headers.add(name: "Host", value: host)
            head.headers.add(name: "Origin", value: origin)
            return try OriginCheck(allowedOrigins: list).refusedOrigin(head) == nil
        }
        XCTAssertTrue(try allowed("https://example.com", []))
        XCTAssertTrue(try allowed("https://EXAMPLE.com:8443", [], host: "example.com:4000"))
        XCTAssertFalse(try allowed("https://example.com.evil", []))
        XCTAssertTrue(try allowed("http://[::1]:4000", [], host: "[::1]:4000"))
        XCTAssertTrue(try allowed("https://example.com", ["https://example.com"]))
        XCTAssertTrue(try allowed("https://example.com", ["https://example.com:443"]))
        XCTAssertFalse(try allowed("http://example.com", ["https://example.com"]))
        XCTAssertTrue(try allowed("https://a.b.example.com", ["//*.example.com"]))
        XCTAssertFalse(try allowed("https://badexample.com", ["//*.example.com"]))
        XCTAssertThrowsError(try OriginCheck(allowedOrigins: ["https://"]))
    }

    // MARK: - Admin endpoints off loopback

    /// Runs one request through the HTTP pipeline as if from `peer` (no network: an embedded channel).
    private func embeddedRequest(_ request: String, peer: String, configure: (inout ServerConfiguration) -> Void) throws -> String {
        var configuration = ServerConfiguration(host: "0.0.0.0", port: 0, channelsDirectory: TestServer.channelsDirectory)
        configuration.observe = true
        configure(&configuration)
        var logger = Logger(label: "security-test")
        logger.logLevel = .critical
        let channel = EmbeddedChannel()
        channel.remoteAddress = try SocketAddress(ipAddress: peer, port: 50_000)
        let handlers: [ChannelHandler] = [
            ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes)),
            HTTPResponseEncoder(),
            HTTPHandler(
                services: HTTPServices(
                    configuration: configuration, endpoints: [:],
                    broadcastAPI: BroadcastAPI(pubSub: PubSub(loops: [channel.eventLoop]), token: configuration.apiToken),
                    connections: ConnectionTracker(maxWebSockets: 10), logger: logger,
                    observerHub: ObserverHub(feedEnabled: true, trace: nil)),
                connectionID: "c1",
                timerWheel: TimerWheel(eventLoop: channel.eventLoop, resolution: .milliseconds(100))
            ),
        ]
        try channel.pipeline.syncOperations.addHandlers(handlers)
        try channel.writeInbound(ByteBuffer(string: request))
        var output = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { output += String(buffer: buffer) }
        _ = try? channel.finish()
        return output
    }

    func testObserverFeedNeedsTheAPITokenOffLoopback() throws {
        let token = "0123456789abcdef0123"
        func observe(_ query: String = "", header: String? = nil, peer: String = "203.0.113.7", apiToken: String? = token) throws -> String {
            let request = WebSocketTestClient.upgradeRequest(path: "/observe" + query, extraHeaders: header.map { [$0] } ?? [])
            let response = try embeddedRequest(request, peer: peer) { $0.apiToken = apiToken }
            return response.components(separatedBy: "\r\n").first ?? ""
        }
        XCTAssertEqual(try observe(), "HTTP/1.1 403 Forbidden")
        XCTAssertEqual(try observe("?token=wrong"), "HTTP/1.1 403 Forbidden")
        XCTAssertEqual(try observe(header: "Authorization: Bearer wrong"), "HTTP/1.1 403 Forbidden")
        XCTAssertEqual(try observe("?token=\(token)", apiToken: nil), "HTTP/1.1 403 Forbidden", "no token configured: loopback only")
        XCTAssertEqual(try observe("?token=\(token)"), "HTTP/1.1 101 Switching Protocols")
        XCTAssertEqual(try observe(header: "Authorization: Bearer \(token)"), "HTTP/1.1 101 Switching Protocols")
        XCTAssertEqual(try observe(peer: "127.0.0.1", apiToken: nil), "HTTP/1.1 101 Switching Protocols")
    }

    /// The observer and `--trace` hide the tokens a socket is opened with: `?token=` (Phoenix.Token) and
    /// `?jwt=` (examples/backend_tokens), whatever their case.
    func testTokenParametersAreRedacted() {
        XCTAssertEqual(Redaction.uri("/socket/websocket?vsn=2.0.0&jwt=eyJhbGciOiJIUzI1NiJ9.e30.sig&JWT_token=x&user=7"),
                       "/socket/websocket?vsn=2.0.0&jwt=[redacted]&JWT_token=[redacted]&user=7")
        XCTAssertEqual(Redaction.uri("/socket/websocket?token=SFMyNTY.g2gD.mac&id_token=a"),
                       "/socket/websocket?token=[redacted]&id_token=[redacted]")
    }

    func testBroadcastAPINeedsTheAPITokenOffLoopback() throws {
        let body = #"{"topic":"ping","event":"x","payload":{}}"#
        func post(_ header: String?) throws -> String {
            let request = (["POST /api/broadcast HTTP/1.1", "Host: example.com", "Content-Length: \(body.utf8.count)"]
                           + (header.map { [$0] } ?? [])).joined(separator: "\r\n") + "\r\n\r\n" + body
            let response = try embeddedRequest(request, peer: "203.0.113.7") { $0.apiToken = "0123456789abcdef0123" }
            return response.components(separatedBy: "\r\n").first ?? ""
        }
        XCTAssertEqual(try post(nil), "HTTP/1.1 403 Forbidden")
        XCTAssertEqual(try post("Authorization: Bearer 0123456789abcdef0123"), "HTTP/1.1 200 OK")
    }

    // MARK: - The book's AuthSocket

    func testAuthSocket() async throws {
        let signer = try TokenSigner(secretKeyBase: String(repeating: "k", count: 64))
        let server = try await TestServer.start { $0.lua.tokenSigner = signer }
        defer { Task { try await server.stop() } }

        for query in ["", "&token=", "&token=garbage", "&token=" + (try signer.sign(salt: "other salt", data: .integer(1)))] {
            do {
                _ = try await WebSocketTestClient.connect(port: server.port, path: "/auth_socket/websocket?vsn=2.0.0" + query)
                XCTFail("expected 403 for \(query)")
            } catch let refused as WebSocketTestClient.HandshakeRefused {
                XCTAssertEqual(refused.response.status, 403, query)
            }
        }
        let expired = try signer.sign(salt: "salt identifier", data: .integer(1), signedAt: Date().addingTimeInterval(-86_401))
        await XCTAssertThrowsErrorAsync(try await WebSocketTestClient.connect(port: server.port, path: "/auth_socket/websocket?vsn=2.0.0&token=\(expired)"))

        // What the book's Phoenix app signs with the same secret_key_base (the example backend spells out
        // Phoenix.Token's algorithm in Python), and a token in HelloSockets' earlier format, both open it.
        let fromPhoenix = try await PythonClientExamplesTests.run([
            "python3", ExamplesTests.example("backend_tokens/backend.py"), "phoenix",
            "--secret-key-base", String(repeating: "k", count: 64), "--salt", "salt identifier", "3",
        ]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        for token in [fromPhoenix, Self.legacyToken(secretKeyBase: String(repeating: "k", count: 64), data: "3")] {
            let client = try await WebSocketTestClient.connect(port: server.port, path: "/auth_socket/websocket?vsn=2.0.0&token=\(token)")
            try await client.send(text: #"["1","1","user:3","phx_join",{}]"#)
            do { let value = try await client.receiveText(); XCTAssertEqual(value, #"["1","1","user:3","phx_reply",{"response":{},"status":"ok"}]"#) }
            await client.close()
        }

        let token = try signer.sign(salt: "salt identifier", data: .integer(1))
        let client = try await WebSocketTestClient.connect(port: server.port, path: "/auth_socket/websocket?vsn=2.0.0&token=\(token)")
        try await client.send(text: #"["1","1","user:1","phx_join",{}]"#)
        do { let value = try await client.receiveText(); XCTAssertEqual(value, #"["1","1","user:1","phx_reply",{"response":{},"status":"ok"}]"#) }
        try await client.send(text: #"["2","2","user:2","phx_join",{}]"#)
        do { let value = try await client.receiveText(); XCTAssertEqual(value, #"["2","2","user:2","phx_reply",{"response":{"reason":"unauthorized"},"status":"error"}]"#) }

        // Endpoint.broadcast("auth_socket:1", "disconnect", %{}) closes the user's sockets.
        let other = try await WebSocketTestClient.connect(
            port: server.port, path: "/auth_socket/websocket?vsn=2.0.0&token=\(try signer.sign(salt: "salt identifier", data: .integer(2)))")
        let body = #"{"topic":"auth_socket:1","event":"disconnect","payload":{}}"#
        let api = try await RawClient.connect(port: server.port)
        try await api.send("POST /api/broadcast HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
        do { let value = try await api.receiveHTTPResponse().status; XCTAssertEqual(value, 200) }
        await api.close()
        do { let value = try await client.receiveClose(); XCTAssertEqual(value, 1000) }
        do { let value = try await other.isSilent(for: .milliseconds(200)); XCTAssertTrue(value, "user 2 stays connected") }
        await other.close()
    }

    func testRecurringChannelPushesFreshTokens() async throws {
        let signer = try TokenSigner(secretKeyBase: String(repeating: "k", count: 64))
        let server = try await TestServer.start { $0.lua.tokenSigner = signer }
        defer { Task { try await server.stop() } }
        let token = try signer.sign(salt: "salt identifier", data: .integer(5))
        let client = try await WebSocketTestClient.connect(port: server.port, path: "/auth_socket/websocket?vsn=2.0.0&token=\(token)")
        try await client.send(text: #"["1","1","recurring","phx_join",{}]"#)
        _ = try await client.receiveText()
        let push = try await client.receiveText(timeout: .seconds(8))  // every 5 s
        let frame = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(push.utf8)) as? [Any])
        XCTAssertEqual(frame[3] as? String, "new_token")
        let fresh = try XCTUnwrap((frame[4] as? [String: Any])?["token"] as? String)
        XCTAssertTrue(fresh.hasPrefix("SFMyNTY."), "a Phoenix.Token: \(fresh)")
        XCTAssertEqual(try signer.verify(salt: "salt identifier", token: fresh), .integer(5))
        await client.close()
    }

    /// A token as HelloSockets signed them before it used Phoenix's format: base64url of the JSON
    /// `{"data":…,"signed":ms}`, a dot, base64url of its HMAC-SHA256 keyed with HMAC-SHA256(secret, salt).
    static func legacyToken(secretKeyBase: String, data: String) -> String {
        let json = #"{"data":\#(data),"signed":\#(Int64(Date().timeIntervalSince1970 * 1000))}"#
        let payload = Base64URL.encode(Array(json.utf8))
        let key = SymmetricKey(data: HMAC<SHA256>.authenticationCode(
            for: Array("salt identifier".utf8), using: SymmetricKey(data: Array(secretKeyBase.utf8))))
        return payload + "." + Base64URL.encode(Array(HMAC<SHA256>.authenticationCode(for: Array(payload.utf8), using: key)))
    }

    // MARK: - TLS

    func testWebSocketOverTLS() async throws {
        let (certificate, key) = try TLSFixture.selfSigned()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("hs-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let certificatePath = folder.appendingPathComponent("cert.pem").path
        let keyPath = folder.appendingPathComponent("key.pem").path
        try certificate.write(toFile: certificatePath, atomically: true, encoding: .utf8)
        try key.write(toFile: keyPath, atomically: true, encoding: .utf8)

        let server = try await TestServer.start {
            $0.tlsCertificatePath = certificatePath
            $0.tlsKeyPath = keyPath
        }
        defer { Task { try await server.stop() } }

        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates([try NIOSSLCertificate(bytes: Array(certificate.utf8), format: .pem)])
        let context = try NIOSSLContext(configuration: tls)
        let raw = try await RawClient.connect(port: server.port) { channel in
            try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: "localhost"))
        }
        try await raw.send(WebSocketTestClient.upgradeRequest(path: "/socket/websocket?vsn=2.0.0"))
        let response = try await raw.receiveHTTPResponse()
        XCTAssertEqual(response.status, 101)
        XCTAssertEqual(response.header("Sec-WebSocket-Accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        try await raw.send(FrameBytes.text(#"["1","1","ping","phx_join",{}]"#))
        do { let value = try await raw.receiveFrame().text; XCTAssertEqual(value, #"["1","1","ping","phx_reply",{"response":{},"status":"ok"}]"#) }
        try await raw.send(FrameBytes.text(#"["1","2","ping","ping",{}]"#))
        do { let value = try await raw.receiveFrame().text; XCTAssertEqual(value, #"["1","2","ping","phx_reply",{"response":{"ping":"pong"},"status":"ok"}]"#) }
        await raw.close()

        // Plain HTTP to the TLS port gets no HTTP answer.
        let plain = try await RawClient.connect(port: server.port)
        try await plain.send("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        await XCTAssertThrowsErrorAsync(try await plain.receiveHTTPResponse(timeout: .seconds(2)))
        await plain.close()
    }

    func testTLSNeedsBothFiles() async throws {
        do {
            let server = try await TestServer.start { $0.tlsCertificatePath = "/nonexistent.pem" }
            try? await server.stop()
            XCTFail("expected the server not to start")
        } catch {
            XCTAssertTrue("\(error)".contains("--tls-key"), "\(error)")
        }
    }
}

func XCTAssertThrowsErrorAsync<T>(_ expression: @autoclosure () async throws -> T, file: StaticString = #filePath, line: UInt = #line) async {
    do {
        _ = try await expression()
        XCTFail("expected an error", file: file, line: line)
    } catch {}
}
