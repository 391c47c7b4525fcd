import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RedisClient
import TestSupport
import XCTest

/// `RedisConnection` against a real `redis-server` the test starts on a free port.
final class RedisConnectionTests: XCTestCase {
    var server: RedisServer!

    override func setUp() async throws { server = try RedisServer.start() }
    override func tearDown() async throws { server.stop() }

    func testThousandsOfPipelinedCommandsAnswerInOrder() async throws {
        let connection = try await connectedClient(.forTests(port: server.port))
        let count = 20_000
        // All sent before the first reply is read: INCR's replies count up only if they come back in order.
        let replies = (0..<count).map { i in
            i % 2 == 0 ? connection.send(["INCR", "counter"]) : connection.send(["SET", "key:\(i)", "value \(i)"])
        }
        for (i, reply) in replies.enumerated() {
            let value = try await reply.get()
            XCTAssertEqual(value, i % 2 == 0 ? .integer(Int64(i / 2 + 1)) : .simpleString("OK"), "reply \(i)")
        }
        let gets = (0..<count).filter { $0 % 2 == 1 }.map { connection.send(["GET", "key:\($0)"]) }
        for (n, get) in gets.enumerated() {
            try await assertText(get, "value \(2 * n + 1)")
        }
        try await connection.close().get()
    }

    func testPipelinedFromTheLoopItself() async throws {
        let connection = try await connectedClient(.forTests(port: server.port))
        // Commands sent from the connection's own loop in one turn go out together and still answer in order.
        let results = try await connection.eventLoop.flatSubmit {
            let futures = (1...5_000).map { i in connection.send(["ECHO", "\(i)"]) }
            return EventLoopFuture.whenAllSucceed(futures, on: connection.eventLoop)
        }.get()
        XCTAssertEqual(results.map { $0.string ?? "" }, (1...5_000).map { "\($0)" })
        try await connection.close().get()
    }

    func testBinaryValuesRoundTrip() async throws {
        let connection = try await connectedClient(.forTests(port: server.port))
        let bytes = ByteBuffer(bytes: (0...255).map { UInt8($0) } + Array("\r\n$-1\r\n*3\r\n".utf8))
        try await assertReply(connection.send(["SET", "bin", .bytes(bytes)]), .simpleString("OK"))
        try await assertReply(connection.send(["GET", "bin"]), .bulkString(bytes))
        try await assertReply(connection.send(["GET", "missing"]), .bulkString(nil))
        try await connection.close().get()
    }

    func testErrorRepliesAreTypedAndTheConnectionGoesOn() async throws {
        let connection = try await connectedClient(.forTests(port: server.port))
        _ = try await connection.send(["SET", "text", "x"]).get()
        let failed = connection.send(["LPUSH", "text", "y"])
        let next = connection.send(["GET", "text"])
        do {
            _ = try await failed.get()
            XCTFail("LPUSH on a string succeeded")
        } catch let error as RedisServerError {
            XCTAssertEqual(error.code, "WRONGTYPE")
            XCTAssertEqual(error.command, "LPUSH")
            XCTAssertTrue("\(error)".hasPrefix("Redis LPUSH: WRONGTYPE Operation against a key"), "\(error)")
        }
        try await assertText(next, "x")
        // An error inside an array is a value, not a failure.
        let nested = try await connection.send(["EVAL", "return {1, redis.error_reply('NOPE inner')}", "0"]).get()
        XCTAssertEqual(nested, .array([.integer(1), .error("NOPE inner")]))
        try await connection.close().get()
    }

    func testAuthentication() async throws {
        server.stop()
        server = try RedisServer.start(password: "open sesame")
        let good = try await connectedClient(try RedisConfiguration(url: server.url()))
        try await assertReply(good.send(["PING"]), .simpleString("PONG"))
        try await good.close().get()

        // ACL form: the default user with its password.
        let withUser = try await connectedClient(
            try RedisConfiguration(url: "redis://default:open%20sesame@127.0.0.1:\(server.port)"))
        try await assertReply(withUser.send(["PING"]), .simpleString("PONG"))
        try await withUser.close().get()

        let wrong = try RedisConnection(
            url: server.url(password: "wrong"), eventLoop: MultiThreadedEventLoopGroup.singleton.next(),
            logger: quietLogger)
        do {
            try await wrong.connect().get()
            XCTFail("connected with a wrong password")
        } catch let error as RedisServerError {
            XCTAssertEqual(error.code, "WRONGPASS")
            XCTAssertEqual(error.command, "AUTH")
        }
        try await wrong.close().get()

        // Without a password the first attempt fails at its PING, so a missing password shows at connect.
        let none = RedisConnection(
            configuration: .forTests(port: server.port),
            eventLoop: MultiThreadedEventLoopGroup.singleton.next(), logger: quietLogger)
        do {
            try await none.connect().get()
            XCTFail("connected without a password")
        } catch let error as RedisServerError {
            XCTAssertEqual(error.code, "NOAUTH")
            XCTAssertEqual(error.command, "PING")
        }
        try await none.close().get()
    }

    func testSelectDatabase() async throws {
        let three = try await connectedClient(try RedisConfiguration(url: server.url(database: 3)))
        let zero = try await connectedClient(try RedisConfiguration(url: server.url()))
        _ = try await three.send(["SET", "where", "db3"]).get()
        try await assertText(three.send(["GET", "where"]), "db3")
        try await assertReply(zero.send(["GET", "where"]), .bulkString(nil))
        let info = try await three.send(["CLIENT", "INFO"]).get().string ?? ""
        XCTAssertTrue(info.contains(" db=3 "), info)

        let missing = try RedisConnection(
            url: server.url(database: 99), eventLoop: MultiThreadedEventLoopGroup.singleton.next(), logger: quietLogger)
        do {
            try await missing.connect().get()
            XCTFail("SELECT 99 succeeded")
        } catch let error as RedisServerError {
            XCTAssertEqual(error.command, "SELECT")
            XCTAssertEqual(error.message, "ERR DB index is out of range")
        }
        try await missing.close().get()
        try await three.close().get()
        try await zero.close().get()
    }

    func testBadURLIsRefusedBeforeConnecting() {
        XCTAssertThrowsError(
            try RedisConnection(
                url: "redis://127.0.0.1:notaport", eventLoop: MultiThreadedEventLoopGroup.singleton.next())
        ) { error in
            XCTAssertEqual((error as? RedisURLError)?.reason, "port 'notaport' is not a number from 1 to 65535")
        }
    }

    func testNothingListeningFailsTheFirstConnectThenRetriesUntilTheServerComes() async throws {
        let port = server.port
        server.kill()
        let states = StateRecorder()
        let connection = RedisConnection(
            configuration: .forTests(port: port), eventLoop: MultiThreadedEventLoopGroup.singleton.next(),
            logger: quietLogger, onStateChange: { states.record($0) })
        do {
            try await connection.connect().get()
            XCTFail("connected to a closed port")
        } catch {
            XCTAssertTrue("\(error)".contains("refused"), "\(error)")
        }
        do {
            _ = try await connection.send(["PING"]).get()
            XCTFail("a command went through while disconnected")
        } catch let error as RedisClientError {
            guard case .notConnected(let where_, let cause) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(where_, "127.0.0.1:\(port)")
            XCTAssertTrue(cause?.contains("refused") == true, "\(error)")
        }
        try server.restart()
        try await eventually("the connection to come up") { states.connectedCount == 1 }
        try await assertReply(connection.send(["PING"]), .simpleString("PONG"))
        XCTAssertEqual(states.history, ["connected"])
        try await connection.close().get()
        XCTAssertEqual(states.history.last, "disconnected: Redis connection closed by its owner")
        do {
            _ = try await connection.send(["PING"]).get()
            XCTFail("a command went through after close")
        } catch let error as RedisClientError {
            XCTAssertEqual(error, .closed)
        }
    }

    func testCommandsFailFastWhileDownAndTheConnectionComesBack() async throws {
        let states = StateRecorder()
        let connection = try await connectedClient(.forTests(port: server.port), states: states)
        _ = try await connection.send(["SET", "k", "v"]).get()
        server.kill()
        try await eventually("the loss to be noticed") { states.disconnectedCount == 1 }
        XCTAssertTrue(
            states.history[1].hasPrefix("disconnected: connection to Redis at 127.0.0.1:\(server.port) lost"),
            states.history[1])
        let started = Date()
        for _ in 0..<1_000 {
            do {
                _ = try await connection.send(["GET", "k"]).get()
                XCTFail("a command went through while Redis was down")
            } catch let error as RedisClientError {
                guard case .notConnected = error else { return XCTFail("\(error)") }
            }
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 5, "failing fast took long")
        try server.restart()
        try await eventually("the reconnect") { states.connectedCount == 2 }
        try await assertReply(connection.send(["GET", "k"]), .bulkString(nil), "a fresh server is empty")
        try await connection.close().get()
    }

    func testInFlightCommandsFailWhenTheServerDies() async throws {
        let connection = try await connectedClient(.forTests(port: server.port))
        // BLPOP waits for an element that never comes: its reply is pending when the server dies.
        let blocked = connection.send(["BLPOP", "nothing", "0"])
        try await Task.sleep(nanoseconds: 50_000_000)
        server.kill()
        do {
            _ = try await blocked.get()
            XCTFail("BLPOP returned")
        } catch let error as RedisClientError {
            guard case .connectionLost = error else { return XCTFail("\(error)") }
        }
        try await connection.close().get()
    }

    func testAStoppedServerTimesOutAndTheConnectionRecovers() async throws {
        let states = StateRecorder()
        var configuration = RedisConfiguration.forTests(port: server.port)
        configuration.replyTimeout = .milliseconds(500)
        let connection = try await connectedClient(configuration, states: states)
        server.pause()
        defer { server.resume() }
        let started = Date()
        do {
            _ = try await connection.send(["PING"]).get()
            XCTFail("PING answered by a stopped server")
        } catch let error as RedisClientError {
            guard case .connectionLost(_, let cause) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(cause, "no reply from Redis at 127.0.0.1:\(server.port) within 500 ms; connection closed")
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 3)
        server.resume()
        try await eventually("the reconnect") { states.connectedCount == 2 }
        try await assertReply(connection.send(["PING"]), .simpleString("PONG"))
        try await connection.close().get()
    }

    func testAPipelineThatKeepsBeingAnsweredIsNotTimedOut() async throws {
        var configuration = RedisConfiguration.forTests(port: server.port)
        configuration.replyTimeout = .seconds(1)
        let states = StateRecorder()
        let connection = try await connectedClient(configuration, states: states)
        // Each BLPOP holds the connection ~0.25 s: the last reply comes ~2.5 s after it was sent, but one reply
        // arrives every 0.25 s, so the server is alive and nothing times out.
        let started = Date()
        let replies = (0..<10).map { _ in connection.send(["BLPOP", "empty", "0.25"]) }
        for reply in replies { try await assertReply(reply, .array(nil)) }
        XCTAssertGreaterThan(Date().timeIntervalSince(started), 2)
        XCTAssertEqual(states.history, ["connected"])
        try await connection.close().get()
    }

    func testPendingCommandsAreBounded() async throws {
        var configuration = RedisConfiguration.forTests(port: server.port)
        configuration.maxPendingCommands = 10
        let connection = try await connectedClient(configuration)
        // Eleven sends in one turn of the loop: no reply can arrive in between.
        let futures = try await connection.eventLoop.submit {
            (0..<11).map { _ in connection.send(["PING"]) }
        }.get()
        for future in futures.prefix(10) { try await assertReply(future, .simpleString("PONG")) }
        do {
            _ = try await futures[10].get()
            XCTFail("the 11th command was accepted")
        } catch let error as RedisClientError {
            XCTAssertEqual(error, .tooManyPendingCommands(limit: 10))
        }
        try await assertReply(connection.send(["PING"]), .simpleString("PONG"), "room again once answered")
        try await connection.close().get()
    }

    func testRepliesPastTheBoundsCloseTheConnectionWithAClearError() async throws {
        let seed = try await connectedClient(.forTests(port: server.port))
        _ = try await seed.send(["SET", "big", .bytes(ByteBuffer(repeating: 0x61, count: 2_000_000))]).get()
        _ = try await seed.send(RedisCommand(["RPUSH", "list"] + (0..<200).map { "\($0)" })).get()
        try await seed.close().get()

        var configuration = RedisConfiguration.forTests(port: server.port)
        configuration.limits = RESPLimits(maxBulkLength: 1_000_000, maxArrayLength: 100, maxDepth: 3)
        let states = StateRecorder()
        let connection = try await connectedClient(configuration, states: states)
        let cases: [(RedisCommand, RESPDecodingError)] = [
            (["GET", "big"], .bulkTooLong(length: 2_000_000, limit: 1_000_000)),
            (["LRANGE", "list", "0", "-1"], .aggregateTooLong(count: 200, limit: 100)),
            (["EVAL", "return {{{{1}}}}", "0"], .tooDeep(limit: 3)),
        ]
        for (round, (command, bound)) in cases.enumerated() {
            do {
                _ = try await connection.send(command).get()
                XCTFail("\(command.name) passed a bound")
            } catch let error as RedisClientError {
                XCTAssertEqual(
                    error,
                    .connectionLost(
                        server: "127.0.0.1:\(server.port)",
                        cause: "Redis at 127.0.0.1:\(server.port) sent a reply we refuse: \(bound); connection closed"))
            }
            try await eventually("reconnect \(round + 1)") { states.connectedCount == round + 2 }
            try await assertReply(connection.send(["LLEN", "list"]), .integer(200), "usable again")
        }
        XCTAssertEqual(states.disconnectedCount, 3)
        XCTAssertTrue(
            states.history[1].contains("bulk string of 2000000 bytes exceeds the limit of 1000000 (maxBulkLength)"),
            states.history[1])
        // Within the bounds the same kinds of replies pass.
        try await assertReply(connection.send(["EVAL", "return {{1}}", "0"]), .array([.array([.integer(1)])]))
        try await connection.close().get()
    }
}
