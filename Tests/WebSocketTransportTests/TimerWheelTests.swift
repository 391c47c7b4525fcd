import NIOCore
import NIOEmbedded
import TestSupport
import XCTest

@testable import WebSocketTransport

final class TimerWheelTests: XCTestCase {
    private let loop = EmbeddedEventLoop()
    private let resolution = TimeAmount.milliseconds(100)

    private func makeWheel(slotCount: Int = 8) -> TimerWheel {
        TimerWheel(eventLoop: loop, resolution: resolution, slotCount: slotCount)
    }

    func testATimerFiresOnceAtItsDeadlineWithinOneResolution() {
        let wheel = makeWheel()
        var fired: [NIODeadline] = []
        let timer = wheel.makeTimer { [loop] in fired.append(loop.now) }
        let deadline = loop.now + .milliseconds(350)
        wheel.arm(timer, at: deadline)
        XCTAssertTrue(timer.isArmed)
        loop.advanceTime(by: .milliseconds(340))
        XCTAssertTrue(fired.isEmpty, "fired before its deadline")
        loop.advanceTime(by: .seconds(5))
        XCTAssertEqual(fired.count, 1)
        XCTAssertGreaterThanOrEqual(fired[0], deadline)
        XCTAssertLessThanOrEqual(fired[0], deadline + resolution)
        XCTAssertFalse(timer.isArmed)
    }

    func testCancelledTimerNeverFiresAndReArmingMovesTheDeadline() {
        let wheel = makeWheel()
        var cancelledFired = 0
        var movedFiredAt: [NIODeadline] = []
        let cancelled = wheel.makeTimer { cancelledFired += 1 }
        let moved = wheel.makeTimer { [loop] in movedFiredAt.append(loop.now) }
        wheel.arm(cancelled, in: .milliseconds(200))
        wheel.arm(moved, in: .milliseconds(200))
        wheel.cancel(cancelled)
        wheel.cancel(cancelled)  // twice is harmless
        wheel.arm(moved, in: .seconds(2))
        loop.advanceTime(by: .seconds(1))
        XCTAssertEqual(cancelledFired, 0)
        XCTAssertTrue(movedFiredAt.isEmpty, "fired at its first deadline after being re-armed")
        loop.advanceTime(by: .seconds(2))
        XCTAssertEqual(cancelledFired, 0)
        XCTAssertEqual(movedFiredAt.count, 1)
    }

    /// Deadlines many turns of the wheel away wait for their turn; a late wheel fires everything due.
    func testTimersBeyondOneTurnFireAtTheirOwnDeadline() {
        let wheel = makeWheel(slotCount: 4)  // one turn = 400 ms
        var firedAt: [Int: NIODeadline] = [:]
        let start = loop.now
        let delays = [50, 420, 1_000, 3_333, 10_000]
        let timers = delays.map { ms in wheel.makeTimer { [loop] in firedAt[ms] = loop.now } }
        for (timer, ms) in zip(timers, delays) { wheel.arm(timer, at: start + .milliseconds(Int64(ms))) }
        for _ in 0..<120 { loop.advanceTime(by: .milliseconds(100)) }
        for ms in delays {
            let fired = try? XCTUnwrap(firedAt[ms], "the \(ms) ms timer never fired")
            guard let fired else { continue }
            XCTAssertGreaterThanOrEqual(fired, start + .milliseconds(Int64(ms)), "\(ms) ms timer early")
            XCTAssertLessThanOrEqual(fired, start + .milliseconds(Int64(ms)) + resolution, "\(ms) ms timer late")
        }
    }

    /// An action may cancel a timer due in the same tick, and arm new ones (even already due).
    func testActionsMayCancelAndArmOtherTimers() {
        let wheel = makeWheel()
        var log: [String] = []
        var second: TimerWheel.Timer!
        let third = wheel.makeTimer { log.append("third") }
        let first = wheel.makeTimer {
            log.append("first")
            wheel.cancel(second)
            wheel.arm(third, in: .zero)
        }
        second = wheel.makeTimer { log.append("second") }
        wheel.arm(first, in: .milliseconds(100))
        wheel.arm(second, in: .milliseconds(100))
        loop.advanceTime(by: .seconds(1))
        XCTAssertEqual(log, ["first", "third"])
    }

    /// Random arms, re-arms and cancels against a model: exactly the timers left armed fire, each in its window.
    func testRandomScheduleMatchesAModel() {
        var random = SplitMix64(seed: 0x7153)
        let wheel = makeWheel(slotCount: 16)
        let count = 2_000
        var expected: [NIODeadline?] = Array(repeating: nil, count: count)
        var fired: [[NIODeadline]] = Array(repeating: [], count: count)
        let timers = (0..<count).map { i in wheel.makeTimer { [loop] in fired[i].append(loop.now) } }
        let start = loop.now
        /// Fires recorded for timer `j` must all be one firing of its current deadline, in the window.
        func settle(_ j: Int) {
            XCTAssertLessThanOrEqual(fired[j].count, 1, "timer \(j) fired \(fired[j].count) times")
            if let at = fired[j].first {
                guard let deadline = expected[j] else { return XCTFail("cancelled timer \(j) fired") }
                XCTAssertTrue(at >= deadline && at <= deadline + resolution, "timer \(j) fired outside its window")
            }
            fired[j].removeAll()
        }
        for step in 0..<6_000 {
            let i = Int(random.next() % UInt64(count))
            settle(i)
            if random.next() % 4 == 0 {
                wheel.cancel(timers[i])
                expected[i] = nil
            } else {
                let deadline = loop.now + .milliseconds(Int64(random.next() % 5_000))
                wheel.arm(timers[i], at: deadline)
                expected[i] = deadline
            }
            if step % 50 == 0 {
                loop.advanceTime(by: .milliseconds(Int64(random.next() % 150)))
                for j in 0..<count where expected[j].map({ $0 + resolution < loop.now }) == true {
                    XCTAssertEqual(fired[j].count, 1, "timer \(j), due a while ago, fired \(fired[j].count) times")
                    settle(j)
                    expected[j] = nil
                }
            }
        }
        loop.advanceTime(by: .seconds(10))
        for j in 0..<count {
            if let deadline = expected[j] {
                XCTAssertEqual(fired[j].count, 1, "timer \(j) armed for \(deadline - start) fired \(fired[j].count) times")
                if let at = fired[j].first {
                    XCTAssertTrue(at >= deadline && at <= deadline + resolution, "timer \(j) fired outside its window")
                }
            } else {
                XCTAssertTrue(fired[j].isEmpty, "cancelled timer \(j) fired")
            }
        }
    }

    func testResolutionIsATenthOfTheShortestTimeoutWithinBounds() {
        XCTAssertEqual(TimerWheel.resolution(for: [.seconds(60), .seconds(10), .seconds(3)]), .milliseconds(100))
        XCTAssertEqual(TimerWheel.resolution(for: [.milliseconds(250)]), .milliseconds(25))
        XCTAssertEqual(TimerWheel.resolution(for: [.milliseconds(1)]), .milliseconds(5))
    }
}
