import Foundation
import HelloSocketsServer
import NIOCore
import PhoenixChannels
import TestSupport
import XCTest

/// Abuse limits over real sockets: a flooding client is slowed to its message rate (not read, nothing
/// dropped) and closed with 1008 if it keeps at it; joins have a rate of their own; the upgrade is
/// refused with 429 past the per-address limits, with the client's address taken from a trusted
/// proxy only. Rates here are lower than the defaults so the runs stay short; the defaults and a
/// 30-second flood are measured by `benchmarks/flood.py` (benchmarks/RESULTS.md).
final class AbuseLimitsTests: XCTestCase {
    private static let socketPath = "/socket/websocket?vsn=2.0.0"

    private func start(_ configure: @escaping (inout ServerConfiguration) -> Void) async throws -> TestServer {
        let server = try await TestServer.start(channels: PhoenixFeatureTests.fixtures, configure: configure)
        addTeardownBlock { try? await server.stop() }
        return server
    }

    /// A Phoenix client joined to `topic`.
    private func joined(_ topic: String, server: TestServer, from localAddress: String? = nil) async throws -> WebSocketTestClient {
        let client = try await WebSocketTestClient.connect(port: server.port, path: Self.socketPath, localAddress: localAddress)
        try await client.send(text: #"["1","1","\#(topic)","phx_join",{}]"#)
        let reply = try await client.receiveText()
        XCTAssertTrue(reply.hasSuffix(#""status":"ok"}]"#), reply)
        return client
    }

    private func count(_ client: WebSocketTestClient, _ topic: String, ref: Int) async throws {
        try await client.send(text: #"["1","\#(ref)","\#(topic)","count",{}]"#)
        let reply = try await client.receiveText()
        XCTAssertTrue(reply.hasPrefix(#"["1","\#(ref)","\#(topic)","phx_reply""#), reply)
    }

    private func pushes(_ count: Int, topic: String, firstRef: Int = 2) -> [UInt8] {
        var bytes: [UInt8] = []
        for n in 0..<count { bytes += FrameBytes.text(#"["1","\#(firstRef + n)","\#(topic)","count",{}]"#) }
        return bytes
    }

    private func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// `/metrics` until `condition` holds (counters move on the server's loops), at most 5 s.
    private func metrics(_ server: TestServer, until condition: ([String: Double]) -> Bool) async throws -> [String: Double] {
        var samples = try await server.scrapeMetrics().samples
        for _ in 0..<100 where !condition(samples) {
            try await Task.sleep(for: .milliseconds(50))
            samples = try await server.scrapeMetrics().samples
        }
        return samples
    }

    // MARK: Messages

    func testAFloodIsSlowedToTheRateAndEveryPushIsAnsweredInOrder() async throws {
        let server = try await start { $0.socketLimits = SocketLimits(messageRate: 100, messageBurst: 20, throttleGrace: .zero) }
        let flooder = try await joined("lab:flood", server: server)
        let bystander = try await joined("lab:calm", server: server)

        let pushes = 320
        let start = ContinuousClock.now
        try await flooder.send(frame: self.pushes(pushes, topic: "lab:flood"))  // as fast as it can: one write
        // The bystander is answered while the flooder waits for its tokens, not after it.
        for ref in 2...6 { try await count(bystander, "lab:calm", ref: ref) }
        let bystanderDone = ContinuousClock.now - start

        var arrivals: [Double] = []
        for n in 1...pushes {
            let reply = try await flooder.receiveText(timeout: .seconds(30))
            XCTAssertEqual(reply, #"["1","\#(n + 1)","lab:flood","phx_reply",{"response":{"n":\#(n)},"status":"ok"}]"#)
            arrivals.append(seconds(ContinuousClock.now - start))
        }
        // Never faster than the bucket allows: by time t, at most the burst plus 100·t replies (+1: the token due at t).
        let tooEarly = arrivals.enumerated().first { i, t in Double(i + 1) > 20 + 100 * t + 1 }
        XCTAssertNil(tooEarly, "reply \((tooEarly?.offset ?? 0) + 1) came at \(tooEarly?.element ?? 0) s: faster than 100/s")
        XCTAssertGreaterThanOrEqual(arrivals[pushes - 1], 2.99, "the 300 pushes past the burst take 3 s at 100/s")
        XCTAssertLessThan(seconds(bystanderDone), arrivals[pushes - 1], "the bystander was not queued behind the flood")

        let samples = try await metrics(server) { $0["hellosockets_throttled_sockets"] == 0 }
        XCTAssertEqual(samples["hellosockets_throttled_sockets"], 0, "nobody is held back any more")
        XCTAssertGreaterThan(samples["hellosockets_throttle_seconds_total"] ?? 0, 2.5)
        XCTAssertEqual(samples["hellosockets_rate_limit_closes_total"], 0)
        try await count(flooder, "lab:flood", ref: 1000)
    }

    func testAThrottledClientIsNotReadSoTCPSlowsItDown() async throws {
        let server = try await start { $0.socketLimits = SocketLimits(messageRate: 20, messageBurst: 5, throttleGrace: .zero) }
        let flooder = try await joined("lab:flood", server: server)
        let bystander = try await joined("lab:calm", server: server)
        // 16 MiB of pushes, more than the kernel buffers between the two sockets hold: the write can only
        // finish if the server reads them.
        var bytes = FrameBytes.text(#"["1","2","lab:flood","count",{}]"#)
        while bytes.count < 16 << 20 { bytes += bytes }
        let written = Flag()
        let writer = Task {
            try await flooder.send(frame: bytes)
            written.set()
        }
        addTeardownBlock { writer.cancel() }
        let start = ContinuousClock.now
        try await Task.sleep(for: .milliseconds(1500))
        XCTAssertFalse(written.isSet, "the server stopped reading the flooder: its write is stuck in TCP")
        let samples = try await metrics(server) { $0["hellosockets_throttled_sockets"] == 1 }
        XCTAssertEqual(samples["hellosockets_throttled_sockets"], 1)
        var replies = 0
        for _ in 0..<1000 {
            guard (try? await flooder.receiveText(timeout: .milliseconds(10))) != nil else { break }
            replies += 1
        }
        let elapsed = seconds(ContinuousClock.now - start)
        XCTAssertLessThanOrEqual(Double(replies), 5 + 20 * elapsed + 1, "taken at the rate, no faster")
        XCTAssertGreaterThan(replies, 5, "but taken")
        try await count(bystander, "lab:calm", ref: 2)
        await flooder.close()
        let after = try await metrics(server) { $0["hellosockets_throttled_sockets"] == 0 }
        XCTAssertEqual(after["hellosockets_throttled_sockets"], 0, "a closed socket is no longer counted")
    }

    func testAClientOverTheRatePastTheGraceIsClosedWith1008() async throws {
        let server = try await start {
            $0.socketLimits = SocketLimits(messageRate: 50, messageBurst: 10, throttleGrace: .milliseconds(500))
        }
        let flooder = try await joined("lab:flood", server: server)
        let bystander = try await joined("lab:calm", server: server)
        let start = ContinuousClock.now
        try await flooder.send(frame: pushes(400, topic: "lab:flood"))
        var replies = 0
        var close: ServerFrame?
        while close == nil {
            let frame = try await flooder.receiveFrame(timeout: .seconds(10))
            if frame.opcode == 8 {
                close = frame
            } else {
                replies += 1
                XCTAssertTrue(frame.text.hasPrefix(#"["1","\#(replies + 1)","lab:flood","phx_reply""#), "in order: \(frame.text)")
            }
        }
        let elapsed = seconds(ContinuousClock.now - start)
        XCTAssertEqual(close?.closeCode, 1008)
        let reason = String(decoding: close?.payload.dropFirst(2) ?? [], as: UTF8.self)
        XCTAssertTrue(reason.hasPrefix("message rate exceeded: over 50/s for "), reason)
        // The burst (less the join's token), then 50/s for the half second of grace, and no more.
        XCTAssertGreaterThanOrEqual(replies, 30)
        XCTAssertLessThanOrEqual(Double(replies), 10 + 50 * elapsed + 1, "\(replies) replies in \(elapsed) s")
        let closed = try await flooder.raw.waitForClose()
        XCTAssertTrue(closed, "the server hangs up without waiting for a client it no longer reads")
        try await count(bystander, "lab:calm", ref: 2)
        let samples = try await metrics(server) { $0["hellosockets_rate_limit_closes_total"] == 1 }
        XCTAssertEqual(samples["hellosockets_rate_limit_closes_total"], 1)
        XCTAssertEqual(samples["hellosockets_websocket_closes_total{code=\"1008\"}"], 1)
        XCTAssertEqual(samples["hellosockets_throttled_sockets"], 0)
    }

    func testHeartbeatsCount() async throws {
        let server = try await start { $0.socketLimits = SocketLimits(messageRate: 5, messageBurst: 3, throttleGrace: .zero) }
        let client = try await WebSocketTestClient.connect(port: server.port, path: Self.socketPath)
        var bytes: [UInt8] = []
        for ref in 1...6 { bytes += FrameBytes.text(#"[null,"\#(ref)","phoenix","heartbeat",{}]"#) }
        let start = ContinuousClock.now
        try await client.send(frame: bytes)
        for ref in 1...6 {
            let reply = try await client.receiveText()
            XCTAssertEqual(reply, #"[null,"\#(ref)","phoenix","phx_reply",{"response":{},"status":"ok"}]"#)
        }
        XCTAssertGreaterThanOrEqual(seconds(ContinuousClock.now - start), 0.59, "3 at once, then one every 200 ms")
    }

    func testTheDefaultsLetAnOrdinaryClientThrough() async throws {
        let server = try await start { _ in }
        XCTAssertEqual(server.server.configuration.socketLimits, SocketLimits())
        let client = try await joined("lab:calm", server: server)
        try await client.send(frame: pushes(199, topic: "lab:calm"))
        for n in 1...199 {
            let reply = try await client.receiveText()
            XCTAssertTrue(reply.hasPrefix(#"["1","\#(n + 1)","lab:calm","phx_reply""#), reply)
        }
        let samples = try await server.scrapeMetrics().samples
        XCTAssertEqual(samples["hellosockets_throttle_seconds_total"], 0, "a join and 199 pushes back to back fit the default burst of 200")
    }

    // MARK: Joins

    func testFiftyJoinsInABurstTwentySucceedTheRestAreRateLimited() async throws {
        let server = try await start { _ in }  // the defaults: 10 joins a second, 20 back to back
        let client = try await WebSocketTestClient.connect(port: server.port, path: Self.socketPath)
        var bytes: [UInt8] = []
        for n in 1...50 { bytes += FrameBytes.text(#"["\#(n)","\#(n)","lab:\#(n)","phx_join",{}]"#) }
        let start = ContinuousClock.now
        try await client.send(frame: bytes)
        var ok: [Int] = []
        for n in 1...50 {
            let reply = try await client.receiveText()
            if reply == #"["\#(n)","\#(n)","lab:\#(n)","phx_reply",{"response":{"user":null},"status":"ok"}]"# {
                ok.append(n)
            } else {
                XCTAssertEqual(reply, #"["\#(n)","\#(n)","lab:\#(n)","phx_reply",{"response":{"reason":"rate limited"},"status":"error"}]"#)
            }
        }
        let elapsed = seconds(ContinuousClock.now - start)
        XCTAssertEqual(Array(ok.prefix(20)), Array(1...20), "the burst")
        // 20, plus one per 100 ms the burst took to arrive (none when the box is not starved).
        XCTAssertLessThanOrEqual(ok.count, 20 + Int(elapsed * 10), "\(ok.count) joins ok in \(elapsed) s")
        // The socket survives and the refused channels are not joined.
        try await client.send(text: #"[null,"h","phoenix","heartbeat",{}]"#)
        let heartbeat = try await client.receiveText()
        XCTAssertEqual(heartbeat, #"[null,"h","phoenix","phx_reply",{"response":{},"status":"ok"}]"#)
        let refused = try XCTUnwrap((1...50).first { !ok.contains($0) })
        try await client.send(text: #"["\#(refused)","51","lab:\#(refused)","count",{}]"#)
        let unmatched = try await client.receiveText()
        XCTAssertEqual(unmatched, #"[null,"51","lab:\#(refused)","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]"#)
        try await count(client, "lab:1", ref: 52)
        // A token comes back every 100 ms.
        try await Task.sleep(for: .milliseconds(150))
        try await client.send(text: #"["60","60","lab:60","phx_join",{}]"#)
        let later = try await client.receiveText()
        XCTAssertTrue(later.hasSuffix(#""status":"ok"}]"#), later)
        let samples = try await server.scrapeMetrics().samples
        XCTAssertEqual(samples["hellosockets_joins_rate_limited_total"], Double(50 - ok.count))
    }

    // MARK: Channel scripts

    func testScriptsLimitTheirOwnEventsPerChannelWithPhxRate() async throws {
        let server = try await start { _ in }
        let client = try await joined("rated:a", server: server)
        try await client.send(text: #"["2","2","rated:b","phx_join",{}]"#)
        _ = try await client.receiveText()
        var bytes: [UInt8] = []
        for ref in 3...7 { bytes += FrameBytes.text(#"["1","\#(ref)","rated:a","shout",{}]"#) }
        bytes += FrameBytes.text(#"["1","8","rated:a","whisper",{}]"#)  // another key
        bytes += FrameBytes.text(#"["2","9","rated:b","shout",{}]"#)  // another channel
        try await client.send(frame: bytes)
        var statuses: [String] = []
        for _ in 3...9 {
            let reply = try await client.receiveText()
            statuses.append(reply.contains(#""status":"ok""#) ? "ok" : reply.contains("slow down") ? "slow" : reply)
        }
        XCTAssertEqual(statuses, ["ok", "ok", "ok", "slow", "slow", "ok", "ok"])
        try await Task.sleep(for: .milliseconds(600))  // 2 a second: one token back after 500 ms
        try await client.send(text: #"["1","10","rated:a","shout",{}]"#)
        let later = try await client.receiveText()
        XCTAssertTrue(later.contains(#""status":"ok""#), later)
        // A bad argument is the script's error: the channel crashes, the socket stays.
        try await client.send(text: #"["1","11","rated:a","bad_rate",{}]"#)
        let crashed = try await client.receiveText()
        XCTAssertEqual(crashed, #"["1","1","rated:a","phx_error",{}]"#)
        try await client.send(text: #"["2","12","rated:b","shout",{}]"#)
        let other = try await client.receiveText()
        XCTAssertTrue(other.hasPrefix(#"["2","12","rated:b","phx_reply""#), other)
    }

    // MARK: Per client address

    private func upgrade(_ server: TestServer, from localAddress: String, headers: [String] = []) async throws -> HTTPResponse {
        let raw = try await RawClient.connect(port: server.port, localAddress: localAddress)
        try await raw.send(WebSocketTestClient.upgradeRequest(path: Self.socketPath, extraHeaders: headers))
        let response = try await raw.receiveHTTPResponse()
        if response.status != 101 { await raw.close() }
        addTeardownBlock { await raw.close() }
        return response
    }

    func testOpenWebSocketsPerAddressAreCapped() async throws {
        let server = try await start { $0.addressLimits = AddressLimits(maxConnectionsPerAddress: 2) }
        let first = try await WebSocketTestClient.connect(port: server.port, path: Self.socketPath, localAddress: "127.0.0.2")
        _ = try await WebSocketTestClient.connect(port: server.port, path: Self.socketPath, localAddress: "127.0.0.2")
        let refused = try await upgrade(server, from: "127.0.0.2")
        XCTAssertEqual(refused.status, 429)
        XCTAssertEqual(refused.header("Retry-After"), "5")
        XCTAssertEqual(refused.body, "Too many connections from your address (at most 2); try again later.\n")
        // Other addresses have slots of their own.
        for address in ["127.0.0.3", "127.0.0.3", "127.0.0.4"] {
            let response = try await upgrade(server, from: address)
            XCTAssertEqual(response.status, 101, address)
        }
        // A slot frees when a socket closes.
        await first.close()
        var status = 0
        for _ in 0..<100 where status != 101 {
            status = try await upgrade(server, from: "127.0.0.2").status
            if status != 101 { try await Task.sleep(for: .milliseconds(20)) }
        }
        XCTAssertEqual(status, 101)
        let samples = try await server.scrapeMetrics().samples
        XCTAssertGreaterThanOrEqual(samples["hellosockets_http_429_total{reason=\"connections_per_ip\"}"] ?? 0, 1)
        XCTAssertEqual(samples["hellosockets_http_429_total{reason=\"connect_rate_per_ip\"}"], 0)
    }

    func testNewWebSocketsPerSecondPerAddressAreCapped() async throws {
        let server = try await start { $0.addressLimits = AddressLimits(connectRatePerAddress: 2) }  // burst 2
        for _ in 0..<2 {
            let response = try await upgrade(server, from: "127.0.0.5")
            XCTAssertEqual(response.status, 101)
        }
        let refused = try await upgrade(server, from: "127.0.0.5")
        XCTAssertEqual(refused.status, 429)
        XCTAssertEqual(refused.header("Retry-After"), "1", "a token is due within half a second")
        let elsewhere = try await upgrade(server, from: "127.0.0.6")
        XCTAssertEqual(elsewhere.status, 101)
        try await Task.sleep(for: .milliseconds(600))
        let later = try await upgrade(server, from: "127.0.0.5")
        XCTAssertEqual(later.status, 101)
        let samples = try await server.scrapeMetrics().samples
        XCTAssertEqual(samples["hellosockets_http_429_total{reason=\"connect_rate_per_ip\"}"], 1)
    }

    func testForwardedAddressesAreHonouredOnlyFromATrustedProxy() async throws {
        let server = try await start {
            $0.addressLimits = AddressLimits(maxConnectionsPerAddress: 1, trustedProxies: [try! AddressRange(parsing: "127.0.0.2/32")])
        }
        // Through the proxy (127.0.0.2): each forwarded client counts on its own.
        let a = try await upgrade(server, from: "127.0.0.2", headers: ["X-Forwarded-For: 203.0.113.7"])
        XCTAssertEqual(a.status, 101)
        let b = try await upgrade(server, from: "127.0.0.2", headers: ["X-Forwarded-For: 203.0.113.8"])
        XCTAssertEqual(b.status, 101, "another client behind the same proxy")
        let again = try await upgrade(server, from: "127.0.0.2", headers: ["X-Forwarded-For: 198.51.100.1, 203.0.113.7"])
        XCTAssertEqual(again.status, 429, "a client can only prepend to the list: the proxy's entry counts")
        let forwarded = try await upgrade(server, from: "127.0.0.2", headers: [#"Forwarded: for="[2001:db8::1]:4711";proto=http"#])
        XCTAssertEqual(forwarded.status, 101, "Forwarded when there is no X-Forwarded-For")
        let sameSubnet = try await upgrade(server, from: "127.0.0.2", headers: ["Forwarded: for=\"[2001:db8::2]\""])
        XCTAssertEqual(sameSubnet.status, 429, "IPv6 clients count by their /64")
        // From anyone else the headers are ignored: 127.0.0.3 is 127.0.0.3 whatever it claims.
        let direct = try await upgrade(server, from: "127.0.0.3", headers: ["X-Forwarded-For: 192.0.2.10"])
        XCTAssertEqual(direct.status, 101)
        let spoofed = try await upgrade(server, from: "127.0.0.3", headers: ["X-Forwarded-For: 192.0.2.11"])
        XCTAssertEqual(spoofed.status, 429, "an untrusted peer cannot name another client")
    }

    func testBehindATrustedProxyTheAdminEndpointsJudgeTheForwardedClient() async throws {
        let server = try await start {
            $0.addressLimits = AddressLimits(trustedProxies: [try! AddressRange(parsing: "127.0.0.1")])
        }
        for (forwardedFor, status) in [("203.0.113.9", 403), ("127.0.0.1", 200)] {
            let client = try await RawClient.connect(port: server.port)
            try await client.send("GET /metrics HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: \(forwardedFor)\r\n\r\n")
            let response = try await client.receiveHTTPResponse()
            XCTAssertEqual(response.status, status, "a client at \(forwardedFor) through a proxy on this host")
            await client.close()
        }
    }

    // MARK: LongPoll (the same limits through the other transport)

    private static let longPollPath = "/socket/longpoll?vsn=2.0.0"

    private func countFrames(_ refs: ClosedRange<Int>, topic: String) -> [String] {
        refs.map { #"["1","\#($0)","\#(topic)","count",{}]"# }
    }

    func testLongPollPostsOverTheRateAreAnsweredLaterAndInOrder() async throws {
        let server = try await start {
            $0.socketLimits = SocketLimits(messageRate: 20, messageBurst: 5, throttleGrace: .zero)
            $0.longPollWindow = .milliseconds(300)
        }
        let client = try await LongPollTestClient.open(port: server.port, path: Self.longPollPath)
        try await client.send(text: #"["1","1","lab:lp","phx_join",{}]"#)
        let joined = try await client.receiveText()
        XCTAssertTrue(joined.hasSuffix(#""status":"ok"}]"#), joined)
        // Two POSTs, 20 and 10 frames, the second sent while the first waits for its tokens.
        let start = ContinuousClock.now
        async let first = client.send(countFrames(2...21, topic: "lab:lp"))
        try await Task.sleep(for: .milliseconds(100))
        async let second = client.send(countFrames(22...31, topic: "lab:lp"))
        let statuses = try await [first, second]
        let elapsed = seconds(ContinuousClock.now - start)
        XCTAssertEqual(statuses, [200, 200], "delayed, not refused")
        XCTAssertGreaterThanOrEqual(elapsed, 1.1, "30 frames past a burst of 5 at 20 a second: about 1.25 s")
        // Longer than the 1.5 windows without a poll that end a session: a POST held for the rate is activity.
        for n in 1...30 {
            let reply = try await client.receiveText()
            XCTAssertEqual(reply, #"["1","\#(n + 1)","lab:lp","phx_reply",{"response":{"n":\#(n)},"status":"ok"}]"#)
        }
        let samples = try await metrics(server) { $0["hellosockets_throttled_sockets"] == 0 }
        XCTAssertGreaterThan(samples["hellosockets_throttle_seconds_total"] ?? 0, 0.8)
        XCTAssertEqual(samples["hellosockets_throttled_sockets"], 0)
    }

    func testALongPollClientOverTheRatePastTheGraceLosesItsSession() async throws {
        let server = try await start {
            $0.socketLimits = SocketLimits(messageRate: 20, messageBurst: 5, throttleGrace: .milliseconds(300))
            $0.longPollWindow = .milliseconds(300)
        }
        let client = try await LongPollTestClient.open(port: server.port, path: Self.longPollPath)
        try await client.send(text: #"["1","1","lab:lp","phx_join",{}]"#)
        _ = try await client.receiveText()
        let answer = try await client.request(
            "POST", headers: ["Content-Type: application/x-ndjson"],
            body: countFrames(2...61, topic: "lab:lp").joined(separator: "\n"))
        let body = try LongPollTestClient.json(answer.body)
        XCTAssertEqual(body["status"] as? Int, 429, answer.body)
        let error = body["error"] as? String ?? ""
        XCTAssertTrue(error.hasPrefix("message rate exceeded: over 20/s for "), error)
        let samples = try await metrics(server) {
            $0[#"hellosockets_longpoll_sessions_ended_total{reason="rate_limited"}"#] == 1
        }
        XCTAssertEqual(samples[#"hellosockets_longpoll_sessions_ended_total{reason="rate_limited"}"#], 1)
        XCTAssertEqual(samples["hellosockets_rate_limit_closes_total"], 1)
        let old = client.token
        let (status, _) = try await client.poll()
        XCTAssertEqual(status, 410, "the session is gone: the next poll opens a new one")
        XCTAssertNotEqual(client.token, old)
    }

    func testLongPollSessionsCountTowardThePerAddressLimits() async throws {
        let server = try await start {
            $0.addressLimits = AddressLimits(maxConnectionsPerAddress: 1)
            $0.longPollWindow = .milliseconds(300)
        }
        _ = try await LongPollTestClient.open(port: server.port, path: Self.longPollPath, localAddress: "127.0.0.2")
        let raw = try await RawClient.connect(port: server.port, localAddress: "127.0.0.2")
        try await raw.send("GET \(Self.longPollPath) HTTP/1.1\r\nHost: x\r\n\r\n")
        let refused = try await raw.receiveHTTPResponse()
        await raw.close()
        XCTAssertEqual(refused.status, 429)
        XCTAssertEqual(refused.header("Retry-After"), "5")
        let webSocket = try await upgrade(server, from: "127.0.0.2")
        XCTAssertEqual(webSocket.status, 429, "one count for both transports")
        _ = try await LongPollTestClient.open(port: server.port, path: Self.longPollPath, localAddress: "127.0.0.3")
        // The slot is the session's: free once it ends (not polled for 1.5 windows).
        var reopened: LongPollTestClient?
        for _ in 0..<50 where reopened == nil {
            try await Task.sleep(for: .milliseconds(100))
            reopened = try? await LongPollTestClient.open(port: server.port, path: Self.longPollPath, localAddress: "127.0.0.2")
        }
        XCTAssertNotNil(reopened)
    }
}

/// A flag set by one task and read by another.
private final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}
