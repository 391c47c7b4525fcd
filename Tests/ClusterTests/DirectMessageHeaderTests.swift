import NIOCore
import PhoenixProtocol
import XCTest

@testable import Cluster

/// The headers of direct messages (LongPoll forwarding): the kind's own fields ride in `extra`, written after the
/// common ones in key order, and come back as sent.
final class DirectMessageHeaderTests: XCTestCase {
    private let origin = NodeIdentity(name: "web2-p0m2zz", incarnation: "91aa03c4d2e6f710")

    func testALongPollRequestCarriesItsFieldsAndBody() throws {
        var header = ClusterHeader(kind: .longPollRequest, origin: origin, sequence: 7)
        header.extra = [
            "r": .string("web2-p0m2zz/7"), "op": .string("send"), "tok": .string("0.SFMy…"),
            "u": .string("/socket/longpoll?vsn=2.0.0"), "ct": .string("application/x-ndjson"),
        ]
        let message = header.message(body: ByteBuffer(string: #"["1","2","lab:x","count",{}]"#))
        XCTAssertEqual(
            String(buffer: message),
            #"{"v":1,"k":"lp","n":"web2-p0m2zz","i":"91aa03c4d2e6f710","s":7,"ct":"application/x-ndjson","op":"send","#
                + #""r":"web2-p0m2zz/7","tok":"0.SFMy…","u":"/socket/longpoll?vsn=2.0.0"}"# + "\n"
                + #"["1","2","lab:x","count",{}]"#)
        let (parsed, body) = try ClusterHeader.parse(message)
        XCTAssertEqual(parsed, header)
        XCTAssertEqual(String(buffer: body), #"["1","2","lab:x","count",{}]"#)
    }

    func testAReplyWithoutSessionHasNoBodyAndABroadcastNoExtraFields() throws {
        var reply = ClusterHeader(kind: .longPollReply, origin: origin, sequence: 1)
        reply.extra = ["r": .string("web1/3"), "st": .integer(410), "g": .bool(true)]
        let (parsed, body) = try ClusterHeader.parse(reply.message(body: nil))
        XCTAssertEqual(parsed.kind, "lp!")
        XCTAssertEqual(parsed.extra, reply.extra)
        XCTAssertEqual(body.readableBytes, 0)

        var broadcast = ClusterHeader(kind: .broadcast, origin: origin, sequence: 2)
        (broadcast.topic, broadcast.event) = ("t", "e")
        XCTAssertEqual(try ClusterHeader.parse(broadcast.message(body: nil)).0.extra, [:])
    }
}
