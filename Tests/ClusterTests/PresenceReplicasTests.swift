import NIOCore
import PhoenixChannels
import PhoenixProtocol
import XCTest

@testable import Cluster

/// The replication rules of docs/cluster-design.md ("Presence replication") on one replica, message by message.
final class PresenceReplicasTests: XCTestCase {
    private let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
    private let owner = PresenceReplicas.owner("web2")

    private func entry(_ key: String, _ ref: String, topic: String = "room:a") -> PresenceEntry {
        PresenceEntry(owner: owner, topic: topic, key: key, ref: ref, meta: .object(["phx_ref": .string(ref)]))
    }

    private func joins(_ entries: PresenceEntry...) -> PresenceDelta {
        PresenceDelta(topic: entries[0].topic, joins: entries, leaves: [])
    }

    private func summary(_ outcome: PresenceReplicas.Outcome) -> [String] {
        outcome.deltas.map { delta in
            let joins = delta.joins.map(\.ref).joined(separator: ",")
            let leaves = delta.leaves.map(\.ref).joined(separator: ",")
            return "\(delta.topic) +\(joins) -\(leaves)"
        } + (outcome.askForState ? ["sync?"] : [])
    }

    func testDiffsApplyInClockOrderAndAGapAsksForTheStateOnceUntilTheRetry() {
        var replicas = PresenceReplicas(retryAfter: .seconds(2))
        XCTAssertEqual(summary(replicas.heard(from: "web2", incarnation: "a1")), [])
        let ann = joins(entry("ann", "R1"))
        XCTAssertEqual(summary(replicas.diff(ann, clock: 1, from: "web2", at: start)), ["room:a +R1 -"])
        XCTAssertEqual(summary(replicas.diff(ann, clock: 1, from: "web2", at: start)), [], "again")
        XCTAssertEqual(summary(replicas.heartbeat(clock: 1, from: "web2", at: start)), [], "in step")
        // Clock 2 was lost: 3 is not applied; the state is asked for once, and again after the retry time.
        XCTAssertEqual(summary(replicas.diff(joins(entry("bob", "R3")), clock: 3, from: "web2", at: start)), ["sync?"])
        XCTAssertEqual(summary(replicas.heartbeat(clock: 3, from: "web2", at: start + .seconds(1))), [])
        XCTAssertEqual(summary(replicas.heartbeat(clock: 3, from: "web2", at: start + .seconds(3))), ["sync?"])
        // The transfer tells this node's clients exactly what they missed.
        let state = [entry("bob", "R3"), entry("cat", "R2", topic: "room:b")]
        XCTAssertEqual(summary(replicas.state(state, clock: 3, from: "web2")), ["room:a +R3 -R1", "room:b +R2 -"])
        XCTAssertEqual(summary(replicas.diff(joins(entry("bob", "R3")), clock: 3, from: "web2", at: start)), [])
        XCTAssertEqual(summary(replicas.heartbeat(clock: 3, from: "web2", at: start + .seconds(4))), [])
    }

    func testADownReplicaLeavesOnceAndIsAnnouncedAgainByItsNextState() {
        var replicas = PresenceReplicas(retryAfter: .seconds(2))
        _ = replicas.heard(from: "web2", incarnation: "a1")
        _ = replicas.diff(joins(entry("ann", "R1"), entry("bob", "R2")), clock: 1, from: "web2", at: start)
        XCTAssertEqual(summary(replicas.down("web2")), ["room:a + -R1,R2"])
        XCTAssertEqual(summary(replicas.down("web2")), [], "once")
        // Back: its messages are not applied; its state is asked for, and its presences join again.
        let bobLeaves = PresenceDelta(topic: "room:a", joins: [], leaves: [entry("bob", "R2")])
        XCTAssertEqual(summary(replicas.diff(bobLeaves, clock: 2, from: "web2", at: start)), ["sync?"])
        XCTAssertEqual(summary(replicas.heartbeat(clock: 2, from: "web2", at: start)), [])
        XCTAssertEqual(summary(replicas.state([entry("ann", "R1")], clock: 2, from: "web2")), ["room:a +R1 -"])
        XCTAssertEqual(summary(replicas.heartbeat(clock: 2, from: "web2", at: start)), [])
    }

    func testGoodbyeAndANewIncarnationDropTheReplicaWithItsLeaves() {
        var replicas = PresenceReplicas(retryAfter: .seconds(2))
        _ = replicas.heard(from: "web2", incarnation: "a1")
        _ = replicas.diff(joins(entry("ann", "R1")), clock: 1, from: "web2", at: start)
        XCTAssertEqual(summary(replicas.heard(from: "web2", incarnation: "b2")), ["room:a + -R1"])
        // The new incarnation starts empty at clock 0: its first diff applies.
        let again = joins(entry("ann", "R9"))
        XCTAssertEqual(summary(replicas.diff(again, clock: 1, from: "web2", at: start)), ["room:a +R9 -"])
        XCTAssertEqual(summary(replicas.remove("web2")), ["room:a + -R9"])
        XCTAssertEqual(summary(replicas.remove("web2")), [])
        // A node that is down when it says goodbye has no leaves left to send.
        _ = replicas.heard(from: "web3", incarnation: "c3")
        _ = replicas.diff(joins(entry("dan", "R5")), clock: 1, from: "web3", at: start)
        _ = replicas.down("web3")
        XCTAssertEqual(summary(replicas.remove("web3")), [])
    }

    func testAPresenceDiffHeaderCarriesTopicAndClock() throws {
        let origin = NodeIdentity(name: "web1", incarnation: "00ff")
        var header = ClusterHeader(kind: .presenceDiff, origin: origin, sequence: 7)
        header.topic = "room:lobby"
        header.clock = 88
        let message = header.message(body: ByteBuffer(string: #"{"joins":{},"leaves":{}}"#))
        XCTAssertEqual(
            String(buffer: message),
            #"{"v":1,"k":"pd","n":"web1","i":"00ff","s":7,"t":"room:lobby","c":88}"# + "\n"
                + #"{"joins":{},"leaves":{}}"#)
        XCTAssertEqual(try ClusterHeader.parse(message).0, header)
    }
}
