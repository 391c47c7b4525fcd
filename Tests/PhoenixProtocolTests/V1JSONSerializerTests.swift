import XCTest

@testable import PhoenixProtocol

final class V1JSONSerializerTests: XCTestCase {
    let serializer = V1JSONSerializer()

    func testTranscriptExchange() throws {
        // vsn=1.0.0: objects in, objects without join_ref out.
        let join = try serializer.decodeText(
            #"{"topic":"ping","event":"phx_join","payload":{},"ref":"1","join_ref":"1"}"#)
        XCTAssertEqual(
            join,
            Message(
                joinRef: .string("1"), ref: .string("1"), topic: "ping", event: "phx_join", payload: .json(.emptyObject)
            ))
        let ping = try serializer.decodeText(
            #"{"topic":"ping","event":"ping","payload":{"ack_phrase":"hooray!"},"ref":"3"}"#)
        XCTAssertEqual(ping.joinRef, .null)
        XCTAssertEqual(ping.payload, .json(.object(["ack_phrase": .string("hooray!")])))
        let heartbeat = try serializer.decodeText(#"{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"4"}"#)
        XCTAssertEqual(heartbeat.topic, "phoenix")

        let replies: [(Message, String)] = [
            (
                .reply(joinRef: .string("1"), ref: .string("1"), topic: "ping", status: "ok", response: .emptyObject),
                #"{"event":"phx_reply","payload":{"response":{},"status":"ok"},"ref":"1","topic":"ping"}"#
            ),
            (
                .reply(
                    joinRef: .string("1"), ref: .string("3"), topic: "ping", status: "ok",
                    response: .object(["ping": .string("hooray!")])),
                #"{"event":"phx_reply","payload":{"response":{"ping":"hooray!"},"status":"ok"},"ref":"3","topic":"ping"}"#
            ),
            (
                .reply(joinRef: .null, ref: .string("4"), topic: "phoenix", status: "ok", response: .emptyObject),
                #"{"event":"phx_reply","payload":{"response":{},"status":"ok"},"ref":"4","topic":"phoenix"}"#
            ),
            (
                .reply(
                    joinRef: .string("5"), ref: .string("5"), topic: "wild:1:3", status: "error", response: .emptyObject
                ),
                #"{"event":"phx_reply","payload":{"response":{},"status":"error"},"ref":"5","topic":"wild:1:3"}"#
            ),
            (
                .broadcast(topic: "room", event: "shout", payload: .json(.object(["b": .integer(1), "a": .null]))),
                #"{"event":"shout","payload":{"a":null,"b":1},"ref":null,"topic":"room"}"#
            ),
            (
                .channelClose(joinRef: .string("1"), topic: "ping"),
                #"{"event":"phx_close","payload":{},"ref":"1","topic":"ping"}"#
            ),
        ]
        for (message, text) in replies {
            XCTAssertEqual(try serializer.encode(message), .text(Array(text.utf8)), text)
            // The server's own frames decode and re-encode byte for byte.
            let decoded = try serializer.decodeText(text)
            XCTAssertEqual(try serializer.encode(decoded).bytes, Array(text.utf8))
        }
    }

    func testNullRefAndOddRefsAreKept() throws {
        let message = try serializer.decodeText(#"{"ref":null,"topic":"t","event":"e","payload":[],"join_ref":7}"#)
        XCTAssertEqual(message.ref, .null)
        XCTAssertEqual(message.joinRef, .integer(7))
        XCTAssertEqual(
            try serializer.encode(message).bytes, Array(#"{"event":"e","payload":[],"ref":null,"topic":"t"}"#.utf8))
        let numeric = try serializer.decodeText(#"{"ref":12,"topic":"t","event":"e","payload":{},"extra":true}"#)
        XCTAssertEqual(numeric.ref, .integer(12))
    }

    func testDecodingErrors() {
        let notObject = "expected a JSON object: this socket uses the V1 serializer (vsn=1.0.0)"
        let cases: [(String, String)] = [
            (#"["1","1","ping","phx_join",{}]"#, notObject),
            ("42", notObject),
            ("not json", "invalid JSON at byte 0: unexpected character 'n'"),
            (#"{"event":"e","payload":{},"ref":"1"}"#, #"missing key "topic""#),
            (#"{"topic":"t","payload":{},"ref":"1"}"#, #"missing key "event""#),
            (#"{"topic":"t","event":"e","ref":"1"}"#, #"missing key "payload""#),
            (#"{"topic":"t","event":"e","payload":{}}"#, #"missing key "ref""#),
            (#"{"topic":1,"event":"e","payload":{},"ref":"1"}"#, "topic must be a string"),
            (#"{"topic":"t","event":null,"payload":{},"ref":"1"}"#, "event must be a string"),
        ]
        for (text, reason) in cases {
            XCTAssertEqual(textDecodingError(serializer, text)?.description, reason, text)
        }
        XCTAssertEqual(
            binaryDecodingError(serializer, [0, 0, 0, 1, 1, 0x74, 0x65])?.description,
            "binary frame: the V1 serializer (vsn=1.0.0) has no binary frames")
    }

    func testBinaryPayloadCannotBeEncoded() {
        let message = Message.push(joinRef: .string("1"), topic: "t", event: "bin", payload: .binary([1, 2, 3]))
        XCTAssertEqual(
            encodingError(serializer, message)?.description,
            #"the V1 serializer cannot send a binary payload (event "bin")"#)
        var buffer: [UInt8] = [9]
        XCTAssertThrowsError(try serializer.encode(message, into: &buffer))
        XCTAssertEqual(buffer, [9])
    }
}
