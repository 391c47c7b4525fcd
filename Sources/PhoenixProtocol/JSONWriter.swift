/// Writes `JSONValue`s as compact JSON bytes, exactly as Phoenix's Jason encoder does by default.
///
/// - Output is appended to a caller-owned `[UInt8]`, so a connection can reuse one buffer for every frame.
/// - Object keys are sorted by their UTF-8 bytes: Erlang small maps (≤ 32 keys) iterate in term order, which for
///   binaries is byte order, so Jason's output for them is key-sorted (PROTOCOL.md, our rule 10).
/// - Strings are escaped like Jason's `escape: :json` (`lib/encode.ex`, `escape_json`): `\"`, `\\`, `\b`, `\t`,
///   `\n`, `\f`, `\r`, other bytes below 0x20 as `\u00XX` with uppercase hex (`io_lib:format("\\u~4.16.0B")`).
///   `/`, DEL and non-ASCII are written as they are.
/// - Doubles are written like `:erlang.float_to_binary(f, [:short])`: `1.0`, `0.1`, `1.0e21`, `1.0e-7`, `-0.0`.
///   NaN and infinities have no JSON form and throw.
public enum JSONWriter {
    /// Appends the compact JSON text of `value` to `buffer`.
    public static func write(_ value: JSONValue, into buffer: inout [UInt8]) throws(JSONWriteError) {
        switch value {
        case .null:
            buffer.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C])  // null
        case .bool(let flag):
            if flag {
                buffer.append(contentsOf: [0x74, 0x72, 0x75, 0x65])  // true
            } else {
                buffer.append(contentsOf: [0x66, 0x61, 0x6C, 0x73, 0x65])  // false
            }
        case .integer(let number):
            writeInteger(number, into: &buffer)
        case .double(let number):
            try writeDouble(number, into: &buffer)
        case .string(let string):
            writeString(string, into: &buffer)
        case .array(let elements):
            buffer.append(UInt8(ascii: "["))
            var first = true
            for element in elements {
                if !first { buffer.append(UInt8(ascii: ",")) }
                first = false
                try write(element, into: &buffer)
            }
            buffer.append(UInt8(ascii: "]"))
        case .object(let members):
            try writeObject(members, into: &buffer)
        }
    }

    /// Appends the payload of a `phx_reply`, `{"response":…,"status":"…"}` (the keys in byte order, as `write`
    /// orders them), without building the object `Message.reply` holds: one dictionary less per reply.
    public static func writeReplyPayload(status: String, response: JSONValue, into buffer: inout [UInt8]) throws(JSONWriteError) {
        buffer.append(contentsOf: #"{"response":"#.utf8)
        try write(response, into: &buffer)
        buffer.append(contentsOf: #","status":"#.utf8)
        writeString(status, into: &buffer)
        buffer.append(UInt8(ascii: "}"))
    }

    /// The compact JSON text of `value` as a new byte array.
    public static func encode(_ value: JSONValue) throws(JSONWriteError) -> [UInt8] {
        var buffer: [UInt8] = []
        try write(value, into: &buffer)
        return buffer
    }

    /// The compact JSON text of `value` as a string (for logs and tests).
    public static func encodeToString(_ value: JSONValue) throws(JSONWriteError) -> String {
        String(decoding: try encode(value), as: UTF8.self)
    }

    /// Appends an object with its keys sorted by UTF-8 bytes.
    static func writeObject(_ members: [String: JSONValue], into buffer: inout [UInt8]) throws(JSONWriteError) {
        buffer.append(UInt8(ascii: "{"))
        if members.count == 1, let (key, value) = members.first {
            writeString(key, into: &buffer)
            buffer.append(UInt8(ascii: ":"))
            try write(value, into: &buffer)
        } else if members.count == 2 {
            // Replies ({"response","status"}) and many small payloads: order two keys without sorting an array.
            var iterator = members.makeIterator()
            var first = iterator.next()!, second = iterator.next()!
            if utf8Precedes(second.key, first.key) { swap(&first, &second) }
            writeString(first.key, into: &buffer)
            buffer.append(UInt8(ascii: ":"))
            try write(first.value, into: &buffer)
            buffer.append(UInt8(ascii: ","))
            writeString(second.key, into: &buffer)
            buffer.append(UInt8(ascii: ":"))
            try write(second.value, into: &buffer)
        } else if members.count > 1 {
            // Sort by bytes, not by String's `<` (which compares canonically normalized scalars).
            let sorted = members.sorted { utf8Precedes($0.key, $1.key) }
            var first = true
            for (key, value) in sorted {
                if !first { buffer.append(UInt8(ascii: ",")) }
                first = false
                writeString(key, into: &buffer)
                buffer.append(UInt8(ascii: ":"))
                try write(value, into: &buffer)
            }
        }
        buffer.append(UInt8(ascii: "}"))
    }

    /// Whether `a`'s UTF-8 bytes sort before `b`'s; compares contiguous storage directly when it can.
    static func utf8Precedes(_ a: String, _ b: String) -> Bool {
        let fast = a.utf8.withContiguousStorageIfAvailable { left in
            b.utf8.withContiguousStorageIfAvailable { right -> Bool in
                let common = min(left.count, right.count)
                var index = 0
                while index < common {
                    if left[index] != right[index] { return left[index] < right[index] }
                    index += 1
                }
                return left.count < right.count
            }
        }
        if let fast, let result = fast { return result }
        return a.utf8.lexicographicallyPrecedes(b.utf8)
    }

    /// Appends a quoted, escaped JSON string.
    public static func writeString(_ string: String, into buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: "\""))
        var string = string
        string.withUTF8 { utf8 in writeEscaped(UnsafeRawBufferPointer(utf8), into: &buffer) }
        buffer.append(UInt8(ascii: "\""))
    }

    /// Appends UTF-8 bytes escaped for the inside of a JSON string (no quotes), copying unescaped runs at once.
    public static func writeEscaped(_ bytes: UnsafeRawBufferPointer, into buffer: inout [UInt8]) {
        var runStart = 0
        var index = 0
        let count = bytes.count
        while index < count {
            let byte = bytes[index]
            if byte >= 0x20 && byte != 0x22 && byte != 0x5C {
                index += 1
                continue
            }
            if runStart < index { buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart..<index])) }
            buffer.append(UInt8(ascii: "\\"))
            switch byte {
            case 0x22: buffer.append(0x22)
            case 0x5C: buffer.append(0x5C)
            case 0x08: buffer.append(UInt8(ascii: "b"))
            case 0x09: buffer.append(UInt8(ascii: "t"))
            case 0x0A: buffer.append(UInt8(ascii: "n"))
            case 0x0C: buffer.append(UInt8(ascii: "f"))
            case 0x0D: buffer.append(UInt8(ascii: "r"))
            default:
                buffer.append(contentsOf: [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                buffer.append(upperHexDigit(byte >> 4))
                buffer.append(upperHexDigit(byte & 0x0F))
            }
            index += 1
            runStart = index
        }
        if runStart < count { buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart..<count])) }
    }

    @inline(__always)
    static func upperHexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "A") + nibble - 10
    }

    /// Appends the decimal digits of `number`, without allocating.
    public static func writeInteger(_ number: Int64, into buffer: inout [UInt8]) {
        if number < 0 { buffer.append(UInt8(ascii: "-")) }
        var magnitude = number.magnitude
        if magnitude < 10 {
            buffer.append(UInt8(ascii: "0") + UInt8(magnitude))
            return
        }
        // 20 digits hold UInt64.max; fill from the end, then copy the used tail.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var position = 20
            while magnitude > 0 {
                position -= 1
                digits[position] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            }
            buffer.append(contentsOf: UnsafeBufferPointer(rebasing: digits[position..<20]))
        }
    }

    /// Appends `number` as Erlang's `float_to_binary(f, [:short])` would; NaN and infinities throw.
    public static func writeDouble(_ number: Double, into buffer: inout [UInt8]) throws(JSONWriteError) {
        guard number.isFinite else {
            throw JSONWriteError(reason: "cannot encode \(number) as JSON: not a finite number")
        }
        ErlangFloatFormat.write(number, into: &buffer)
    }
}
