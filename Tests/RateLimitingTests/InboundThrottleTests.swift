import RateLimiting
import XCTest

private let second: UInt64 = 1_000_000_000
private let millisecond: UInt64 = 1_000_000

final class InboundThrottleTests: XCTestCase {
    /// A client sending as fast as the throttle lets it: every `wait` is honoured to the nanosecond.
    private func flood(_ throttle: inout InboundThrottle, from start: UInt64, until end: UInt64) -> (taken: Int, last: InboundThrottle.Admission) {
        var now = start
        var taken = 0
        while now <= end {
            switch throttle.admit(now: now) {
            case .proceed: taken += 1
            case .wait(let until): now = until
            case .close(let after): return (taken, .close(throttledNanoseconds: after))
            }
        }
        return (taken, .proceed)
    }

    func testAFloodGetsTheBurstThenTheRate() {
        var throttle = InboundThrottle(ratePerSecond: 100, burst: 200, graceNanoseconds: nil, now: 0)
        let (taken, last) = flood(&throttle, from: 0, until: 30 * second)
        XCTAssertEqual(last, .proceed, "no grace: never closed")
        XCTAssertEqual(taken, 200 + 30 * 100, "the burst, then 100 a second")
    }

    func testWaitUntilTheNextToken() {
        var throttle = InboundThrottle(ratePerSecond: 50, burst: 2, graceNanoseconds: nil, now: 0)
        XCTAssertEqual(throttle.admit(now: 0), .proceed)
        XCTAssertEqual(throttle.admit(now: 0), .proceed)
        XCTAssertNil(throttle.pausedSince)
        XCTAssertEqual(throttle.admit(now: 0), .wait(until: 20 * millisecond))
        XCTAssertEqual(throttle.pausedSince, 0)
        XCTAssertEqual(throttle.throttledSince, 0)
        XCTAssertEqual(throttle.admit(now: 20 * millisecond), .proceed)
        XCTAssertNil(throttle.pausedSince, "reading again")
        XCTAssertEqual(throttle.throttledSince, 0, "still throttled: the bucket has not refilled")
    }

    func testStayingOverTheRatePastTheGraceCloses() {
        var throttle = InboundThrottle(ratePerSecond: 100, burst: 200, graceNanoseconds: 10 * second, now: 0)
        let (taken, last) = flood(&throttle, from: 0, until: 60 * second)
        guard case .close(let after) = last else { return XCTFail("expected a close, got \(last)") }
        XCTAssertGreaterThan(after, 10 * second)
        XCTAssertLessThanOrEqual(after, 10 * second + 10 * millisecond, "closed at the first refusal past the grace")
        // The burst ran out at once, so throttling began at 0: the burst plus 10 s at the rate, then the close.
        XCTAssertTrue((200 + 1000...200 + 1002).contains(taken), "\(taken)")
        XCTAssertNil(throttle.pausedSince)
    }

    func testAQuietSpellThatRefillsTheBucketEndsTheThrottling() {
        var throttle = InboundThrottle(ratePerSecond: 10, burst: 5, graceNanoseconds: 2 * second, now: 0)
        for _ in 0..<5 { XCTAssertEqual(throttle.admit(now: 0), .proceed) }
        XCTAssertEqual(throttle.admit(now: 0), .wait(until: 100 * millisecond))
        // Back within the limit for a while, but never long enough to refill: the stretch goes on.
        var now: UInt64 = 100 * millisecond
        for _ in 0..<15 {
            XCTAssertEqual(throttle.admit(now: now), .proceed)
            now += 100 * millisecond
        }
        XCTAssertEqual(throttle.throttledSince, 0)
        // Quiet for the 0.5 s a full refill takes: the next refusal starts a new stretch, no close.
        now += 500 * millisecond
        for _ in 0..<5 { XCTAssertEqual(throttle.admit(now: now), .proceed) }
        XCTAssertNil(throttle.throttledSince)
        guard case .wait = throttle.admit(now: now) else { return XCTFail("the bucket is empty again") }
        XCTAssertEqual(throttle.throttledSince, now)
    }

    func testAClientJustUnderTheRateIsNeverThrottled() {
        var throttle = InboundThrottle(ratePerSecond: 100, burst: 200, graceNanoseconds: 10 * second, now: 0)
        var now: UInt64 = 0
        for _ in 0..<10_000 {
            XCTAssertEqual(throttle.admit(now: now), .proceed)
            now += 10_100_000  // 99 a second
        }
        XCTAssertNil(throttle.throttledSince)
    }
}
