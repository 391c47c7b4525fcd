import RateLimiting
import XCTest

private let second: UInt64 = 1_000_000_000
private let millisecond: UInt64 = 1_000_000

final class TokenBucketTests: XCTestCase {
    func testABurstThenTheRate() {
        var bucket = TokenBucket(ratePerSecond: 10, burst: 3, now: 0)
        XCTAssertEqual((0..<5).map { _ in bucket.take(now: 0) }, [true, true, true, false, false])
        XCTAssertEqual(bucket.tokenDue(now: 0), 100 * millisecond)
        XCTAssertFalse(bucket.take(now: 99 * millisecond))
        XCTAssertTrue(bucket.take(now: 100 * millisecond))
        XCTAssertFalse(bucket.take(now: 100 * millisecond))
    }

    func testWaitingUntilTheTokenIsDueIsEnough() {
        // Fractional rates: the due time is rounded up, so a wait of exactly that long always gets the token.
        for rate in [3.0, 7.0, 0.3, 1234.5] {
            var bucket = TokenBucket(ratePerSecond: rate, burst: 1, now: 5)
            XCTAssertTrue(bucket.take(now: 5))
            var now: UInt64 = 5
            for _ in 0..<100 {
                now = bucket.tokenDue(now: now)
                XCTAssertTrue(bucket.take(now: now), "rate \(rate) at \(now)")
            }
            XCTAssertEqual(Double(now - 5) / 1e9, 100 / rate, accuracy: 1e-6, "100 tokens take 100 / rate seconds")
        }
    }

    func testRefillStopsAtTheBurst() {
        var bucket = TokenBucket(ratePerSecond: 100, burst: 2, now: 0)
        XCTAssertTrue(bucket.take(now: 0))
        XCTAssertFalse(bucket.isFull)
        bucket.refill(now: 10 * second)
        XCTAssertTrue(bucket.isFull)
        XCTAssertEqual(bucket.tokens, 2)
    }

    func testAClockGoingBackwardsAddsNothing() {
        var bucket = TokenBucket(ratePerSecond: 1, burst: 1, now: 10 * second)
        XCTAssertTrue(bucket.take(now: 10 * second))
        XCTAssertFalse(bucket.take(now: 5 * second))
        XCTAssertTrue(bucket.take(now: 11 * second))
    }

    func testReconfigureKeepsTheTokensUpToTheNewBurst() {
        var bucket = TokenBucket(ratePerSecond: 1, burst: 10, now: 0)
        bucket.reconfigure(ratePerSecond: 100, burst: 2, now: 0)
        XCTAssertEqual(bucket.tokens, 2)
        XCTAssertTrue(bucket.take(now: 0))
        XCTAssertTrue(bucket.take(now: 0))
        XCTAssertFalse(bucket.take(now: 0))
        XCTAssertTrue(bucket.take(now: 10 * millisecond), "the new rate applies")
    }

    func testDescribe() {
        XCTAssertEqual(TokenBucket.describe(ratePerSecond: 100), "100/s")
        XCTAssertEqual(TokenBucket.describe(ratePerSecond: 0.5), "0.5/s")
    }

    func testOncePerInterval() {
        var gate = OncePerInterval(intervalNanoseconds: 60 * second)
        XCTAssertTrue(gate.allow(now: 1))
        XCTAssertFalse(gate.allow(now: 59 * second))
        XCTAssertTrue(gate.allow(now: 61 * second))
        XCTAssertFalse(gate.allow(now: 62 * second))
    }
}
