/// Writes a Double the way Phoenix's JSON library does: `:erlang.float_to_binary(f, [:short])`.
///
/// Jason (`lib/encode.ex`, `float/1`) uses `float_to_binary(f, [:short])` (OTP 24+, else `io_lib_format:fwrite_g/1`,
/// which it mirrors). Both print the shortest digits that round-trip, then choose the layout with the rules of
/// `io_lib_format:insert_decimal/3`:
/// - always a `.0` or fraction: `1.0`, `100.0`, `0.1`, `-0.0`;
/// - scientific notation when it is not longer than the plain form: `1.0e3` for 1000, `1.2e3` for 1200, `1.0e-4`;
/// - scientific notation always when |f| >= 2^53 (and the digits do not already end at the decimal point);
/// - exponents without `+` or padding: `1.0e21`, `1.0e-7`, `5.0e-324`.
enum ErlangFloatFormat {
    /// Appends `value` (finite) to `buffer`.
    static func write(_ value: Double, into buffer: inout [UInt8]) {
        if value.sign == .minus { buffer.append(UInt8(ascii: "-")) }
        if value == 0 {
            buffer.append(contentsOf: [UInt8(ascii: "0"), UInt8(ascii: "."), UInt8(ascii: "0")])
            return
        }
        // A double has at most 17 significant digits; the digits live on the stack.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { storage in
            let (count, place) = shortestDigits(of: value.magnitude, into: storage)
            let digits = UnsafeBufferPointer(rebasing: storage[0..<count])
            insertDecimal(
                place: place, digits: digits, isBig: value.magnitude >= 9_007_199_254_740_992.0, into: &buffer)
        }
    }

    /// Writes the shortest round-trip decimal digits of `magnitude` (> 0, no leading or trailing zeros) into
    /// `digits` and returns how many, with the power of ten of the last one: magnitude == digits × 10^place.
    ///
    /// Swift's `description` already prints the shortest round-trip digits (like Erlang's Ryu-based printer);
    /// only its layout differs (`1e-07`, `1e+21`), so we read the digits back out of it.
    static func shortestDigits(of magnitude: Double, into digits: UnsafeMutableBufferPointer<UInt8>) -> (Int, Int) {
        var count = 0
        var fractionDigits = 0
        var inFraction = false
        var exponent = 0
        var exponentSign = 1
        var inExponent = false
        for byte in magnitude.description.utf8 {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                if inExponent {
                    exponent = exponent * 10 + Int(byte - UInt8(ascii: "0"))
                } else {
                    // Leading zeros carry no information.
                    if (count > 0 || byte != UInt8(ascii: "0")) && count < digits.count {
                        digits[count] = byte
                        count += 1
                    }
                    if inFraction { fractionDigits += 1 }
                }
            case UInt8(ascii: "."): inFraction = true
            case UInt8(ascii: "e"), UInt8(ascii: "E"): inExponent = true
            case UInt8(ascii: "-"): exponentSign = -1
            default: break  // "+"
            }
        }
        var place = exponentSign * exponent - fractionDigits
        while count > 1 && digits[count - 1] == UInt8(ascii: "0") {
            count -= 1
            place += 1
        }
        return (count, place)
    }

    /// `io_lib_format:insert_decimal/3`: digits S with value S × 10^place, laid out plain or scientific.
    static func insertDecimal(place: Int, digits: UnsafeBufferPointer<UInt8>, isBig: Bool, into buffer: inout [UInt8]) {
        let length = digits.count
        let exponent = place + length - 1
        let exponentCost = decimalWidth(exponent) + 2  // "e" and ".0" or "."
        if place < 0 {
            if exponent >= 0 {
                // The point falls inside the digits: 123.456
                let split = length + place
                buffer.append(contentsOf: UnsafeBufferPointer(rebasing: digits[0..<split]))
                buffer.append(UInt8(ascii: "."))
                buffer.append(contentsOf: UnsafeBufferPointer(rebasing: digits[split...]))
            } else if 2 - place - length <= exponentCost {
                // 0.001 is no longer than 1.0e-3
                buffer.append(contentsOf: [UInt8(ascii: "0"), UInt8(ascii: ".")])
                buffer.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: -place - length))
                buffer.append(contentsOf: digits)
            } else {
                insertExponent(exponent, digits: digits, into: &buffer)
            }
        } else {
            let dot = length == 1 ? 1 : 0
            // Erlang shows floats >= 2^53 in scientific notation: past 2^53 not every integer is a double.
            if exponentCost + dot >= place + 2 && !isBig {
                buffer.append(contentsOf: digits)
                buffer.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: place))
                buffer.append(contentsOf: [UInt8(ascii: "."), UInt8(ascii: "0")])
            } else {
                insertExponent(exponent, digits: digits, into: &buffer)
            }
        }
    }

    /// `d.ddde<exp>`, or `d.0e<exp>` for a single digit.
    static func insertExponent(_ exponent: Int, digits: UnsafeBufferPointer<UInt8>, into buffer: inout [UInt8]) {
        buffer.append(digits[0])
        buffer.append(UInt8(ascii: "."))
        if digits.count == 1 {
            buffer.append(UInt8(ascii: "0"))
        } else {
            buffer.append(contentsOf: UnsafeBufferPointer(rebasing: digits[1...]))
        }
        buffer.append(UInt8(ascii: "e"))
        JSONWriter.writeInteger(Int64(exponent), into: &buffer)
    }

    /// Characters in the decimal form of `number`, sign included (`integer_to_list` length).
    static func decimalWidth(_ number: Int) -> Int {
        var magnitude = number.magnitude
        var width = number < 0 ? 2 : 1
        while magnitude >= 10 {
            magnitude /= 10
            width += 1
        }
        return width
    }
}
