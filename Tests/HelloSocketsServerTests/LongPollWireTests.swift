import Cluster
@testable import HelloSocketsServer
import NIOCore
import PhoenixChannels
import XCTest

/// The pieces of a LongPoll request read on every request, byte by byte: the token parameter, the POST body's
/// frames and content type, the token's loop, the answer bodies.
final class LongPollWireTests: XCTestCase {
    func testTokenParameterIsTheLastOneAndDecoded() {
        XCTAssertEqual(QueryString.lastValue(of: "token", in: "/s?token=undefined&vsn=2.0.0&token=1.abc"), "1.abc")
        XCTAssertEqual(QueryString.lastValue(of: "token", in: "/s?token=a%2Eb+c"), "a.b c")
        XCTAssertEqual(QueryString.lastValue(of: "token", in: "/s?token"), "")
        XCTAssertEqual(QueryString.lastValue(of: "token", in: "/s?token="), "")
        XCTAssertNil(QueryString.lastValue(of: "token", in: "/s?tokens=1&xtoken=2&vsn=2.0.0&"))
        XCTAssertNil(QueryString.lastValue(of: "token", in: "/s"))
        XCTAssertNil(QueryString.lastValue(of: "token", in: "/s?"))
        // The same answer as parsing every parameter.
        for uri in ["/s?token=undefined&vsn=2.0.0&", "/s?a=1&token=x&token=y&b", "/s?token=%E2%9C%93"] {
            XCTAssertEqual(QueryString.lastValue(of: "token", in: uri), QueryString.parameters(of: uri)["token"], uri)
        }
    }

    func testNDJSONIsRecognisedWhateverTheCaseParametersAndSpaces() {
        let body = ByteBuffer(string: "[\"1\",\"1\",\"ping\",\"phx_join\",{}]\nAAE=")
        for contentType in ["application/x-ndjson", "Application/X-NDJSON", " application/x-ndjson ; charset=utf-8"] {
            let (lines, malformed) = LongPollPostBody.frames(of: body, contentType: contentType)
            XCTAssertNil(malformed, contentType)
            XCTAssertEqual(lines.map(\.number), [1, 2], contentType)
            XCTAssertEqual(lines.last?.frame, .binary(ByteBuffer(bytes: [0, 1])), contentType)
        }
        for contentType in ["application/json", "application/x-ndjsonx", "text/plain", ""] {
            let (lines, _) = LongPollPostBody.frames(of: body, contentType: contentType)
            XCTAssertEqual(lines.map(\.frame), [.text(body)], "\(contentType): the whole body is one frame")
        }
    }

    func testCRLFLinesAndAFinalNewline() {
        let (lines, malformed) = LongPollPostBody.frames(
            of: ByteBuffer(string: "[1]\r\n[2]\r\n"), contentType: "application/x-ndjson")
        XCTAssertNil(malformed)
        XCTAssertEqual(lines.map(\.frame), [.text(ByteBuffer(string: "[1]")), .text(ByteBuffer(string: "[2]"))])
    }

    func testTokenLoop() {
        XCTAssertEqual(LongPollToken.loop(of: "0.SFMyNTY.x.y"), 0)
        XCTAssertEqual(LongPollToken.loop(of: "12.SFMyNTY.x.y"), 12)
        for token in ["SFMyNTY.x.y", ".x", "1", "-1.x", "99999.x", "1a.x", ""] {
            XCTAssertNil(LongPollToken.loop(of: token), token)
        }
    }

    func testAnswerBodiesAreEscapedJSONStrings() {
        let answer = LongPollAnswer.messages(
            [.text(ByteBuffer(string: #"["1",null,"t","e",{"q":"\"\\"}]"#)), .binary(ByteBuffer(bytes: [0, 255]))],
            status: 200, token: "0.t")
        XCTAssertEqual(String(buffer: answer.body),
                       #"{"messages":["[\"1\",null,\"t\",\"e\",{\"q\":\"\\\"\\\\\"}]","AP8="],"status":200,"token":"0.t"}"#)
        XCTAssertEqual(String(buffer: LongPollAnswer.error(400, "line 2: \"x\"").body), #"{"error":"line 2: \"x\"","status":400}"#)
    }

    /// A forwarded request's answer must come from the very incarnation it was sent to, with an HTTP status: a node
    /// restarted under the same name (its request counter back at 1) or a forged reply with status -1 (which would
    /// trap) is not an answer.
    func testOnlyTheOwnersIncarnationAnswersAForwardedRequest() {
        let owner = LongPollOwner(name: "web1", incarnation: "aaaaaaaaaaaaaaaa")
        let reply = ClusterHeader(
            kind: .longPollReply, origin: NodeIdentity(name: "web1", incarnation: "aaaaaaaaaaaaaaaa"), sequence: 1)
        XCTAssertTrue(LongPollForwarder.isAnswer(from: reply, to: owner))
        let restarted = ClusterHeader(
            kind: .longPollReply, origin: NodeIdentity(name: "web1", incarnation: "bbbbbbbbbbbbbbbb"), sequence: 1)
        XCTAssertFalse(LongPollForwarder.isAnswer(from: restarted, to: owner))
        let other = ClusterHeader(
            kind: .longPollReply, origin: NodeIdentity(name: "web2", incarnation: "aaaaaaaaaaaaaaaa"), sequence: 1)
        XCTAssertFalse(LongPollForwarder.isAnswer(from: other, to: owner))
        XCTAssertTrue(LongPollForwarder.validStatuses.contains(200))
        XCTAssertFalse(LongPollForwarder.validStatuses.contains(-1))
        XCTAssertFalse(LongPollForwarder.validStatuses.contains(100_000))
    }
}

