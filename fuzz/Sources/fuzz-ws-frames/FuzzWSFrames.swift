import FuzzSupport
import Logging
import NIOCore
import NIOEmbedded
import NIOWebSocket
import WebSocketTransport

/// Bytes from a client → the server's WebSocket pipeline (NIO's frame decoder and encoder, then
/// `WebSocketConnection` with an echoing session), in an `EmbeddedChannel`.
///
/// Input: byte 0 picks the options (bit 0: permessage-deflate negotiated, bit 1: client_no_context_takeover,
/// bit 2: a 1 KiB message limit instead of 64 KiB, bit 3: compress every echo), byte 1 the read size (0: one read),
/// the rest is the byte stream. Properties: never crash; every text message delivered is valid UTF-8 and within the
/// size limit; the server's frames are well formed, unmasked, and a close frame, if any, is the last one, with a
/// valid close code and a UTF-8 reason in at most 125 bytes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWSFrames(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = fuzzInput(data, size)
    guard input.count >= 2 else { return 0 }
    let options = input[0]
    let readSize = Int(input[1])
    let stream = UnsafeRawBufferPointer(rebasing: input[2...])

    let maxMessageSize = options & 4 != 0 ? 1024 : 64 * 1024
    let configuration = WebSocketConfiguration(maxMessageSize: maxMessageSize)
    // Parameters through the public negotiation, as the handshake makes them.
    let deflate: PerMessageDeflate.Parameters? =
        options & 1 == 0
        ? nil
        : PerMessageDeflate.negotiate(
            offers: [options & 2 != 0 ? "permessage-deflate; client_no_context_takeover" : "permessage-deflate"],
            policy: PerMessageDeflate.Policy(minimumCompressedSize: options & 8 != 0 ? 0 : 256)
        )
    let session = EchoSession()
    let channel = EmbeddedChannel()
    let connection = WebSocketConnection(
        id: "fuzz", session: session, configuration: configuration, deflate: deflate, logger: quietLogger)
    do {
        try channel.pipeline.syncOperations.addHandlers([
            ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: maxMessageSize)),
            connection,
        ])
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
    } catch {
        propertyFailure("harness setup failed: \(error)")
    }

    var offset = 0
    while offset < stream.count && channel.isActive {
        let end = readSize == 0 ? stream.count : min(stream.count, offset + readSize)
        _ = try? channel.writeInbound(ByteBuffer(bytes: UnsafeRawBufferPointer(rebasing: stream[offset..<end])))
        channel.pipeline.fireChannelReadComplete()
        offset = end
    }
    // Let the close and idle timers fire.
    channel.embeddedEventLoop.advanceTime(by: .seconds(120))
    _ = try? channel.finish()

    for message in session.messages {
        switch message {
        case .text(let text):
            check(text.readableBytes <= maxMessageSize, "text of \(text.readableBytes) bytes delivered", input: input)
            check(String(validating: text.readableBytesView, as: UTF8.self) != nil, "invalid UTF-8 delivered: \(hex(text.readableBytesView))", input: input)
        case .binary(let data):
            check(data.readableBytes <= maxMessageSize, "binary of \(data.readableBytes) bytes delivered", input: input)
        }
    }
    checkServerFrames(session.output(of: channel), input: input)
    return 0
}

private let quietLogger = Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() })

private final class EchoSession: WebSocketSession {
    var messages: [WebSocketMessage] = []
    func webSocketDidOpen(_ connection: WebSocketConnection) {}
    func webSocket(_ connection: WebSocketConnection, didReceive message: WebSocketMessage) {
        messages.append(message)
        connection.send(message)
    }
    func webSocketDidClose(_ connection: WebSocketConnection) {}

    func output(of channel: EmbeddedChannel) -> [UInt8] {
        var bytes: [UInt8] = []
        while let buffer = try? channel.readOutbound(as: ByteBuffer.self) { bytes += buffer.readableBytesView }
        return bytes
    }
}

private func checkServerFrames(_ bytes: [UInt8], input: UnsafeRawBufferPointer) {
    var position = 0
    var closed = false
    while position < bytes.count {
        check(!closed, "a frame after the server's close frame", input: input)
        guard position + 2 <= bytes.count else { propertyFailure("truncated server frame header", input: input) }
        let first = bytes[position], second = bytes[position + 1]
        check(second & 0x80 == 0, "the server masked a frame", input: input)
        check(first & 0x30 == 0, "the server set RSV2/RSV3", input: input)
        check(first & 0x80 != 0, "the server fragmented a frame", input: input)
        var length = Int(second & 0x7F)
        position += 2
        if length == 126 {
            guard position + 2 <= bytes.count else { propertyFailure("truncated length", input: input) }
            length = Int(bytes[position]) << 8 | Int(bytes[position + 1])
            position += 2
        } else if length == 127 {
            guard position + 8 <= bytes.count else { propertyFailure("truncated length", input: input) }
            length = bytes[position..<position + 8].reduce(0) { $0 << 8 | Int($1) }
            position += 8
        }
        guard length >= 0, position + length <= bytes.count else { propertyFailure("truncated server frame", input: input) }
        let payload = bytes[position..<position + length]
        position += length
        let opcode = first & 0x0F
        switch opcode {
        case 0x1:
            if first & 0x40 == 0 {
                check(String(validating: payload, as: UTF8.self) != nil, "the server sent invalid UTF-8 text", input: input)
            }
        case 0x2:
            break
        case 0x8:
            closed = true
            check(first & 0x40 == 0, "compressed close frame", input: input)
            check(payload.count <= 125 && payload.count != 1, "close payload of \(payload.count) bytes", input: input)
            if payload.count >= 2 {
                let code = UInt16(payload[payload.startIndex]) << 8 | UInt16(payload[payload.startIndex + 1])
                let valid = (1000...1003).contains(code) || (1007...1014).contains(code) || (3000...4999).contains(code)
                check(valid, "the server sent close code \(code)", input: input)
                check(String(validating: payload.dropFirst(2), as: UTF8.self) != nil, "close reason is not UTF-8", input: input)
            }
        case 0x9, 0xA:
            check(first & 0x40 == 0 && payload.count <= 125, "bad control frame", input: input)
        default:
            propertyFailure("the server sent opcode \(opcode)", input: input)
        }
    }
}
