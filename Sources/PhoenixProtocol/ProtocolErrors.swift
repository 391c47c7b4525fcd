/// Invalid JSON text: where the parser stopped (a byte offset into the input) and why.
public struct JSONParseError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Byte offset of the offending byte in the input (the input's length at end of input).
    public let offset: Int
    /// A short human reason, e.g. "unexpected character 'h'" or "nesting deeper than 128".
    public let reason: String

    /// Makes an error at `offset` with a short `reason`.
    public init(offset: Int, reason: String) {
        self.offset = offset
        self.reason = reason
    }

    /// "invalid JSON at byte 5: unexpected character 'h'".
    public var description: String { "invalid JSON at byte \(offset): \(reason)" }
}

/// A value that JSON cannot represent (NaN or an infinity).
public struct JSONWriteError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A short human reason.
    public let reason: String

    /// Makes an error with a short `reason`.
    public init(reason: String) { self.reason = reason }

    public var description: String { reason }
}

/// An inbound frame that is not a Phoenix message: the server closes the socket with 1007 and this reason.
///
/// The description is short and ASCII, meant both for the log and for the reason of the WebSocket close frame
/// (RFC 6455 §5.5: a control frame payload is at most 125 bytes, 2 of which are the close code).
public struct MessageDecodingError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What was wrong, e.g. "topic must be a string".
    public let reason: String
    /// The JSON syntax error, when the frame was not JSON at all.
    public let jsonError: JSONParseError?

    /// Makes an error with a short `reason`.
    public init(_ reason: String) {
        self.reason = reason
        self.jsonError = nil
    }

    /// Wraps a JSON syntax error; its description becomes the reason.
    public init(_ jsonError: JSONParseError) {
        self.reason = jsonError.description
        self.jsonError = jsonError
    }

    public var description: String { reason }

    /// The reason cut to at most 123 bytes (on a UTF-8 boundary), ready for a close frame.
    public var closeReason: String { truncatedUTF8(reason, maxBytes: 123) }
}

/// An outbound message that the chosen serializer cannot put on the wire.
public struct MessageEncodingError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What was wrong, e.g. "binary frame: topic is 300 bytes, over the 255-byte limit".
    public let reason: String

    /// Makes an error with a short `reason`.
    public init(_ reason: String) { self.reason = reason }

    public var description: String { reason }
}

/// `string` cut to at most `maxBytes` UTF-8 bytes without splitting a scalar.
func truncatedUTF8(_ string: String, maxBytes: Int) -> String {
    if string.utf8.count <= maxBytes { return string }
    var result = ""
    var used = 0
    for scalar in string.unicodeScalars {
        let width = UTF8.width(scalar)
        if used + width > maxBytes { break }
        result.unicodeScalars.append(scalar)
        used += width
    }
    return result
}

/// How a byte reads in an error message: 'h' when printable ASCII, otherwise byte 0xC3.
func describeByte(_ byte: UInt8) -> String {
    if byte >= 0x21 && byte < 0x7F && byte != UInt8(ascii: "'") {
        return "character '\(Character(Unicode.Scalar(byte)))'"
    }
    return "byte 0x" + hexByte(byte)
}

/// Two uppercase hex digits.
func hexByte(_ byte: UInt8) -> String {
    let digits: [Character] = Array("0123456789ABCDEF")
    return String([digits[Int(byte >> 4)], digits[Int(byte & 0xF)]])
}
