#if canImport(Glibc)
import Glibc
#endif

/// Fails the current input: prints what broke and aborts, so libFuzzer records a crash file.
public func propertyFailure(_ message: String, input: UnsafeRawBufferPointer? = nil) -> Never {
    var text = "PROPERTY FAILED: \(message)\n"
    if let input { text += "input (\(input.count) bytes): \(hex(input))\n" }
    fputs(text, stderr)
    abort()
}

/// Checks a property of the current input.
@inline(__always)
public func check(
    _ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String, input: UnsafeRawBufferPointer? = nil
) {
    if !condition() { propertyFailure(message(), input: input) }
}

/// Lowercase hex of at most the first 512 bytes.
public func hex<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
    let digits = Array("0123456789abcdef")
    var out = ""
    for byte in bytes.prefix(512) {
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 0xF)])
    }
    return bytes.count > 512 ? out + "…" : out
}

/// The input of `LLVMFuzzerTestOneInput` as a buffer.
@inline(__always)
public func fuzzInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> UnsafeRawBufferPointer {
    guard let data, size > 0 else { return UnsafeRawBufferPointer(start: nil, count: 0) }
    return UnsafeRawBufferPointer(start: data, count: size)
}
