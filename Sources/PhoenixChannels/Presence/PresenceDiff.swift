import PhoenixProtocol

/// A topic's presences by key, each key's metas oldest first: `{key: {metas: [meta, …]}}` on the wire.
typealias PresencesByKey = [String: [PresenceEntry]]

extension Dictionary where Key == String, Value == [PresenceEntry] {
    /// `{key: {"metas": [meta, …]}}`.
    var json: JSONValue {
        .object(mapValues { .object(["metas": .array($0.map(\.meta))]) })
    }

    mutating func add(_ entry: PresenceEntry) {
        self[entry.key, default: []].append(entry)
    }

    /// Removes the entry with `entry`'s ref; the key goes when its last meta does.
    @discardableResult
    mutating func remove(_ entry: PresenceEntry) -> Bool {
        guard let index = self[entry.key]?.firstIndex(where: { $0.ref == entry.ref }) else { return false }
        self[entry.key]?.remove(at: index)
        if self[entry.key]?.isEmpty == true { self[entry.key] = nil }
        return true
    }
}

/// A topic's changes not yet sent, merged as `--presence-batch-ms` wants them: joins and leaves by key,
/// in arrival order. A leave of a ref that joined within the same diff cancels both: clients never hear
/// of it (phoenix.js matches metas by `phx_ref`, so nothing else changes for them).
struct PresenceDiff {
    private(set) var joins: PresencesByKey = [:]
    private(set) var leaves: PresencesByKey = [:]

    var isEmpty: Bool { joins.isEmpty && leaves.isEmpty }

    mutating func join(_ entry: PresenceEntry) {
        joins.add(entry)
    }

    mutating func leave(_ entry: PresenceEntry) {
        if !joins.remove(entry) { leaves.add(entry) }
    }

    /// The `presence_diff` payload: `{"joins": {…}, "leaves": {…}}`.
    var payload: JSONValue {
        .object(["joins": joins.json, "leaves": leaves.json])
    }

    /// Brings a list up to date with this diff (a ref is in at most one of joins and leaves).
    func apply(to presences: inout PresencesByKey) {
        for entry in leaves.values.joined() { presences.remove(entry) }
        for entry in joins.values.joined() { presences.add(entry) }
    }

    /// Every key the diff touches.
    var keys: Set<String> { Set(joins.keys).union(leaves.keys) }

    func delta(topic: String) -> PresenceDelta {
        PresenceDelta(topic: topic, joins: Array(joins.values.joined()), leaves: Array(leaves.values.joined()))
    }
}
