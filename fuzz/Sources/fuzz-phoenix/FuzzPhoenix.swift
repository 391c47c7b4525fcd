import FuzzSupport
import PhoenixProtocol

/// The Phoenix serializers on arbitrary frames. The first byte picks the decoder (V1 text, V2 text, V2 binary);
/// the rest is the frame. Never crash; a decoded message encodes and decodes back to the same message.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPhoenix(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let all = fuzzInput(data, size)
    guard let selector = all.first else { return 0 }
    let frame = UnsafeRawBufferPointer(rebasing: all[1...])
    switch selector % 3 {
    case 0: v1Text(frame, all)
    case 1: v2Text(frame, all)
    default: v2Binary(frame, all)
    }
    return 0
}

private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

private func v1Text(_ frame: UnsafeRawBufferPointer, _ input: UnsafeRawBufferPointer) {
    let v1 = V1JSONSerializer()
    guard let message = try? v1.decodeText(frame) else { return }
    // A JSON message goes out as text; V1 never sends join_ref.
    let encoded: OutboundFrame
    do { encoded = try v1.encode(message) } catch { propertyFailure("V1 cannot encode \(message): \(error)", input: input) }
    check(encoded.kind == .text, "V1 encoded a JSON message as binary", input: input)
    let again: Message
    do { again = try v1.decodeText(encoded.bytes) } catch {
        propertyFailure("V1 output does not decode: \(error)\n\(text(encoded.bytes))", input: input)
    }
    var expected = message
    expected.joinRef = .null
    check(again == expected, "V1 round trip changed the message:\n\(expected)\n\(again)", input: input)
    check((try? v1.encode(again)) == encoded, "V1 encoding is not stable", input: input)
    // The same message through V2 decodes back too.
    v2RoundTrip(message, input)
}

private func v2Text(_ frame: UnsafeRawBufferPointer, _ input: UnsafeRawBufferPointer) {
    guard let message = try? V2JSONSerializer().decodeText(frame) else { return }
    v2RoundTrip(message, input)
}

private func v2RoundTrip(_ message: Message, _ input: UnsafeRawBufferPointer) {
    let v2 = V2JSONSerializer()
    let encoded: OutboundFrame
    do { encoded = try v2.encode(message) } catch { propertyFailure("V2 cannot encode \(message): \(error)", input: input) }
    check(encoded.kind == .text, "V2 encoded a JSON message as binary", input: input)
    let again: Message
    do { again = try v2.decodeText(encoded.bytes) } catch {
        propertyFailure("V2 output does not decode: \(error)\n\(text(encoded.bytes))", input: input)
    }
    check(again == message, "V2 round trip changed the message:\n\(message)\n\(again)", input: input)
    check((try? v2.encode(again)) == encoded, "V2 encoding is not stable", input: input)
}

private func v2Binary(_ frame: UnsafeRawBufferPointer, _ input: UnsafeRawBufferPointer) {
    let v2 = V2JSONSerializer()
    guard let message = try? v2.decodeBinary(frame) else { return }
    guard case .binary(let payload) = message.payload,
        case .string(let joinRef) = message.joinRef, case .string(let ref) = message.ref
    else { propertyFailure("a binary push decoded to \(message)", input: input) }
    // Client layout: re-encoding the decoded fields gives the frame back byte for byte.
    let fields = [joinRef, ref, message.topic, message.event].map { Array($0.utf8) }
    var client: [UInt8] = [0] + fields.map { UInt8($0.count) }
    for field in fields { client += field }
    client += payload
    check(client.elementsEqual(frame), "binary push does not re-encode to its bytes: \(hex(client))", input: input)

    // Server layouts: a push (kind 0, no ref), a reply (kind 1) and a broadcast (kind 2), each parsed back.
    let push: OutboundFrame
    do { push = try v2.encode(message) } catch { propertyFailure("cannot encode \(message): \(error)", input: input) }
    check(push.kind == .binary, "a binary payload went out as text", input: input)
    check(
        parseServer(push.bytes, kind: 0, count: 3) == [Array(joinRef.utf8), Array(message.topic.utf8), Array(message.event.utf8), payload],
        "server push layout wrong: \(hex(push.bytes))", input: input)

    let reply = Message.init(
        joinRef: message.joinRef, ref: message.ref, topic: message.topic, event: PhoenixEvent.reply,
        payload: message.payload, replyStatus: message.event)
    if let bytes = try? v2.encode(reply).bytes {
        check(
            parseServer(bytes, kind: 1, count: 4)
                == [Array(joinRef.utf8), Array(ref.utf8), Array(message.topic.utf8), Array(message.event.utf8), payload],
            "server reply layout wrong: \(hex(bytes))", input: input)
    } else {
        propertyFailure("cannot encode a binary reply", input: input)
    }
    let broadcast = Message(joinRef: .null, ref: .null, topic: message.topic, event: message.event, payload: message.payload)
    if let bytes = try? v2.encode(broadcast).bytes {
        check(
            parseServer(bytes, kind: 2, count: 2) == [Array(message.topic.utf8), Array(message.event.utf8), payload],
            "server broadcast layout wrong: \(hex(bytes))", input: input)
    } else {
        propertyFailure("cannot encode a binary broadcast", input: input)
    }
}

/// Splits a server → client binary frame of `kind` with `count` length bytes into its fields and payload.
private func parseServer(_ bytes: [UInt8], kind: UInt8, count: Int) -> [[UInt8]]? {
    guard bytes.count >= 1 + count, bytes[0] == kind else { return nil }
    var position = 1 + count
    var fields: [[UInt8]] = []
    for i in 0..<count {
        let length = Int(bytes[1 + i])
        guard position + length <= bytes.count else { return nil }
        fields.append(Array(bytes[position..<position + length]))
        position += length
    }
    fields.append(Array(bytes[position...]))
    return fields
}
