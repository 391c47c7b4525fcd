import NIOCore

/// An error reply from the server (`-WRONGTYPE Operation against a key…`) to a command.
public struct RedisServerError: Error, Hashable, CustomStringConvertible {
    /// The whole error line, e.g. `WRONGPASS invalid username-password pair or user is disabled.`.
    public let message: String
    /// The command it answered (`GET`).
    public let command: String

    /// The error's code: its first word (`ERR`, `WRONGTYPE`, `NOAUTH`, `WRONGPASS`…).
    public var code: Substring { message.prefix(while: { $0 != " " }) }

    public var description: String { "Redis \(command): \(message)" }
}

/// Why a command could not get a reply from the connection, or why the connection closed.
public enum RedisClientError: Error, Hashable, CustomStringConvertible {
    /// The connection is down or not up yet: commands fail at once instead of queueing. `cause` is why it went down.
    case notConnected(server: String, cause: String?)
    /// The connection closed while the command awaited its reply: it may or may not have run.
    case connectionLost(server: String, cause: String?)
    /// `close()` was called.
    case closed
    /// More than `maxPendingCommands` commands await replies.
    case tooManyPendingCommands(limit: Int)
    /// No reply came for `replyTimeout`: the connection was closed.
    case replyTimeout(server: String, after: TimeAmount)
    /// The server sent bytes that are not RESP or that pass a bound of `RESPLimits`: the connection was closed.
    case protocolViolation(server: String, RESPDecodingError)
    /// A reply of the wrong shape (a subscription confirmation that is not one), or a reply nothing asked for.
    case unexpectedReply(command: String, reply: String)

    public var description: String {
        switch self {
        case .notConnected(let server, let cause):
            return "not connected to Redis at \(server)\(cause.map { " (\($0))" } ?? ""); not queued, retry later"
        case .connectionLost(let server, let cause):
            return "connection to Redis at \(server) lost\(cause.map { " (\($0))" } ?? "")"
        case .closed:
            return "Redis connection closed by its owner"
        case .tooManyPendingCommands(let limit):
            return "more than \(limit) Redis commands await replies (maxPendingCommands)"
        case .replyTimeout(let server, let after):
            return "no reply from Redis at \(server) within \(after.nanoseconds / 1_000_000) ms; connection closed"
        case .protocolViolation(let server, let error):
            return "Redis at \(server) sent a reply we refuse: \(error); connection closed"
        case .unexpectedReply(let command, let reply):
            return "unexpected Redis reply to \(command.isEmpty ? "nothing" : command): \(reply)"
        }
    }
}
