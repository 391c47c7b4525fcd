import FuzzSupport
import PhoenixProtocol

/// JSONParser on arbitrary bytes: never crashes; whatever parses is written by JSONWriter and parses back to an
/// equal value, and writing that value again gives the same bytes (the writer's output is canonical).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = fuzzInput(data, size)
    let parser = JSONParser()
    let value: JSONValue
    do {
        value = try parser.parse(input)
    } catch {
        check(error.offset >= 0 && error.offset <= input.count, "error offset \(error.offset) outside the input", input: input)
        return 0
    }
    let written: [UInt8]
    do {
        written = try JSONWriter.encode(value)
    } catch {
        propertyFailure("a parsed value cannot be written: \(error)", input: input)
    }
    let reparsed: JSONValue
    do {
        reparsed = try parser.parse(written)
    } catch {
        propertyFailure("written JSON does not parse: \(error)\nwritten: \(String(decoding: written, as: UTF8.self))", input: input)
    }
    check(reparsed == value, "round trip changed the value:\n\(value)\n\(reparsed)\nwritten: \(String(decoding: written, as: UTF8.self))", input: input)
    let rewritten = (try? JSONWriter.encode(reparsed)) ?? []
    check(rewritten == written, "writing is not stable:\n\(String(decoding: written, as: UTF8.self))\n\(String(decoding: rewritten, as: UTF8.self))", input: input)
    return 0
}
