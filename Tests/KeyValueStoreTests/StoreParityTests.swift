import KeyValueStore
import Logging
import NIOCore
import NIOPosix
import PhoenixProtocol
import RedisClient
import TestSupport
import XCTest

/// `phx.kv` answers the same in process and in Redis: every command, its replies and its errors, run on both
/// stores (a real `redis-server` of the test's own) and compared reply for reply.
final class StoreParityTests: XCTestCase {
    private var redis: RedisServer!
    private var group: MultiThreadedEventLoopGroup!
    private var connection: RedisConnection!

    override func setUp() async throws {
        redis = try RedisServer.start()
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        connection = try RedisConnection(url: redis.url(), eventLoop: group.next())
        try await connection.connect().get()
    }

    override func tearDown() async throws {
        try? await connection.close().get()
        try await group.shutdownGracefully()
        redis.stop()
    }

    private func makeRedisStore(cluster: String = "parity") -> RedisStore {
        RedisStore(connections: [connection], clusterName: cluster)
    }

    private func run(_ store: KeyValueStore, _ command: KVCommand) async -> Result<KVReply, KVError> {
        if let now = store.answerNow(command) { return now }
        return await withCheckedContinuation { continuation in
            store.execute(command) { continuation.resume(returning: $0) }
        }
    }

    /// The commands, with what each must answer (on both stores).
    private static let script: [(KVCommand, Result<KVReply, KVError>)] = {
        let object: JSONValue = .object(["name": .string("zoë ✓"), "tags": .array([.integer(1), .double(2.5), .null])])
        return [
            (.get(key: "absent"), .success(.value(nil))),
            (.set(key: "doc", value: object, ttlMilliseconds: nil), .success(.stored)),
            (.get(key: "doc"), .success(.value(object))),
            (.set(key: "flag", value: .bool(false), ttlMilliseconds: nil), .success(.stored)),
            (.get(key: "flag"), .success(.value(.bool(false)))),
            (.incr(key: "n", by: 1), .success(.integer(1))),
            (.incr(key: "n", by: 41), .success(.integer(42))),
            (.incr(key: "n", by: -50), .success(.integer(-8))),
            (.get(key: "n"), .success(.value(.integer(-8)))),
            (.set(key: "big", value: .integer(.max), ttlMilliseconds: nil), .success(.stored)),
            (.incr(key: "big", by: 1), .failure(.overflow("big", by: 1))),
            (.incr(key: "doc", by: 1), .failure(.wrongType("doc", wanted: "an integer", holds: "an object"))),
            (.set(key: "s", value: .string("12"), ttlMilliseconds: nil), .success(.stored)),
            (.incr(key: "s", by: 1), .failure(.wrongType("s", wanted: "an integer", holds: "a string"))),
            (.set(key: "f", value: .double(1.5), ttlMilliseconds: nil), .success(.stored)),
            (.incr(key: "f", by: 1), .failure(.wrongType("f", wanted: "an integer", holds: "a number"))),
            (.push(key: "log", value: .string("a"), maxLength: 3), .success(.integer(1))),
            (.push(key: "log", value: .integer(2), maxLength: 3), .success(.integer(2))),
            (.push(key: "log", value: object, maxLength: 3), .success(.integer(3))),
            (.push(key: "log", value: .string("d"), maxLength: 3), .success(.integer(3))),
            (.range(key: "log", count: 2), .success(.list([object, .string("d")]))),
            (.range(key: "log", count: 10), .success(.list([.integer(2), object, .string("d")]))),
            (.range(key: "log", count: 0), .success(.list([]))),
            (.range(key: "nothing", count: 5), .success(.list([]))),
            (.get(key: "log"), .success(.value(.array([.integer(2), object, .string("d")])))),
            (.incr(key: "log", by: 1), .failure(.wrongType("log", wanted: "an integer", holds: "a list"))),
            (.push(key: "n", value: .null, maxLength: 5), .failure(.wrongType("n", wanted: "a list", holds: "a number"))),
            (.range(key: "doc", count: 1), .failure(.wrongType("doc", wanted: "a list", holds: "an object"))),
            (.delete(key: "log"), .success(.deleted(true))),
            (.delete(key: "log"), .success(.deleted(false))),
            (.range(key: "log", count: 3), .success(.list([]))),
            (.set(key: "doc", value: .integer(7), ttlMilliseconds: nil), .success(.stored)),
            (.incr(key: "doc", by: 3), .success(.integer(10))),
        ]
    }()

    func testEveryCommandAnswersTheSameOnBothStores() async throws {
        let stores: [(String, KeyValueStore)] = [("embedded", EmbeddedStore()), ("redis", makeRedisStore())]
        for (name, store) in stores {
            for (index, (command, expected)) in Self.script.enumerated() {
                let answer = await run(store, command)
                XCTAssertEqual(answer, expected, "\(name) #\(index): \(command.name) \(command.key)")
            }
        }
    }

    func testKeysLiveUnderTheClusterPrefixAsReadableJSON() async throws {
        let store = makeRedisStore(cluster: "blue")
        _ = await run(store, .set(key: "greeting", value: .object(["text": .string("hi")]), ttlMilliseconds: nil))
        _ = await run(store, .push(key: "list", value: .integer(1), maxLength: 5))
        let text = try await connection.send(["GET", "hs:blue:kv:greeting"]).get()
        XCTAssertEqual(text.string, #"{"text":"hi"}"#)
        let items = try await connection.send(["LRANGE", "hs:blue:kv:list", "0", "-1"]).get()
        XCTAssertEqual(items.elements?.compactMap(\.string), ["1"])
        // Another cluster on the same Redis sees none of it.
        let other = makeRedisStore(cluster: "green")
        let missing = await run(other, .get(key: "greeting"))
        XCTAssertEqual(missing, .success(.value(nil)))
        try await store.removeAll().get()
        let keys = try await connection.send(["KEYS", "hs:blue:*"]).get()
        XCTAssertEqual(keys.elements?.count, 0)
    }

    func testTTLsExpireOnBothStores() async throws {
        for store in [EmbeddedStore(), makeRedisStore()] as [KeyValueStore] {
            _ = await run(store, .set(key: "short", value: .string("x"), ttlMilliseconds: 80))
            _ = await run(store, .set(key: "long", value: .string("y"), ttlMilliseconds: 60_000))
            let before = await run(store, .get(key: "short"))
            XCTAssertEqual(before, .success(.value(.string("x"))))
            try await Task.sleep(for: .milliseconds(250))
            let after = await run(store, .get(key: "short"))
            XCTAssertEqual(after, .success(.value(nil)))
            let kept = await run(store, .get(key: "long"))
            XCTAssertEqual(kept, .success(.value(.string("y"))))
            // incr keeps a key's expiry, set drops it (as Redis does).
            _ = await run(store, .set(key: "counted", value: .integer(1), ttlMilliseconds: 80))
            _ = await run(store, .incr(key: "counted", by: 1))
            try await Task.sleep(for: .milliseconds(250))
            let counted = await run(store, .get(key: "counted"))
            XCTAssertEqual(counted, .success(.value(nil)))
        }
    }

    func testAFullRedisIsFullAndADownRedisIsUnavailable() async throws {
        _ = try await connection.send(["CONFIG", "SET", "maxmemory", "2mb"]).get()
        _ = try await connection.send(["CONFIG", "SET", "maxmemory-policy", "noeviction"]).get()
        let store = makeRedisStore()
        let chunk = JSONValue.string(String(repeating: "x", count: 64 << 10))
        var failure: KVError?
        for i in 0..<200 {
            if case .failure(let error) = await run(store, .set(key: "k\(i)", value: chunk, ttlMilliseconds: nil)) {
                failure = error
                break
            }
        }
        XCTAssertEqual(failure?.reason, "full")
        XCTAssertTrue(failure?.message.contains("maxmemory") ?? false, failure?.message ?? "no failure")

        redis.kill()
        let answer = await run(store, .get(key: "k0"))
        guard case .failure(let error) = answer else { return XCTFail("answered \(answer) with Redis down") }
        XCTAssertEqual(error.reason, "unavailable")
        XCTAssertTrue(error.message.contains("127.0.0.1:\(redis.port)"), error.message)
    }

    func testConcurrentIncrementsFromManyLoopsSumExactly() async throws {
        let loops = MultiThreadedEventLoopGroup(numberOfThreads: 4)
        let connections = try loops.makeIterator().map { try RedisConnection(url: redis.url(), eventLoop: $0) }
        for connection in connections { try await connection.connect().get() }
        let store = RedisStore(connections: connections, clusterName: "parity")
        let values = try await withThrowingTaskGroup(of: [Int64].self) { group in
            for loop in loops.makeIterator() {
                group.addTask {
                    // Issued from the loop itself, so each goes out on that loop's own connection.
                    try await loop.flatSubmit {
                        let promise = loop.makePromise(of: [Int64].self)
                        let results = LoopLocalResults()
                        for _ in 0..<250 {
                            store.execute(.incr(key: "hits", by: 1)) { result in
                                if case .success(.integer(let n)) = result, results.append(n) == 250 {
                                    promise.succeed(results.values)
                                }
                            }
                        }
                        return promise.futureResult
                    }.get()
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        XCTAssertEqual(values.sorted(), (1...1_000).map { Int64($0) })
        for connection in connections { try? await connection.close().get() }
        try await loops.shutdownGracefully()
    }
}

/// Results gathered on one event loop (the loop's own thread appends; read once complete).
private final class LoopLocalResults: @unchecked Sendable {
    private(set) var values: [Int64] = []
    /// Appends and returns the count.
    func append(_ value: Int64) -> Int {
        values.append(value)
        return values.count
    }
}
