import XCTest

@testable import PhoenixProtocol

/// Parses JSON text for test fixtures.
func json(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> JSONValue {
    do {
        return try JSONParser().parse(text)
    } catch {
        XCTFail("fixture is not JSON: \(error)", file: file, line: line)
        return .null
    }
}

/// The parse error for `text`, or nil when it parses.
func parseError(_ text: String, maxDepth: Int = 128) -> JSONParseError? {
    do {
        _ = try JSONParser(maxDepth: maxDepth).parse(text)
        return nil
    } catch {
        return error
    }
}

/// Compact JSON of `value` as a string.
func encoded(_ value: JSONValue, file: StaticString = #filePath, line: UInt = #line) -> String {
    do {
        return try JSONWriter.encodeToString(value)
    } catch {
        XCTFail("cannot encode: \(error)", file: file, line: line)
        return ""
    }
}

/// The decoding error a serializer gives for a text frame, or nil when it decodes.
func textDecodingError(_ serializer: some MessageSerializer, _ text: String) -> MessageDecodingError? {
    do {
        _ = try serializer.decodeText(text)
        return nil
    } catch {
        return error
    }
}

/// The decoding error a serializer gives for a binary frame, or nil when it decodes.
func binaryDecodingError(_ serializer: some MessageSerializer, _ bytes: [UInt8]) -> MessageDecodingError? {
    do {
        _ = try serializer.decodeBinary(bytes)
        return nil
    } catch {
        return error
    }
}

/// The encoding error a serializer gives for a message, or nil when it encodes.
func encodingError(_ serializer: some MessageSerializer, _ message: Message) -> MessageEncodingError? {
    do {
        _ = try serializer.encode(message)
        return nil
    } catch {
        return error
    }
}

