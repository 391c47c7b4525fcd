import NIOHTTP1
import XCTest

@testable import WebSocketTransport

final class HandshakeTests: XCTestCase {
    private func request(
        method: HTTPMethod = .GET,
        version: String? = "13",
        key: String? = "dGhlIHNhbXBsZSBub25jZQ==",
        upgrade: Bool = true,
        extensions: String? = nil
    ) -> HTTPRequestHead {
        var headers = HTTPHeaders([("Host", "127.0.0.1")])
        if upgrade {
            headers.add(name: "Upgrade", value: "websocket")
            headers.add(name: "Connection", value: "keep-alive, Upgrade")
        }
        if let version { headers.add(name: "Sec-WebSocket-Version", value: version) }
        if let key { headers.add(name: "Sec-WebSocket-Key", value: key) }
        if let extensions { headers.add(name: "Sec-WebSocket-Extensions", value: extensions) }
        return HTTPRequestHead(version: .http1_1, method: method, uri: "/echo", headers: headers)
    }

    func testAcceptValueIsTheRFCExample() {
        // RFC 6455 §1.3's worked example.
        XCTAssertEqual(WebSocketHandshake.acceptValue(forKey: "dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        // The sample handshake widely used since the hybi drafts.
        XCTAssertEqual(WebSocketHandshake.acceptValue(forKey: "x3JJHMbDL1EzLkh9GBhXDw=="), "HSmrc0sMlYUkAGmm5OPpG2HaGWk=")
    }

    /// The steps the start page shows: the key as sent (spaces trimmed), the SHA-1 in hex, the same accept value.
    func testAcceptDerivationShowsTheDigest() {
        let derivation = WebSocketHandshake.acceptDerivation(forKey: " x3JJHMbDL1EzLkh9GBhXDw== ")
        XCTAssertEqual(derivation.key, "x3JJHMbDL1EzLkh9GBhXDw==")
        XCTAssertEqual(derivation.concatenated, "x3JJHMbDL1EzLkh9GBhXDw==258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
        XCTAssertEqual(derivation.sha1Hex, "1d29ab734b0c9585240069a6e4e3e91b61da1969")
        XCTAssertEqual(derivation.accept, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=")
    }

    func testValidRequestIsAcceptedWithUpgradeHeaders() throws {
        guard case .accept(let headers, let deflate) = WebSocketHandshake.decide(request(), deflate: .init()) else {
            return XCTFail("expected accept")
        }
        XCTAssertEqual(headers["Sec-WebSocket-Accept"], ["s3pPLMBiTxaQ9kYGzzhZRbK+xOo="])
        XCTAssertEqual(headers["Upgrade"], ["websocket"])
        XCTAssertNil(deflate)
        XCTAssertTrue(headers["Sec-WebSocket-Extensions"].isEmpty)
    }

    func testMissingOrInvalidKeyIs400() {
        for key in [nil, "short", "dGhlIHNhbXBsZSBub25jZQ", "!!!!!!!!!!!!!!!!!!!!!!!!"] {
            guard case .reject(let status, _, _) = WebSocketHandshake.decide(request(key: key), deflate: nil) else {
                return XCTFail("expected reject for key \(String(describing: key))")
            }
            XCTAssertEqual(status, .badRequest)
        }
    }

    func testNonGetIs400() {
        guard case .reject(let status, _, let body) = WebSocketHandshake.decide(request(method: .POST), deflate: nil)
        else { return XCTFail("expected reject") }
        XCTAssertEqual(status, .badRequest)
        XCTAssertTrue(body.contains("GET"))
    }

    func testUnsupportedVersionIs426NamingVersion13() {
        for version in ["12", "8", nil] {
            guard case .reject(let status, let headers, _) = WebSocketHandshake.decide(request(version: version), deflate: nil)
            else { return XCTFail("expected reject") }
            XCTAssertEqual(status, .upgradeRequired)
            XCTAssertEqual(headers["Sec-WebSocket-Version"], ["13"])
        }
    }

    func testPlainGetSaysAnUpgradeIsExpected() {
        guard case .reject(let status, _, let body) = WebSocketHandshake.decide(request(upgrade: false), deflate: nil)
        else { return XCTFail("expected reject") }
        XCTAssertEqual(status, .badRequest)
        XCTAssertTrue(body.contains("WebSocket upgrade is expected"))
    }

    func testDeflateOfferIsNegotiated() {
        let offer = "permessage-deflate; client_max_window_bits"
        guard case .accept(let headers, let deflate) = WebSocketHandshake.decide(request(extensions: offer), deflate: .init())
        else { return XCTFail("expected accept") }
        XCTAssertEqual(headers["Sec-WebSocket-Extensions"], ["permessage-deflate"])
        XCTAssertEqual(deflate?.serverMaxWindowBits, 15)
    }

    func testDeflateIsRefusedWhenTurnedOff() {
        let offer = "permessage-deflate"
        guard case .accept(let headers, let deflate) = WebSocketHandshake.decide(request(extensions: offer), deflate: nil)
        else { return XCTFail("expected accept") }
        XCTAssertNil(deflate)
        XCTAssertTrue(headers["Sec-WebSocket-Extensions"].isEmpty)
    }

    func testDeflateParametersAreHonoured() {
        let parameters = PerMessageDeflate.negotiate(
            offers: ["permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10"],
            policy: .init()
        )
        XCTAssertEqual(parameters?.serverNoContextTakeover, true)
        XCTAssertEqual(parameters?.clientNoContextTakeover, true)
        XCTAssertEqual(parameters?.serverMaxWindowBits, 10)
        XCTAssertEqual(
            parameters?.responseHeaderValue,
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10"
        )
    }

    func testBadDeflateOffersAreDeclinedAndTheNextOneTaken() {
        let offers = [
            "permessage-deflate; server_max_window_bits=8",  // zlib can't honour 8
            "permessage-deflate; unknown_parameter",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "x-webkit-deflate-frame",
        ]
        for offer in offers {
            XCTAssertNil(PerMessageDeflate.negotiate(offers: [offer], policy: .init()), offer)
        }
        XCTAssertEqual(
            PerMessageDeflate.negotiate(offers: offers + ["permessage-deflate; client_max_window_bits=12"], policy: .init())?
                .clientMaxWindowBits,
            12
        )
    }
}
