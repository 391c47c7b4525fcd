import LuaRuntime
import NIOConcurrencyHelpers

/// What hot reload did about one changed file; also logged (`message` is the log line).
public struct ReloadEvent: Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// An existing script runs a new version (`socket.lua`: for new connections).
        case reloaded
        /// A new file registered its topics.
        case added
        /// A deleted file unregistered its topics; its joined channels got phx_error.
        case removed
        /// A `lib/` module changed; its dependents come as `.reloaded` events.
        case library
        /// A syntax or load error, or a topic another script claims: the previous version stays.
        case failed
        /// Seen but not acted on (e.g. a new socket folder, which needs a restart).
        case ignored
    }

    public var kind: Kind
    /// The display path: `channels/ping.lua`, `channels/lib/util.lua`.
    public var path: String
    /// The script (or module) name: `ping`, `util`.
    public var name: String
    /// The version now running (nil when removed, or failed with no previous version).
    public var version: ScriptVersion?
    /// The topics the script claims now (or claimed, when removed).
    public var topics: [String]
    /// For `.failed`: the error (its message names file and line).
    public var error: ScriptError?
    /// For `.removed`: how many joined channels were closed with phx_error.
    public var closedChannels: Int
    /// From the first file event of the batch to the new version being installed.
    public var milliseconds: Double
    /// The log line.
    public var message: String

    public var description: String { message }
}

/// Fans reload events out to every `AsyncStream` asked for (tests, the observer, …).
final class ReloadEventHub: Sendable {
    private let continuations = NIOLockedValueBox<(next: Int, all: [Int: AsyncStream<ReloadEvent>.Continuation])>((0, [:]))

    func stream() -> AsyncStream<ReloadEvent> {
        AsyncStream(bufferingPolicy: .bufferingNewest(1000)) { continuation in
            let id = continuations.withLockedValue { state -> Int in
                state.next += 1
                state.all[state.next] = continuation
                return state.next
            }
            continuation.onTermination = { [weak self] _ in
                _ = self?.continuations.withLockedValue { $0.all.removeValue(forKey: id) }
            }
        }
    }

    /// Reloads by kind, for `/metrics` (rare: a lock is fine).
    let counts = NIOLockedValueBox<[ReloadEvent.Kind: Int]>([:])

    func publish(_ event: ReloadEvent) {
        counts.withLockedValue { $0[event.kind, default: 0] += 1 }
        for continuation in continuations.withLockedValue({ Array($0.all.values) }) { continuation.yield(event) }
    }

    func finish() {
        let all = continuations.withLockedValue { state -> [AsyncStream<ReloadEvent>.Continuation] in
            defer { state.all = [:] }
            return Array(state.all.values)
        }
        for continuation in all { continuation.finish() }
    }
}
