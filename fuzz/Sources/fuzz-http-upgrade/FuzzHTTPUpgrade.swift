import FuzzSupport
import NIOCore
import NIOEmbedded
import NIOHTTP1
import WebSocketTransport

/// Raw bytes → NIO's HTTP request decoder (as the server configures it) → `WebSocketHandshake.decide`, for every
/// request head in the input, with and without a deflate policy. Never crash; every decision is consistent with
/// the request: an accept is a GET over HTTP/1.1+ with a 16-byte key, its Sec-WebSocket-Accept is right, the
/// negotiated deflate parameters are what its response header says; a reject is 400 or 426.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTPUpgrade(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = fuzzInput(data, size)
    let channel = EmbeddedChannel()
    defer { _ = try? channel.finish() }
    do {
        try channel.pipeline.syncOperations.addHandler(
            ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes)))
        try channel.writeInbound(ByteBuffer(bytes: input))
    } catch {
        // A malformed request: the server's HTTPServerProtocolErrorHandler answers 400. Heads decoded before the
        // error still get checked below.
    }
    while let part = try? channel.readInbound(as: HTTPServerRequestPart.self) {
        guard case .head(let head) = part else { continue }
        checkDecision(head, input)
    }
    return 0
}

private let policies: [PerMessageDeflate.Policy?] = [
    nil,
    PerMessageDeflate.Policy(),
    PerMessageDeflate.Policy(requireClientNoContextTakeover: true, serverNoContextTakeover: true, minimumCompressedSize: 0),
]

private func checkDecision(_ head: HTTPRequestHead, _ input: UnsafeRawBufferPointer) {
    var accepted: Bool?
    for policy in policies {
        let decision = WebSocketHandshake.decide(head, deflate: policy)
        check(WebSocketHandshake.decide(head, deflate: policy) == decision, "decide is not deterministic", input: input)
        switch decision {
        case .reject(let status, let headers, let body):
            check(status == .badRequest || status == .upgradeRequired, "rejected with \(status)", input: input)
            check(!body.isEmpty && body.utf8.count < 4096, "reject body empty or huge", input: input)
            if status == .upgradeRequired {
                check(headers["Sec-WebSocket-Version"] == ["13"], "426 without Sec-WebSocket-Version: 13", input: input)
            }
            check(accepted != true, "accepted under one deflate policy, rejected under another", input: input)
            accepted = false
        case .accept(let headers, let deflate):
            check(accepted != false, "rejected under one deflate policy, accepted under another", input: input)
            accepted = true
            check(head.method == .GET, "accepted a \(head.method)", input: input)
            check(head.version.major > 1 || (head.version.major == 1 && head.version.minor >= 1), "accepted \(head.version)", input: input)
            check(head.headers["sec-websocket-version"].count == 1, "accepted without one Sec-WebSocket-Version", input: input)
            let keys = head.headers["sec-websocket-key"]
            check(keys.count == 1, "accepted with \(keys.count) keys", input: input)
            let key = String(keys[0].drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
            check(decodedBase64Count(key) == 16, "accepted a key that is not 16 bytes of base64: \(key)", input: input)
            check(
                headers["Sec-WebSocket-Accept"] == [WebSocketHandshake.acceptValue(forKey: key)],
                "wrong Sec-WebSocket-Accept", input: input)
            check(headers["Upgrade"] == ["websocket"] && headers["Connection"] == ["Upgrade"], "101 headers", input: input)
            for header in headers {
                check(!header.value.utf8.contains { $0 == 13 || $0 == 10 }, "CR/LF in a response header: \(header)", input: input)
            }
            let extensions = headers["Sec-WebSocket-Extensions"]
            if let deflate {
                guard let policy else { propertyFailure("deflate negotiated with compression off", input: input) }
                check(extensions == [deflate.responseHeaderValue], "extension header does not match parameters", input: input)
                check(deflate.serverMaxWindowBits >= 9 && deflate.serverMaxWindowBits <= 15, "server window \(deflate.serverMaxWindowBits)", input: input)
                if let bits = deflate.clientMaxWindowBits { check(bits >= 8 && bits <= 15, "client window \(bits)", input: input) }
                check(!policy.serverNoContextTakeover || deflate.serverNoContextTakeover, "policy's server_no_context_takeover lost", input: input)
                check(!policy.requireClientNoContextTakeover || deflate.clientNoContextTakeover, "policy's client_no_context_takeover lost", input: input)
                // What we answered is itself an acceptable offer, negotiating to the same parameters.
                check(
                    PerMessageDeflate.negotiate(offers: [deflate.responseHeaderValue], policy: policy) == deflate,
                    "the response's extension value does not negotiate to itself: \(deflate.responseHeaderValue)", input: input)
                let offered = head.headers[canonicalForm: "sec-websocket-extensions"].contains {
                    $0.lowercased().contains("permessage-deflate")
                }
                check(offered, "deflate negotiated but not offered", input: input)
            } else {
                check(extensions.isEmpty, "extension header without negotiated deflate", input: input)
            }
        }
    }
}

/// The number of bytes a strict, padded base64 string decodes to, or nil.
private func decodedBase64Count(_ text: String) -> Int? {
    let bytes = Array(text.utf8)
    guard bytes.count % 4 == 0, !bytes.isEmpty else { return nil }
    var padding = 0
    for (i, b) in bytes.enumerated() {
        let isAlphabet = (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || (b >= 48 && b <= 57) || b == 43 || b == 47
        if b == 61 {
            guard i >= bytes.count - 2 else { return nil }
            padding += 1
        } else {
            guard isAlphabet, padding == 0 else { return nil }
        }
    }
    return bytes.count / 4 * 3 - padding
}
