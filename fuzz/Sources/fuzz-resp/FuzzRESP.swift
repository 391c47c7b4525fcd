import FuzzSupport
import NIOCore
import RedisClient

/// Small bounds, so the fuzzer reaches every limit with short inputs.
private let tightLimits = RESPLimits(
    maxBulkLength: 64, maxArrayLength: 8, maxDepth: 4, maxLineLength: 32, maxReplyBytes: 256)
/// Bounds no re-parse of a written value can reach (writing may grow a line: invalid UTF-8 becomes U+FFFD).
private let looseLimits = RESPLimits(
    maxBulkLength: 1 << 30, maxArrayLength: 1 << 30, maxDepth: 1 << 20,
    maxLineLength: 1 << 30, maxReplyBytes: 1 << 30)

private struct Outcome {
    var values: [RESPValue] = []
    var error: RESPDecodingError?
    var leftover = 0
}

/// Parses `bytes` fed `chunk` bytes at a time (0: all at once), as a connection receives them.
private func parse(_ bytes: UnsafeRawBufferPointer, chunk: Int, limits: RESPLimits) -> Outcome {
    var parser = RESPParser(limits: limits)
    var buffer = ByteBuffer()
    var outcome = Outcome()
    var offset = 0
    repeat {
        let end = chunk == 0 ? bytes.count : min(bytes.count, offset + chunk)
        buffer.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[offset..<end]))
        offset = end
        do {
            while let value = try parser.next(from: &buffer) { outcome.values.append(value) }
        } catch let error as RESPDecodingError {
            outcome.error = error
            return outcome
        } catch {
            propertyFailure("parser threw a non-RESP error: \(error)", input: bytes)
        }
    } while offset < bytes.count
    outcome.leftover = buffer.readableBytes
    return outcome
}

private func written(_ value: RESPValue) -> ByteBuffer {
    var buffer = ByteBuffer()
    value.write(to: &buffer)
    return buffer
}

/// Every bound of `limits` holds for `value` (depth counts aggregates, 1 for a top-level array).
private func checkBounds(_ value: RESPValue, _ limits: RESPLimits, depth: Int, input: UnsafeRawBufferPointer) {
    switch value {
    case .bulkString(let bytes?):
        check(bytes.readableBytes <= limits.maxBulkLength, "bulk of \(bytes.readableBytes) bytes passed", input: input)
    case .simpleString(let text), .bigNumber(let text):
        check(text.utf8.count <= 3 * limits.maxLineLength, "line of \(text.utf8.count) bytes passed", input: input)
    case .array(let elements?), .set(let elements), .push(let elements), .map(let elements):
        check(depth + 1 <= limits.maxDepth, "nesting \(depth + 1) passed", input: input)
        let count = value.isMap ? elements.count / 2 : elements.count
        check(count <= limits.maxArrayLength, "aggregate of \(count) passed", input: input)
        for element in elements { checkBounds(element, limits, depth: depth + 1, input: input) }
    default:
        break
    }
}

extension RESPValue {
    fileprivate var isMap: Bool {
        if case .map = self { return true }
        return false
    }
}

/// RESPParser on arbitrary bytes (byte 0 picks the read size and the bounds): never crashes; any chunking gives the
/// same replies, error and leftover as one read; replies respect the bounds; a reply written back parses to one
/// reply that writes the same bytes again.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRESP(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = fuzzInput(data, size)
    guard let options = input.first else { return 0 }
    let bytes = UnsafeRawBufferPointer(rebasing: input.dropFirst())
    let limits = options & 0x80 != 0 ? tightLimits : RESPLimits()
    let chunk = Int(options & 0x3F) + 1

    let whole = parse(bytes, chunk: 0, limits: limits)
    let pieces = parse(bytes, chunk: chunk, limits: limits)
    check(
        whole.error == pieces.error,
        "error differs with \(chunk)-byte reads: \(whole.error.map { "\($0)" } ?? "none") vs "
            + "\(pieces.error.map { "\($0)" } ?? "none")",
        input: input)
    check(
        whole.values.count == pieces.values.count,
        "\(whole.values.count) replies whole, \(pieces.values.count) in \(chunk)-byte reads", input: input)
    check(whole.leftover == pieces.leftover, "leftover differs with \(chunk)-byte reads", input: input)
    for (a, b) in zip(whole.values, pieces.values) {
        check(written(a) == written(b), "reply differs with \(chunk)-byte reads:\n\(a)\n\(b)", input: input)
    }

    for value in whole.values {
        checkBounds(value, limits, depth: 0, input: input)
        let first = written(value)
        var reparser = RESPParser(limits: looseLimits)
        var buffer = first
        let reparsed: RESPValue?
        do {
            reparsed = try reparser.next(from: &buffer)
        } catch {
            propertyFailure(
                "written reply does not parse: \(error)\nwritten: \(hex(first.readableBytesView))", input: input)
        }
        guard let reparsed else {
            propertyFailure("written reply is incomplete: \(hex(first.readableBytesView))", input: input)
        }
        check(buffer.readableBytes == 0, "written reply parses with bytes left over", input: input)
        check(written(reparsed) == first, "writing is not stable:\n\(value)\n\(reparsed)", input: input)
    }
    return 0
}
