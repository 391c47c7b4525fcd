import Crypto
import NIOHTTP1

/// The server side of the RFC 6455 §4.2 opening handshake, as a pure decision on the request head.
///
/// NIOWebSocket's upgrader fails every bad handshake the same way; RFC 6455 asks for distinct
/// answers (400 for a malformed request, 426 naming version 13 for an unsupported version), and
/// users learning WebSockets deserve a body that says what was wrong.
public enum WebSocketHandshake {
    /// What to do with an upgrade request.
    public enum Decision: Equatable {
        /// Switch protocols with these 101 response headers and the negotiated compression.
        case accept(headers: HTTPHeaders, deflate: PerMessageDeflate.Parameters?)
        /// Answer with this status, extra headers and a short plain-text body, then keep the HTTP connection.
        case reject(status: HTTPResponseStatus, headers: HTTPHeaders, body: String)
    }

    /// The GUID RFC 6455 §1.3 appends to the client's key.
    static let guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    private static let guidBytes = Array(guid.utf8)

    /// Decides on a request for a WebSocket route.
    /// - Parameter deflate: the permessage-deflate policy, or nil when compression is turned off.
    public static func decide(_ head: HTTPRequestHead, deflate: PerMessageDeflate.Policy?) -> Decision {
        // §4.2.1 item 1: the handshake is an HTTP/1.1 (or later) GET.
        guard head.method == .GET else {
            return reject(.badRequest, "A WebSocket handshake must be a GET request, not \(head.method.rawValue).\n")
        }
        guard head.version.major > 1 || (head.version.major == 1 && head.version.minor >= 1) else {
            return reject(.badRequest, "A WebSocket handshake needs HTTP/1.1 or later.\n")
        }
        // §4.2.1 items 3-4: `Upgrade: websocket` and `Connection: Upgrade` (both case-insensitive, Connection is a list).
        let upgrade = head.headers[canonicalForm: "upgrade"].contains { $0.lowercased() == "websocket" }
        let connection = head.headers[canonicalForm: "connection"].contains { $0.lowercased() == "upgrade" }
        guard upgrade, connection else {
            return reject(
                .badRequest,
                "This is a WebSocket endpoint: a WebSocket upgrade is expected "
                    + "(GET with `Upgrade: websocket` and `Connection: Upgrade`).\n"
            )
        }
        // §4.2.2 item 4 / §4.4: an unsupported version gets 426 and the versions we speak.
        let versions = head.headers["sec-websocket-version"]
        guard versions.count == 1, versions[0].trimmingSpaces() == "13" else {
            var headers = HTTPHeaders()
            headers.add(name: "Sec-WebSocket-Version", value: "13")
            return .reject(
                status: .upgradeRequired,
                headers: headers,
                body: "Unsupported Sec-WebSocket-Version \(versions.joined(separator: ",")): this server speaks 13.\n"
            )
        }
        // §4.2.1 item 5: a key that is the base64 of 16 bytes.
        let keys = head.headers["sec-websocket-key"]
        guard keys.count == 1, Base64.decodedLength(keys[0].trimmingSpaces()) == 16 else {
            return reject(.badRequest, "Missing or invalid Sec-WebSocket-Key (it must be 16 bytes in base64).\n")
        }

        var headers = HTTPHeaders()
        headers.add(name: "Upgrade", value: "websocket")
        headers.add(name: "Connection", value: "Upgrade")
        headers.add(name: "Sec-WebSocket-Accept", value: acceptValue(forKey: keys[0].trimmingSpaces()))
        var negotiated: PerMessageDeflate.Parameters? = nil
        if let deflate {
            let offers = head.headers[canonicalForm: "sec-websocket-extensions"].map(String.init)
            if let parameters = PerMessageDeflate.negotiate(offers: offers, policy: deflate) {
                headers.add(name: "Sec-WebSocket-Extensions", value: parameters.responseHeaderValue)
                negotiated = parameters
            }
        }
        return .accept(headers: headers, deflate: negotiated)
    }

    /// `base64(SHA-1(key + GUID))`, RFC 6455 §4.2.2 item 5.4.
    public static func acceptValue(forKey key: String) -> String {
        Base64.encode(acceptDigest(forKey: key))
    }

    /// SHA-1 of `key + GUID`: swift-crypto's (BoringSSL's on Linux). Insecure, as SHA-1 is, and fine for this.
    static func acceptDigest(forKey key: String) -> [UInt8] {
        var hasher = Insecure.SHA1()
        var key = key
        key.withUTF8 { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        guidBytes.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        return Array(hasher.finalize())
    }

    private static func reject(_ status: HTTPResponseStatus, _ body: String) -> Decision {
        .reject(status: status, headers: HTTPHeaders(), body: body)
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs. On the UTF-8 bytes: the reversed-Character version it
    /// replaces was 11 % of the server's CPU per connect+join.
    func trimmingSpaces() -> String {
        let bytes = utf8
        var start = bytes.startIndex
        while start < bytes.endIndex, bytes[start] == 0x20 || bytes[start] == 0x09 { start = bytes.index(after: start) }
        var end = start  // just past the last byte that is not a space or tab
        var index = start
        while index < bytes.endIndex {
            let byte = bytes[index]
            index = bytes.index(after: index)
            if byte != 0x20 && byte != 0x09 { end = index }
        }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }
}
