import XCTest

@testable import PhoenixProtocol

final class SerializerVersionTests: XCTestCase {
    func testNegotiation() {
        XCTAssertEqual(SerializerVersion(vsn: nil), .v1)
        XCTAssertEqual(SerializerVersion(vsn: "1.0.0"), .v1)
        XCTAssertEqual(SerializerVersion(vsn: "1.1.3"), .v1)
        XCTAssertEqual(SerializerVersion(vsn: "2.0.0"), .v2)
        XCTAssertEqual(SerializerVersion(vsn: "2.1.0-rc.1+build.5"), .v2)
        XCTAssertEqual(SerializerVersion(vsn: "2.0.0+sha"), .v2)
        for refused in [
            "3.0.0", "0.9.0", "", "2", "2.0", "2.0.0.0", "v2.0.0", "02.0.0", "2.0.0-", "2.0.0-a..b", " 2.0.0",
            "2.0.0 ", "2.x", "1.0.0-rc+", "99999999999.0.0",
        ] {
            XCTAssertNil(SerializerVersion(vsn: refused), refused)
        }
    }

    func testFactory() {
        XCTAssertEqual(SerializerVersion.v1.serializer.version, .v1)
        XCTAssertEqual(SerializerVersion.v2.serializer.version, .v2)
        XCTAssertTrue(SerializerVersion(vsn: "2.0.0")?.serializer is V2JSONSerializer)
        XCTAssertEqual(SerializerVersion.v2.description, "2.0.0")
    }

    func testExistentialSerializerDecodesBothKinds() throws {
        let serializer: any MessageSerializer = SerializerVersion.v2.serializer
        let text = Array(#"["1","2","t","e",{}]"#.utf8)
        let message = try text.withUnsafeBytes { raw in try serializer.decode(raw, kind: .text) }
        XCTAssertEqual(message.topic, "t")
        let binary: [UInt8] = [0, 0, 0, 1, 1, 0x74, 0x65, 9]
        let binaryMessage = try binary.withUnsafeBytes { raw in try serializer.decode(raw, kind: .binary) }
        XCTAssertEqual(binaryMessage.payload, .binary([9]))
    }

    func testCloseReasonIsTruncatedToFitACloseFrame() {
        let error = MessageDecodingError(String(repeating: "é", count: 100))
        XCTAssertEqual(error.closeReason.utf8.count, 122)
        XCTAssertEqual(MessageDecodingError("short").closeReason, "short")
    }
}
