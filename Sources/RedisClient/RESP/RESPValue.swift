import NIOCore

/// One reply from a Redis server, RESP2 with the RESP3 types a server may send tolerated.
///
/// We speak RESP2 (no `HELLO 3`), so a conforming server sends only the first five cases; the others are
/// parsed rather than rejected so a proxy or a future server default cannot break the connection.
public enum RESPValue: Hashable, Sendable {
    /// `+OK`: a status line.
    case simpleString(String)
    /// `-ERR message` (or RESP3 `!` blob error), as a value; a top-level error fails the command instead.
    case error(String)
    /// `:42`.
    case integer(Int64)
    /// `$3\r\nfoo`; nil for the null bulk string `$-1`.
    case bulkString(ByteBuffer?)
    /// `*2\r\n…`; nil for the null array `*-1`.
    case array([RESPValue]?)
    /// RESP3 `_`.
    case null
    /// RESP3 `#t` / `#f`.
    case boolean(Bool)
    /// RESP3 `,1.5` (also `inf`, `-inf`, `nan`).
    case double(Double)
    /// RESP3 `(12345678901234567890`: the digits as sent.
    case bigNumber(String)
    /// RESP3 `%`: keys and values alternating, in the server's order.
    case map([RESPValue])
    /// RESP3 `~`.
    case set([RESPValue])
    /// RESP3 `>`: an out-of-band message (pub/sub in RESP3).
    case push([RESPValue])
}

extension RESPValue {
    /// The text of a simple or bulk string (bulk bytes decoded as UTF-8, invalid bytes replaced); nil otherwise.
    public var string: String? {
        switch self {
        case .simpleString(let text), .bigNumber(let text): return text
        case .bulkString(let bytes?): return String(buffer: bytes)
        default: return nil
        }
    }

    /// The bytes of a bulk string; nil for the null bulk string and other types.
    public var bytes: ByteBuffer? {
        if case .bulkString(let bytes?) = self { return bytes }
        return nil
    }

    /// An integer reply, or a bulk/simple string holding a decimal integer (`GET` of a counter).
    public var integer: Int64? {
        switch self {
        case .integer(let value): return value
        case .simpleString(let text): return Int64(text)
        case .bulkString(let bytes?): return Int64(String(buffer: bytes))
        default: return nil
        }
    }

    /// The elements of an array, set or push; nil for the null array and other types.
    public var elements: [RESPValue]? {
        switch self {
        case .array(let elements?), .set(let elements), .push(let elements): return elements
        default: return nil
        }
    }

    /// Whether this is the null bulk string, the null array or RESP3 null.
    public var isNull: Bool {
        switch self {
        case .null, .bulkString(nil), .array(nil): return true
        default: return false
        }
    }
}

extension RESPValue: CustomStringConvertible {
    /// A short, readable form for logs and error messages (long strings and arrays abbreviated).
    public var description: String {
        switch self {
        case .simpleString(let text): return text
        case .error(let message): return "(error) \(message)"
        case .integer(let value): return "(integer) \(value)"
        case .bulkString(nil), .array(nil), .null: return "(nil)"
        case .bulkString(let bytes?):
            let text = String(
                buffer: bytes.getSlice(at: bytes.readerIndex, length: min(bytes.readableBytes, 64)) ?? bytes)
            return bytes.readableBytes > 64 ? "\"\(text)…\" (\(bytes.readableBytes) bytes)" : "\"\(text)\""
        case .boolean(let value): return "(boolean) \(value)"
        case .double(let value): return "(double) \(value)"
        case .bigNumber(let digits): return "(big number) \(digits)"
        case .array(let elements?), .set(let elements), .map(let elements), .push(let elements):
            let shown = elements.prefix(8).map(\.description).joined(separator: ", ")
            return "[\(shown)\(elements.count > 8 ? ", … (\(elements.count) elements)" : "")]"
        }
    }
}

extension RESPValue {
    /// Appends this value in RESP wire form (RESP3 syntax for the RESP3 cases). Commands use `RedisCommand`;
    /// this writes any value, for tests and the fuzz target's round trip.
    public func write(to buffer: inout ByteBuffer) {
        switch self {
        case .simpleString(let text): writeLine(UInt8(ascii: "+"), text, to: &buffer)
        case .error(let message) where message.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A }):
            // A RESP3 blob error (`!`) may hold line breaks; written as a line it would not parse back.
            var bytes = ByteBuffer(string: message)
            RESPWire.writeBulk(&bytes, type: UInt8(ascii: "!"), to: &buffer)
        case .error(let message): writeLine(UInt8(ascii: "-"), message, to: &buffer)
        case .integer(let value): writeLine(UInt8(ascii: ":"), String(value), to: &buffer)
        case .bulkString(nil): buffer.writeStaticString("$-1\r\n")
        case .bulkString(var bytes?): RESPWire.writeBulk(&bytes, to: &buffer)
        case .array(nil): buffer.writeStaticString("*-1\r\n")
        case .array(let elements?): writeAggregate(UInt8(ascii: "*"), elements, count: elements.count, to: &buffer)
        case .null: buffer.writeStaticString("_\r\n")
        case .boolean(let value): buffer.writeStaticString(value ? "#t\r\n" : "#f\r\n")
        case .double(let value): writeLine(UInt8(ascii: ","), RESPWire.format(value), to: &buffer)
        case .bigNumber(let digits): writeLine(UInt8(ascii: "("), digits, to: &buffer)
        case .map(let elements): writeAggregate(UInt8(ascii: "%"), elements, count: elements.count / 2, to: &buffer)
        case .set(let elements): writeAggregate(UInt8(ascii: "~"), elements, count: elements.count, to: &buffer)
        case .push(let elements): writeAggregate(UInt8(ascii: ">"), elements, count: elements.count, to: &buffer)
        }
    }

    private func writeLine(_ type: UInt8, _ text: String, to buffer: inout ByteBuffer) {
        buffer.writeInteger(type)
        buffer.writeString(text)
        buffer.writeStaticString("\r\n")
    }

    private func writeAggregate(_ type: UInt8, _ elements: [RESPValue], count: Int, to buffer: inout ByteBuffer) {
        buffer.writeInteger(type)
        RESPWire.writeDecimal(count, to: &buffer)
        buffer.writeStaticString("\r\n")
        for element in elements { element.write(to: &buffer) }
    }
}

/// Pieces of the RESP wire format shared by the value writer and the command encoder.
enum RESPWire {
    /// Writes a non-negative or negative decimal integer without going through `String`.
    static func writeDecimal(_ value: Int, to buffer: inout ByteBuffer) {
        if value < 0 {
            buffer.writeInteger(UInt8(ascii: "-"))
            writeDecimal(value.magnitude, to: &buffer)
        } else {
            writeDecimal(UInt(value), to: &buffer)
        }
    }

    private static func writeDecimal(_ value: UInt, to buffer: inout ByteBuffer) {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for UInt.max's 20 digits
        var count = 0
        var rest = value
        withUnsafeMutableBytes(of: &digits) { bytes in
            repeat {
                bytes[23 - count] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
                count += 1
            } while rest > 0
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[(24 - count)...]))
        }
    }

    /// `$<length>\r\n<bytes>\r\n` (or another length-prefixed type).
    static func writeBulk(_ bytes: inout ByteBuffer, type: UInt8 = UInt8(ascii: "$"), to buffer: inout ByteBuffer) {
        writeBulkHeader(length: bytes.readableBytes, type: type, to: &buffer)
        buffer.writeBuffer(&bytes)
        buffer.writeStaticString("\r\n")
    }

    /// A text as a bulk string, without an intermediate buffer.
    static func writeBulk(_ text: String, to buffer: inout ByteBuffer) {
        writeBulkHeader(length: text.utf8.count, type: UInt8(ascii: "$"), to: &buffer)
        buffer.writeString(text)
        buffer.writeStaticString("\r\n")
    }

    private static func writeBulkHeader(length: Int, type: UInt8, to buffer: inout ByteBuffer) {
        buffer.writeInteger(type)
        writeDecimal(length, to: &buffer)
        buffer.writeStaticString("\r\n")
    }

    /// A double as RESP3 writes it: `inf`, `-inf`, `nan`, or Swift's shortest round-tripping decimal.
    static func format(_ value: Double) -> String {
        if value.isNaN { return "nan" }
        if value.isInfinite { return value < 0 ? "-inf" : "inf" }
        return String(value)
    }
}
