import XCTest

@testable import PhoenixProtocol

final class JSONParserTests: XCTestCase {
    func testScalars() throws {
        let parser = JSONParser()
        XCTAssertEqual(try parser.parse("null"), .null)
        XCTAssertEqual(try parser.parse("true"), .bool(true))
        XCTAssertEqual(try parser.parse("false"), .bool(false))
        XCTAssertEqual(try parser.parse(#""hi""#), .string("hi"))
        XCTAssertEqual(try parser.parse(" \t\r\n 42 \n"), .integer(42))
        XCTAssertEqual(try parser.parse("[]"), .array([]))
        XCTAssertEqual(try parser.parse("{}"), .emptyObject)
        XCTAssertEqual(try parser.parse([UInt8]("[1, 2]".utf8)), .array([.integer(1), .integer(2)]))
    }

    func testNestedStructures() {
        let value = json(#"{"a":[1,{"b":null}],"c":{"d":[true,false,"x"]}}"#)
        XCTAssertEqual(
            value,
            .object([
                "a": .array([.integer(1), .object(["b": .null])]),
                "c": .object(["d": .array([.bool(true), .bool(false), .string("x")])]),
            ]))
    }

    func testNumbers() {
        XCTAssertEqual(json("0"), .integer(0))
        XCTAssertEqual(json("-0"), .integer(0))
        XCTAssertEqual(json("-17"), .integer(-17))
        XCTAssertEqual(json("9223372036854775807"), .integer(Int64.max))
        XCTAssertEqual(json("-9223372036854775808"), .integer(Int64.min))
        // Past Int64 an integer becomes a double (Jason would keep a bignum; we cannot).
        XCTAssertEqual(json("9223372036854775808"), .double(9_223_372_036_854_775_808.0))
        XCTAssertEqual(json("-9223372036854775809"), .double(-9_223_372_036_854_775_809.0))
        XCTAssertEqual(json("123456789012345678901234567890"), .double(1.2345678901234568e29))
        // Fractions and exponents are always doubles, as in Jason: 1.0 stays 1.0.
        XCTAssertEqual(json("1.0"), .double(1.0))
        XCTAssertEqual(json("1e2"), .double(100.0))
        XCTAssertEqual(json("1E+2"), .double(100.0))
        XCTAssertEqual(json("-2.5e-3"), .double(-0.0025))
        XCTAssertEqual(json("0.1"), .double(0.1))
        XCTAssertEqual(json("1e-400"), .double(0.0))
        XCTAssertEqual(json("2.2250738585072011e-308"), .double(Double(bitPattern: 0x000F_FFFF_FFFF_FFFF)))
    }

    func testInvalidNumbers() {
        XCTAssertEqual(parseError("01")?.description, "invalid JSON at byte 1: unexpected character '1'")
        XCTAssertEqual(parseError("-")?.description, "invalid JSON at byte 1: unexpected end of input")
        XCTAssertEqual(parseError("-a")?.description, "invalid JSON at byte 1: unexpected character 'a'")
        XCTAssertEqual(parseError("1.")?.description, "invalid JSON at byte 2: unexpected end of input")
        XCTAssertEqual(parseError("1.e3")?.description, "invalid JSON at byte 2: unexpected character 'e'")
        XCTAssertEqual(parseError("1e")?.description, "invalid JSON at byte 2: unexpected end of input")
        XCTAssertEqual(parseError("1e+")?.description, "invalid JSON at byte 3: unexpected end of input")
        XCTAssertEqual(parseError("+1")?.description, "invalid JSON at byte 0: unexpected character '+'")
        XCTAssertEqual(parseError(".5")?.description, "invalid JSON at byte 0: unexpected character '.'")
        XCTAssertEqual(parseError("1e400")?.description, "invalid JSON at byte 0: number out of range")
        XCTAssertEqual(parseError("[-1e999]")?.description, "invalid JSON at byte 1: number out of range")
        XCTAssertNotNil(parseError("NaN"))
        XCTAssertNotNil(parseError("Infinity"))
    }

    func testEscapes() {
        XCTAssertEqual(json(#""a\"b\\c\/d\be\ff\ng\rh\ti""#), .string("a\"b\\c/d\u{8}e\u{C}f\ng\rh\ti"))
        XCTAssertEqual(json(#""\u0041\u00e9\u20AC""#), .string("Aé€"))
        XCTAssertEqual(json(#""\u0000""#), .string("\u{0}"))
        // A UTF-16 surrogate pair is one scalar.
        XCTAssertEqual(json(#""\uD83D\uDE00 ok""#), .string("😀 ok"))
        XCTAssertEqual(json(#""x\ud834\udd1e""#), .string("x𝄞"))
        // Raw UTF-8 before and after an escape.
        XCTAssertEqual(json(#""é\n😀""#), .string("é\n😀"))
    }

    func testInvalidStrings() {
        XCTAssertEqual(parseError(#""\uD800""#)?.reason, "lone surrogate in \\u escape")
        XCTAssertEqual(parseError(#""\uD800\u0041""#)?.reason, "lone surrogate in \\u escape")
        XCTAssertEqual(parseError(#""\uDC00""#)?.description, "invalid JSON at byte 1: lone surrogate in \\u escape")
        XCTAssertEqual(parseError(#""\u12G4""#)?.description, "invalid JSON at byte 5: invalid \\u escape")
        XCTAssertEqual(parseError(#""\x""#)?.description, "invalid JSON at byte 1: invalid escape")
        XCTAssertEqual(parseError(#""\u12"#)?.reason, "unterminated string")
        XCTAssertEqual(parseError(#""abc"#)?.description, "invalid JSON at byte 4: unterminated string")
        XCTAssertEqual(
            parseError("\"a\tb\"")?.description, "invalid JSON at byte 2: unescaped control character in string")
        XCTAssertEqual(parseError("\"a\\n\nb\"")?.reason, "unescaped control character in string")
    }

    func testInvalidUTF8InStrings() throws {
        let cases: [([UInt8], Int)] = [
            ([0x22, 0x61, 0xFF, 0x22], 2),  // never valid
            ([0x22, 0xC3, 0x22], 1),  // truncated sequence
            ([0x22, 0xC0, 0xAF, 0x22], 1),  // overlong "/"
            ([0x22, 0xED, 0xA0, 0x80, 0x22], 1),  // UTF-8-encoded surrogate
            ([0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], 1),  // above U+10FFFF
            ([0x22, 0x5C, 0x6E, 0x61, 0x80, 0x22], 4),  // after an escape: the slow path
        ]
        for (bytes, offset) in cases {
            XCTAssertThrowsError(try JSONParser().parse(bytes), "\(bytes)") { error in
                XCTAssertEqual(
                    error as? JSONParseError, JSONParseError(offset: offset, reason: "invalid UTF-8 in string"))
            }
        }
        // Valid multi-byte sequences of every width.
        let valid: [UInt8] = [0x22, 0x24, 0xC2, 0xA2, 0xE2, 0x82, 0xAC, 0xF0, 0x90, 0x8D, 0x88, 0x22]
        XCTAssertEqual(try JSONParser().parse(valid), .string("$¢€𐍈"))
    }

    func testStructuralErrors() {
        XCTAssertEqual(parseError("")?.description, "invalid JSON at byte 0: unexpected end of input")
        XCTAssertEqual(parseError("   ")?.description, "invalid JSON at byte 3: unexpected end of input")
        XCTAssertEqual(parseError("this is not json")?.description, "invalid JSON at byte 0: unexpected character 't'")
        XCTAssertEqual(parseError("nul")?.description, "invalid JSON at byte 3: unexpected end of input")
        XCTAssertEqual(parseError("[1,]")?.description, "invalid JSON at byte 3: unexpected character ']'")
        XCTAssertEqual(parseError("[1 2]")?.description, "invalid JSON at byte 3: unexpected character '2'")
        XCTAssertEqual(parseError("[1")?.description, "invalid JSON at byte 2: unexpected end of input")
        XCTAssertEqual(parseError("{\"a\" 1}")?.description, "invalid JSON at byte 5: unexpected character '1'")
        XCTAssertEqual(parseError("{\"a\":1,}")?.description, "invalid JSON at byte 7: unexpected character '}'")
        XCTAssertEqual(parseError("{a:1}")?.description, "invalid JSON at byte 1: unexpected character 'a'")
        XCTAssertEqual(parseError("{'a':1}")?.description, "invalid JSON at byte 1: unexpected byte 0x27")
        XCTAssertEqual(parseError("{} x")?.description, "invalid JSON at byte 3: unexpected character 'x'")
        XCTAssertEqual(parseError("1 2")?.description, "invalid JSON at byte 2: unexpected character '2'")
        XCTAssertEqual(parseError("[1]\u{0}")?.description, "invalid JSON at byte 3: unexpected byte 0x00")
        XCTAssertEqual(parseError("\u{FEFF}1")?.description, "invalid JSON at byte 0: unexpected byte 0xEF")
        XCTAssertEqual(parseError("[1]//")?.reason, "unexpected character '/'")
        XCTAssertEqual(parseError("\u{C}1")?.reason, "unexpected byte 0x0C")
    }

    func testDuplicateKeysLastWins() {
        XCTAssertEqual(json(#"{"a":1,"b":2,"a":3}"#), .object(["a": .integer(3), "b": .integer(2)]))
    }

    func testDepthLimit() {
        let ok = String(repeating: "[", count: 128) + String(repeating: "]", count: 128)
        XCTAssertNil(parseError(ok))
        let deep = String(repeating: "[", count: 129) + String(repeating: "]", count: 129)
        XCTAssertEqual(parseError(deep)?.description, "invalid JSON at byte 128: nesting deeper than 128")
        let objects = String(repeating: #"{"a":"#, count: 129) + "1" + String(repeating: "}", count: 129)
        XCTAssertEqual(parseError(objects)?.reason, "nesting deeper than 128")
        XCTAssertEqual(parseError("[[[]]]", maxDepth: 2)?.description, "invalid JSON at byte 2: nesting deeper than 2")
        XCTAssertNil(parseError("[[1]]", maxDepth: 2))
        // Far past the limit: an error, not a stack overflow.
        XCTAssertEqual(parseError(String(repeating: "[", count: 100_000))?.reason, "nesting deeper than 128")
    }

    func testParsesFromRawBufferSlice() throws {
        let bytes: [UInt8] = Array("xx[1,\"b\"]yy".utf8)
        let value = try bytes.withUnsafeBytes { raw in
            try JSONParser().parse(UnsafeRawBufferPointer(rebasing: raw[2..<9]))
        }
        XCTAssertEqual(value, .array([.integer(1), .string("b")]))
    }
}
