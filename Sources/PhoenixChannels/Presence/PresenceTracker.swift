import LuaRuntime
import NIOConcurrencyHelpers
import PhoenixProtocol

/// The node's presence state (Phoenix.Tracker + Phoenix.Presence): who is in which topic, one state for
/// every event loop, with diffs broadcast through the `PubSubAdapter` as `presence_diff`.
///
/// Entries are keyed like Phoenix.Tracker: (node, channel, topic, key) → meta and `phx_ref`. A lock
/// guards the state; only presence operations take it (track, update, untrack, list, a channel that
/// tracked something ending), never the per-message path.
///
/// Two lists per topic: `current` (every change at once: "already tracked" is decided there) and
/// `published` (what the diffs sent so far add up to: `list` reads it). Without batching they are equal
/// after every call. With `--presence-batch-ms`, a topic's changes merge into one pending diff sent when
/// the window closes; a `presence_state` taken meanwhile is the published list, so a client that
/// applies the later diff to it lands on the truth whatever the order they arrive in.
///
/// ## Replicas (the cluster, issue 14)
/// Each node owns its entries (`owner.node == node`) and counts its diffs (the **clock**); `pubSub` is
/// this node's local PubSub, and nothing here changes for scripts or sockets when a cluster plugs in,
/// at three points (docs/cluster-design.md, "Presence replication"):
/// 1. Publishing: set `replication`; every flush of local changes hands it the `PresenceDelta` and the
///    clock after it, the same joins and leaves as the diff just delivered here, for the other nodes.
/// 2. Receiving: another node's changes go to `applyRemote(_:)`; its entries enter both lists at once
///    and the diff goes to this node's subscribers (a node going down is a delta of leaves).
/// 3. State transfer: `localState()` is this node's own entries and the clock they are at, read together.
public final class PresenceTracker: PresenceDirectory, @unchecked Sendable {
    /// The event of diffs.
    public static let diffEvent = "presence_diff"

    /// How diffs are batched: a window, and a way to run a flush after it (on any thread).
    public struct Batching {
        public var milliseconds: Int
        public var schedule: (Int, @escaping () -> Void) -> Void

        public init(milliseconds: Int, schedule: @escaping (Int, @escaping () -> Void) -> Void) {
            self.milliseconds = milliseconds
            self.schedule = schedule
        }
    }

    /// What a change did: the script's answer, and the diff payload when it was sent at once (no batching).
    public struct Outcome {
        public var result: Result<String?, PresenceRefusal>
        public var sentDiff: JSONValue?
    }

    private final class Topic {
        var current: PresencesByKey = [:]
        var published = PublishedList()
        var pending = PresenceDiff()
        var flushScheduled = false
        var listing: PresenceList?

        var isIdle: Bool { current.isEmpty && published.isEmpty && pending.isEmpty && !flushScheduled }
    }

    private struct Place: Hashable {
        var topic: String
        var key: String
    }

    /// This node's name (`phx.node`).
    public let node: String
    private let pubSub: any PubSubAdapter
    private let batching: Batching?
    private let lock = NIOLock()
    private var topics: [String: Topic] = [:]
    /// Where each local owner has presences (`untrackAll` when a channel ends). Another node's entries are not
    /// kept here: they come and go by delta, and one owner stands for a whole node, whose list would be scanned on
    /// every one of its leaves.
    private var places: [PresenceOwner: [Place]] = [:]
    private var refs = PresenceRefs()
    private var nextChannel: UInt64 = 1
    private var replicationHook: PresenceReplication?
    /// Diffs of this node's own entries sent so far, and how many own entries the published lists hold.
    private var clock: UInt64 = 0
    private var ownPresences = 0

    /// A tracker broadcasting diffs through `pubSub`; `batching` nil sends a diff per change (Phoenix).
    public init(node: String = LuaVM.defaultNode, pubSub: any PubSubAdapter, batching: Batching? = nil) {
        self.node = node
        self.pubSub = pubSub
        self.batching = batching.flatMap { $0.milliseconds > 0 ? $0 : nil }
    }

    /// The cluster's replication (see "Replicas"); nil on a single node.
    public var replication: PresenceReplication? {
        get { lock.withLock { replicationHook } }
        set { lock.withLock { replicationHook = newValue } }
    }

    /// A new owner for a channel of this node (made when it first tracks something).
    public func newOwner() -> PresenceOwner {
        lock.withLock {
            defer { nextChannel += 1 }
            return PresenceOwner(node: node, channel: nextChannel)
        }
    }

    // MARK: Local changes

    /// `track`, `update` or `untrack` of `owner`'s presence under `key` on `topic`. When the diff goes
    /// out at once, `excluding` (the caller's own subscriber to the topic) is left out of the broadcast:
    /// the caller sends it the returned `sentDiff` itself, in order with what it sends next.
    public func change(
        _ owner: PresenceOwner, topic: String, key: String, _ change: PresenceChange, excluding: TopicSubscriber? = nil
    ) -> Outcome {
        lock.withLock {
            let state = topics[topic] ?? Topic()
            let mine = state.current[key]?.first { $0.owner == owner }
            let result: Result<String?, PresenceRefusal>
            switch (change, mine) {
            case (.track(let meta), nil):
                let entry = makeEntry(owner, topic: topic, key: key, meta: meta, previous: nil)
                state.current.add(entry)
                state.pending.join(entry)
                places[owner, default: []].append(Place(topic: topic, key: key))
                result = .success(entry.ref)
            case (.track, _?):
                return Outcome(result: .failure(.alreadyTracked), sentDiff: nil)
            case (.update(let meta), let old?):
                let entry = makeEntry(owner, topic: topic, key: key, meta: meta, previous: old.ref)
                state.current.remove(old)
                state.current.add(entry)
                state.pending.leave(old)
                state.pending.join(entry)
                result = .success(entry.ref)
            case (.untrack, let old?):
                state.current.remove(old)
                state.pending.leave(old)
                forget(Place(topic: topic, key: key), of: owner)
                result = .success(nil)
            case (.update, nil), (.untrack, nil):
                return Outcome(result: .failure(.notTracked), sentDiff: nil)
            }
            topics[topic] = state
            return Outcome(result: result, sentDiff: changed(topic, state, excluding: excluding))
        }
    }

    /// Untracks everything `owner` tracks (its channel ended): one leave diff per topic.
    public func untrackAll(_ owner: PresenceOwner) {
        lock.withLock {
            guard let owned = places.removeValue(forKey: owner) else { return }
            var touched: [String: Topic] = [:]
            for place in owned {
                guard let state = topics[place.topic],
                      let entry = state.current[place.key]?.first(where: { $0.owner == owner }) else { continue }
                state.current.remove(entry)
                state.pending.leave(entry)
                touched[place.topic] = state
            }
            for (topic, state) in touched { _ = changed(topic, state, excluding: nil) }
        }
    }

    private func makeEntry(
        _ owner: PresenceOwner, topic: String, key: String, meta: [String: JSONValue], previous: String?
    ) -> PresenceEntry {
        let ref = refs.next()
        var meta = meta
        meta["phx_ref"] = .string(ref)
        meta["phx_ref_prev"] = previous.map(JSONValue.string)
        return PresenceEntry(owner: owner, topic: topic, key: key, ref: ref, meta: .object(meta))
    }

    private func forget(_ place: Place, of owner: PresenceOwner) {
        guard let index = places[owner]?.firstIndex(of: place) else { return }
        places[owner]?.remove(at: index)
        if places[owner]?.isEmpty == true { places[owner] = nil }
    }

    /// After a change of `topic`: send its diff now, or when the batch window closes. Under the lock.
    private func changed(_ topic: String, _ state: Topic, excluding: TopicSubscriber?) -> JSONValue? {
        guard let batching else { return flush(topic, state, excluding: excluding) }
        if !state.flushScheduled {
            state.flushScheduled = true
            batching.schedule(batching.milliseconds) { [weak self] in self?.flushWindow(of: topic) }
        }
        return nil
    }

    private func flushWindow(of topic: String) {
        lock.withLock {
            guard let state = topics[topic] else { return }
            state.flushScheduled = false
            _ = flush(topic, state, excluding: nil)
        }
    }

    /// Publishes the pending diff: the published list catches up, the diff is broadcast (under the lock,
    /// so every loop receives a topic's diffs in the order they were made) and handed to the replication.
    private func flush(_ topic: String, _ state: Topic, excluding: TopicSubscriber?) -> JSONValue? {
        let diff = state.pending
        state.pending = PresenceDiff()
        defer { if state.isIdle { topics[topic] = nil } }
        guard !diff.isEmpty else { return nil }
        state.published.apply(diff)
        state.listing = nil
        let payload = diff.payload
        pubSub.broadcast(topic: topic, event: Self.diffEvent, payload: .json(payload), excluding: excluding)
        clock += 1
        let delta = diff.delta(topic: topic)
        ownPresences += delta.joins.count - delta.leaves.count
        replicationHook?.publish(delta, clock: clock)
        return payload
    }

    // MARK: Reading

    /// `Presence.list(topic)`: the published list, shared until the topic's next diff.
    public func list(topic: String) -> PresenceListing {
        lock.withLock {
            guard let state = topics[topic], !state.published.isEmpty else { return PresenceList.empty }
            if let listing = state.listing { return listing }
            let listing = state.published.list()
            state.listing = listing
            return listing
        }
    }

    /// What the tracker holds, for `/metrics` and leak checks: topics with any state, presences in the
    /// current lists, local owners with presences.
    public var counts: (topics: Int, presences: Int, owners: Int) {
        lock.withLock {
            (topics.count, topics.values.reduce(0) { $0 + $1.current.values.reduce(0) { $0 + $1.count } }, places.count)
        }
    }

    // MARK: Replicas (see the type's comment)

    /// Applies another node's delta to both lists and delivers its diff to this node's subscribers: what
    /// changed only (a leave of an entry not held or a join of one held already is left out), under the
    /// lock, so a topic's diffs reach every loop in the order the lists changed.
    public func applyRemote(_ delta: PresenceDelta) {
        lock.withLock {
            let state = topics[delta.topic] ?? Topic()
            var diff = PresenceDiff()
            for entry in delta.leaves where entry.owner.node != node && state.current.remove(entry) {
                diff.leave(entry)
            }
            for entry in delta.joins where entry.owner.node != node {
                guard state.current[entry.key]?.contains(where: { $0.ref == entry.ref }) != true else { continue }
                state.current.add(entry)
                diff.join(entry)
            }
            if !diff.isEmpty {
                state.published.apply(diff)  // as `flush` does: each touched key's JSON rewritten once
                state.listing = nil
            }
            topics[delta.topic] = state.isIdle ? nil : state
            guard !diff.isEmpty else { return }
            pubSub.broadcast(topic: delta.topic, event: Self.diffEvent, payload: .json(diff.payload), excluding: nil)
        }
    }

    /// This node's own published entries, every topic, and the clock they are at (a state transfer).
    public func localState() -> (entries: [PresenceEntry], clock: UInt64) {
        lock.withLock {
            (topics.values.flatMap { $0.published.presences.values.joined().filter { $0.owner.node == node } }, clock)
        }
    }

    /// The clock and the number of this node's own published entries (a heartbeat's `c` and `m`).
    public var localClock: (clock: UInt64, presences: Int) {
        lock.withLock { (clock, ownPresences) }
    }
}
