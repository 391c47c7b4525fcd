import PhoenixProtocol

/// Who tracks a presence: one channel on one node (the pid in Phoenix.Tracker's keys).
public struct PresenceOwner: Hashable, Sendable, CustomStringConvertible {
    /// The node the channel runs on.
    public var node: String
    /// The channel, unique on its node (`PresenceTracker.newOwner`), never reused.
    public var channel: UInt64

    public init(node: String, channel: UInt64) {
        self.node = node
        self.channel = channel
    }

    public var description: String { "\(node)/\(channel)" }
}

/// One tracked presence, keyed like Phoenix.Tracker: (node, channel, topic, key) → meta and ref.
public struct PresenceEntry: Equatable, Sendable {
    /// The node and channel that track it.
    public var owner: PresenceOwner
    public var topic: String
    public var key: String
    /// The `phx_ref`: 16 url-safe base64 characters, unique per meta.
    public var ref: String
    /// The meta as clients see it: the script's meta with `phx_ref` (and after an update `phx_ref_prev`).
    public var meta: JSONValue

    public init(owner: PresenceOwner, topic: String, key: String, ref: String, meta: JSONValue) {
        self.owner = owner
        self.topic = topic
        self.key = key
        self.ref = ref
        self.meta = meta
    }
}

/// The changes of one topic that one node made, as a diff carries them: what the cluster ships to the
/// other nodes (`PresenceReplication`) and applies there (`PresenceTracker.applyRemote`).
public struct PresenceDelta: Equatable, Sendable {
    public var topic: String
    public var joins: [PresenceEntry]
    public var leaves: [PresenceEntry]

    public init(topic: String, joins: [PresenceEntry], leaves: [PresenceEntry]) {
        self.topic = topic
        self.joins = joins
        self.leaves = leaves
    }

    /// The `presence_diff` payload: `{"joins": {key: {"metas": […]}}, "leaves": {…}}`.
    public var payload: JSONValue {
        .object(["joins": PresenceEntry.list(joins), "leaves": PresenceEntry.list(leaves)])
    }

    /// A delta read from a `presence_diff` payload tracked by `owner`; nil when it is not one.
    public init?(topic: String, payload: JSONValue, owner: PresenceOwner) {
        guard let joins = PresenceEntry.entries(of: payload["joins"] ?? .emptyObject, topic: topic, owner: owner),
              let leaves = PresenceEntry.entries(of: payload["leaves"] ?? .emptyObject, topic: topic, owner: owner)
        else { return nil }
        self.init(topic: topic, joins: joins, leaves: leaves)
    }
}

extension PresenceEntry {
    /// A topic's list as clients see it, `{key: {"metas": [meta, …]}}`.
    public static func list(_ entries: [PresenceEntry]) -> JSONValue {
        var byKey: PresencesByKey = [:]
        for entry in entries { byKey.add(entry) }
        return byKey.json
    }

    /// The entries of a list `{key: {"metas": [meta, …]}}` tracked by `owner`; nil when it is not such a list or
    /// a meta has no `phx_ref`.
    public static func entries(of list: JSONValue, topic: String, owner: PresenceOwner) -> [PresenceEntry]? {
        guard case .object(let keys) = list else { return nil }
        var entries: [PresenceEntry] = []
        for (key, value) in keys {
            guard case .array(let metas)? = value["metas"] else { return nil }
            for meta in metas {
                guard case .string(let ref)? = meta["phx_ref"] else { return nil }
                entries.append(PresenceEntry(owner: owner, topic: topic, key: key, ref: ref, meta: meta))
            }
        }
        return entries
    }
}

/// The cluster's half of presence (issue 14 plugs in here): it ships this node's changes to the other
/// nodes, whose trackers apply them with `applyRemote`.
public protocol PresenceReplication: AnyObject, Sendable {
    /// This node's presences on `delta.topic` changed, its diff was delivered here, and the node's clock is
    /// now `clock`. Called under the tracker's lock, in clock order: enqueue, never block or call back into
    /// the tracker.
    func publish(_ delta: PresenceDelta, clock: UInt64)
}

/// `phx_ref` values: 16 url-safe base64 characters (12 bytes), unique on this node (a counter,
/// scrambled by a bijection so refs don't read as a sequence) and, in practice, across nodes (a random
/// 48-bit prefix per tracker).
struct PresenceRefs {
    private let prefix = UInt64.random(in: 0..<(1 << 48))
    private let key = UInt64.random(in: 0..<(1 << 48))
    private var counter: UInt64 = 0

    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    private static let mask: UInt64 = (1 << 48) - 1

    mutating func next() -> String {
        counter &+= 1
        // Multiplying by an odd number is a bijection modulo 2^48: distinct counters, distinct refs.
        let scrambled = ((counter &* 0x9E37_79B9_7F4A_7C15) ^ key) & Self.mask
        var bytes: [UInt8] = []
        bytes.reserveCapacity(12)
        for value in [prefix, scrambled] {
            for shift in stride(from: 40, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
        }
        var text: [UInt8] = []
        text.reserveCapacity(16)
        for group in stride(from: 0, to: 12, by: 3) {
            let n = UInt32(bytes[group]) << 16 | UInt32(bytes[group + 1]) << 8 | UInt32(bytes[group + 2])
            for shift in [18, 12, 6, 0] { text.append(Self.alphabet[Int((n >> UInt32(shift)) & 63)]) }
        }
        return String(decoding: text, as: UTF8.self)
    }
}
