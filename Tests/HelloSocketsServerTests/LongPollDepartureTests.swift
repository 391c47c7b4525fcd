@testable import HelloSocketsServer
import XCTest

/// A forwarded poll is withdrawn when its client leaves, including a client that left before the forward was set
/// up (while the request hopped to the session's loop and back): otherwise the owner answered a closed connection
/// and the frames in that answer were lost.
final class LongPollDepartureTests: XCTestCase {
    func testTheActionRunsWhenTheClientLeaves() {
        let departure = LongPollDeparture()
        var runs = 0
        departure.onLeave { runs += 1 }
        XCTAssertEqual(runs, 0)
        departure.clientLeft()
        XCTAssertEqual(runs, 1)
        departure.clientLeft()
        XCTAssertEqual(runs, 1, "once")
    }

    func testAnActionSetAfterTheClientLeftRunsAtOnce() {
        let departure = LongPollDeparture()
        departure.clientLeft()
        var runs = 0
        departure.onLeave { runs += 1 }
        XCTAssertEqual(runs, 1)
    }
}
