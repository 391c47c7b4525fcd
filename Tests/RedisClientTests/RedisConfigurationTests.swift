import NIOCore
import RedisClient
import XCTest

/// `redis://` URLs, and the reconnect backoff's delays.
final class RedisConfigurationTests: XCTestCase {
    func testURLForms() throws {
        var configuration = try RedisConfiguration(url: "redis://localhost")
        XCTAssertEqual(
            [configuration.host, "\(configuration.port)", "\(configuration.database)"], ["localhost", "6379", "0"])
        XCTAssertNil(configuration.password)
        XCTAssertNil(configuration.username)

        configuration = try RedisConfiguration(url: "REDIS://:s3cr%40t%3A@10.0.0.5:6380/3")
        XCTAssertEqual(configuration.host, "10.0.0.5")
        XCTAssertEqual(configuration.port, 6380)
        XCTAssertEqual(configuration.database, 3)
        XCTAssertEqual(configuration.password, "s3cr@t:")
        XCTAssertNil(configuration.username)

        configuration = try RedisConfiguration(url: "redis://app:pw@redis.internal:7000/")
        XCTAssertEqual(configuration.username, "app")
        XCTAssertEqual(configuration.password, "pw")
        XCTAssertEqual(configuration.database, 0)
        XCTAssertEqual(configuration.serverDescription, "redis.internal:7000")

        configuration = try RedisConfiguration(url: "redis://[::1]:6390/1")
        XCTAssertEqual(configuration.host, "::1")
        XCTAssertEqual(configuration.port, 6390)
        XCTAssertEqual(configuration.serverDescription, "[::1]:6390")
    }

    func testURLIsTheInverseOfParsing() throws {
        for url in [
            "redis://localhost:6379", "redis://:s3cr%40t%3A@10.0.0.5:6380/3", "redis://app:pw@redis.internal:7000",
            "redis://[::1]:6390/1",
        ] {
            XCTAssertEqual(try RedisConfiguration(url: url).url, url)
        }
        XCTAssertEqual(try RedisConfiguration(url: "redis://h").url, "redis://h:6379")
    }

    func testBadURLsSayWhatIsWrongWithoutThePassword() {
        let cases: [(String, String)] = [
            ("localhost:6379", "missing the redis:// scheme"),
            ("http://localhost", "scheme 'http' is not redis"),
            ("rediss://localhost", "TLS (rediss://) is not supported; use redis:// on a trusted network"),
            ("redis://", "missing host"),
            ("redis://:6379", "missing host"),
            ("redis://local host", "'local host' is not a host name or address"),
            ("redis://localhost:0", "port '0' is not a number from 1 to 65535"),
            ("redis://localhost:99999", "port '99999' is not a number from 1 to 65535"),
            ("redis://localhost:", "port '' is not a number from 1 to 65535"),
            ("redis://localhost:63a9", "port '63a9' is not a number from 1 to 65535"),
            ("redis://localhost/db1", "database 'db1' is not a number from 0 up"),
            ("redis://localhost/-1", "database '-1' is not a number from 0 up"),
            ("redis://localhost?db=1", "query parameters and fragments are not supported"),
            (
                "redis://hunter2@localhost",
                "user info without a password; write redis://:password@host or redis://user:password@host"
            ),
            ("redis://:bad%zz@localhost", "bad %-escape in the user info"),
            ("redis://[::1", "IPv6 host without a closing ']'"),
            ("redis://[::1]6379", "unexpected '6379' after the IPv6 host"),
        ]
        for (url, reason) in cases {
            XCTAssertThrowsError(try RedisConfiguration(url: url), url) { error in
                XCTAssertEqual((error as? RedisURLError)?.reason, reason, url)
            }
        }
        XCTAssertThrowsError(try RedisConfiguration(url: "redis://user:hunter2@localhost:port")) { error in
            let text = "\(error)"
            XCTAssertEqual(
                text,
                "invalid Redis URL 'redis://user:***@localhost:port': port 'port' is not a number from 1 to 65535 "
                    + "(expected redis://[[username]:password@]host[:port][/db])"
            )
            XCTAssertFalse(text.contains("hunter2"))
        }
    }

    func testBackoffDoublesToItsCapWithJitterInTheUpperHalf() {
        let backoff = ReconnectBackoff(initialDelay: .milliseconds(100), maximumDelay: .seconds(2))
        let steps: [Int64] = [100, 200, 400, 800, 1600, 2000, 2000]
        for (attempt, step) in steps.enumerated() {
            XCTAssertEqual(backoff.delay(attempt: attempt, random: 0), .milliseconds(step / 2), "attempt \(attempt)")
            XCTAssertEqual(backoff.delay(attempt: attempt, random: 1), .milliseconds(step), "attempt \(attempt)")
            let jittered = backoff.delay(attempt: attempt, random: 0.5)
            XCTAssertEqual(jittered, .microseconds(step * 750), "attempt \(attempt)")
        }
        // Huge attempt counts stay at the cap (no overflow).
        XCTAssertEqual(backoff.delay(attempt: 10_000, random: 1), .seconds(2))
        XCTAssertEqual(
            ReconnectBackoff(initialDelay: .hours(1_000), maximumDelay: .hours(2_000))
                .delay(attempt: 63, random: 1), .hours(2_000))
    }
}
