/// An error raised by (or about) a Lua script: a load failure, a runtime error, an invalid
/// return value, or a resource limit. Log `description`; it reads like
/// `channels/ping.lua:12: boom (topic ping)`.
public struct ScriptError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong, broadly.
    public enum Kind: Sendable, Equatable {
        /// The script could not be compiled or its chunk failed when run (syntax error, bad `topic`…).
        case load
        /// The callback raised an error (`error()`, a bad call, a `phx.*` misuse…).
        case runtime
        /// The callback returned something that is not a valid result for it.
        case invalidResult
        /// The callback ran out of instructions.
        case instructionBudget
        /// The VM hit its memory cap while the callback ran.
        case memory
        /// The callback did not finish within `--lua-callback-timeout` (its waits included), or
        /// was abandoned waiting at shutdown.
        case timeout
        /// The call could not be made (unknown channel, re-entrant call).
        case misuse
    }

    /// What went wrong, broadly.
    public var kind: Kind
    /// The script's display path, e.g. `channels/ping.lua`.
    public var script: String
    /// The channel topic involved, when there is one.
    public var topic: String?
    /// The message, normally starting with `channels/x.lua:LINE:`.
    public var message: String
    /// The Lua stack traceback (`stack traceback:\n\t…`), when the error came from running code.
    public var traceback: String?

    /// An error with the given fields.
    public init(kind: Kind, script: String, topic: String? = nil, message: String, traceback: String? = nil) {
        self.kind = kind
        self.script = script
        self.topic = topic
        self.message = message
        self.traceback = traceback
    }

    public var description: String {
        topic.map { "\(message) (topic \($0))" } ?? message
    }
}
