import XCTest
@testable import HelloSocketsServer

final class HelloSocketsServerSmokeTests: XCTestCase { func testLinks() {} }
