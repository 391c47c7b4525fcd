/// Incremental UTF-8 validation, so a text message split over many frames fails on the first
/// bad byte (RFC 6455 §8.1: fail the connection with 1007 as soon as invalid data is seen).
///
/// A byte-at-a-time DFA after Björn Höhrmann's decoder, with an ASCII fast path: Phoenix
/// traffic is almost all ASCII JSON.
struct UTF8Validator {
    private var state: UInt8 = UTF8Validator.accept

    private static let accept: UInt8 = 0
    private static let reject: UInt8 = 12

    /// Character classes of the 256 byte values.
    private static let classes: [UInt8] = {
        var table = [UInt8](repeating: 0, count: 256)
        for b in 0x80...0x8F { table[b] = 1 }
        for b in 0x90...0x9F { table[b] = 9 }
        for b in 0xA0...0xBF { table[b] = 7 }
        table[0xC0] = 8; table[0xC1] = 8
        for b in 0xC2...0xDF { table[b] = 2 }
        table[0xE0] = 10
        for b in 0xE1...0xEC { table[b] = 3 }
        table[0xED] = 4
        table[0xEE] = 3; table[0xEF] = 3
        table[0xF0] = 11
        for b in 0xF1...0xF3 { table[b] = 6 }
        table[0xF4] = 5
        for b in 0xF5...0xFF { table[b] = 8 }
        return table
    }()

    /// Transitions: state (a multiple of 12) + class → next state.
    private static let transitions: [UInt8] = [
        0, 12, 24, 36, 60, 96, 84, 12, 12, 12, 48, 72, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12,
        12, 0, 12, 12, 12, 12, 12, 0, 12, 0, 12, 12, 12, 24, 12, 12, 12, 12, 12, 24, 12, 24, 12, 12,
        12, 12, 12, 12, 12, 12, 12, 24, 12, 12, 12, 12, 12, 24, 12, 12, 12, 12, 12, 12, 12, 24, 12, 12,
        12, 12, 12, 12, 12, 12, 12, 36, 12, 36, 12, 12, 12, 36, 12, 12, 12, 12, 12, 36, 12, 36, 12, 12,
        12, 36, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12,
    ]

    /// Feeds more bytes; false as soon as they cannot be part of valid UTF-8.
    mutating func feed(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var state = self.state
        var index = 0
        let count = bytes.count
        while index < count {
            let byte = bytes[index]
            if byte < 0x80 && state == Self.accept {
                index += 1
                continue
            }
            state = Self.transitions[Int(state) + Int(Self.classes[Int(byte)])]
            if state == Self.reject {
                self.state = state
                return false
            }
            index += 1
        }
        self.state = state
        return true
    }

    /// True when the bytes so far end on a character boundary (checked at the end of a message).
    var isComplete: Bool { state == Self.accept }

    mutating func reset() { state = Self.accept }

    /// Validates a complete byte sequence.
    static func isValid(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var validator = UTF8Validator()
        return validator.feed(bytes) && validator.isComplete
    }
}
