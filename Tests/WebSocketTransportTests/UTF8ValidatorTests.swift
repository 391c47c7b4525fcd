import TestSupport
import XCTest

@testable import WebSocketTransport

final class UTF8ValidatorTests: XCTestCase {
    private func isValid(_ bytes: [UInt8]) -> Bool { bytes.withUnsafeBytes { UTF8Validator.isValid($0) } }

    func testAcceptsValidText() {
        for text in ["", "hello", "κόσμε", "日本語", "😀 emoji", "\u{10FFFF}", "\u{FFFF}"] {
            XCTAssertTrue(isValid(Array(text.utf8)), text)
        }
    }

    func testRejectsInvalidSequences() {
        let invalid: [[UInt8]] = [
            [0xCE],  // truncated
            [0xC0, 0x80],  // overlong NUL
            [0xED, 0xA0, 0x80],  // UTF-16 surrogate
            [0xF4, 0x90, 0x80, 0x80],  // above U+10FFFF
            [0xFF],
            [0x80],  // lone continuation
            [0xE0, 0x80, 0x80],  // overlong
        ]
        for bytes in invalid { XCTAssertFalse(isValid(bytes), "\(bytes)") }
    }

    func testFailsFastInTheMiddleOfAStream() {
        var validator = UTF8Validator()
        XCTAssertTrue(([0xCE] as [UInt8]).withUnsafeBytes { validator.feed($0) })
        XCTAssertFalse(validator.isComplete)
        XCTAssertTrue(([0xBA] as [UInt8]).withUnsafeBytes { validator.feed($0) })  // κ completed across chunks
        XCTAssertTrue(validator.isComplete)
        XCTAssertFalse(([0xF4, 0x90] as [UInt8]).withUnsafeBytes { validator.feed($0) })  // invalid before the sequence ends
    }

    func testAgreesWithTheStandardLibraryOnRandomInput() {
        var generator = SplitMix64(seed: 6455)
        for _ in 0..<2000 {
            let bytes = (0..<Int.random(in: 0...8, using: &generator)).map { _ in
                UInt8.random(in: [0x00, 0x7F, 0x80, 0xBF, 0xC2, 0xE0, 0xED, 0xF0, 0xF4, 0xFF].randomElement(using: &generator)!...0xFF, using: &generator)
            }
            XCTAssertEqual(isValid(bytes), String(validating: bytes, as: UTF8.self) != nil, "\(bytes)")
        }
    }
}

