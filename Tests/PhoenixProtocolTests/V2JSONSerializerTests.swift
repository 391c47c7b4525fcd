import XCTest

@testable import PhoenixProtocol

final class V2JSONSerializerTests: XCTestCase {
    let serializer = V2JSONSerializer()

    /// Frames the server sends in the protocol transcripts (seed and protocol-*), verbatim.
    static let serverFrames = [
        #"["1","1","ping","phx_reply",{"response":{},"status":"ok"}]"#,
        #"["1","2","ping","phx_reply",{"response":{"ping":"pong"},"status":"ok"}]"#,
        #"["1","3","ping","phx_reply",{"response":{"ping":"hooray!"},"status":"ok"}]"#,
        #"["3","3","wild:1:3","phx_reply",{"response":{},"status":"error"}]"#,
        #"["5","5","wild:2:4:6","phx_reply",{"response":{},"status":"error"}]"#,
        #"[null,"9","phoenix","phx_reply",{"response":{},"status":"ok"}]"#,
        #"[null,"3","ping","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]"#,
        #"["1","1","ping","phx_close",{}]"#,
        #"["4","4","ping","phx_error",{}]"#,
        #"["1","2","ping","phx_reply",{"response":{"reason":"You asked for this!"},"status":"error"}]"#,
        #"["1","3","ping","phx_reply",{"response":{"arr":[1,2],"error":false},"status":"ok"}]"#,
        #"["1","2","ping","phx_reply",{"response":{"msg":"shutting down"},"status":"ok"}]"#,
        #"["4","4","wild:abc:def","phx_reply",{"response":{},"status":"error"}]"#,
    ]

    func testServerFramesDecodeAndReencodeByteForByte() throws {
        for text in Self.serverFrames {
            let message = try serializer.decodeText(text)
            let frame = try serializer.encode(message)
            XCTAssertEqual(frame, .text(Array(text.utf8)), text)
        }
    }

    func testClientFramesFromTranscripts() throws {
        let join = try serializer.decodeText(#"["1","3","wild:1:3","phx_join",{}]"#)
        XCTAssertEqual(
            join,
            Message(
                joinRef: .string("1"), ref: .string("3"), topic: "wild:1:3", event: "phx_join",
                payload: .json(.emptyObject)))
        let heartbeat = try serializer.decodeText(#"[null,"10","phoenix","heartbeat",{}]"#)
        XCTAssertEqual(heartbeat.joinRef, .null)
        XCTAssertEqual(heartbeat.ref, .string("10"))
        XCTAssertEqual(heartbeat.event, "heartbeat")
        let param = try serializer.decodeText(#"["1","3","ping","param_ping",{"error":false,"arr":[1,2]}]"#)
        XCTAssertEqual(
            param.payload, .json(.object(["error": .bool(false), "arr": .array([.integer(1), .integer(2)])])))
        let colon = try serializer.decodeText(#"["1","4","ping","ping:hooray!",{}]"#)
        XCTAssertEqual(colon.event, "ping:hooray!")
        // Re-encoding a client frame sorts the payload's keys and changes nothing else.
        XCTAssertEqual(
            try serializer.encode(param).bytes,
            Array(#"["1","3","ping","param_ping",{"arr":[1,2],"error":false}]"#.utf8))
    }

    func testBuildersProduceTranscriptFrames() throws {
        let cases: [(Message, String)] = [
            (
                .reply(
                    joinRef: .string("3"), ref: .string("3"), topic: "wild:1:3", status: "error", response: .emptyObject
                ),
                #"["3","3","wild:1:3","phx_reply",{"response":{},"status":"error"}]"#
            ),
            (
                .reply(
                    joinRef: .null, ref: .string("5"), topic: "ping", status: "error",
                    response: .object(["reason": .string("unmatched topic")])),
                #"[null,"5","ping","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]"#
            ),
            (.channelClose(joinRef: .string("1"), topic: "ping"), #"["1","1","ping","phx_close",{}]"#),
            (.channelError(joinRef: .string("4"), topic: "ping"), #"["4","4","ping","phx_error",{}]"#),
            (
                .push(
                    joinRef: .string("2"), topic: "room:1", event: "new_msg",
                    payload: .json(.object(["n": .integer(1)]))),
                #"["2",null,"room:1","new_msg",{"n":1}]"#
            ),
            (
                .broadcast(topic: "room:1", event: "shout", payload: .json(.array([.double(0.5)]))),
                #"[null,null,"room:1","shout",[0.5]]"#
            ),
        ]
        for (message, text) in cases {
            XCTAssertEqual(try serializer.encode(message), .text(Array(text.utf8)), text)
        }
    }

    func testRefsOfAnyTypeAreEchoedExactly() throws {
        let frames = [
            #"[1,2,"t","e",{}]"#,
            #"[null,null,"t","e",{}]"#,
            #"[-7,"x","t","e",{}]"#,
            #"[true,false,"t","e",{}]"#,
            #"[1.5,1.0e-7,"t","e",{}]"#,
            #"[{"a":1},[1,"2"],"t","e",{}]"#,
            #"["","\u0000é","t","e",{}]"#,
        ]
        for text in frames {
            let message = try serializer.decodeText(text)
            XCTAssertEqual(try serializer.encode(message).bytes, Array(text.utf8), text)
        }
        let message = try serializer.decodeText(#"[42,9007199254740993,"t","e",null]"#)
        XCTAssertEqual(message.joinRef, .integer(42))
        XCTAssertEqual(message.ref, .integer(9_007_199_254_740_993))
        XCTAssertEqual(message.payload, .json(.null))
        let reply = Message.reply(
            joinRef: message.joinRef, ref: message.ref, topic: "t", status: "ok", response: .emptyObject)
        XCTAssertEqual(
            try serializer.encode(reply).bytes,
            Array(#"[42,9007199254740993,"t","phx_reply",{"response":{},"status":"ok"}]"#.utf8))
    }

    func testExtraElementsAreIgnoredAndPayloadIsAnyJSON() throws {
        let message = try serializer.decodeText(#" ["1", "2", "t", "e", [1, 2], "extra", {"x": 1}] "#)
        XCTAssertEqual(message.payload, .json(.array([.integer(1), .integer(2)])))
        XCTAssertEqual(try serializer.decodeText(#"["1","2","t","e","text"]"#).payload, .json(.string("text")))
        XCTAssertEqual(try serializer.decodeText(#"["1","2","t","e",3.5]"#).payload, .json(.double(3.5)))
    }

    func testDecodingErrors() {
        let shape = "expected a JSON array of 5 elements [join_ref, ref, topic, event, payload]"
        let cases: [(String, String)] = [
            ("this is not json", "invalid JSON at byte 0: unexpected character 't'"),
            (#"["1","1","ping","phx_join"]"#, shape),
            (#"{"topic":"ping","event":"phx_join","payload":{},"ref":"1"}"#, shape),
            ("[]", shape),
            (#""str""#, shape),
            (#"["1","1",5,"phx_join",{}]"#, "topic must be a string"),
            (#"["1","1",null,"phx_join",{}]"#, "topic must be a string"),
            (#"["1","1","ping",["x"],{}]"#, "event must be a string"),
            (#"["1","1","ping","phx_join",{}"#, "invalid JSON at byte 29: unexpected end of input"),
            (#"["1","1","ping","phx_join",{}] x"#, "invalid JSON at byte 31: unexpected character 'x'"),
            ("", "invalid JSON at byte 0: unexpected end of input"),
        ]
        for (text, reason) in cases {
            let error = textDecodingError(serializer, text)
            XCTAssertEqual(error?.description, reason, text)
            XCTAssertLessThanOrEqual(error?.closeReason.utf8.count ?? 0, 123)
        }
        XCTAssertEqual(textDecodingError(serializer, "nope")?.jsonError?.offset, 0)
        let deep =
            "[\"1\",\"1\",\"t\",\"e\"," + String(repeating: "[", count: 200) + String(repeating: "]", count: 200) + "]"
        XCTAssertEqual(
            textDecodingError(serializer, deep)?.description, "invalid JSON at byte 144: nesting deeper than 128")
        XCTAssertNil(textDecodingError(V2JSONSerializer(parser: JSONParser(maxDepth: 300)), deep))
    }

    func testEncodeIntoReusedBufferAndFailureLeavesBufferUntouched() throws {
        var buffer: [UInt8] = Array("keep".utf8)
        let kind = try serializer.encode(.channelClose(joinRef: .string("1"), topic: "a"), into: &buffer)
        XCTAssertEqual(kind, .text)
        XCTAssertEqual(String(decoding: buffer, as: UTF8.self), #"keep["1","1","a","phx_close",{}]"#)
        buffer = Array("keep".utf8)
        let bad = Message.push(joinRef: .string("1"), topic: "a", event: "e", payload: .json(.array([.double(.nan)])))
        XCTAssertThrowsError(try serializer.encode(bad, into: &buffer))
        XCTAssertEqual(buffer, Array("keep".utf8))
    }
}
