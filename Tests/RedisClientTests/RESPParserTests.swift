import NIOCore
import NIOEmbedded
import RedisClient
import XCTest

/// The reply parser on bytes: every type, partial input, bounds, malformed input.
final class RESPParserTests: XCTestCase {
    /// Every complete reply in `text`, parsed in one go.
    private func parse(_ text: String, limits: RESPLimits = RESPLimits()) throws -> [RESPValue] {
        var parser = RESPParser(limits: limits)
        var buffer = ByteBuffer(string: text)
        var values: [RESPValue] = []
        while let value = try parser.next(from: &buffer) { values.append(value) }
        XCTAssertEqual(buffer.readableBytes, 0, "bytes left over")
        return values
    }

    private func parseError(_ text: String, limits: RESPLimits = RESPLimits()) -> RESPDecodingError? {
        var parser = RESPParser(limits: limits)
        var buffer = ByteBuffer(string: text)
        do {
            while try parser.next(from: &buffer) != nil {}
            return nil
        } catch {
            return error as? RESPDecodingError
        }
    }

    private func bulk(_ text: String) -> RESPValue { .bulkString(ByteBuffer(string: text)) }

    func testRESP2Types() throws {
        let values = try parse("+OK\r\n-ERR wrong\r\n:42\r\n:-7\r\n$5\r\nhello\r\n$0\r\n\r\n$-1\r\n*-1\r\n*0\r\n")
        XCTAssertEqual(
            values,
            [
                .simpleString("OK"), .error("ERR wrong"), .integer(42), .integer(-7), bulk("hello"), bulk(""),
                .bulkString(nil), .array(nil), .array([]),
            ])
    }

    func testNestedArraysAndBinaryBulkStrings() throws {
        let values = try parse("*3\r\n:1\r\n*2\r\n$4\r\na\r\nb\r\n*1\r\n*0\r\n$-1\r\n")
        XCTAssertEqual(
            values, [.array([.integer(1), .array([bulk("a\r\nb"), .array([.array([])])]), .bulkString(nil)])])
    }

    func testInt64Extremes() throws {
        XCTAssertEqual(
            try parse(":9223372036854775807\r\n:-9223372036854775808\r\n"), [.integer(.max), .integer(.min)])
        XCTAssertEqual(
            parseError(":9223372036854775808\r\n"),
            .malformed("integer '9223372036854775808' is not a decimal integer"))
    }

    func testRESP3TypesAreTolerated() throws {
        let values = try parse(
            "_\r\n#t\r\n#f\r\n,1.5\r\n,-inf\r\n(123456789012345678901234567890\r\n%1\r\n+k\r\n:1\r\n~2\r\n:1\r\n:2\r\n"
                + ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nx\r\n=8\r\ntxt:text\r\n!9\r\nERR blob!\r\n"
        )
        XCTAssertEqual(
            values,
            [
                .null, .boolean(true), .boolean(false), .double(1.5), .double(-.infinity),
                .bigNumber("123456789012345678901234567890"), .map([.simpleString("k"), .integer(1)]),
                .set([.integer(1), .integer(2)]), .push([bulk("message"), bulk("ch"), bulk("x")]), bulk("text"),
                .error("ERR blob!"),
            ])
    }

    func testAttributesAreDropped() throws {
        // An attribute annotates the value after it, inside an array too, and is not one of its elements.
        XCTAssertEqual(
            try parse("|1\r\n+ttl\r\n:3\r\n:5\r\n*2\r\n|0\r\n:1\r\n:2\r\n"),
            [.integer(5), .array([.integer(1), .integer(2)])])
    }

    func testAnyChunkingGivesTheSameReplies() throws {
        let text =
            "*3\r\n$7\r\nmessage\r\n$5\r\nnews!\r\n$12\r\nhello\r\nworld\r\n+OK\r\n*2\r\n*1\r\n:1\r\n$-1\r\n:12345\r\n"
        let whole = try parse(text)
        XCTAssertEqual(whole.count, 4)
        let bytes = Array(text.utf8)
        for chunk in [1, 2, 3, 5, 7, 13] {
            var parser = RESPParser()
            var buffer = ByteBuffer()
            var values: [RESPValue] = []
            for start in stride(from: 0, to: bytes.count, by: chunk) {
                buffer.writeBytes(bytes[start..<min(start + chunk, bytes.count)])
                while let value = try parser.next(from: &buffer) { values.append(value) }
            }
            XCTAssertEqual(values, whole, "chunks of \(chunk) bytes")
        }
    }

    func testDecoderInAPipelineFiresOneReadPerReply() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(RESPReplyDecoder()))
        for byte in "+OK\r\n*2\r\n:1\r\n:2\r\n".utf8 {
            try channel.writeInbound(ByteBuffer(bytes: [byte]))
        }
        XCTAssertEqual(try channel.readInbound(as: RESPValue.self), .simpleString("OK"))
        XCTAssertEqual(try channel.readInbound(as: RESPValue.self), .array([.integer(1), .integer(2)]))
        XCTAssertNil(try channel.readInbound(as: RESPValue.self))
        XCTAssertTrue(try channel.finish().isClean)
    }

    func testBoundsAreCheckedBeforeTheBytesArrive() {
        let limits = RESPLimits(maxBulkLength: 10, maxArrayLength: 3, maxDepth: 2, maxLineLength: 8, maxReplyBytes: 40)
        // Only the headers are given: the parser refuses without waiting for (or allocating) the rest.
        XCTAssertEqual(parseError("$11\r\n", limits: limits), .bulkTooLong(length: 11, limit: 10))
        XCTAssertEqual(parseError("*4\r\n", limits: limits), .aggregateTooLong(count: 4, limit: 3))
        XCTAssertEqual(parseError("%4\r\n", limits: limits), .aggregateTooLong(count: 4, limit: 3))
        XCTAssertEqual(parseError("*1\r\n*1\r\n*1\r\n", limits: limits), .tooDeep(limit: 2))
        XCTAssertEqual(parseError("+1234567890", limits: limits), .lineTooLong(limit: 8))
        XCTAssertEqual(
            parseError("*3\r\n$10\r\n0123456789\r\n$10\r\n0123456789\r\n$10\r\n", limits: limits),
            .replyTooLarge(limit: 40))
        XCTAssertEqual(
            parseError("$9223372036854775807\r\n"), .bulkTooLong(length: .max, limit: RESPLimits().maxBulkLength))
        // Within the bounds, the same shapes parse; the reply budget starts again with each reply.
        XCTAssertNil(
            parseError(
                "$10\r\n0123456789\r\n*3\r\n:1\r\n:2\r\n*1\r\n+12345678\r\n$10\r\n0123456789\r\n", limits: limits))
    }

    func testLimitsAsHighAsIntMaxDoNotOverflow() throws {
        let unbounded = RESPLimits(
            maxBulkLength: .max, maxArrayLength: .max, maxDepth: .max, maxLineLength: .max, maxReplyBytes: .max)
        XCTAssertEqual(parseError("$9223372036854775807\r\n", limits: unbounded),
                       .bulkTooLong(length: .max, limit: .max))
        XCTAssertEqual(parseError("%9223372036854775807\r\n", limits: unbounded),
                       .aggregateTooLong(count: .max, limit: .max))
        // Huge but representable: waits for the bytes (allocating nothing for them).
        XCTAssertNil(parseError("$9223372036854775000\r\n", limits: unbounded))
        XCTAssertEqual(try parse("+OK\r\n", limits: unbounded), [.simpleString("OK")])
    }

    func testMalformedInput() {
        XCTAssertEqual(parseError("?x\r\n"), .unknownType(UInt8(ascii: "?")))
        XCTAssertEqual(parseError("$abc\r\n"), .malformed("bulk length 'abc' is not a decimal integer"))
        XCTAssertEqual(parseError("$-2\r\n"), .malformed("negative bulk length -2"))
        XCTAssertEqual(parseError("*-5\r\n"), .malformed("negative aggregate length -5"))
        XCTAssertEqual(parseError("$3\r\nabcde\r\n"), .malformed("bulk string of 3 bytes not followed by CRLF"))
        XCTAssertEqual(parseError(":\r\n"), .malformed("integer '' is not a decimal integer"))
        XCTAssertEqual(parseError(": 1\r\n"), .malformed("integer ' 1' is not a decimal integer"))
        XCTAssertEqual(parseError("#x\r\n"), .malformed("RESP3 boolean that is not #t or #f"))
        XCTAssertEqual(parseError("~-1\r\n"), .malformed("negative aggregate length -1"))
    }

    func testWrittenValuesParseBackEqual() throws {
        let values: [RESPValue] = [
            .simpleString("PONG"), .error("ERR x"), .error("multi\r\nline"), .integer(.min), bulk("a\r\n\0b"),
            .bulkString(nil), .array(nil), .array([.array([]), .integer(3)]), .null, .boolean(false), .double(0.1),
            .double(.infinity), .bigNumber("-12"), .map([bulk("k"), .null]), .set([]), .push([bulk("x")]),
        ]
        var buffer = ByteBuffer()
        for value in values { value.write(to: &buffer) }
        var parser = RESPParser()
        var parsed: [RESPValue] = []
        while let value = try parser.next(from: &buffer) { parsed.append(value) }
        XCTAssertEqual(parsed, values)
    }

    func testCommandsAreArraysOfBulkStrings() {
        let command = RedisCommand(["SET", "k€y", .bytes(ByteBuffer(bytes: [0, 13, 10])), .integer(-12)])
        let expected = "*4\r\n$3\r\nSET\r\n$5\r\nk€y\r\n$3\r\n\0\r\n\r\n$3\r\n-12\r\n"
        XCTAssertEqual(String(buffer: command.encoded), expected)
        XCTAssertEqual(command.name, "SET")
        XCTAssertEqual(String(buffer: RedisCommand([String]()).encoded), "*0\r\n")
    }
}
