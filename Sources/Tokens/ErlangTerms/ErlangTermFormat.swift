/// Erlang's external term format (`term_to_binary` / `binary_to_term`) for the terms `ErlangTerm` holds:
/// the payload of a Phoenix.Token.
///
/// Tokens reach the decoder only once their MAC checked, but a leaked secret would let anyone write its
/// input, so it is bounded all the same: nesting depth and input size are limited, and no count is
/// believed (nor allocated for) beyond what the remaining bytes could hold. It never traps on any input.
public enum ErlangTermFormat {
    /// Bounds on what `decode` reads.
    public struct Limits: Sendable, Equatable {
        /// Nesting of tuples, lists and maps. Default 128: twice what a Lua value may nest, so that data
        /// signed from Lua, inside the token's tuple, always reads back.
        public var maxDepth: Int
        /// Bytes of input. Default 64 KiB.
        public var maxBytes: Int

        /// Limits with the given values (defaults as documented on each property).
        public init(maxDepth: Int = 128, maxBytes: Int = 64 << 10) {
            self.maxDepth = maxDepth
            self.maxBytes = maxBytes
        }
    }

    /// Why bytes are not a term we read.
    public enum DecodingError: Error, Equatable, Sendable, CustomStringConvertible {
        /// The first byte is not 131, the format's version.
        case badVersion
        /// The input is longer than `Limits.maxBytes`.
        case tooLarge
        /// Tuples, lists and maps nest deeper than `Limits.maxDepth` at `offset`.
        case tooDeep(offset: Int)
        /// The input ends inside the term that starts or continues at `offset`.
        case truncated(offset: Int)
        /// A tag this decoder does not read (pids, refs, funs, bit strings, compressed terms…).
        case unsupportedTag(UInt8, offset: Int)
        /// A list whose tail is not `[]`.
        case improperList(offset: Int)
        /// An atom whose name is not valid UTF-8.
        case badAtom(offset: Int)
        /// A float that is NaN or infinite (Erlang has neither), or an old-style float whose text is not a number.
        case badFloat(offset: Int)
        /// Bytes after the term.
        case trailingBytes(offset: Int)

        public var description: String {
            switch self {
            case .badVersion: return "not an Erlang term (the first byte is not 131)"
            case .tooLarge: return "the term is too large"
            case .tooDeep(let offset): return "terms nested too deep at byte \(offset)"
            case .truncated(let offset): return "the term ends early (at byte \(offset))"
            case .unsupportedTag(let tag, let offset): return "unsupported term tag \(tag) at byte \(offset)"
            case .improperList(let offset): return "an improper list at byte \(offset)"
            case .badAtom(let offset): return "an atom that is not UTF-8 at byte \(offset)"
            case .badFloat(let offset): return "a float that is not a finite number at byte \(offset)"
            case .trailingBytes(let offset): return "bytes after the term, from byte \(offset)"
            }
        }
    }

    /// The format's version byte, first in every encoded term.
    static let version: UInt8 = 131

    /// The tags this codec reads and writes.
    enum Tag {
        static let newFloat: UInt8 = 70        // 'F' IEEE double, big-endian
        static let smallInteger: UInt8 = 97    // 'a' 0...255
        static let integer: UInt8 = 98         // 'b' Int32, big-endian
        static let float: UInt8 = 99           // 'c' 31 bytes of "%.20e" text (before OTP R11)
        static let atom: UInt8 = 100           // 'd' 2-byte length, Latin-1
        static let smallTuple: UInt8 = 104     // 'h' 1-byte arity
        static let largeTuple: UInt8 = 105     // 'i' 4-byte arity
        static let nilList: UInt8 = 106        // 'j' []
        static let string: UInt8 = 107         // 'k' a list of bytes, 2-byte length
        static let list: UInt8 = 108           // 'l' 4-byte length, elements, tail
        static let binary: UInt8 = 109         // 'm' 4-byte length
        static let smallBig: UInt8 = 110       // 'n' 1-byte length, sign, little-endian digits
        static let largeBig: UInt8 = 111       // 'o' 4-byte length, sign, little-endian digits
        static let smallAtom: UInt8 = 115      // 's' 1-byte length, Latin-1
        static let map: UInt8 = 116            // 't' 4-byte arity, key, value, key, value…
        static let atomUTF8: UInt8 = 118       // 'v' 2-byte length
        static let smallAtomUTF8: UInt8 = 119  // 'w' 1-byte length
    }

    // MARK: - Decoding

    /// The term `bytes` encode (all of them: trailing bytes are an error).
    public static func decode(_ bytes: [UInt8], limits: Limits = Limits()) throws(DecodingError) -> ErlangTerm {
        guard bytes.count <= limits.maxBytes else { throw .tooLarge }
        guard bytes.first == version else { throw .badVersion }
        var reader = Reader(bytes: bytes, offset: 1, maxDepth: limits.maxDepth)
        let term = try reader.term(depth: 0)
        guard reader.offset == bytes.count else { throw .trailingBytes(offset: reader.offset) }
        return term
    }

    private struct Reader {
        let bytes: [UInt8]
        var offset: Int
        let maxDepth: Int

        var remaining: Int { bytes.count - offset }

        mutating func byte() throws(DecodingError) -> UInt8 {
            guard offset < bytes.count else { throw .truncated(offset: offset) }
            defer { offset += 1 }
            return bytes[offset]
        }

        mutating func uint(_ width: Int) throws(DecodingError) -> UInt32 {
            guard remaining >= width else { throw .truncated(offset: offset) }
            var value: UInt32 = 0
            for index in offset..<(offset + width) { value = value << 8 | UInt32(bytes[index]) }
            offset += width
            return value
        }

        mutating func take(_ count: Int) throws(DecodingError) -> ArraySlice<UInt8> {
            guard count <= remaining else { throw .truncated(offset: offset) }
            defer { offset += count }
            return bytes[offset..<(offset + count)]
        }

        /// A count of elements each at least `minimumBytes` long, checked against what is left.
        mutating func count(width: Int, minimumBytes: Int) throws(DecodingError) -> Int {
            let start = offset
            let count = Int(try uint(width))
            guard count <= remaining / minimumBytes else { throw .truncated(offset: start) }
            return count
        }

        mutating func term(depth: Int) throws(DecodingError) -> ErlangTerm {
            let start = offset
            let tag = try byte()
            switch tag {
            case Tag.smallInteger:
                return .integer(Int64(try byte()))
            case Tag.integer:
                return .integer(Int64(Int32(bitPattern: try uint(4))))
            case Tag.smallBig, Tag.largeBig:
                let length = Int(try uint(tag == Tag.smallBig ? 1 : 4))
                let negative = try byte() != 0
                return ErlangTermFormat.integer(negative: negative, littleEndian: Array(try take(length)))
            case Tag.newFloat:
                // Erlang has no NaN nor infinity: binary_to_term refuses them, and so do we.
                let value = Double(bitPattern: UInt64(try uint(4)) << 32 | UInt64(try uint(4)))
                guard value.isFinite else { throw .badFloat(offset: start) }
                return .float(value)
            case Tag.float:
                let text = String(decoding: try take(31).prefix { $0 != 0 }, as: UTF8.self)
                guard let value = Double(text.trimmingSpaces), value.isFinite else { throw .badFloat(offset: start) }
                return .float(value)
            case Tag.atom, Tag.smallAtom:
                let name = try take(Int(try uint(tag == Tag.atom ? 2 : 1)))
                return .atom(String(name.map { Character(Unicode.Scalar($0)) }))  // Latin-1
            case Tag.atomUTF8, Tag.smallAtomUTF8:
                let name = Array(try take(Int(try uint(tag == Tag.atomUTF8 ? 2 : 1))))
                let text = String(decoding: name, as: UTF8.self)
                guard text.utf8.elementsEqual(name) else { throw .badAtom(offset: start) }
                return .atom(text)
            case Tag.binary:
                return .binary(Array(try take(Int(try uint(4)))))
            case Tag.nilList:
                return .list([])
            case Tag.string:
                return .list(try take(Int(try uint(2))).map { .integer(Int64($0)) })
            case Tag.smallTuple, Tag.largeTuple:
                let arity = try count(width: tag == Tag.smallTuple ? 1 : 4, minimumBytes: 1)
                return .tuple(try elements(arity, depth: depth, at: start))
            case Tag.list:
                let length = try count(width: 4, minimumBytes: 1)
                let elements = try elements(length, depth: depth, at: start)
                let tail = offset
                guard try byte() == Tag.nilList else { throw .improperList(offset: tail) }
                return .list(elements)
            case Tag.map:
                let arity = try count(width: 4, minimumBytes: 2)
                guard depth < maxDepth else { throw .tooDeep(offset: start) }
                var entries: [ErlangTerm.Entry] = []
                entries.reserveCapacity(arity)
                for _ in 0..<arity {
                    let key = try term(depth: depth + 1)
                    entries.append(ErlangTerm.Entry(key, try term(depth: depth + 1)))
                }
                return .map(entries)
            default:
                throw .unsupportedTag(tag, offset: start)
            }
        }

        mutating func elements(_ count: Int, depth: Int, at start: Int) throws(DecodingError) -> [ErlangTerm] {
            guard depth < maxDepth else { throw .tooDeep(offset: start) }
            var elements: [ErlangTerm] = []
            elements.reserveCapacity(count)
            for _ in 0..<count { elements.append(try term(depth: depth + 1)) }
            return elements
        }
    }

    /// An integer from sign and magnitude: `.integer` when it fits 64 bits, else `.bigInteger`.
    static func integer(negative: Bool, littleEndian digits: [UInt8]) -> ErlangTerm {
        var magnitude = digits
        while magnitude.last == 0 { magnitude.removeLast() }
        if magnitude.count <= 8 {
            let value = magnitude.reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            if !negative, value <= UInt64(Int64.max) { return .integer(Int64(value)) }
            if negative, value <= UInt64(Int64.max) + 1 { return .integer(Int64(truncatingIfNeeded: 0 &- value)) }
        }
        return .bigInteger(negative: negative, magnitude: magnitude)
    }

    // MARK: - Encoding

    /// `term_to_binary(term)` as OTP 26 and later write it: the smallest integer form, NEW_FLOAT_EXT,
    /// UTF-8 atoms, STRING_EXT for a list of bytes, small tuples and maps in the order given.
    public static func encode(_ term: ErlangTerm) -> [UInt8] {
        var output: [UInt8] = [version]
        write(term, to: &output)
        return output
    }

    private static func write(_ term: ErlangTerm, to output: inout [UInt8]) {
        switch term {
        case .integer(let value):
            if (0...255).contains(value) {
                output += [Tag.smallInteger, UInt8(value)]
            } else if let value = Int32(exactly: value) {
                output.append(Tag.integer)
                append(UInt32(bitPattern: value), width: 4, to: &output)
            } else {
                var magnitude: [UInt8] = []
                var rest = value.magnitude
                while rest > 0 {
                    magnitude.append(UInt8(truncatingIfNeeded: rest))
                    rest >>= 8
                }
                writeBig(negative: value < 0, magnitude: magnitude, to: &output)
            }
        case .bigInteger(let negative, let magnitude):
            writeBig(negative: negative, magnitude: magnitude, to: &output)
        case .float(let value):
            output.append(Tag.newFloat)
            let bits = value.bitPattern
            append(UInt32(truncatingIfNeeded: bits >> 32), width: 4, to: &output)
            append(UInt32(truncatingIfNeeded: bits), width: 4, to: &output)
        case .atom(let name):
            let utf8 = Array(name.utf8)
            if utf8.count <= 255 {
                output += [Tag.smallAtomUTF8, UInt8(utf8.count)]
            } else {
                output.append(Tag.atomUTF8)
                append(UInt32(utf8.count), width: 2, to: &output)
            }
            output += utf8
        case .binary(let bytes):
            output.append(Tag.binary)
            append(UInt32(bytes.count), width: 4, to: &output)
            output += bytes
        case .tuple(let elements):
            if elements.count <= 255 {
                output += [Tag.smallTuple, UInt8(elements.count)]
            } else {
                output.append(Tag.largeTuple)
                append(UInt32(elements.count), width: 4, to: &output)
            }
            for element in elements { write(element, to: &output) }
        case .list(let elements) where elements.isEmpty:
            output.append(Tag.nilList)
        case .list(let elements):
            let bytes = elements.count <= 0xFFFF ? elements.compactMap(byteValue) : []
            if bytes.count == elements.count {
                output.append(Tag.string)
                append(UInt32(bytes.count), width: 2, to: &output)
                output += bytes
            } else {
                output.append(Tag.list)
                append(UInt32(elements.count), width: 4, to: &output)
                for element in elements { write(element, to: &output) }
                output.append(Tag.nilList)
            }
        case .map(let entries):
            output.append(Tag.map)
            append(UInt32(entries.count), width: 4, to: &output)
            for entry in entries {
                write(entry.key, to: &output)
                write(entry.value, to: &output)
            }
        }
    }

    /// The byte an element of a STRING_EXT list would be: an integer 0...255.
    private static func byteValue(_ term: ErlangTerm) -> UInt8? {
        if case .integer(let value) = term { return UInt8(exactly: value) }
        return nil
    }

    private static func writeBig(negative: Bool, magnitude: [UInt8], to output: inout [UInt8]) {
        if magnitude.count <= 255 {
            output += [Tag.smallBig, UInt8(magnitude.count)]
        } else {
            output.append(Tag.largeBig)
            append(UInt32(magnitude.count), width: 4, to: &output)
        }
        output.append(negative ? 1 : 0)
        output += magnitude
    }

    private static func append(_ value: UInt32, width: Int, to output: inout [UInt8]) {
        for shift in stride(from: (width - 1) * 8, through: 0, by: -8) {
            output.append(UInt8(truncatingIfNeeded: value >> UInt32(shift)))
        }
    }
}

private extension String {
    /// Without leading and trailing spaces (FLOAT_EXT pads with NULs, which are cut before; some writers use spaces).
    var trimmingSpaces: Substring {
        let start = firstIndex { $0 != " " } ?? endIndex
        let end = lastIndex { $0 != " " }.map { index(after: $0) } ?? start
        return self[start..<end]
    }
}
