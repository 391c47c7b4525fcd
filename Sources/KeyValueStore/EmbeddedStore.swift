import Foundation
import PhoenixProtocol

/// The key-value store of one node, in its memory: what `phx.kv` uses without `--redis`
/// (OpenResty's `ngx.shared.DICT`). Every VM of the node shares it; each command runs under one
/// lock, so `incr` and `push` are atomic. Nothing survives a restart.
///
/// Its size is capped: a `set` or `push` that would take it past `maxBytes` fails with `full`
/// (after expired keys were swept), and nothing already stored is evicted.
public final class EmbeddedStore: KeyValueStore, @unchecked Sendable {
    /// The cap, in (estimated) bytes: keys, values and a fixed overhead per key.
    public let maxBytes: Int
    /// Milliseconds on the store's clock (monotonic; a manual clock in tests).
    private let now: @Sendable () -> Int64
    private let lock = NSLock()  // guards everything below
    private var entries: [String: Entry] = [:]
    private var usedBytes = 0

    private struct Entry {
        var value: Stored
        var expiresAt: Int64?
        var bytes: Int
    }

    private enum Stored {
        case json(JSONValue)
        case list([JSONValue])
    }

    /// What one key costs besides its key and value bytes (dictionary slot, entry, bookkeeping).
    static let overheadPerKey = 64

    /// A store capped at `maxBytes` (default 64 MiB) with the given clock (default: monotonic time).
    public init(maxBytes: Int = 64 << 20, now: (@Sendable () -> Int64)? = nil) {
        self.maxBytes = maxBytes
        self.now = now ?? { Int64(DispatchTime.now().uptimeNanoseconds / 1_000_000) }
    }

    /// Bytes in use (estimated as for the cap).
    public var bytesUsed: Int {
        lock.lock()
        defer { lock.unlock() }
        return usedBytes
    }

    /// Keys stored (expired ones not yet swept included).
    public var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return entries.count
    }

    public func answerNow(_ command: KVCommand) -> Result<KVReply, KVError>? {
        lock.lock()
        defer { lock.unlock() }
        return run(command, at: now())
    }

    public func execute(_ command: KVCommand, completion: @escaping @Sendable (Result<KVReply, KVError>) -> Void) {
        let reply = answerNow(command) ?? .failure(KVError(reason: "unavailable", message: "unavailable"))
        completion(reply)
    }

    /// Removes every key (tests).
    public func removeAll() {
        lock.lock()
        defer { lock.unlock() }
        entries.removeAll()
        usedBytes = 0
    }

    // MARK: Commands (called locked)

    private func run(_ command: KVCommand, at time: Int64) -> Result<KVReply, KVError> {
        let key = command.key
        var entry = entries[key]
        if let expiry = entry?.expiresAt, expiry <= time {
            remove(key)
            entry = nil
        }
        switch command {
        case .get:
            switch entry?.value {
            case nil: return .success(.value(nil))
            case .json(let value)?: return .success(.value(value))
            case .list(let items)?: return .success(.value(.array(items)))
            }
        case .set(_, let value, let ttl):
            return store(key, .json(value), expiresAt: ttl.map { time + Int64($0) }, at: time).map { .stored }
        case .incr(_, let by):
            var current: Int64 = 0
            switch entry?.value {
            case nil: break
            case .json(.integer(let n))?: current = n
            case .json(let other)?: return .failure(.wrongType(key, wanted: "an integer", holds: other.kindDescription))
            case .list?: return .failure(.wrongType(key, wanted: "an integer", holds: "a list"))
            }
            let (sum, overflow) = current.addingReportingOverflow(by)
            if overflow {
                return .failure(.overflow(key, by: by))
            }
            return store(key, .json(.integer(sum)), expiresAt: entry?.expiresAt, at: time).map { .integer(sum) }
        case .delete:
            guard entry != nil else { return .success(.deleted(false)) }
            remove(key)
            return .success(.deleted(true))
        case .push(_, let value, let maxLength):
            var items: [JSONValue] = []
            switch entry?.value {
            case nil: break
            case .list(let existing)?: items = existing
            case .json(let other)?: return .failure(.wrongType(key, wanted: "a list", holds: other.kindDescription))
            }
            items.append(value)
            if items.count > maxLength { items.removeFirst(items.count - maxLength) }
            let length = Int64(items.count)
            return store(key, .list(items), expiresAt: entry?.expiresAt, at: time).map { .integer(length) }
        case .range(_, let count):
            switch entry?.value {
            case nil: return .success(.list([]))
            case .list(let items)?: return .success(.list(Array(items.suffix(max(0, count)))))
            case .json(let other)?: return .failure(.wrongType(key, wanted: "a list", holds: other.kindDescription))
            }
        }
    }

    private func store(_ key: String, _ value: Stored, expiresAt: Int64?, at time: Int64) -> Result<Void, KVError> {
        let bytes = key.utf8.count + Self.overheadPerKey + Self.size(of: value)
        let previous = entries[key]?.bytes ?? 0
        if usedBytes - previous + bytes > maxBytes {
            sweepExpired(at: time)
            let previous = entries[key]?.bytes ?? 0
            if usedBytes - previous + bytes > maxBytes {
                return .failure(KVError(
                    reason: "full",
                    message: "full: the key-value store holds at most \(Self.describe(bytes: maxBytes)) "
                        + "(--kv-max-mb); \(key) needs \(bytes) bytes, \(maxBytes - usedBytes + previous) are free"))
            }
        }
        usedBytes += bytes - (entries[key]?.bytes ?? 0)
        entries[key] = Entry(value: value, expiresAt: expiresAt, bytes: bytes)
        return .success(())
    }

    private func remove(_ key: String) {
        if let old = entries.removeValue(forKey: key) { usedBytes -= old.bytes }
    }

    private func sweepExpired(at time: Int64) {
        for (key, entry) in entries where (entry.expiresAt ?? .max) <= time { remove(key) }
    }

    private static func size(of value: Stored) -> Int {
        switch value {
        case .json(let json): return size(of: json)
        case .list(let items): return items.reduce(16) { $0 + size(of: $1) }
        }
    }

    /// Roughly the value's JSON length plus per-node overhead: good enough for a cap.
    private static func size(of value: JSONValue) -> Int {
        switch value {
        case .null, .bool, .integer, .double: return 16
        case .string(let s): return 16 + s.utf8.count
        case .array(let items): return items.reduce(16) { $0 + size(of: $1) }
        case .object(let members): return members.reduce(16) { $0 + 16 + $1.key.utf8.count + size(of: $1.value) }
        }
    }

    static func describe(bytes: Int) -> String {
        bytes % (1 << 20) == 0 ? "\(bytes >> 20) MiB" : "\(bytes) bytes"
    }
}
