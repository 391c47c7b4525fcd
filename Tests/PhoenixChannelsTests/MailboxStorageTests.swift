@testable import PhoenixChannels
import LuaRuntime
import XCTest

/// A channel's mailbox holds memory only while it holds mail: every joined channel has one, and an eager
/// ring (NIO's keeps 16 slots when empty) cost about 1.5 KiB per joined connection.
final class MailboxStorageTests: XCTestCase {
    typealias Mailbox = PhoenixSocket.JoinedChannel.Mailbox

    func testAnEmptyMailboxHoldsNoStorage() {
        let mailbox = Mailbox()
        XCTAssertNil(mailbox.ring)
        XCTAssertTrue(mailbox.isEmpty)
        XCTAssertEqual(mailbox.count, 0)
    }

    func testMailComesOutInOrderAndTheStorageGoesWhenEmpty() {
        var mailbox = Mailbox()
        for n in 1...20 { mailbox.append(.timer(TimerID(rawValue: UInt64(n)))) }
        XCTAssertEqual(mailbox.count, 20)
        var order: [UInt64] = []
        while let mail = mailbox.removeFirst() {
            if case .timer(let id) = mail { order.append(id.rawValue) }
        }
        XCTAssertEqual(order, Array(1...20))
        XCTAssertNil(mailbox.ring, "a drained mailbox lets its ring go")
    }

    func testTakeAllEmptiesIt() {
        var mailbox = Mailbox()
        mailbox.append(.timer(TimerID(rawValue: 7)))
        mailbox.append(.timer(TimerID(rawValue: 8)))
        XCTAssertEqual(mailbox.takeAll().count, 2)
        XCTAssertNil(mailbox.ring)
        XCTAssertTrue(mailbox.takeAll().isEmpty)
    }
}
