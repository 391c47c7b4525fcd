import NIOCore
import PhoenixChannels
import PhoenixProtocol

/// Other nodes' presences as this node holds them (docs/cluster-design.md, "Presence replication"): per origin
/// incarnation, its entries, its clock (the number of diffs it made), whether its entries are listed here, and the
/// state transfer asked for. The rules only decide; the caller applies the deltas to the tracker (which delivers
/// their diffs to local subscribers) and sends the `sync?`. Owned by the cluster's event loop.
struct PresenceReplicas {
    struct Replica {
        let incarnation: String
        var clock: UInt64 = 0
        /// topic → `phx_ref` → entry.
        var entries: [String: [String: PresenceEntry]] = [:]
        /// Whether its entries are in this node's lists: false from "down" until a transfer brings them back.
        var listed = true
        /// When its state was last asked for and has not arrived yet.
        var askedAt: NIODeadline?

        init(incarnation: String) {
            self.incarnation = incarnation
        }
    }

    /// What a message changed: deltas for the tracker, in order, and whether to ask the origin for its state.
    struct Outcome {
        var deltas: [PresenceDelta] = []
        var askForState = false
    }

    private(set) var replicas: [String: Replica] = [:]
    /// How long an unanswered `sync?` blocks the next one (two heartbeats).
    let retryAfter: TimeAmount

    init(retryAfter: TimeAmount) {
        self.retryAfter = retryAfter
    }

    /// The owner that remote entries of `name` are tracked by in this node's tracker.
    static func owner(_ name: String) -> PresenceOwner { PresenceOwner(node: name, channel: 0) }

    /// Any message from `(name, incarnation)`: a new incarnation replaces the one held (its entries leave).
    mutating func heard(from name: String, incarnation: String) -> Outcome {
        var outcome = Outcome()
        if let held = replicas[name], held.incarnation != incarnation { outcome = remove(name) }
        if replicas[name] == nil { replicas[name] = Replica(incarnation: incarnation) }
        return outcome
    }

    /// A `pd` with clock `c`: applied when it is the next one from a listed replica; older ones are covered by a
    /// transfer already; a gap, or a replica not listed, asks for the state instead.
    mutating func diff(_ delta: PresenceDelta, clock c: UInt64, from name: String, at now: NIODeadline) -> Outcome {
        guard var replica = replicas[name] else { return Outcome() }
        if c <= replica.clock && replica.listed { return Outcome() }
        guard replica.listed, c == replica.clock + 1 else { return ask(name, at: now) }
        for entry in delta.leaves { replica.entries[delta.topic]?[entry.ref] = nil }
        for entry in delta.joins { replica.entries[delta.topic, default: [:]][entry.ref] = entry }
        if replica.entries[delta.topic]?.isEmpty == true { replica.entries[delta.topic] = nil }
        replica.clock = c
        replicas[name] = replica
        return Outcome(deltas: [delta])
    }

    /// An `hb` with clock `c`: a mismatch, or a replica not listed, asks for the state.
    mutating func heartbeat(clock c: UInt64, from name: String, at now: NIODeadline) -> Outcome {
        guard let replica = replicas[name], replica.clock != c || !replica.listed else { return Outcome() }
        return ask(name, at: now)
    }

    /// A gap in `name`'s sequence numbers: a `pd` may have been lost.
    mutating func lost(from name: String, at now: NIODeadline) -> Outcome {
        replicas[name] == nil ? Outcome() : ask(name, at: now)
    }

    /// A `sync`: the replica becomes exactly `entries` at clock `c` and is listed; the deltas are, per topic, what
    /// this node's clients were told (nothing while it was not listed) against what arrived.
    mutating func state(_ entries: [PresenceEntry], clock c: UInt64, from name: String) -> Outcome {
        guard var replica = replicas[name] else { return Outcome() }
        let held = replica.listed ? replica.entries : [:]
        var arrived: [String: [String: PresenceEntry]] = [:]
        for entry in entries { arrived[entry.topic, default: [:]][entry.ref] = entry }
        var outcome = Outcome()
        for topic in Set(held.keys).union(arrived.keys).sorted() {
            let before = held[topic] ?? [:], after = arrived[topic] ?? [:]
            let delta = PresenceDelta(
                topic: topic,
                joins: after.filter { before[$0.key] == nil }.values.sorted { $0.ref < $1.ref },
                leaves: before.filter { after[$0.key] == nil }.values.sorted { $0.ref < $1.ref })
            if !delta.joins.isEmpty || !delta.leaves.isEmpty { outcome.deltas.append(delta) }
        }
        replica.entries = arrived
        replica.clock = c
        replica.listed = true
        replica.askedAt = nil
        replicas[name] = replica
        return outcome
    }

    /// `name` was declared down: its entries leave this node's lists, once; they are kept for its return.
    mutating func down(_ name: String) -> Outcome {
        guard var replica = replicas[name], replica.listed else { return Outcome() }
        replica.listed = false
        replica.askedAt = nil
        replicas[name] = replica
        return Outcome(deltas: Self.leaves(of: replica))
    }

    /// `name` said goodbye (or was replaced): dropped, its listed entries leave.
    mutating func remove(_ name: String) -> Outcome {
        guard let replica = replicas.removeValue(forKey: name), replica.listed else { return Outcome() }
        return Outcome(deltas: Self.leaves(of: replica))
    }

    private mutating func ask(_ name: String, at now: NIODeadline) -> Outcome {
        if let askedAt = replicas[name]?.askedAt, now - askedAt < retryAfter { return Outcome() }
        replicas[name]?.askedAt = now
        return Outcome(askForState: true)
    }

    private static func leaves(of replica: Replica) -> [PresenceDelta] {
        replica.entries.keys.sorted().map { topic in
            let entries = replica.entries[topic, default: [:]].values.sorted { $0.ref < $1.ref }
            return PresenceDelta(topic: topic, joins: [], leaves: entries)
        }
    }
}
