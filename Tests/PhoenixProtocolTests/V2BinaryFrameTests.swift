import XCTest

@testable import PhoenixProtocol

final class V2BinaryFrameTests: XCTestCase {
    let serializer = V2JSONSerializer()

    func testDecodesClientPush() throws {
        // kind 0, jr "12", ref "345", topic "room:1", event "upload", then the payload bytes.
        var frame: [UInt8] = [0, 2, 3, 6, 6]
        frame += Array("12345room:1upload".utf8) + [0x00, 0xFF, 0x7B]
        let message = try serializer.decodeBinary(frame)
        XCTAssertEqual(
            message,
            Message(
                joinRef: .string("12"), ref: .string("345"), topic: "room:1", event: "upload",
                payload: .binary([0x00, 0xFF, 0x7B])))
        // Empty fields and an empty payload are allowed.
        let empty = try serializer.decodeBinary([0, 0, 0, 1, 1] + Array("te".utf8))
        XCTAssertEqual(
            empty, Message(joinRef: .string(""), ref: .string(""), topic: "t", event: "e", payload: .binary([])))
    }

    func testDecodingErrors() {
        let cases: [([UInt8], String)] = [
            ([], "binary frame: empty frame"),
            ([7, 0, 0, 0, 0], "binary frame: unknown kind 7"),
            ([1, 0, 0, 0, 0], "binary frame: kind 1 is sent by servers, not clients"),
            ([2, 0, 0], "binary frame: kind 2 is sent by servers, not clients"),
            ([0, 0, 0, 0], "binary frame: header longer than frame"),
            ([0, 1, 1, 1, 1, 0x61, 0x62, 0x63], "binary frame: header longer than frame"),
            ([0, 255, 255, 255, 255], "binary frame: header longer than frame"),
            ([0, 0, 0, 1, 1, 0xFF, 0x65], "binary frame: topic is not valid UTF-8"),
            ([0, 0, 0, 1, 1, 0x74, 0xC3], "binary frame: event is not valid UTF-8"),
        ]
        for (bytes, reason) in cases {
            XCTAssertEqual(binaryDecodingError(serializer, bytes)?.description, reason, "\(bytes)")
        }
    }

    func testEncodesPushReplyAndBroadcast() throws {
        let data: [UInt8] = [1, 2, 3]
        let push = Message.push(joinRef: .string("12"), topic: "room", event: "ev", payload: .binary(data))
        XCTAssertEqual(try serializer.encode(push), .binary([0, 2, 4, 2] + Array("12roomev".utf8) + data))

        let reply = Message.reply(joinRef: .string("1"), ref: .string("22"), topic: "room", status: "ok", binary: data)
        XCTAssertEqual(try serializer.encode(reply), .binary([1, 1, 2, 4, 2] + Array("122roomok".utf8) + data))

        let broadcast = Message.broadcast(topic: "room", event: "ev", payload: .binary(data))
        XCTAssertEqual(try serializer.encode(broadcast), .binary([2, 4, 2] + Array("roomev".utf8) + data))

        // Phoenix writes refs with to_string/1: nil is empty, numbers are their digits.
        let oddRefs = Message.reply(joinRef: .null, ref: .integer(77), topic: "t", status: "error", binary: [])
        XCTAssertEqual(try serializer.encode(oddRefs), .binary([1, 0, 2, 1, 5] + Array("77terror".utf8)))
        let pushWithRef = Message(joinRef: .integer(5), ref: .string("9"), topic: "t", event: "e", payload: .binary([]))
        XCTAssertEqual(try serializer.encode(pushWithRef), .binary([0, 1, 1, 1] + Array("5te".utf8)))
    }

    func testEncodeThenDecodeAClientStylePush() throws {
        // What phoenix.js sends (kind 0 with a ref) decodes back to the same fields the server would echo.
        let frame: [UInt8] = [0, 1, 1, 4, 4] + Array("12pingecho".utf8) + [42]
        let message = try serializer.decodeBinary(frame)
        let answer = Message.reply(
            joinRef: message.joinRef, ref: message.ref, topic: message.topic, status: "ok", binary: [42])
        XCTAssertEqual(try serializer.encode(answer), .binary([1, 1, 1, 4, 2] + Array("12pingok".utf8) + [42]))
    }

    func testFieldsOver255BytesCannotBeEncoded() {
        let long = String(repeating: "x", count: 256)
        let cases: [(Message, String)] = [
            (
                .push(joinRef: .string("1"), topic: long, event: "e", payload: .binary([])),
                "binary frame: topic is 256 bytes, over the 255-byte limit"
            ),
            (
                .broadcast(topic: "t", event: long, payload: .binary([])),
                "binary frame: event is 256 bytes, over the 255-byte limit"
            ),
            (
                .push(joinRef: .string(long), topic: "t", event: "e", payload: .binary([])),
                "binary frame: join_ref is 256 bytes, over the 255-byte limit"
            ),
            (
                .reply(joinRef: .string("1"), ref: .string(long), topic: "t", status: "ok", binary: []),
                "binary frame: ref is 256 bytes, over the 255-byte limit"
            ),
            (
                .reply(joinRef: .string("1"), ref: .string("1"), topic: "t", status: long, binary: []),
                "binary frame: status is 256 bytes, over the 255-byte limit"
            ),
            (
                Message(joinRef: .string("1"), ref: .string("2"), topic: "t", event: "phx_reply", payload: .binary([])),
                "binary frame: a phx_reply with a binary payload needs a replyStatus"
            ),
        ]
        for (message, reason) in cases {
            XCTAssertEqual(encodingError(serializer, message)?.description, reason)
            var buffer: [UInt8] = [7, 7]
            XCTAssertThrowsError(try serializer.encode(message, into: &buffer))
            XCTAssertEqual(buffer, [7, 7], "a failed encode leaves the buffer as it was")
        }
        // Exactly 255 bytes is fine.
        let edge = Message.broadcast(topic: String(repeating: "t", count: 255), event: "e", payload: .binary([]))
        XCTAssertEqual(try serializer.encode(edge).bytes.prefix(3), [2, 255, 1])
    }
}
