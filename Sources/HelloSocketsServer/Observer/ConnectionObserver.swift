import NIOCore
import NIOHTTP1
import NIOWebSocket
import PhoenixProtocol
import WebSocketTransport

/// Observes one WebSocket connection for the feed and `--trace`; runs on that connection's event loop.
///
/// Feed events (one JSON object per WebSocket text message):
/// - `{"type":"open","conn":"c3","t":µs,"peer":…,"request":{"line":…,"headers":[[name,value]…]},
///    "response":{"line":"HTTP/1.1 101 Switching Protocols","headers":[…]},"accept":{"key","guid","concatenated",
///    "sha1_hex","accept"},"follow":…}`
/// - `{"type":"frame","conn","t","dir":"in"|"out","opcode":"text"|"binary"|"continuation"|"ping"|"pong"|"close",
///    "fin","rsv1","rsv2","rsv3","masked","mask":"37fa213d"|null,"length":wire payload bytes,
///    "payload":…,"encoding":"text"|"hex"|"deflated","truncated",("close_code","close_reason"),
///    ("inflated_length" for compressed outbound frames, whose payload is shown before compression)}`
/// - `{"type":"message","conn","t","dir":"in","opcode","compressed","length","payload","encoding"}`: an inbound
///   message after inflating, sent when it was compressed or fragmented.
/// - `{"type":"closed","conn","t"}`, and from the hub `hello` and `dropped`.
final class ConnectionObserver: WebSocketFrameObserver {
    private let hub: ObserverHub
    let connectionID: String
    private let peer: String
    private(set) var followID: String?

    init(hub: ObserverHub, connectionID: String, peer: SocketAddress?) {
        self.hub = hub
        self.connectionID = connectionID
        self.peer = peer?.description ?? "?"
    }

    // MARK: WebSocketFrameObserver

    func webSocket(_ connectionID: String, didHandshake request: HTTPRequestHead, response: HTTPResponseHead) {
        followID = Redaction.followID(in: request.headers)
        let uri = Redaction.uri(request.uri)
        let requestLine = "\(request.method.rawValue) \(uri) HTTP/\(request.version.major).\(request.version.minor)"
        let responseLine = "HTTP/\(response.version.major).\(response.version.minor) \(response.status.code) \(response.status.reasonPhrase)"
        hub.trace?.line("\(connectionID) \(requestLine) → \(response.status.code) \(response.status.reasonPhrase)")
        guard hub.feedEnabled else { return }
        var members: [String: JSONValue] = [
            "type": .string("open"),
            "conn": .string(connectionID),
            "t": .integer(ObserverHub.now()),
            "peer": .string(peer),
            "follow": followID.map(JSONValue.string) ?? .null,
            "request": .object(["line": .string(requestLine), "headers": Self.headers(request.headers, redacting: true)]),
            "response": .object(["line": .string(responseLine), "headers": Self.headers(response.headers, redacting: false)]),
        ]
        if let key = request.headers["sec-websocket-key"].first {
            let derivation = WebSocketHandshake.acceptDerivation(forKey: key)
            members["accept"] = .object([
                "key": .string(derivation.key),
                "guid": .string(derivation.guid),
                "concatenated": .string(derivation.concatenated),
                "sha1_hex": .string(derivation.sha1Hex),
                "accept": .string(derivation.accept),
            ])
        }
        hub.connectionOpened(connectionID, followID: followID, event: ObserverHub.encode(members))
    }

    func webSocket(_ connectionID: String, didReceive frame: WebSocketFrame) {
        if let trace = hub.trace { traceInbound(frame, trace) }
        guard hub.hasSubscribers else { return }
        let payload: ByteBuffer? = frame.rsv1 ? nil : frame.unmaskedData
        publishFrame(frame, direction: "in", payload: payload)
    }

    func webSocket(_ connectionID: String, didReceive message: WebSocketMessage, compressed: Bool) {
        if compressed, let trace = hub.trace, case .text(let buffer) = message {
            trace.line("\(connectionID) > \(String(buffer: buffer))")
        } else if compressed, let trace = hub.trace, case .binary(let buffer) = message {
            trace.line("\(connectionID) > binary \(buffer.readableBytes) bytes")
        }
        guard hub.hasSubscribers else { return }
        let (opcode, buffer): (String, ByteBuffer)
        switch message {
        case .text(let b): (opcode, buffer) = ("text", b)
        case .binary(let b): (opcode, buffer) = ("binary", b)
        }
        var members: [String: JSONValue] = [
            "type": .string("message"),
            "conn": .string(connectionID),
            "t": .integer(ObserverHub.now()),
            "dir": .string("in"),
            "opcode": .string(opcode),
            "compressed": .bool(compressed),
            "length": .integer(Int64(buffer.readableBytes)),
        ]
        Self.addPayload(buffer, to: &members)
        hub.publish(ObserverHub.encode(members), followID: followID)
    }

    func webSocket(_ connectionID: String, willSend frame: WebSocketFrame, payload: ByteBuffer) {
        if let trace = hub.trace { traceOutbound(frame, payload: payload, trace) }
        guard hub.hasSubscribers else { return }
        publishFrame(frame, direction: "out", payload: payload)
    }

    func webSocketDidClose(_ connectionID: String) {
        hub.trace?.line("\(connectionID) closed")
        guard hub.feedEnabled else { return }
        let event = ObserverHub.encode([
            "type": .string("closed"), "conn": .string(connectionID), "t": .integer(ObserverHub.now()),
        ])
        hub.connectionClosed(connectionID, followID: followID, event: event)
    }

    // MARK: Feed events

    private func publishFrame(_ frame: WebSocketFrame, direction: String, payload: ByteBuffer?) {
        var members: [String: JSONValue] = [
            "type": .string("frame"),
            "conn": .string(connectionID),
            "t": .integer(ObserverHub.now()),
            "dir": .string(direction),
            "opcode": .string(Self.name(of: frame.opcode)),
            "opcode_value": .integer(Int64(Self.value(of: frame.opcode))),
            "fin": .bool(frame.fin),
            "rsv1": .bool(frame.rsv1),
            "rsv2": .bool(frame.rsv2),
            "rsv3": .bool(frame.rsv3),
            "masked": .bool(frame.maskKey != nil),
            "mask": frame.maskKey.map { key in .string(Self.hex(Array(key))) } ?? .null,
            "length": .integer(Int64(frame.length)),
        ]
        if let payload {
            if frame.opcode == .connectionClose {
                var close = payload
                if let code = close.readInteger(as: UInt16.self) {
                    members["close_code"] = .integer(Int64(code))
                    members["close_reason"] = .string(String(decoding: close.readableBytesView, as: UTF8.self))
                }
            }
            if frame.rsv1 && direction == "out" { members["inflated_length"] = .integer(Int64(payload.readableBytes)) }
            Self.addPayload(payload, to: &members)
        } else {
            members["payload"] = .null
            members["encoding"] = .string("deflated")
        }
        hub.publish(ObserverHub.encode(members), followID: followID)
    }

    static func addPayload(_ buffer: ByteBuffer, to members: inout [String: JSONValue]) {
        let count = min(buffer.readableBytes, ObserverHub.payloadLimit)
        let bytes = buffer.getBytes(at: buffer.readerIndex, length: count) ?? []
        members["truncated"] = .bool(count < buffer.readableBytes)
        if let text = String(validating: bytes, as: UTF8.self) {
            members["payload"] = .string(text)
            members["encoding"] = .string("text")
        } else {
            members["payload"] = .string(hex(bytes))
            members["encoding"] = .string("hex")
        }
    }

    static func headers(_ headers: HTTPHeaders, redacting: Bool) -> JSONValue {
        .array(headers.map { name, value in
            .array([.string(name), .string(redacting ? Redaction.header(name: name, value: value) : value)])
        })
    }

    static func name(of opcode: WebSocketOpcode) -> String {
        switch opcode {
        case .continuation: return "continuation"
        case .text: return "text"
        case .binary: return "binary"
        case .connectionClose: return "close"
        case .ping: return "ping"
        case .pong: return "pong"
        default: return "opcode \(value(of: opcode))"
        }
    }

    static func value(of opcode: WebSocketOpcode) -> UInt8 { UInt8(webSocketOpcode: opcode) }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef")
        return String(bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0x0F)]] })
    }

    // MARK: --trace (wscat style: `>` from the client, `<` to the client)

    private func traceInbound(_ frame: WebSocketFrame, _ trace: TraceWriter) {
        switch frame.opcode {
        case .text, .binary, .continuation:
            if frame.rsv1 { return }  // compressed: printed once inflated, by didReceive(message:)
            if frame.opcode == .text && frame.fin {
                trace.line("\(connectionID) > \(Self.brief(frame.unmaskedData, text: true))")
            } else {
                let kind = frame.opcode == .continuation ? "continuation" : Self.name(of: frame.opcode)
                trace.line("\(connectionID) > [\(kind)\(frame.fin ? "" : ", more to come")] \(Self.brief(frame.unmaskedData, text: frame.opcode != .binary))")
            }
        default:
            trace.line("\(connectionID) > \(Self.control(frame.opcode, frame.unmaskedData))")
        }
    }

    private func traceOutbound(_ frame: WebSocketFrame, payload: ByteBuffer, _ trace: TraceWriter) {
        switch frame.opcode {
        case .text: trace.line("\(connectionID) < \(Self.brief(payload, text: true))")
        case .binary, .continuation: trace.line("\(connectionID) < [\(Self.name(of: frame.opcode))] \(Self.brief(payload, text: false))")
        default: trace.line("\(connectionID) < \(Self.control(frame.opcode, payload))")
        }
    }

    static func brief(_ buffer: ByteBuffer, text: Bool) -> String {
        let bytes = Array(buffer.readableBytesView)
        if text, let string = String(validating: bytes, as: UTF8.self) {
            return string.count > 2000 ? String(string.prefix(2000)) + "… (\(bytes.count) bytes)" : string
        }
        return "\(bytes.count) bytes: \(hex(Array(bytes.prefix(64))))\(bytes.count > 64 ? "…" : "")"
    }

    /// `ping "abc"`, `pong`, `close 1000 "bye"`.
    private static func control(_ opcode: WebSocketOpcode, _ payload: ByteBuffer) -> String {
        var payload = payload
        if opcode == .connectionClose {
            guard let code = payload.readInteger(as: UInt16.self) else { return "close (no code)" }
            let reason = String(decoding: payload.readableBytesView, as: UTF8.self)
            return reason.isEmpty ? "close \(code)" : "close \(code) \"\(reason)\""
        }
        let data = String(decoding: payload.readableBytesView, as: UTF8.self)
        return data.isEmpty ? name(of: opcode) : "\(name(of: opcode)) \"\(data)\""
    }
}
