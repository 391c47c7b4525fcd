import XCTest
@testable import LuaRuntime

final class LuaRuntimeSmokeTests: XCTestCase { func testLinks() {} }
