import NIOCore
import PhoenixProtocol
import RedisClient

/// `phx.kv` in Redis (`--redis`): every node using the Redis shares the data, and it outlives the nodes.
///
/// Each key is `hs:CLUSTER:kv:KEY`; a value is kept as its JSON text and a `push` list as a Redis list of JSON
/// texts, so `redis-cli` shows them as they are. Every command is one Redis command (`push` one `EVAL`, atomic), and
/// answers as the embedded store does, errors included: the only extra round trips are on error paths (to say what
/// a key holds). The script's callback yields while Redis answers.
public final class RedisStore: KeyValueStore {
    /// What every key starts with: `hs:CLUSTER:kv:`.
    public let keyPrefix: String
    /// One connection per event loop; a command goes out on the caller's loop's own (no hop).
    private let connections: [RedisConnection]

    /// A store over `connections` (one per event loop is best; at least one) for the cluster `clusterName`.
    public init(connections: [RedisConnection], clusterName: String) {
        precondition(!connections.isEmpty, "RedisStore needs a connection")
        self.connections = connections
        self.keyPrefix = "hs:\(clusterName):kv:"
    }

    /// A Redis store never answers without waiting.
    public func answerNow(_ command: KVCommand) -> Result<KVReply, KVError>? { nil }

    public func execute(_ command: KVCommand, completion: @escaping @Sendable (Result<KVReply, KVError>) -> Void) {
        let connection = connections.first { $0.eventLoop.inEventLoop } ?? connections[0]
        let key = keyPrefix + command.key
        run(command, redisKey: key, on: connection).whenComplete { result in
            completion(result.flatMapError { .failure(Self.kvError($0, command: command, server: connection)) })
        }
    }

    /// Deletes every key of this store (tests, and `hello-sockets test --redis` between specs).
    public func removeAll() -> EventLoopFuture<Void> {
        let connection = connections[0]
        // KEYS is O(keys in the database); fine for the throwaway databases this is for.
        return connection.send(["KEYS", keyPrefix + "*"]).flatMap { reply in
            let keys = (reply.elements ?? []).compactMap(\.string)
            guard !keys.isEmpty else { return connection.eventLoop.makeSucceededVoidFuture() }
            return connection.send(RedisCommand(["DEL"] + keys)).map { _ in }
        }
    }

    // MARK: Commands

    private func run(_ command: KVCommand, redisKey key: String, on connection: RedisConnection)
        -> EventLoopFuture<KVReply>
    {
        let loop = connection.eventLoop
        switch command {
        case .get:
            return connection.send(["GET", key]).flatMapThrowing { reply in
                .value(try reply.isNull ? nil : Self.decode(reply, key: command.key))
            }.flatMapError { error in
                // The embedded store answers a list's items to `get`; so does this one.
                guard Self.isWrongType(error) else { return loop.makeFailedFuture(error) }
                return connection.send(["LRANGE", key, "0", "-1"]).flatMapThrowing { reply in
                    .value(.array(try Self.decodeItems(reply, key: command.key)))
                }
            }
        case .set(_, let value, let ttl):
            guard let json = Self.encode(value) else { return loop.makeFailedFuture(KVError.unencodable) }
            var arguments: [RedisArgument] = ["SET", .string(key), .bytes(json)]
            if let ttl { arguments += ["PX", .integer(ttl)] }
            return connection.send(RedisCommand(arguments)).map { _ in .stored }
        case .incr(_, let by):
            return connection.send(RedisCommand(["INCRBY", .string(key), .string(String(by))])).flatMapThrowing { reply in
                guard let n = reply.integer else { throw RedisClientError.unexpectedReply(command: "INCRBY", reply: "\(reply)") }
                return .integer(n)
            }.flatMapError { error in
                self.explainIncrFailure(error, command: command, redisKey: key, by: by, on: connection)
            }
        case .delete:
            return connection.send(["DEL", key]).map { .deleted($0.integer == 1) }
        case .push(_, let value, let maxLength):
            guard let json = Self.encode(value) else { return loop.makeFailedFuture(KVError.unencodable) }
            let arguments: [RedisArgument] = ["EVAL", .string(Self.pushScript), 1, .string(key), .bytes(json), .integer(maxLength)]
            return connection.send(RedisCommand(arguments)).flatMapThrowing { reply in
                guard let n = reply.integer else { throw RedisClientError.unexpectedReply(command: "EVAL", reply: "\(reply)") }
                return .integer(n)
            }.flatMapError { self.explainListFailure($0, command: command, redisKey: key, on: connection) }
        case .range(_, let count):
            // LRANGE key -0 -1 would be the whole list.
            guard count > 0 else { return loop.makeSucceededFuture(.list([])) }
            return connection.send(["LRANGE", key, "-\(count)", "-1"]).flatMapThrowing { reply in
                .list(try Self.decodeItems(reply, key: command.key))
            }.flatMapError { self.explainListFailure($0, command: command, redisKey: key, on: connection) }
        }
    }

    /// RPUSH then LTRIM to the last `max`, in one step (another client's push cannot land in between).
    static let pushScript = """
        local n = redis.call('RPUSH', KEYS[1], ARGV[1]) \
        local max = tonumber(ARGV[2]) \
        if n > max then redis.call('LTRIM', KEYS[1], -max, -1) return max end \
        return n
        """

    /// INCRBY failed: on a list, on a value that is not an integer, or past 64 bits; say which, as the embedded
    /// store does.
    private func explainIncrFailure(
        _ error: Error, command: KVCommand, redisKey key: String, by: Int64, on connection: RedisConnection
    ) -> EventLoopFuture<KVReply> {
        guard let serverError = error as? RedisServerError else { return connection.eventLoop.makeFailedFuture(error) }
        if serverError.code == "WRONGTYPE" {
            return connection.eventLoop.makeFailedFuture(KVError.wrongType(command.key, wanted: "an integer", holds: "a list"))
        }
        if serverError.message.contains("overflow") {
            return connection.eventLoop.makeFailedFuture(KVError.overflow(command.key, by: by))
        }
        guard serverError.message.contains("not an integer") else { return connection.eventLoop.makeFailedFuture(error) }
        return kindOfValue(redisKey: key, key: command.key, on: connection).flatMapThrowing { kind in
            throw KVError.wrongType(command.key, wanted: "an integer", holds: kind)
        }
    }

    /// A list command met a plain value: say what it holds.
    private func explainListFailure(
        _ error: Error, command: KVCommand, redisKey key: String, on connection: RedisConnection
    ) -> EventLoopFuture<KVReply> {
        guard Self.isWrongType(error) else { return connection.eventLoop.makeFailedFuture(error) }
        return kindOfValue(redisKey: key, key: command.key, on: connection).flatMapThrowing { kind in
            throw KVError.wrongType(command.key, wanted: "a list", holds: kind)
        }
    }

    /// "a string", "a number"… of the JSON value under `key` (for error messages only).
    private func kindOfValue(redisKey: String, key: String, on connection: RedisConnection) -> EventLoopFuture<String> {
        connection.send(["GET", redisKey]).map { reply in
            if reply.isNull { return "nothing" }
            return (try? Self.decode(reply, key: key).kindDescription) ?? "a value that is not JSON"
        }.recover { Self.isWrongType($0) ? "a list" : "a value of another kind" }
    }

    // MARK: Values and errors

    private static func encode(_ value: JSONValue) -> ByteBuffer? {
        guard let bytes = try? JSONWriter.encode(value) else { return nil }
        return ByteBuffer(bytes: bytes)
    }

    private static func decode(_ reply: RESPValue, key: String) throws -> JSONValue {
        guard let bytes = reply.bytes else {
            throw RedisClientError.unexpectedReply(command: "GET", reply: "\(reply)")
        }
        do {
            return try bytes.withUnsafeReadableBytes { try JSONParser().parse($0) }
        } catch {
            throw KVError(reason: "wrong type", message: "wrong type: \(key) holds a value that is not JSON (written by another client?)")
        }
    }

    private static func decodeItems(_ reply: RESPValue, key: String) throws -> [JSONValue] {
        try (reply.elements ?? []).map { try decode($0, key: key) }
    }

    private static func isWrongType(_ error: Error) -> Bool {
        (error as? RedisServerError)?.code == "WRONGTYPE"
    }

    /// Any failure as the `KVError` the script gets.
    static func kvError(_ error: Error, command: KVCommand, server connection: RedisConnection) -> KVError {
        if let error = error as? KVError { return error }
        let server = connection.configuration.serverDescription
        if let error = error as? RedisServerError {
            if error.code == "OOM" {
                return KVError(reason: "full", message: "full: Redis at \(server) is at its maxmemory (\(error.message))")
            }
            return KVError(reason: "error", message: "error: Redis at \(server) refused \(error.command): \(error.message)")
        }
        return KVError(reason: "unavailable", message: "unavailable: \(error)")
    }
}

extension KVError {
    /// A value that has no JSON text (a NaN, an infinity): refused before it reaches a store.
    static let unencodable = KVError(reason: "wrong type", message: "wrong type: the value cannot be written as JSON")
}
