import NIOCore
import PhoenixProtocol
import XCTest

@testable import Cluster

final class ClusterHeaderTests: XCTestCase {
    private let origin = NodeIdentity(name: "web1-k3x9qa", incarnation: "5f0c2e77a1b49d03")

    func testABroadcastIsOneHeaderLineThenItsBodyUntouched() throws {
        var header = ClusterHeader(kind: .broadcast, origin: origin, sequence: 1042)
        header.topic = #"room:"lobby" é"#
        header.event = "shout"
        let message = header.message(body: ByteBuffer(string: #"{"text":"hi"}"#))
        XCTAssertEqual(
            String(buffer: message),
            #"{"v":1,"k":"b","n":"web1-k3x9qa","i":"5f0c2e77a1b49d03","s":1042,"t":"room:\"lobby\" é","e":"shout","p":"j"}"#
                + "\n" + #"{"text":"hi"}"#)
        let (parsed, body) = try ClusterHeader.parse(message)
        XCTAssertEqual(parsed, header)
        XCTAssertEqual(String(buffer: body), #"{"text":"hi"}"#)
    }

    func testABinaryBodyWithNewlinesSurvivesAndAHeartbeatKeepsItsFields() throws {
        var header = ClusterHeader(kind: .broadcast, origin: origin, sequence: 7)
        header.topic = "t"
        header.event = "e"
        header.binaryBody = true
        let bytes: [UInt8] = [0, 10, 255, 10, 13]
        let (parsed, body) = try ClusterHeader.parse(header.message(body: ByteBuffer(bytes: bytes)))
        XCTAssertTrue(parsed.binaryBody)
        XCTAssertEqual(Array(body.readableBytesView), bytes)

        var heartbeat = ClusterHeader(kind: .heartbeat, origin: origin, sequence: 311)
        (heartbeat.clock, heartbeat.presences, heartbeat.broadcastSequence) = (88, 2405, 1043)
        let message = heartbeat.message(body: nil)
        XCTAssertEqual(
            String(buffer: message),
            #"{"v":1,"k":"hb","n":"web1-k3x9qa","i":"5f0c2e77a1b49d03","s":311,"c":88,"m":2405,"bs":1043}"# + "\n")
        let (again, empty) = try ClusterHeader.parse(message)
        XCTAssertEqual(again, heartbeat)
        XCTAssertEqual(empty.readableBytes, 0)
    }

    func testBadMessagesAreRefusedWithTheReason() {
        func reason(_ text: String) -> ClusterHeader.ParseError? {
            do {
                _ = try ClusterHeader.parse(ByteBuffer(string: text))
                return nil
            } catch {
                return error
            }
        }
        XCTAssertEqual(reason(#"{"v":2,"k":"b","n":"x","i":"y","s":1}"# + "\n"), .version(2))
        guard case .malformed? = reason(#"{"v":1,"k":"b","n":"x","i":"y","s":1}"#) else { return XCTFail("no newline") }
        guard case .malformed? = reason("{nope\n") else { return XCTFail("not JSON") }
        guard case .malformed? = reason(#"{"v":1,"k":"b","n":"x","i":"y"}"# + "\n") else { return XCTFail("no s") }
        guard case .malformed? = reason(#"{"v":1,"k":"b","n":"x","i":"y","s":0}"# + "\n") else { return XCTFail("s 0") }
        guard case .malformed? = reason(#"[1]"# + "\n") else { return XCTFail("not an object") }
    }

    func testNodeNamesAndIncarnations() {
        let name = NodeIdentity.defaultName(hostName: "web-1.example.com")
        XCTAssertTrue(name.hasPrefix("web-1-"), name)
        XCTAssertEqual(name.count, "web-1-".count + 6)
        XCTAssertTrue(NodeIdentity.isValidName(name))
        XCTAssertNotEqual(NodeIdentity.defaultName(hostName: "h"), NodeIdentity.defaultName(hostName: "h"))
        XCTAssertEqual(NodeIdentity.defaultName(hostName: "üï").prefix(5), "node-")
        XCTAssertFalse(NodeIdentity.isValidName("a b"))
        XCTAssertFalse(NodeIdentity.isValidName(""))
        XCTAssertFalse(NodeIdentity.isValidName("a:b"))
        let incarnation = NodeIdentity.randomIncarnation()
        XCTAssertEqual(incarnation.count, 16)
        XCTAssertTrue(incarnation.allSatisfy { $0.isHexDigit && !$0.isUppercase })
        XCTAssertEqual(ClusterChannels(cluster: "c").node("web1"), "hs:c:node:web1")
    }
}

final class NodeTableTests: XCTestCase {
    func testGapsAreCountedPerChannelFromTheSecondMessageOn() {
        var table = NodeTable()
        let now = NIODeadline.now()
        XCTAssertTrue(table.heard(name: "a", incarnation: "1", at: now).isNew)
        XCTAssertEqual(table.record(sequence: 100, from: "a", on: "bcast"), 0, "what came before we listened")
        XCTAssertEqual(table.record(sequence: 101, from: "a", on: "bcast"), 0)
        XCTAssertEqual(table.record(sequence: 105, from: "a", on: "bcast"), 3)
        XCTAssertEqual(table.record(sequence: 1, from: "a", on: "tracker"), 0)
        // A heartbeat's bs: a trailing gap counts the messages up to and including it.
        XCTAssertEqual(table.record(lastSequence: 105, from: "a", on: "bcast"), 0)
        XCTAssertEqual(table.record(lastSequence: 108, from: "a", on: "bcast"), 3)
        XCTAssertEqual(table.record(sequence: 109, from: "a", on: "bcast"), 0)
        XCTAssertEqual(table.replicas["a"]?.lost, 6)
    }

    /// Nodes down long enough are forgotten (names that never return must not pile up); up ones never are.
    func testNodesDownLongEnoughAreForgotten() {
        var table = NodeTable()
        let start = NIODeadline.now()
        _ = table.heard(name: "gone", incarnation: "1", at: start)
        _ = table.heard(name: "alive", incarnation: "2", at: start)
        XCTAssertEqual(table.markDown(silentSince: start + .seconds(5)).map(\.name).sorted(), ["alive", "gone"])
        _ = table.heard(name: "alive", incarnation: "2", at: start + .seconds(6))
        XCTAssertEqual(table.forget(silentSince: start).count, 0, "not down long enough")
        XCTAssertEqual(table.forget(silentSince: start + .seconds(10)).map(\.name), ["gone"], "alive is up")
        XCTAssertEqual(Array(table.replicas.keys), ["alive"])
    }

    /// Sequence numbers come from messages anyone on the Redis can publish: jumps to 2⁶³ saturate the counters
    /// instead of trapping (three such messages used to crash every node).
    func testForgedSequenceJumpsSaturateTheLossCounters() {
        var table = NodeTable()
        _ = table.heard(name: "x", incarnation: "a", at: .now())
        XCTAssertEqual(table.record(sequence: 1, from: "x", on: "bcast"), 0)
        XCTAssertEqual(table.record(lastSequence: UInt64(Int64.max), from: "x", on: "bcast"), UInt64(Int64.max) - 1)
        _ = table.record(sequence: 1, from: "x", on: "tracker")
        XCTAssertEqual(table.record(sequence: UInt64(Int64.max), from: "x", on: "tracker"), UInt64(Int64.max) - 2)
        XCTAssertEqual(table.replicas["x"]?.lost, .max)
        XCTAssertEqual(Int.max.addingSaturated(.max), .max)
        XCTAssertEqual(5.addingSaturated(2), 7)
    }

    func testANewIncarnationReplacesTheOldAndSilenceMeansDown() {
        var table = NodeTable()
        let start = NIODeadline.now()
        _ = table.heard(name: "a", incarnation: "1", at: start)
        _ = table.record(sequence: 50, from: "a", on: "bcast")
        let restart = table.heard(name: "a", incarnation: "2", at: start)
        XCTAssertEqual(restart.replaced?.incarnation, "1")
        XCTAssertTrue(restart.isNew)
        XCTAssertEqual(table.record(sequence: 1, from: "a", on: "bcast"), 0, "a new incarnation counts from its own start")

        _ = table.heard(name: "b", incarnation: "1", at: start + .seconds(4))
        XCTAssertEqual(table.markDown(silentSince: start + .seconds(1)).map(\.name), ["a"])
        XCTAssertEqual(table.upCount, 1)
        XCTAssertTrue(table.markDown(silentSince: start + .seconds(1)).isEmpty, "declared down once")
        XCTAssertTrue(table.heard(name: "a", incarnation: "2", at: start + .seconds(6)).cameBack)
        table.resetLastHeard(to: start + .seconds(10))
        XCTAssertTrue(table.markDown(silentSince: start + .seconds(9)).isEmpty)
        XCTAssertEqual(table.remove("b")?.name, "b")
        XCTAssertEqual(table.replicas.count, 1)
    }
}
