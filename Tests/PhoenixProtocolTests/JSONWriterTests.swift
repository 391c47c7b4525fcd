import XCTest

@testable import PhoenixProtocol

final class JSONWriterTests: XCTestCase {
    func testScalarsAndContainers() {
        XCTAssertEqual(encoded(.null), "null")
        XCTAssertEqual(encoded(.bool(true)), "true")
        XCTAssertEqual(encoded(.bool(false)), "false")
        XCTAssertEqual(encoded(.integer(0)), "0")
        XCTAssertEqual(encoded(.integer(7)), "7")
        XCTAssertEqual(encoded(.integer(-7)), "-7")
        XCTAssertEqual(encoded(.integer(1_234_567_890)), "1234567890")
        XCTAssertEqual(encoded(.integer(Int64.max)), "9223372036854775807")
        XCTAssertEqual(encoded(.integer(Int64.min)), "-9223372036854775808")
        XCTAssertEqual(encoded(.array([])), "[]")
        XCTAssertEqual(encoded(.emptyObject), "{}")
        XCTAssertEqual(encoded(.array([.integer(1), .string("a"), .null, .array([])])), #"[1,"a",null,[]]"#)
    }

    func testObjectKeysAreSortedByBytes() {
        let value = JSONValue.object([
            "status": .string("ok"), "response": .emptyObject, "b": .integer(2), "a": .integer(1),
            "B": .integer(0), "é": .integer(3), "z": .integer(4), "aa": .integer(5),
        ])
        XCTAssertEqual(encoded(value), #"{"B":0,"a":1,"aa":5,"b":2,"response":{},"status":"ok","z":4,"é":3}"#)
        XCTAssertEqual(encoded(.object(["only": .array([.bool(true)])])), #"{"only":[true]}"#)
        // Nested objects are sorted too.
        XCTAssertEqual(
            encoded(json(#"{"y":{"d":1,"c":2},"x":[{"b":1,"a":2}]}"#)),
            #"{"x":[{"a":2,"b":1}],"y":{"c":2,"d":1}}"#)
    }

    func testEscapesLikeJason() {
        // Jason's escape_json: short escapes for \b \t \n \f \r \" \\; other controls as \u00XX, uppercase hex.
        XCTAssertEqual(encoded(.string("\u{8}\t\n\u{C}\r\"\\")), #""\b\t\n\f\r\"\\""#)
        XCTAssertEqual(encoded(.string("\u{0}\u{1}\u{B}\u{E}\u{1A}\u{1F}")), #""\u0000\u0001\u000B\u000E\u001A\u001F""#)
        // Not escaped: "/", DEL, non-ASCII, U+2028/U+2029 (only Jason's javascript_safe mode escapes those).
        XCTAssertEqual(encoded(.string("a/b\u{7F}é€😀\u{2028}\u{2029}")), "\"a/b\u{7F}é€😀\u{2028}\u{2029}\"")
        XCTAssertEqual(encoded(.string("")), #""""#)
        XCTAssertEqual(encoded(.object(["k\"\n": .string("v")])), #"{"k\"\n":"v"}"#)
    }

    func testFloatsLikeErlangShort() {
        // :erlang.float_to_binary(f, [:short]) layouts, as Jason writes them.
        let cases: [(Double, String)] = [
            (1.0, "1.0"), (0.1, "0.1"), (100.0, "100.0"), (1.0e21, "1.0e21"), (1.0e-7, "1.0e-7"),
            (-0.0, "-0.0"), (0.0, "0.0"), (-1.5, "-1.5"), (0.3, "0.3"), (2.5, "2.5"), (12.0, "12.0"),
            (120.0, "120.0"), (1000.0, "1.0e3"), (1200.0, "1.2e3"), (1234.5, "1234.5"), (10000.0, "1.0e4"),
            (12345678.0, "12345678.0"), (123456789012.0, "123456789012.0"), (0.001, "0.001"),
            (0.0001, "1.0e-4"), (0.00012, "1.2e-4"), (0.0123, "0.0123"), (1.5e-5, "1.5e-5"),
            (123.456, "123.456"), (1.0 / 3.0, "0.3333333333333333"), (2.0 / 3.0, "0.6666666666666666"),
            (9_007_199_254_740_991.0, "9007199254740991.0"), (9_007_199_254_740_992.0, "9.007199254740992e15"),
            (1.0e16, "1.0e16"), (1.7976931348623157e308, "1.7976931348623157e308"),
            (.leastNonzeroMagnitude, "5.0e-324"),
            (2.2250738585072014e-308, "2.2250738585072014e-308"), (-1.0e100, "-1.0e100"), (3.14, "3.14"),
            (1.0e-10, "1.0e-10"), (123e-20, "1.23e-18"), (4.35, "4.35"), (0.5, "0.5"), (99.99, "99.99"),
        ]
        for (value, text) in cases {
            XCTAssertEqual(encoded(.double(value)), text, "\(value)")
        }
    }

    func testNonFiniteDoublesThrow() {
        for value in [Double.nan, .infinity, -.infinity] {
            XCTAssertThrowsError(try JSONWriter.encode(.array([.double(value)]))) { error in
                XCTAssertTrue(error is JSONWriteError)
            }
        }
    }

    func testWritesIntoAReusedBuffer() throws {
        var buffer: [UInt8] = Array("prefix:".utf8)
        try JSONWriter.write(.array([.integer(1)]), into: &buffer)
        XCTAssertEqual(String(decoding: buffer, as: UTF8.self), "prefix:[1]")
        buffer.removeAll(keepingCapacity: true)
        try JSONWriter.write(.string("x"), into: &buffer)
        XCTAssertEqual(String(decoding: buffer, as: UTF8.self), #""x""#)
    }

    func testReencodesCanonicalJSONByteForByte() {
        let texts = [
            #"{"response":{"arr":[1,2],"error":false},"status":"ok"}"#,
            #"[null,"9","phoenix","phx_reply",{"response":{},"status":"ok"}]"#,
            #"{"a":[1.5,-2,1.0e-7,true,null,"\u001F\n"],"b":{}}"#,
        ]
        for text in texts {
            XCTAssertEqual(encoded(json(text)), text)
        }
    }

    /// A reply's payload written directly is byte for byte the object `Message.reply` builds, written.
    func testReplyPayloadIsTheReplyObjectWritten() throws {
        let responses: [JSONValue] = [
            .emptyObject, .object(["ping": .string("hooray!")]), .null, .array([.integer(1), .double(0.5)]),
            .object(["reason": .string("unmatched topic"), "z": .object(["a\u{1}": .bool(true)])]),
        ]
        for status in ["ok", "error", "weird \"status\""] {
            for response in responses {
                var direct: [UInt8] = []
                try JSONWriter.writeReplyPayload(status: status, response: response, into: &direct)
                let built = Message.reply(joinRef: .null, ref: .string("1"), topic: "t", status: status, response: response)
                guard case .json(let payload) = built.payload else { return XCTFail("reply payload is not JSON") }
                XCTAssertEqual(String(decoding: direct, as: UTF8.self), try JSONWriter.encodeToString(payload))
            }
        }
        var failing: [UInt8] = []
        XCTAssertThrowsError(try JSONWriter.writeReplyPayload(status: "ok", response: .double(.nan), into: &failing))
    }
}
