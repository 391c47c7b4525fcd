import NIOCore

/// Bounds on what one server may make us hold, so a hostile or broken server cannot exhaust memory.
public struct RESPLimits: Sendable, Hashable {
    /// Longest bulk string (`$`, and RESP3 `=`, `!`), in bytes.
    public var maxBulkLength: Int
    /// Most elements in one array, set or push (pairs in a map).
    public var maxArrayLength: Int
    /// Deepest nesting of aggregates; a top-level array is depth 1.
    public var maxDepth: Int
    /// Longest line (simple string, error, number), CRLF excluded.
    public var maxLineLength: Int
    /// Most bytes one top-level reply may span, headers included. Memory held for a reply is at most about
    /// 8 times this (an element of 4 bytes on the wire is a 32-byte `RESPValue`).
    public var maxReplyBytes: Int

    /// Redis itself caps bulk strings at 512 MB (`proto-max-bulk-len`); our replies are broadcasts, presence
    /// entries and small keys, so the defaults are far lower.
    public init(
        maxBulkLength: Int = 16 << 20,
        maxArrayLength: Int = 1 << 20,
        maxDepth: Int = 32,
        maxLineLength: Int = 64 << 10,
        maxReplyBytes: Int = 64 << 20
    ) {
        self.maxBulkLength = maxBulkLength
        self.maxArrayLength = maxArrayLength
        self.maxDepth = maxDepth
        self.maxLineLength = maxLineLength
        self.maxReplyBytes = maxReplyBytes
    }
}

/// Why a reply stream could not be decoded. The stream cannot be resynchronised after one: the connection closes.
public enum RESPDecodingError: Error, Hashable, CustomStringConvertible {
    case bulkTooLong(length: Int, limit: Int)
    case aggregateTooLong(count: Int, limit: Int)
    case tooDeep(limit: Int)
    case lineTooLong(limit: Int)
    case replyTooLarge(limit: Int)
    case unknownType(UInt8)
    case malformed(String)

    public var description: String {
        switch self {
        case .bulkTooLong(let length, let limit):
            return "bulk string of \(length) bytes exceeds the limit of \(limit) (maxBulkLength)"
        case .aggregateTooLong(let count, let limit):
            return "aggregate of \(count) elements exceeds the limit of \(limit) (maxArrayLength)"
        case .tooDeep(let limit):
            return "aggregates nested deeper than \(limit) (maxDepth)"
        case .lineTooLong(let limit):
            return "line longer than \(limit) bytes without CRLF (maxLineLength)"
        case .replyTooLarge(let limit):
            return "reply larger than \(limit) bytes (maxReplyBytes)"
        case .unknownType(let byte):
            let shown = byte >= 0x20 && byte < 0x7F ? "'\(Character(Unicode.Scalar(byte)))'" : "not printable"
            return "unknown RESP type byte 0x\(String(byte, radix: 16)) (\(shown))"
        case .malformed(let what):
            return what
        }
    }
}

/// An incremental RESP reply parser: feed it the bytes received so far, take whole replies out.
///
/// It keeps the aggregates it is inside on a stack and consumes each element as soon as it is complete, so a long
/// array arriving in many reads is parsed once (not re-parsed from its start on every read), and only one element's
/// bytes wait in the buffer. Every size is checked against `limits` before anything is allocated for it.
public struct RESPParser {
    public let limits: RESPLimits

    private struct Aggregate {
        enum Kind { case array, map, set, push, attribute }
        let kind: Kind
        var remaining: Int
        var elements: [RESPValue]

        var value: RESPValue {
            switch kind {
            case .array: return .array(elements)
            case .map: return .map(elements)
            case .set: return .set(elements)
            case .push: return .push(elements)
            case .attribute: preconditionFailure("attributes are dropped, never returned")
            }
        }
    }

    private enum Element {
        case value(RESPValue)
        /// An aggregate header with at least one element to come (now on the stack), or an attribute.
        case opened
    }

    private var stack: [Aggregate] = []
    /// Bytes consumed by the reply being parsed.
    private var replyBytes = 0

    public init(limits: RESPLimits = RESPLimits()) {
        self.limits = limits
    }

    /// The next complete reply, consuming its bytes; nil when more bytes are needed (what was complete is consumed
    /// and remembered). Throws on malformed input or a bound hit; after that the parser must not be used again.
    public mutating func next(from buffer: inout ByteBuffer) throws -> RESPValue? {
        while true {
            guard let element = try parseElement(&buffer) else { return nil }
            guard case .value(var value) = element else { continue }
            // Attach to the enclosing aggregates, closing each one this value completes.
            while true {
                guard !stack.isEmpty else {
                    replyBytes = 0
                    return value
                }
                let top = stack.count - 1
                stack[top].elements.append(value)
                stack[top].remaining -= 1
                if stack[top].remaining > 0 { break }
                let finished = stack.removeLast()
                // RESP3 attributes annotate the value after them; we drop them (they are not counted by the parent).
                if finished.kind == .attribute { break }
                value = finished.value
            }
        }
    }

    /// One element: a scalar, or an aggregate header. Nil (nothing consumed) when its bytes are not all here.
    private mutating func parseElement(_ buffer: inout ByteBuffer) throws -> Element? {
        guard let type = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return nil }
        guard let lineLength = try lineLength(in: buffer) else { return nil }
        let line = buffer.readableBytesView.dropFirst().prefix(lineLength)
        let headerLength = 1 + lineLength + 2
        let element: Element
        var consumed = headerLength
        switch type {
        case UInt8(ascii: "+"):
            element = .value(.simpleString(String(decoding: line, as: UTF8.self)))
        case UInt8(ascii: "-"):
            element = .value(.error(String(decoding: line, as: UTF8.self)))
        case UInt8(ascii: ":"):
            element = .value(.integer(try Self.integer(line, "integer")))
        case UInt8(ascii: "_"):
            guard line.isEmpty else { throw RESPDecodingError.malformed("RESP3 null with content") }
            element = .value(.null)
        case UInt8(ascii: "#"):
            guard line.count == 1, let flag = line.first, flag == UInt8(ascii: "t") || flag == UInt8(ascii: "f") else {
                throw RESPDecodingError.malformed("RESP3 boolean that is not #t or #f")
            }
            element = .value(.boolean(flag == UInt8(ascii: "t")))
        case UInt8(ascii: ","):
            guard let value = Double(String(decoding: line, as: UTF8.self)) else {
                throw RESPDecodingError.malformed("RESP3 double '\(Self.excerpt(line))' is not a number")
            }
            element = .value(.double(value))
        case UInt8(ascii: "("):
            let digits = line.first == UInt8(ascii: "-") || line.first == UInt8(ascii: "+") ? line.dropFirst() : line
            guard !digits.isEmpty, digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
                throw RESPDecodingError.malformed("RESP3 big number '\(Self.excerpt(line))' is not a number")
            }
            element = .value(.bigNumber(String(decoding: line, as: UTF8.self)))
        case UInt8(ascii: "$"), UInt8(ascii: "="), UInt8(ascii: "!"):
            let length = try Self.integer(line, "bulk length")
            if length == -1 && type == UInt8(ascii: "$") {
                element = .value(.bulkString(nil))
                break
            }
            guard length >= 0 else { throw RESPDecodingError.malformed("negative bulk length \(length)") }
            guard length <= limits.maxBulkLength else {
                throw RESPDecodingError.bulkTooLong(length: Int(clamping: length), limit: limits.maxBulkLength)
            }
            // Limits may be set as high as Int.max: sizes are added without overflowing.
            guard Int(length) <= Int.max - headerLength - 2 else {
                throw RESPDecodingError.bulkTooLong(length: Int(length), limit: limits.maxBulkLength)
            }
            consumed = headerLength + Int(length) + 2
            try checkReplySize(adding: consumed)
            guard buffer.readableBytes >= consumed else { return nil }
            guard buffer.getInteger(at: buffer.readerIndex + consumed - 2, as: UInt16.self) == 0x0D0A else {
                throw RESPDecodingError.malformed("bulk string of \(length) bytes not followed by CRLF")
            }
            guard let body = buffer.getSlice(at: buffer.readerIndex + headerLength, length: Int(length)) else {
                return nil
            }
            element = .value(Self.bulk(type, body))
        case UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: ">"), UInt8(ascii: "%"), UInt8(ascii: "|"):
            let count = try Self.integer(line, "aggregate length")
            if count == -1 && type == UInt8(ascii: "*") {
                element = .value(.array(nil))
                break
            }
            guard count >= 0 else { throw RESPDecodingError.malformed("negative aggregate length \(count)") }
            guard count <= limits.maxArrayLength else {
                throw RESPDecodingError.aggregateTooLong(count: Int(clamping: count), limit: limits.maxArrayLength)
            }
            guard stack.count < limits.maxDepth else { throw RESPDecodingError.tooDeep(limit: limits.maxDepth) }
            let kind: Aggregate.Kind
            switch type {
            case UInt8(ascii: "*"): kind = .array
            case UInt8(ascii: "~"): kind = .set
            case UInt8(ascii: ">"): kind = .push
            case UInt8(ascii: "%"): kind = .map
            default: kind = .attribute
            }
            let pairs = kind == .map || kind == .attribute
            guard !pairs || count <= Int.max / 2 else {
                throw RESPDecodingError.aggregateTooLong(count: Int(count), limit: limits.maxArrayLength)
            }
            let elementCount = pairs ? Int(count) * 2 : Int(count)
            if elementCount == 0 {
                element = kind == .attribute ? .opened : .value(Aggregate(kind: kind, remaining: 0, elements: []).value)
            } else {
                var elements: [RESPValue] = []
                // Reserve what the bytes at hand could hold at most: a hostile count allocates nothing up front.
                elements.reserveCapacity(min(elementCount, 1 + buffer.readableBytes / 3))
                stack.append(Aggregate(kind: kind, remaining: elementCount, elements: elements))
                element = .opened
            }
        default:
            throw RESPDecodingError.unknownType(type)
        }
        try checkReplySize(adding: consumed)
        replyBytes += consumed
        buffer.moveReaderIndex(forwardBy: consumed)
        return element
    }

    /// The length of the line after the type byte, up to its CRLF; nil if the CRLF has not arrived.
    private func lineLength(in buffer: ByteBuffer) throws -> Int? {
        let limit = limits.maxLineLength
        return try buffer.withUnsafeReadableBytes { bytes -> Int? in
            // Only look as far as the longest allowed line (+ type byte + CRLF).
            let end = bytes.count - 3 < limit ? bytes.count : limit + 3
            var index = 1
            while index + 1 < end {
                if bytes[index] == 0x0D && bytes[index + 1] == 0x0A { return index - 1 }
                index += 1
            }
            if bytes.count - 3 >= limit { throw RESPDecodingError.lineTooLong(limit: limit) }
            return nil
        }
    }

    private func checkReplySize(adding bytes: Int) throws {
        if bytes > limits.maxReplyBytes - replyBytes {
            throw RESPDecodingError.replyTooLarge(limit: limits.maxReplyBytes)
        }
    }

    private static func bulk(_ type: UInt8, _ body: ByteBuffer) -> RESPValue {
        switch type {
        case UInt8(ascii: "!"):
            return .error(String(buffer: body))
        case UInt8(ascii: "="):
            // Verbatim string: "txt:" (a three-letter format and a colon) before the text; the text is what counts.
            if body.readableBytes >= 4, body.getInteger(at: body.readerIndex + 3, as: UInt8.self) == UInt8(ascii: ":") {
                return .bulkString(body.getSlice(at: body.readerIndex + 4, length: body.readableBytes - 4))
            }
            return .bulkString(body)
        default:
            return .bulkString(body)
        }
    }

    /// A decimal Int64 with an optional sign; anything else (empty, spaces, overflow) is malformed.
    private static func integer(_ line: ByteBufferView, _ what: String) throws -> Int64 {
        var digits = line
        var negative = false
        if let sign = digits.first, sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") {
            negative = sign == UInt8(ascii: "-")
            digits = digits.dropFirst()
        }
        guard !digits.isEmpty, digits.count <= 19 else { throw malformedNumber(line, what) }
        // Accumulated with the final sign, so Int64.min parses too.
        var value: Int64 = 0
        for digit in digits {
            guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") else { throw malformedNumber(line, what) }
            let step = Int64(digit - UInt8(ascii: "0"))
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) =
                negative ? times10.subtractingReportingOverflow(step) : times10.addingReportingOverflow(step)
            guard !overflow1, !overflow2 else { throw malformedNumber(line, what) }
            value = next
        }
        return value
    }

    private static func malformedNumber(_ line: ByteBufferView, _ what: String) -> RESPDecodingError {
        .malformed("\(what) '\(excerpt(line))' is not a decimal integer")
    }

    private static func excerpt(_ line: ByteBufferView) -> String {
        let text = String(decoding: line.prefix(32), as: UTF8.self)
        return line.count > 32 ? text + "…" : text
    }
}
