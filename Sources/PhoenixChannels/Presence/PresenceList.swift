import LuaRuntime
import NIOConcurrencyHelpers
import PhoenixProtocol

/// A topic's list as clients have been told it, kept ready to send: each key's `"key":{"metas":[…]}` is
/// encoded when that key changes, and the keys are kept in the JSON writer's order (UTF-8 bytes), so the
/// `presence_state` of a whole topic is one concatenation, O(bytes), per change rather than an encoding of
/// every entry (and a sort of every key) per change.
struct PublishedList {
    private(set) var presences: PresencesByKey = [:]
    private var fragments: [String: [UInt8]] = [:]
    private var order: [String] = []

    var isEmpty: Bool { presences.isEmpty }

    mutating func apply(_ diff: PresenceDiff) {
        diff.apply(to: &presences)
        refresh(diff.keys)
    }

    /// The list to share until the next change (copies of the three collections: copy-on-write, O(1)).
    func list() -> PresenceList {
        PresenceList(presences: presences, fragments: fragments, order: order)
    }

    private mutating func refresh(_ keys: some Sequence<String>) {
        for key in keys {
            if let entries = presences[key] {
                if fragments[key] == nil { order.insert(key, at: position(of: key)) }
                var fragment: [UInt8] = []
                JSONWriter.writeString(key, into: &fragment)
                fragment.append(UInt8(ascii: ":"))
                // Metas come from scripts through the JSON conversion, which refuses what JSON cannot say.
                try? JSONWriter.write(.object(["metas": .array(entries.map(\.meta))]), into: &fragment)
                fragments[key] = fragment
            } else if fragments.removeValue(forKey: key) != nil {
                order.remove(at: position(of: key))
            }
        }
    }

    /// Where `key` is or would go in `order`.
    private func position(of key: String) -> Int {
        var low = 0, high = order.count
        while low < high {
            let middle = (low + high) / 2
            if order[middle].utf8.lexicographicallyPrecedes(key.utf8) { low = middle + 1 } else { high = middle }
        }
        return low
    }
}

/// A topic's list as clients have been told it, shared by every channel that lists the topic until the
/// next diff. Its JSON text is put together once, by the first push (`presence_state`), for all of them;
/// its `JSONValue` only when a script reads the list or sends it inside something else.
public final class PresenceList: PresenceListing, @unchecked Sendable {
    private let presences: PresencesByKey
    private let fragments: [String: [UInt8]]
    private let order: [String]
    private let lock = NIOLock()
    private var cachedValue: JSONValue?
    private var cachedJSON: [UInt8]?

    init(presences: PresencesByKey, fragments: [String: [UInt8]], order: [String]) {
        self.presences = presences
        self.fragments = fragments
        self.order = order
    }

    /// The empty list, `{}`.
    static let empty = PresenceList(presences: [:], fragments: [:], order: [])

    public var value: JSONValue {
        lock.withLock {
            if let cachedValue { return cachedValue }
            let value = presences.json
            cachedValue = value
            return value
        }
    }

    /// The compact JSON text of `value`, keys sorted as the JSON writer sorts them.
    public var json: [UInt8] {
        lock.withLock {
            if let cachedJSON { return cachedJSON }
            var bytes: [UInt8] = [UInt8(ascii: "{")]
            bytes.reserveCapacity(order.reduce(2) { $0 + (fragments[$1]?.count ?? 0) + 1 })
            for (index, key) in order.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                bytes += fragments[key] ?? []
            }
            bytes.append(UInt8(ascii: "}"))
            cachedJSON = bytes
            return bytes
        }
    }
}
