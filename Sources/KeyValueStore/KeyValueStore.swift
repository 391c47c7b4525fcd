import PhoenixProtocol

/// One `phx.kv` operation, as a script called it.
public enum KVCommand: Sendable, Equatable {
    /// The value under `key`, or nil.
    case get(key: String)
    /// Stores `value` under `key`, expiring after `ttlMilliseconds` when given (else never; a
    /// previous expiry is dropped, as Redis' SET does).
    case set(key: String, value: JSONValue, ttlMilliseconds: Int?)
    /// Adds `by` to the integer under `key` (0 when absent) atomically; the reply is the new value.
    case incr(key: String, by: Int64)
    /// Removes `key`; the reply says whether it existed.
    case delete(key: String)
    /// Appends `value` to the list under `key` (created when absent), keeping its last `maxLength` items.
    case push(key: String, value: JSONValue, maxLength: Int)
    /// The last `count` items of the list under `key`, oldest first (empty when absent).
    case range(key: String, count: Int)

    /// The key the command is about.
    public var key: String {
        switch self {
        case .get(let key), .set(let key, _, _), .incr(let key, _), .delete(let key), .push(let key, _, _),
            .range(let key, _):
            return key
        }
    }

    /// `phx.kv.<name>`, for messages.
    public var name: String {
        switch self {
        case .get: return "get"
        case .set: return "set"
        case .incr: return "incr"
        case .delete: return "delete"
        case .push: return "push"
        case .range: return "range"
        }
    }
}

/// What a `KVCommand` answers.
public enum KVReply: Sendable, Equatable {
    /// `get`: the value, nil when absent or expired.
    case value(JSONValue?)
    /// `incr`: the new value; `push`: the list's new length.
    case integer(Int64)
    /// `range`: the items, oldest first.
    case list([JSONValue])
    /// `set`: stored.
    case stored
    /// `delete`: whether the key existed.
    case deleted(Bool)
}

/// Why a `KVCommand` failed; `message` is what the script gets as `err`.
public struct KVError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Short and stable, for scripts to compare: `full`, `wrong type`, `overflow`, `unavailable`.
    public var reason: String
    /// The reason with its context: `full: the key-value store holds at most 64 MiB (--kv-max-mb)`.
    public var message: String

    /// An error with the given fields.
    public init(reason: String, message: String) {
        self.reason = reason
        self.message = message
    }

    public var description: String { message }

    /// `key` holds a value of another kind than the command works on (`holds`: "a list", "a string"…).
    public static func wrongType(_ key: String, wanted: String, holds: String) -> KVError {
        KVError(reason: "wrong type", message: "wrong type: \(key) holds \(holds), not \(wanted)")
    }

    /// `incr` past the 64-bit range.
    public static func overflow(_ key: String, by: Int64) -> KVError {
        KVError(reason: "overflow", message: "overflow: \(key) + \(by) does not fit in 64 bits")
    }
}

/// Where `phx.kv` keeps its data: the embedded store (one per node, in memory) or, in a cluster,
/// a Redis-backed one. Shared by every VM of the node, so implementations are thread-safe.
///
/// A store that can answer without waiting (the embedded one) answers in `answerNow`, and the
/// calling script runs straight on; one that waits on the network returns nil there and answers
/// through `execute`, and the script's callback yields meanwhile.
public protocol KeyValueStore: AnyObject, Sendable {
    /// The answer at once, or nil when the store has to wait for it (then `execute` is called).
    func answerNow(_ command: KVCommand) -> Result<KVReply, KVError>?
    /// Runs `command` and calls `completion` exactly once, later, on any thread.
    func execute(_ command: KVCommand, completion: @escaping @Sendable (Result<KVReply, KVError>) -> Void)
}
