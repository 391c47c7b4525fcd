/// A strict RFC 8259 JSON parser from bytes to `JSONValue`, without Foundation.
///
/// Strictness follows Jason (Phoenix's JSON library), which passes JSONTestSuite: no trailing commas, no comments,
/// no leading zeros, no lone surrogates, no invalid UTF-8, nothing but whitespace after the value.
/// Integer syntax that fits Int64 becomes `.integer`; anything else numeric (a fraction, an exponent, or an integer
/// too large for Int64) becomes `.double`, so `1.0` stays a double as it does in Jason. Duplicate keys: the last wins
/// (Jason builds maps with `:maps.from_list`, where later keys replace earlier ones).
public struct JSONParser: Sendable {
    /// The default nesting limit: arrays and objects deeper than this are rejected.
    public static let defaultMaxDepth = 128

    /// Arrays and objects nested deeper than this are an error ("nesting deeper than 128").
    public var maxDepth: Int

    /// Makes a parser with a nesting limit.
    public init(maxDepth: Int = JSONParser.defaultMaxDepth) {
        self.maxDepth = maxDepth
    }

    /// Parses one JSON text that fills `bytes` exactly (surrounding whitespace allowed).
    public func parse(_ bytes: UnsafeRawBufferPointer) throws(JSONParseError) -> JSONValue {
        var reader = JSONReader(bytes: bytes, maxDepth: maxDepth)
        return try reader.parseDocument()
    }

    /// Parses one JSON text held in an array of bytes.
    public func parse(_ bytes: [UInt8]) throws(JSONParseError) -> JSONValue {
        let result = bytes.withUnsafeBytes { raw -> Result<JSONValue, JSONParseError> in
            do throws(JSONParseError) { return .success(try parse(raw)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// Parses one JSON text held in a string (its UTF-8 bytes).
    public func parse(_ string: String) throws(JSONParseError) -> JSONValue {
        var string = string
        let result = string.withUTF8 { utf8 -> Result<JSONValue, JSONParseError> in
            do throws(JSONParseError) {
                return .success(try parse(UnsafeRawBufferPointer(utf8)))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }
}

// ASCII bytes the grammar mentions.
private let quote = UInt8(ascii: "\"")
private let backslash = UInt8(ascii: "\\")
private let comma = UInt8(ascii: ",")
private let colon = UInt8(ascii: ":")
private let minus = UInt8(ascii: "-")
private let plus = UInt8(ascii: "+")
private let dot = UInt8(ascii: ".")
private let zero = UInt8(ascii: "0")
private let nine = UInt8(ascii: "9")

/// The parser's cursor over one input; holds a scratch buffer reused by every escaped string.
struct JSONReader {
    let bytes: UnsafeRawBufferPointer
    let count: Int
    let maxDepth: Int
    var index = 0
    var scratch: [UInt8] = []

    init(bytes: UnsafeRawBufferPointer, maxDepth: Int) {
        self.bytes = bytes
        self.count = bytes.count
        self.maxDepth = maxDepth
    }

    mutating func parseDocument() throws(JSONParseError) -> JSONValue {
        skipWhitespace()
        let value = try parseValue(depth: 0)
        skipWhitespace()
        if index < count { throw unexpected(at: index) }
        return value
    }

    // MARK: - Errors

    func fail(at offset: Int, _ reason: String) -> JSONParseError {
        JSONParseError(offset: offset, reason: reason)
    }

    /// "unexpected character 'x'" at `offset`, or "unexpected end of input" past the end.
    func unexpected(at offset: Int) -> JSONParseError {
        if offset >= count { return fail(at: count, "unexpected end of input") }
        return fail(at: offset, "unexpected " + describeByte(bytes[offset]))
    }

    // MARK: - Structure

    @inline(__always)
    mutating func skipWhitespace() {
        // RFC 8259 §2: ws = space, horizontal tab, line feed, carriage return; nothing else.
        while index < count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    mutating func parseValue(depth: Int) throws(JSONParseError) -> JSONValue {
        guard index < count else { throw unexpected(at: index) }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case quote: return .string(try parseString())
        case UInt8(ascii: "t"):
            try expectLiteral("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expectLiteral("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try expectLiteral("null")
            return .null
        case minus, zero...nine: return try parseNumber()
        default: throw unexpected(at: index)
        }
    }

    mutating func expectLiteral(_ literal: StaticString) throws(JSONParseError) {
        let start = index
        let length = literal.utf8CodeUnitCount
        let text = literal.utf8Start
        for offset in 0..<length {
            guard start + offset < count else { throw unexpected(at: count) }
            // Report the literal's first byte, so "this is not json" fails at byte 0 on 't'.
            if bytes[start + offset] != text[offset] { throw unexpected(at: start) }
        }
        index = start + length
    }

    mutating func parseArray(depth: Int) throws(JSONParseError) -> JSONValue {
        if depth > maxDepth { throw fail(at: index, "nesting deeper than \(maxDepth)") }
        index += 1  // '['
        skipWhitespace()
        if index < count && bytes[index] == UInt8(ascii: "]") {
            index += 1
            return .array([])
        }
        var elements: [JSONValue] = []
        elements.reserveCapacity(6)
        while true {
            elements.append(try parseValue(depth: depth))
            if try endOfContainer(closing: UInt8(ascii: "]")) { return .array(elements) }
        }
    }

    mutating func parseObject(depth: Int) throws(JSONParseError) -> JSONValue {
        if depth > maxDepth { throw fail(at: index, "nesting deeper than \(maxDepth)") }
        index += 1  // '{'
        skipWhitespace()
        if index < count && bytes[index] == UInt8(ascii: "}") {
            index += 1
            return .emptyObject
        }
        // Room for a typical payload's keys up front: growing 1 → 3 → 6 would rehash twice.
        var members = [String: JSONValue](minimumCapacity: 6)
        while true {
            guard index < count, bytes[index] == quote else { throw unexpected(at: index) }
            let key = try parseString()
            skipWhitespace()
            guard index < count, bytes[index] == colon else { throw unexpected(at: index) }
            index += 1
            skipWhitespace()
            members[key] = try parseValue(depth: depth)
            if try endOfContainer(closing: UInt8(ascii: "}")) { return .object(members) }
        }
    }

    /// After an array element or object member: true at the closing bracket, false after a comma.
    private mutating func endOfContainer(closing: UInt8) throws(JSONParseError) -> Bool {
        skipWhitespace()
        guard index < count else { throw unexpected(at: index) }
        let byte = bytes[index]
        index += 1
        if byte == comma {
            skipWhitespace()
            return false
        }
        guard byte == closing else { throw unexpected(at: index - 1) }
        return true
    }

    // MARK: - Numbers

    mutating func parseNumber() throws(JSONParseError) -> JSONValue {
        let start = index
        var position = index
        let negative = bytes[position] == minus
        if negative { position += 1 }
        guard position < count else { throw unexpected(at: position) }

        // int = zero / ( digit1-9 *DIGIT ); a leading zero ends the integer part (RFC 8259 §6).
        var magnitude: UInt64 = 0
        var overflow = false
        let first = bytes[position]
        if first == zero {
            position += 1
        } else if first > zero && first <= nine {
            while position < count, bytes[position] >= zero, bytes[position] <= nine {
                let digit = UInt64(bytes[position] &- zero)
                let (times10, o1) = magnitude.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times10.addingReportingOverflow(digit)
                overflow = overflow || o1 || o2
                magnitude = sum
                position += 1
            }
        } else {
            throw unexpected(at: position)
        }

        var isInteger = true
        if position < count && bytes[position] == dot {
            isInteger = false
            position += 1
            guard position < count, bytes[position] >= zero, bytes[position] <= nine else {
                throw unexpected(at: position)
            }
            while position < count, bytes[position] >= zero, bytes[position] <= nine { position += 1 }
        }
        if position < count && (bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E")) {
            isInteger = false
            position += 1
            if position < count && (bytes[position] == plus || bytes[position] == minus) { position += 1 }
            guard position < count, bytes[position] >= zero, bytes[position] <= nine else {
                throw unexpected(at: position)
            }
            while position < count, bytes[position] >= zero, bytes[position] <= nine { position += 1 }
        }
        index = position

        if isInteger && !overflow {
            if !negative && magnitude <= UInt64(Int64.max) { return .integer(Int64(magnitude)) }
            if negative && magnitude <= UInt64(Int64.max) + 1 {
                return .integer(Int64(truncatingIfNeeded: 0 &- magnitude))
            }
        }
        // Only fractions, exponents and huge integers get here. Swift's Double(String) rounds correctly (strtod);
        // a short number fits a small string, which does not allocate.
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
        guard let double = Double(text), double.isFinite else {
            throw fail(at: start, "number out of range")
        }
        return .double(double)
    }

    // MARK: - Strings

    mutating func parseString() throws(JSONParseError) -> String {
        let start = index + 1  // after the opening quote
        var position = start
        var ascii = true
        // Fast path: no escapes, so the string is a slice of the input.
        while position < count {
            let byte = bytes[position]
            if byte == quote {
                index = position + 1
                let slice = UnsafeRawBufferPointer(rebasing: bytes[start..<position])
                return try makeString(slice, ascii: ascii, at: start)
            }
            if byte == backslash { return try parseEscapedString(start: start, firstEscape: position, ascii: ascii) }
            if byte < 0x20 { throw fail(at: position, "unescaped control character in string") }
            if byte >= 0x80 { ascii = false }
            position += 1
        }
        throw fail(at: count, "unterminated string")
    }

    /// Slow path: copies the string into the scratch buffer, decoding escapes.
    mutating func parseEscapedString(
        start: Int, firstEscape: Int, ascii: Bool
    ) throws(JSONParseError) -> String {
        var ascii = ascii
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start..<firstEscape]))
        var position = firstEscape
        var runStart = firstEscape
        while position < count {
            let byte = bytes[position]
            if byte == quote {
                scratch.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart..<position]))
                index = position + 1
                if ascii { return String(decoding: scratch, as: UTF8.self) }
                if let string = String(validating: scratch, as: UTF8.self) { return string }
                throw invalidUTF8(from: start, to: position)
            }
            if byte == backslash {
                scratch.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart..<position]))
                position = try decodeEscape(at: position)
                runStart = position
                continue
            }
            if byte < 0x20 { throw fail(at: position, "unescaped control character in string") }
            if byte >= 0x80 { ascii = false }
            position += 1
        }
        throw fail(at: count, "unterminated string")
    }

    /// Decodes the escape at `position` (a backslash) into the scratch buffer; returns the index after it.
    mutating func decodeEscape(at position: Int) throws(JSONParseError) -> Int {
        guard position + 1 < count else { throw fail(at: count, "unterminated string") }
        let code = bytes[position + 1]
        let simple: UInt8
        switch code {
        case quote, backslash, UInt8(ascii: "/"): simple = code
        case UInt8(ascii: "b"): simple = 0x08
        case UInt8(ascii: "f"): simple = 0x0C
        case UInt8(ascii: "n"): simple = 0x0A
        case UInt8(ascii: "r"): simple = 0x0D
        case UInt8(ascii: "t"): simple = 0x09
        case UInt8(ascii: "u"): return try decodeUnicodeEscape(at: position)
        default: throw fail(at: position, "invalid escape")
        }
        scratch.append(simple)
        return position + 2
    }

    /// `\uXXXX`, joining a UTF-16 surrogate pair `\uD83D\uDE00` into one scalar (RFC 8259 §7).
    mutating func decodeUnicodeEscape(at position: Int) throws(JSONParseError) -> Int {
        let high = try hex4(at: position + 2)
        var scalarValue = UInt32(high)
        var next = position + 6
        if high >= 0xD800 && high <= 0xDBFF {
            guard next + 1 < count, bytes[next] == backslash, bytes[next + 1] == UInt8(ascii: "u") else {
                throw fail(at: position, "lone surrogate in \\u escape")
            }
            let low = try hex4(at: next + 2)
            guard low >= 0xDC00 && low <= 0xDFFF else { throw fail(at: position, "lone surrogate in \\u escape") }
            scalarValue = 0x10000 + ((UInt32(high) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
            next += 6
        } else if high >= 0xDC00 && high <= 0xDFFF {
            throw fail(at: position, "lone surrogate in \\u escape")
        }
        guard let scalar = Unicode.Scalar(scalarValue) else { throw fail(at: position, "invalid \\u escape") }
        let encoded = UTF8.encode(scalar)
        if let encoded { scratch.append(contentsOf: encoded) }
        return next
    }

    func hex4(at position: Int) throws(JSONParseError) -> UInt16 {
        guard position + 4 <= count else { throw fail(at: count, "unterminated string") }
        var value: UInt16 = 0
        for offset in 0..<4 {
            let byte = bytes[position + offset]
            let digit: UInt8
            switch byte {
            case zero...nine: digit = byte - zero
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw fail(at: position + offset, "invalid \\u escape")
            }
            value = value << 4 | UInt16(digit)
        }
        return value
    }

    func makeString(_ slice: UnsafeRawBufferPointer, ascii: Bool, at start: Int) throws(JSONParseError) -> String {
        if ascii { return String(decoding: slice, as: UTF8.self) }
        let string = slice.withMemoryRebound(to: UInt8.self) { String(validating: $0, as: UTF8.self) }
        if let string { return string }
        throw invalidUTF8(from: start, to: start + slice.count)
    }

    /// The error for the first invalid UTF-8 sequence in `start..<end` (RFC 3629 §4); escapes are ASCII and
    /// cannot hide one.
    func invalidUTF8(from start: Int, to end: Int) -> JSONParseError {
        var position = start
        while position < end {
            let width = utf8SequenceWidth(at: position, end: end)
            if width == 0 { return fail(at: position, "invalid UTF-8 in string") }
            position += width
        }
        return fail(at: start, "invalid UTF-8 in string")
    }

    /// The length of the valid UTF-8 sequence at `position`, or 0 when it is invalid.
    func utf8SequenceWidth(at position: Int, end: Int) -> Int {
        let lead = bytes[position]
        if lead < 0x80 { return 1 }
        let width: Int
        var lower: UInt8 = 0x80
        var upper: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: width = 2
        case 0xE0:
            width = 3
            lower = 0xA0  // no overlong forms
        case 0xE1...0xEC, 0xEE...0xEF: width = 3
        case 0xED:
            width = 3
            upper = 0x9F  // no surrogates
        case 0xF0:
            width = 4
            lower = 0x90
        case 0xF1...0xF3: width = 4
        case 0xF4:
            width = 4
            upper = 0x8F  // nothing above U+10FFFF
        default: return 0
        }
        guard position + width <= end else { return 0 }
        let second = bytes[position + 1]
        if second < lower || second > upper { return 0 }
        for offset in 2..<width where bytes[position + offset] & 0xC0 != 0x80 { return 0 }
        return width
    }
}
