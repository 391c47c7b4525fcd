import PhoenixProtocol
@testable import Tokens
import XCTest

/// The term codec: each shape as `term_to_binary` writes it, the older encodings `binary_to_term` still
/// reads, what is refused, the bounds, and the JSON mapping.
final class ErlangTermFormatTests: XCTestCase {
    /// Shapes whose bytes are exactly what `term_to_binary` (OTP 26+) writes: we decode them to the term
    /// and encode the term back to the same bytes.
    static let shapes: [(name: String, term: ErlangTerm, hex: String)] = [
        ("small integer", .integer(42), "83 61 2a"),
        ("zero", .integer(0), "83 61 00"),
        ("255", .integer(255), "83 61 ff"),
        ("256 (32-bit)", .integer(256), "83 62 00 00 01 00"),
        ("-1 (32-bit)", .integer(-1), "83 62 ff ff ff ff"),
        ("Int32.max", .integer(2_147_483_647), "83 62 7f ff ff ff"),
        ("Int32.min", .integer(-2_147_483_648), "83 62 80 00 00 00"),
        ("2^31 (small big)", .integer(2_147_483_648), "83 6e 04 00 00 00 00 80"),
        ("-2^31 - 1 (small big)", .integer(-2_147_483_649), "83 6e 04 01 01 00 00 80"),
        ("milliseconds (small big)", .integer(1_795_000_000_000), "83 6e 06 00 00 5e 56 ee a1 01"),
        ("Int64.max", .integer(.max), "83 6e 08 00 ff ff ff ff ff ff ff 7f"),
        ("Int64.min", .integer(.min), "83 6e 08 01 00 00 00 00 00 00 00 80"),
        ("2^64 (big)", .bigInteger(negative: false, magnitude: [0, 0, 0, 0, 0, 0, 0, 0, 1]),
         "83 6e 09 00 00 00 00 00 00 00 00 00 01"),
        ("-2^64 (big)", .bigInteger(negative: true, magnitude: [0, 0, 0, 0, 0, 0, 0, 0, 1]),
         "83 6e 09 01 00 00 00 00 00 00 00 00 01"),
        ("float", .float(1.5), "83 46 3f f8 00 00 00 00 00 00"),
        ("negative float", .float(-0.1), "83 46 bf b9 99 99 99 99 99 9a"),
        ("atom nil", .atom("nil"), "83 77 03 6e 69 6c"),
        ("atom true", .atom("true"), "83 77 04 74 72 75 65"),
        ("atom with UTF-8", .atom("é"), "83 77 02 c3 a9"),
        ("binary", .string("ana"), "83 6d 00 00 00 03 61 6e 61"),
        ("empty binary", .binary([]), "83 6d 00 00 00 00"),
        ("empty list", .list([]), "83 6a"),
        ("list of bytes (string)", .list([.integer(1), .integer(2), .integer(3)]), "83 6b 00 03 01 02 03"),
        ("list", .list([.integer(1), .string("a")]), "83 6c 00 00 00 02 61 01 6d 00 00 00 01 61 6a"),
        ("list with a big element", .list([.integer(256)]), "83 6c 00 00 00 01 62 00 00 01 00 6a"),
        ("empty tuple", .tuple([]), "83 68 00"),
        ("pair", .tuple([.integer(1), .atom("ok")]), "83 68 02 61 01 77 02 6f 6b"),
        ("empty map", .map([]), "83 74 00 00 00 00"),
        ("map", .map([.init(.string("a"), .integer(1)), .init(.atom("b"), .list([]))]),
         "83 74 00 00 00 02 6d 00 00 00 01 61 61 01 77 01 62 6a"),
        ("nesting", .tuple([.list([.map([.init(.string("k"), .tuple([]))])])]),
         "83 68 01 6c 00 00 00 01 74 00 00 00 01 6d 00 00 00 01 6b 68 00 6a"),
    ]

    func testShapesDecodeAndEncodeAsErlangDoes() throws {
        for shape in Self.shapes {
            let bytes = hex(shape.hex)
            XCTAssertEqual(try ErlangTermFormat.decode(bytes), shape.term, shape.name)
            XCTAssertEqual(ErlangTermFormat.encode(shape.term), bytes, shape.name)
        }
    }

    func testLargeTuplesAndBigsRoundTrip() throws {
        let tuple = ErlangTerm.tuple((0..<300).map { .integer(Int64($0)) })
        let encoded = ErlangTermFormat.encode(tuple)
        XCTAssertEqual(Array(encoded.prefix(6)), [131, 105, 0, 0, 1, 44])  // LARGE_TUPLE_EXT, arity 300
        XCTAssertEqual(try ErlangTermFormat.decode(encoded), tuple)
        let big = ErlangTerm.bigInteger(negative: true, magnitude: [UInt8](repeating: 7, count: 300))
        let bigBytes = ErlangTermFormat.encode(big)
        XCTAssertEqual(Array(bigBytes.prefix(7)), [131, 111, 0, 0, 1, 44, 1])  // LARGE_BIG_EXT, 300 digits, negative
        XCTAssertEqual(try ErlangTermFormat.decode(bigBytes), big)
        let bytes = ErlangTerm.list((0..<70_000).map { .integer(Int64($0 % 256)) })
        XCTAssertEqual(ErlangTermFormat.encode(bytes)[1], 108, "a list of bytes longer than 65535 is a LIST_EXT")
        XCTAssertEqual(try ErlangTermFormat.decode(ErlangTermFormat.encode(bytes), limits: .init(maxBytes: 1 << 20)), bytes)
    }

    /// Encodings Erlang reads and older writers (or other options) produce; we read them too.
    func testOtherEncodingsDecode() throws {
        let cases: [(String, String, ErlangTerm)] = [
            ("ATOM_EXT (Latin-1)", "83 64 00 04 74 72 75 65", .atom("true")),
            ("ATOM_EXT with a Latin-1 byte", "83 64 00 01 e9", .atom("é")),
            ("SMALL_ATOM_EXT", "83 73 03 6e 69 6c", .atom("nil")),
            ("ATOM_UTF8_EXT", "83 76 00 02 6f 6b", .atom("ok")),
            ("LIST_EXT of bytes", "83 6c 00 00 00 02 61 01 61 02 6a", .list([.integer(1), .integer(2)])),
            ("LARGE_TUPLE_EXT", "83 69 00 00 00 01 61 07", .tuple([.integer(7)])),
            ("LARGE_BIG_EXT that fits", "83 6f 00 00 00 02 00 01 01", .integer(257)),
            ("small big with high zero digits", "83 6e 03 00 05 00 00", .integer(5)),
            ("negative zero big", "83 6e 01 01 00", .integer(0)),
            ("FLOAT_EXT", "83 63" + ascii31("1.50000000000000000000e+00"), .float(1.5)),
        ]
        for (name, bytes, term) in cases {
            XCTAssertEqual(try ErlangTermFormat.decode(hex(bytes)), term, name)
        }
    }

    func testRefusesTermsWithoutAJSONMeaningAndBrokenInput() {
        let cases: [(String, String, ErlangTermFormat.DecodingError)] = [
            ("pid", "83 58 77 01 61 00 00 00 01 00 00 00 00 00 00 00 00", .unsupportedTag(88, offset: 1)),
            ("reference", "83 5a 00 01 77 01 61 00 00 00 00 00 00 00 00", .unsupportedTag(90, offset: 1)),
            ("port", "83 59 77 01 61 00 00 00 01 00 00 00 00", .unsupportedTag(89, offset: 1)),
            ("fun", "83 70 00 00 00 10", .unsupportedTag(112, offset: 1)),
            ("export", "83 71 77 01 6d 77 01 66 61 01", .unsupportedTag(113, offset: 1)),
            ("bit string", "83 4d 00 00 00 01 03 80", .unsupportedTag(77, offset: 1)),
            ("compressed", "83 50 00 00 00 02 78 9c", .unsupportedTag(80, offset: 1)),
            ("improper list [1 | 2]", "83 6c 00 00 00 01 61 01 61 02", .improperList(offset: 8)),
            ("pid inside a tuple", "83 68 02 61 01 58", .unsupportedTag(88, offset: 5)),
            ("not version 131", "82 61 01", .badVersion),
            ("empty", "", .badVersion),
            ("trailing bytes", "83 61 01 00", .trailingBytes(offset: 3)),
            ("truncated binary", "83 6d 00 00 00 05 61 62", .truncated(offset: 6)),
            ("truncated integer", "83 62 00 00", .truncated(offset: 2)),
            ("list claiming 4 billion elements", "83 6c ff ff ff ff 6a", .truncated(offset: 2)),
            ("map claiming more pairs than bytes", "83 74 00 00 00 03 61 01 61 02 61", .truncated(offset: 2)),
            ("atom that is not UTF-8", "83 77 01 ff", .badAtom(offset: 1)),
            ("FLOAT_EXT that is not a number", "83 63" + ascii31("one point five"), .badFloat(offset: 1)),
            ("FLOAT_EXT infinity", "83 63" + ascii31("inf"), .badFloat(offset: 1)),
            // fuzz-erlang-terms found it: a NaN (NaN != NaN broke the round trip); Erlang refuses NaN and infinity.
            ("NEW_FLOAT_EXT NaN", "83 46 ff ff ff ff ff ff ff 1f", .badFloat(offset: 1)),
            ("NEW_FLOAT_EXT infinity", "83 46 7f f0 00 00 00 00 00 00", .badFloat(offset: 1)),
        ]
        for (name, bytes, error) in cases {
            XCTAssertThrowsError(try ErlangTermFormat.decode(hex(bytes)), name) {
                XCTAssertEqual($0 as? ErlangTermFormat.DecodingError, error, name)
            }
        }
    }

    func testEveryTruncationFails() throws {
        for shape in Self.shapes {
            let bytes = hex(shape.hex)
            for length in 0..<bytes.count {
                XCTAssertThrowsError(try ErlangTermFormat.decode(Array(bytes.prefix(length))), "\(shape.name) cut at \(length)")
            }
        }
    }

    func testDepthAndSizeAreBounded() {
        func nested(_ depth: Int) -> [UInt8] {
            [131] + [UInt8](repeating: 0, count: depth).flatMap { _ in [104, 1] as [UInt8] } + [106]  // {{{…[]…}}}
        }
        XCTAssertNoThrow(try ErlangTermFormat.decode(nested(128)))
        XCTAssertThrowsError(try ErlangTermFormat.decode(nested(129))) {
            XCTAssertEqual($0 as? ErlangTermFormat.DecodingError, .tooDeep(offset: 257))
        }
        XCTAssertThrowsError(try ErlangTermFormat.decode(nested(100_000), limits: .init(maxBytes: 1 << 20))) {
            guard case .tooDeep? = $0 as? ErlangTermFormat.DecodingError else { return XCTFail("\($0)") }
        }
        let large = ErlangTermFormat.encode(.binary([UInt8](repeating: 1, count: 70_000)))
        XCTAssertThrowsError(try ErlangTermFormat.decode(large)) {
            XCTAssertEqual($0 as? ErlangTermFormat.DecodingError, .tooLarge)
        }
    }

    // MARK: - JSON

    func testTermsBecomeJSON() throws {
        let cases: [(ErlangTerm, JSONValue)] = [
            (.integer(-7), .integer(-7)),
            (.bigInteger(negative: true, magnitude: [0, 0, 0, 0, 0, 0, 0, 0, 1]), .double(-18_446_744_073_709_551_616)),
            (.float(2.5), .double(2.5)),
            (.atom("nil"), .null),
            (.atom("true"), .bool(true)),
            (.atom("false"), .bool(false)),
            (.atom("admin"), .string("admin")),
            (.string("ana ✓"), .string("ana ✓")),
            (.tuple([.integer(1), .atom("ok")]), .array([.integer(1), .string("ok")])),
            (.list([]), .array([])),
            (.map([.init(.atom("user_id"), .integer(7)), .init(.string("name"), .string("ana"))]),
             .object(["user_id": .integer(7), "name": .string("ana")])),
            (.map([.init(.atom("nil"), .integer(1))]), .object(["nil": .integer(1)])),
        ]
        for (term, json) in cases {
            XCTAssertEqual(term.json, json, "\(term)")
        }
        // 2^69 + 2^16 + 1 lies just above halfway between two doubles: rounded once, it is 2^69 + 2^17
        // (byte by byte multiply-and-add would round twice and give 2^69).
        let aboveHalfway = ErlangTerm.bigInteger(negative: false, magnitude: [1, 0, 1, 0, 0, 0, 0, 0, 32])
        XCTAssertEqual(aboveHalfway.json, .double(0x1p69 + 0x1p17))
    }

    func testTermsWithoutJSONAreNil() {
        let cases: [ErlangTerm] = [
            .binary([0xff, 0xfe]),
            .map([.init(.integer(1), .integer(2))]),
            .map([.init(.tuple([]), .integer(2))]),
            .map([.init(.atom("a"), .integer(1)), .init(.string("a"), .integer(2))]),
            .map([.init(.binary([0xff]), .integer(1))]),
            .float(.nan),
            .float(.infinity),
            .bigInteger(negative: false, magnitude: [UInt8](repeating: 0xff, count: 200)),
            .list([.integer(1), .binary([0xc3])]),
        ]
        for term in cases {
            XCTAssertNil(term.json, "\(term)")
        }
    }

    func testJSONBecomesTheTermsPhoenixReads() throws {
        let json: JSONValue = .object([
            "user_id": .integer(7), "name": .string("ana"), "admin": .bool(false), "team": .null,
            "scores": .array([.integer(1), .integer(300)]), "ratio": .double(0.5), "é": .object([:]), "Z": .array([]),
        ])
        // Keys in byte order ("Z" < "admin" < … < "é"), as Erlang orders a small map's binary keys.
        XCTAssertEqual(ErlangTerm(json: json), .map([
            .init(.string("Z"), .list([])),
            .init(.string("admin"), .atom("false")),
            .init(.string("name"), .string("ana")),
            .init(.string("ratio"), .float(0.5)),
            .init(.string("scores"), .list([.integer(1), .integer(300)])),
            .init(.string("team"), .atom("nil")),
            .init(.string("user_id"), .integer(7)),
            .init(.string("é"), .map([])),
        ]))
        XCTAssertEqual(ErlangTerm(json: json).json, json)
    }
}

/// Bytes from space-separated hex.
func hex(_ text: String) -> [UInt8] {
    text.split(separator: " ").compactMap { UInt8($0, radix: 16) }
}

/// FLOAT_EXT's 31 bytes: the text, NUL-padded, as hex.
private func ascii31(_ text: String) -> String {
    let bytes = Array(text.utf8) + [UInt8](repeating: 0, count: 31 - text.utf8.count)
    return bytes.map { " " + String($0, radix: 16) }.joined()
}
