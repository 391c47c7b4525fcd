import Foundation
import NIOCore

/// Another node as this node knows it: what it last heard from it, whether it counts as up, and the last
/// sequence number seen on each channel (the shape the presence tracker's replicas build on).
public struct NodeReplica: Sendable {
    public enum Status: String, Sendable {
        case up
        case down
    }

    public let name: String
    public let incarnation: String
    public internal(set) var status = Status.up
    /// When anything last arrived from it (monotonic; reset when our own link comes back or we were paused).
    public internal(set) var lastHeard: NIODeadline
    /// When its last heartbeat arrived (wall clock, for `GET /api/cluster`).
    public internal(set) var lastHeartbeat: Date?
    /// From its last heartbeat: its tracker clock and the presences it holds.
    public internal(set) var clock: Int64 = 0
    public internal(set) var presences: Int64 = 0
    /// Broadcasts received from it and delivered here; messages from it that never arrived.
    public internal(set) var received = 0
    public internal(set) var lost = 0
    /// The last `s` seen from it, per channel.
    var lastSequence: [String: UInt64] = [:]

    init(name: String, incarnation: String, heard: NIODeadline) {
        self.name = name
        self.incarnation = incarnation
        self.lastHeard = heard
    }
}

/// Every other node this node has heard from, one incarnation per name. Owned by the cluster's event loop.
public struct NodeTable: Sendable {
    public private(set) var replicas: [String: NodeReplica] = [:]

    /// What hearing from a node changed.
    struct Arrival {
        /// First message from this incarnation.
        var isNew = false
        /// Another incarnation of the same name, dropped now (the node restarted).
        var replaced: NodeReplica?
        /// It was down and is up again.
        var cameBack = false
    }

    /// Notes a message from `(name, incarnation)` at `now`.
    mutating func heard(name: String, incarnation: String, at now: NIODeadline) -> Arrival {
        var arrival = Arrival()
        if let held = replicas[name], held.incarnation != incarnation {
            arrival.replaced = held
            replicas[name] = nil
        }
        if replicas[name] == nil {
            replicas[name] = NodeReplica(name: name, incarnation: incarnation, heard: now)
            arrival.isNew = true
        }
        replicas[name]?.lastHeard = now
        if replicas[name]?.status == .down {
            replicas[name]?.status = .up
            arrival.cameBack = true
        }
        return arrival
    }

    /// Records sequence number `s` from `name` on `channel`; returns how many messages before it never arrived
    /// (0 for the first message seen there: what came before we listened is not ours to count).
    mutating func record(sequence s: UInt64, from name: String, on channel: String) -> UInt64 {
        guard var replica = replicas[name] else { return 0 }
        let last = replica.lastSequence[channel]
        let gap = last.map { s > $0 + 1 ? s - $0 - 1 : 0 } ?? 0
        replica.lastSequence[channel] = max(s, last ?? 0)
        replica.lost = replica.lost.addingSaturated(gap)
        replicas[name] = replica
        return gap
    }

    /// Records that `name` says its last `s` on `channel` is `last` (a heartbeat's `bs`); returns how many of its
    /// messages up to `last` never arrived (a trailing gap: it published, then went quiet).
    mutating func record(lastSequence last: UInt64, from name: String, on channel: String) -> UInt64 {
        guard var replica = replicas[name] else { return 0 }
        let seen = replica.lastSequence[channel]
        let gap = seen.map { last > $0 ? last - $0 : 0 } ?? 0
        replica.lastSequence[channel] = max(last, seen ?? 0)
        replica.lost = replica.lost.addingSaturated(gap)
        replicas[name] = replica
        return gap
    }

    mutating func countReceived(from name: String) {
        replicas[name]?.received += 1
    }

    mutating func recordHeartbeat(from name: String, clock: Int64, presences: Int64, at date: Date) {
        replicas[name]?.clock = clock
        replicas[name]?.presences = presences
        replicas[name]?.lastHeartbeat = date
    }

    /// Drops `name` (it said goodbye); returns what was held.
    mutating func remove(_ name: String) -> NodeReplica? {
        replicas.removeValue(forKey: name)
    }

    /// Counts every node as just heard (our own silence, a reconnect or a pause, is not theirs).
    mutating func resetLastHeard(to now: NIODeadline) {
        for name in replicas.keys { replicas[name]?.lastHeard = now }
    }

    /// Marks down every node that is up and silent since before `deadline`; returns them.
    mutating func markDown(silentSince deadline: NIODeadline) -> [NodeReplica] {
        var newlyDown: [NodeReplica] = []
        for (name, replica) in replicas where replica.status == .up && replica.lastHeard < deadline {
            replicas[name]?.status = .down
            newlyDown.append(replica)
        }
        return newlyDown
    }

    /// Drops every node that is down and silent since before `deadline`; returns them.
    mutating func forget(silentSince deadline: NIODeadline) -> [NodeReplica] {
        let gone = replicas.values.filter { $0.status == .down && $0.lastHeard < deadline }
        for replica in gone { replicas[replica.name] = nil }
        return gone
    }

    public var upCount: Int { replicas.values.filter { $0.status == .up }.count }
    public var downCount: Int { replicas.count - upCount }
}

extension Int {
    /// `self + gap`, stopping at `Int.max`: a sequence number comes from a message, and a forged one (a jump to
    /// 2⁶³) must not trap a counter.
    func addingSaturated(_ gap: UInt64) -> Int {
        let (sum, overflow) = addingReportingOverflow(Int(clamping: gap))
        return overflow ? .max : sum
    }
}

