import TestSupport
import XCTest

@testable import PhoenixProtocol

/// Randomized round trips with a seeded generator: every failure reproduces.
final class RoundTripTests: XCTestCase {
    func testRandomValuesRoundTripThroughWriterAndParser() throws {
        var generator = SplitMix64(seed: 0x5EED_1234)
        for iteration in 0..<1_500 {
            let value = randomValue(depth: 0, using: &generator)
            let bytes = try JSONWriter.encode(value)
            let parsed = try JSONParser().parse(bytes)
            XCTAssertEqual(parsed, value, "iteration \(iteration): \(String(decoding: bytes, as: UTF8.self))")
            // Canonical output is a fixed point: writing the parsed value gives the same bytes.
            XCTAssertEqual(try JSONWriter.encode(parsed), bytes, "iteration \(iteration)")
            if parsed != value { return }
        }
    }

    func testRandomDoublesRoundTripExactly() throws {
        var generator = SplitMix64(seed: 42)
        for _ in 0..<20_000 {
            let double = Double(bitPattern: generator.next())
            guard double.isFinite else { continue }
            let text = try JSONWriter.encodeToString(.double(double))
            guard case .double(let back) = try JSONParser().parse(text) else {
                return XCTFail("\(text) did not parse as a double")
            }
            XCTAssertEqual(back.bitPattern, double.bitPattern, text)
            XCTAssertFalse(text.contains("+") || text.contains("e0") || text.contains("e-0"), text)
        }
    }

    func testRandomMessagesRoundTripThroughBothSerializers() throws {
        var generator = SplitMix64(seed: 7)
        let v1 = V1JSONSerializer()
        let v2 = V2JSONSerializer()
        for _ in 0..<500 {
            let message = Message(
                joinRef: randomScalar(using: &generator), ref: randomScalar(using: &generator),
                topic: randomString(using: &generator), event: randomString(using: &generator),
                payload: .json(randomValue(depth: 0, using: &generator)))
            XCTAssertEqual(try v2.decodeText(try v2.encode(message).bytes), message)
            var v1Message = try v1.decodeText(try v1.encode(message).bytes)
            XCTAssertEqual(v1Message.joinRef, .null, "V1 never sends join_ref")
            v1Message.joinRef = message.joinRef
            XCTAssertEqual(v1Message, message)

            let data = (0..<Int.random(in: 0..<40, using: &generator)).map { _ in
                UInt8.random(in: 0...255, using: &generator)
            }
            let push = Message(
                joinRef: .string(randomString(using: &generator)), ref: .string(randomString(using: &generator)),
                topic: message.topic, event: message.event, payload: .binary(data))
            let frame = clientPushFrame(push, data: data)
            XCTAssertEqual(try v2.decodeBinary(frame), push)
        }
    }

    // MARK: - Generators

    /// A client → server binary push, built independently of the serializer.
    func clientPushFrame(_ message: Message, data: [UInt8]) -> [UInt8] {
        let fields = [message.joinRef.stringValue ?? "", message.ref.stringValue ?? "", message.topic, message.event]
        let bytes = fields.map { Array($0.utf8) }
        return [0] + bytes.map { UInt8($0.count) } + bytes.flatMap { $0 } + data
    }

    func randomValue(depth: Int, using generator: inout SplitMix64) -> JSONValue {
        let choice = Int.random(in: 0..<(depth >= 4 ? 5 : 7), using: &generator)
        switch choice {
        case 0..<5: return randomScalar(using: &generator)
        case 5:
            let count = Int.random(in: 0..<5, using: &generator)
            return .array((0..<count).map { _ in randomValue(depth: depth + 1, using: &generator) })
        default:
            var members: [String: JSONValue] = [:]
            for _ in 0..<Int.random(in: 0..<5, using: &generator) {
                members[randomString(using: &generator)] = randomValue(depth: depth + 1, using: &generator)
            }
            return .object(members)
        }
    }

    func randomScalar(using generator: inout SplitMix64) -> JSONValue {
        switch Int.random(in: 0..<6, using: &generator) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &generator))
        case 2: return .integer(Int64(bitPattern: generator.next()) >> Int64.random(in: 0..<64, using: &generator))
        case 3:
            let double = Double(bitPattern: generator.next())
            return .double(double.isFinite ? double : Double.random(in: -1e6...1e6, using: &generator))
        case 4: return .double(Double(Int.random(in: -100_000...100_000, using: &generator)) / 8)
        default: return .string(randomString(using: &generator))
        }
    }

    /// Strings mixing ASCII, control characters, quotes, backslashes and multi-byte scalars.
    func randomString(using generator: inout SplitMix64) -> String {
        let pool: [Unicode.Scalar] = [
            "a", "Z", "0", " ", "\"", "\\", "/", "\n", "\t", "\u{0}", "\u{1F}", "\u{7F}", "é", "€", "😀", "\u{2028}",
            "\u{FFFF}", "\u{10FFFF}", ":",
        ]
        var string = ""
        for _ in 0..<Int.random(in: 0..<12, using: &generator) {
            string.unicodeScalars.append(pool[Int.random(in: 0..<pool.count, using: &generator)])
        }
        return string
    }
}
