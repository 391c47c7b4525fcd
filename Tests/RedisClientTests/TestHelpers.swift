import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RedisClient
import XCTest

/// Polls `condition` until it holds or `seconds` pass (then fails the test with `what`).
func eventually(
    _ what: @autoclosure () -> String,
    within seconds: Double = 10,
    file: StaticString = #filePath,
    line: UInt = #line,
    _ condition: () -> Bool
) async throws {
    let deadline = Date().addingTimeInterval(seconds)
    while !condition() {
        if Date() > deadline {
            XCTFail("timed out after \(seconds) s waiting for \(what())", file: file, line: line)
            throw CancellationError()
        }
        try await Task.sleep(nanoseconds: 10_000_000)
    }
}

/// Records the state changes a connection reports, for tests to wait on.
final class StateRecorder: Sendable {
    private let states = NIOLockedValueBox<[String]>([])

    /// `["connected", "disconnected: <cause>", …]` so far.
    var history: [String] { states.withLockedValue { $0 } }

    var connectedCount: Int { history.filter { $0 == "connected" }.count }
    var disconnectedCount: Int { history.filter { $0.hasPrefix("disconnected") }.count }

    func record(_ state: RedisConnectionState) {
        let text: String
        switch state {
        case .connected: text = "connected"
        case .disconnected(let cause): text = "disconnected: \(cause)"
        }
        states.withLockedValue { $0.append(text) }
    }
}

/// A logger that says nothing below warnings, so test output stays readable.
let quietLogger: Logger = {
    var logger = Logger(label: "redis-test")
    logger.logLevel = .error
    return logger
}()

extension RedisConfiguration {
    /// Quick reconnects and timeouts, so fault tests finish in seconds.
    static func forTests(port: Int, password: String? = nil, database: Int = 0) -> RedisConfiguration {
        var configuration = RedisConfiguration(host: "127.0.0.1", port: port, password: password, database: database)
        configuration.backoff = ReconnectBackoff(initialDelay: .milliseconds(20), maximumDelay: .milliseconds(200))
        configuration.replyTimeout = .seconds(2)
        configuration.connectTimeout = .seconds(2)
        configuration.healthCheckInterval = .milliseconds(200)
        return configuration
    }
}

/// A connected connection to `server`, with its states recorded.
func connectedClient(
    _ configuration: RedisConfiguration,
    states: StateRecorder = StateRecorder(),
    eventLoop: EventLoop = MultiThreadedEventLoopGroup.singleton.next()
) async throws -> RedisConnection {
    let connection = RedisConnection(
        configuration: configuration, eventLoop: eventLoop, logger: quietLogger,
        onStateChange: { states.record($0) })
    try await connection.connect().get()
    return connection
}

/// Awaits a reply and compares it (XCTest's asserts take no `await`).
func assertReply(
    _ reply: EventLoopFuture<RESPValue>,
    _ expected: RESPValue,
    _ message: String = "",
    file: StaticString = #filePath,
    line: UInt = #line
) async throws {
    let value = try await reply.get()
    XCTAssertEqual(value, expected, message, file: file, line: line)
}

/// Awaits a reply and compares its text.
func assertText(
    _ reply: EventLoopFuture<RESPValue>,
    _ expected: String,
    file: StaticString = #filePath,
    line: UInt = #line
) async throws {
    let value = try await reply.get()
    XCTAssertEqual(value.string, expected, file: file, line: line)
}
