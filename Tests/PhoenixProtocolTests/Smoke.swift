import XCTest
@testable import PhoenixProtocol

final class PhoenixProtocolSmokeTests: XCTestCase { func testLinks() {} }
