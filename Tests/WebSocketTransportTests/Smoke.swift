import XCTest
@testable import WebSocketTransport

final class WebSocketTransportSmokeTests: XCTestCase { func testLinks() {} }
