import Foundation
import KeyValueStore
import Logging
import NIOCore
import NIOPosix
import RedisClient

/// `hello-sockets test --redis URL`: the specs' `phx.kv` in a real Redis, so a channel's specs can be run against
/// the store it meets in a cluster. Each test gets keys of its own (a cluster name made for it) that are deleted
/// after it.
final class SpecRedis {
    private let group: MultiThreadedEventLoopGroup
    private let connection: RedisConnection

    /// Connects, or throws why not (a refused connection, a wrong password).
    init(configuration: RedisConfiguration, logger: Logger) async throws {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        connection = RedisConnection(configuration: configuration, eventLoop: group.next(), logger: logger)
        do {
            try await connection.connect().get()
        } catch {
            try? await connection.close().get()
            try? await group.shutdownGracefully()
            throw Unreachable(server: configuration.serverDescription, cause: "\(error)")
        }
    }

    struct Unreachable: Error, CustomStringConvertible {
        let server: String
        let cause: String
        var description: String { "--redis: cannot reach Redis at \(server): \(cause)" }
    }

    /// A store for one test, empty.
    func makeStore() -> SynchronousStore {
        SynchronousStore(RedisStore(connections: [connection], clusterName: "spec-\(UUID().uuidString.prefix(8))"))
    }

    /// Deletes the keys a test left.
    func clear(_ store: SynchronousStore) async {
        try? await store.redis.removeAll().get()
    }

    func close() async {
        try? await connection.close().get()
        try? await group.shutdownGracefully()
    }
}

/// A Redis store that answers at once, by waiting for Redis. The in-process endpoint runs a test on one thread with
/// a manual clock and has no event loop to resume a waiting callback on; blocking that thread for a loopback round
/// trip keeps the specs deterministic while every command still goes to the real Redis. Never for a server.
final class SynchronousStore: KeyValueStore {
    let redis: RedisStore

    init(_ redis: RedisStore) { self.redis = redis }

    func answerNow(_ command: KVCommand) -> Result<KVReply, KVError>? {
        let done = DispatchSemaphore(value: 0)
        let answer = AnswerBox()
        redis.execute(command) { result in
            answer.result = result
            done.signal()
        }
        done.wait()
        return answer.result
    }

    func execute(_ command: KVCommand, completion: @escaping @Sendable (Result<KVReply, KVError>) -> Void) {
        completion(answerNow(command) ?? .failure(KVError(reason: "unavailable", message: "unavailable")))
    }

    /// Written by the Redis loop before the semaphore is signalled, read after the wait: ordered by the semaphore.
    private final class AnswerBox: @unchecked Sendable {
        var result: Result<KVReply, KVError>?
    }
}
