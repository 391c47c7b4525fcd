// Micro-benchmarks of the per-message hot path, each through public API:
// frame decode + aggregation (WebSocketConnection on an EmbeddedChannel), V2 decode/encode,
// JSON parse/write, one handle_in round trip in a LuaVM running channels/ping.lua, broadcast encode;
// and, once per connect, the WebSocket handshake.
// Every benchmark does one operation per iteration (scalingFactor .kilo only batches them):
// the figures are per operation.
import Benchmark
import Foundation
import LuaRuntime
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOWebSocket
import PhoenixProtocol
import WebSocketTransport

// MARK: Fixtures

/// The throughput workload's message (`run throughput` sends these) and its reply.
let pingText = #"["1","42","ping","ping",{}]"#
let pingReply = Message.reply(
    joinRef: .string("1"), ref: .string("42"), topic: "ping", status: "ok", response: .object(["ping": .string("pong")]))
/// A more typical chat-sized payload for JSON parse/write.
let chatJSON = #"{"body":"hello there, how is everyone doing today?","user":{"id":1234,"name":"Ada Lovelace","roles":["admin","dev"]},"sent_at":1732700000123,"reply_to":null,"edited":false,"score":4.5}"#

/// A masked client text frame (RFC 6455 §5.2), as the C load client sends it.
func maskedTextFrame(_ text: String) -> [UInt8] {
    let payload = Array(text.utf8)
    precondition(payload.count < 126)
    let mask: [UInt8] = [0x12, 0x34, 0x56, 0x78]
    var frame: [UInt8] = [0x81, 0x80 | UInt8(payload.count)] + mask
    for (i, byte) in payload.enumerated() { frame.append(byte ^ mask[i % 4]) }
    return frame
}

/// Counts the messages the connection delivers.
final class CountingSession: WebSocketSession {
    var received = 0
    var bytes = 0
    func webSocketDidOpen(_ connection: WebSocketConnection) {}
    func webSocket(_ connection: WebSocketConnection, didReceive message: WebSocketMessage) {
        received += 1
        if case .text(let b) = message { bytes += b.readableBytes }
    }
    func webSocketDidClose(_ connection: WebSocketConnection) {}
}

/// A ChannelHost that ignores everything (ping.lua's handle_in only replies).
final class NullHost: ChannelHost {
    func push(_ id: ChannelID, event: String, payload: Payload) {}
    func broadcast(_ id: ChannelID, event: String, payload: Payload, excludeSelf: Bool) {}
    func asyncReply(_ id: ChannelID, ref: JSONValue, status: String, response: JSONValue) {}
    func scheduleTimer(_ id: ChannelID, timer: TimerID, afterMilliseconds: Int) {}
    func cancelTimer(_ timer: TimerID) {}
}

/// The repository's `channels/` folder (benchmarks/Benchmarks/HotPaths/HotPaths.swift → ../../../channels).
let channelsDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("channels")

/// A WebSocketConnection open on an EmbeddedChannel, for the send benchmarks.
func openConnection() throws -> (WebSocketConnection, EmbeddedChannel) {
    let connection = WebSocketConnection(
        id: "c1", session: CountingSession(), configuration: WebSocketConfiguration(), deflate: nil,
        logger: Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() }))
    let channel = EmbeddedChannel()
    try channel.pipeline.syncOperations.addHandler(connection)
    try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
    return (connection, channel)
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .throughput],
        warmupIterations: 100,
        scalingFactor: .kilo,
        maxDuration: .seconds(2),
        maxIterations: 1_000_000
    )

    // MARK: WebSocket: bytes in → NIOWebSocket's frame decoder → WebSocketConnection (rules,
    // UTF-8 check, aggregation) → the session. One ping-sized frame per operation.
    Benchmark("WebSocket frame decode+aggregate (ping frame)") { benchmark in
        let session = CountingSession()
        let connection = WebSocketConnection(
            id: "c1", session: session, configuration: WebSocketConfiguration(), deflate: nil,
            logger: Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() }))
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: 1 << 20)))
        try channel.pipeline.syncOperations.addHandler(connection)
        let frame = ByteBuffer(bytes: maskedTextFrame(pingText))
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            try channel.writeInbound(frame)
        }
        benchmark.stopMeasurement()
        precondition(session.received > 0, "no message was delivered")
        _ = try? channel.finish()
    }

    // MARK: WebSocket: one reply out through WebSocketConnection (header written into the payload's
    // front room, one buffer to the channel), then one broadcast frame written as prepared.
    Benchmark("WebSocket reply frame send (ping reply)") { benchmark in
        let (connection, channel) = try openConnection()
        let reply = Array(#"["1","42","ping","phx_reply",{"response":{"ping":"pong"},"status":"ok"}]"#.utf8)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            var buffer = ByteBuffer.webSocketPayload(capacity: reply.count)
            buffer.writeBytes(reply)
            connection.send(text: buffer)
            blackHole(try channel.readOutbound(as: ByteBuffer.self))
        }
        benchmark.stopMeasurement()
        _ = try? channel.finish()
    }

    Benchmark("WebSocket broadcast frame send (prepared)") { benchmark in
        let (connection, channel) = try openConnection()
        let prepared = PreparedMessage(.text(ByteBuffer(string: #"[null,null,"room:lobby","new_msg",{"body":"hello subscribers","seq":17}]"#)))
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            connection.send(prepared)
            blackHole(try channel.readOutbound(as: ByteBuffer.self))
        }
        benchmark.stopMeasurement()
        _ = try? channel.finish()
    }

    // MARK: WebSocket handshake, once per connect: a browser's upgrade request → the 101's headers (checks,
    // Sec-WebSocket-Accept = base64(SHA-1(key + GUID)), permessage-deflate negotiated); and the accept value alone.
    Benchmark("WebSocket handshake (browser upgrade request)") { benchmark in
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/socket/websocket?vsn=2.0.0", headers: HTTPHeaders([
            ("Host", "127.0.0.1:4000"), ("Connection", "Upgrade"), ("Upgrade", "websocket"),
            ("Sec-WebSocket-Version", "13"), ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits"),
        ]))
        for _ in benchmark.scaledIterations {
            blackHole(WebSocketHandshake.decide(head, deflate: .init()))
        }
    }

    Benchmark("WebSocket accept value (SHA-1 + base64)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(WebSocketHandshake.acceptValue(forKey: "dGhlIHNhbXBsZSBub25jZQ=="))
        }
    }

    // MARK: Phoenix V2 serializer
    Benchmark("V2 decode ping message") { benchmark in
        let serializer = V2JSONSerializer()
        let bytes = Array(pingText.utf8)
        for _ in benchmark.scaledIterations {
            blackHole(try bytes.withUnsafeBytes { try serializer.decodeText($0) })
        }
    }

    Benchmark("V2 encode ping reply") { benchmark in
        let serializer = V2JSONSerializer()
        for _ in benchmark.scaledIterations {
            blackHole(try serializer.encode(pingReply))
        }
    }

    Benchmark("V2 encode ping reply (reused buffer)") { benchmark in
        let serializer = V2JSONSerializer()
        var buffer: [UInt8] = []
        buffer.reserveCapacity(256)
        for _ in benchmark.scaledIterations {
            buffer.removeAll(keepingCapacity: true)
            blackHole(try serializer.encode(pingReply, into: &buffer))
        }
    }

    // MARK: JSON
    Benchmark("JSON parse chat payload") { benchmark in
        let parser = JSONParser()
        let bytes = Array(chatJSON.utf8)
        for _ in benchmark.scaledIterations {
            blackHole(try parser.parse(bytes))
        }
    }

    Benchmark("JSON write chat payload") { benchmark in
        let value = try JSONParser().parse(chatJSON)
        for _ in benchmark.scaledIterations {
            blackHole(try JSONWriter.encode(value))
        }
    }

    // MARK: Lua: one handle_in("ping", {}, socket) → phx.ok({ping = "pong"}) converted back to JSONValue.
    Benchmark("Lua handle_in round trip (ping.lua)") { benchmark in
        let registry = try ChannelRegistry(directory: channelsDirectory)
        let vm = try LuaVM(scripts: registry)
        let host = NullHost()
        guard let script = registry.route("ping") else { fatalError("ping.lua not found in \(channelsDirectory.path)") }
        let (id, result) = vm.join(
            script: script, topic: "ping", payload: .json(.emptyObject), joinRef: .string("1"),
            socket: SocketContext(), host: host)
        guard let id, case .ok = result else { fatalError("join failed: \(result)") }
        let payload = Payload.json(.emptyObject)
        let ref = JSONValue.string("42")
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(vm.handleIn(id, event: "ping", payload: payload, ref: ref))
        }
    }

    // MARK: Broadcast: what PubSub does once per broadcast (EncodedBroadcast): encode for V2 and V1.
    Benchmark("Broadcast encode (V2 + V1)") { benchmark in
        let v2 = V2JSONSerializer()
        let v1 = V1JSONSerializer()
        let payload = Payload.json(.object(["seq": .integer(17), "body": .string("hello subscribers")]))
        for _ in benchmark.scaledIterations {
            let message = Message.broadcast(topic: "room:lobby", event: "new_msg", payload: payload)
            blackHole(try v2.encode(message))
            blackHole(try v1.encode(message))
        }
    }
}
