import Foundation
import NIOCore

/// A fixed-bucket histogram of durations, owned by one event loop: plain integers, no lock, no atomic.
struct LoopHistogram {
    /// Upper bounds in nanoseconds (Prometheus `le`, cumulative when rendered).
    let bounds: [Int64]
    /// Per-bucket (non-cumulative) counts; the last slot is +Inf.
    private(set) var counts: [Int]
    private(set) var sumNanoseconds: Int64 = 0

    init(boundsNanoseconds: [Int64]) {
        bounds = boundsNanoseconds
        counts = Array(repeating: 0, count: boundsNanoseconds.count + 1)
    }

    @inline(__always)
    mutating func record(nanoseconds: Int64) {
        sumNanoseconds &+= nanoseconds
        var i = 0
        while i < bounds.count && nanoseconds > bounds[i] { i += 1 }
        counts[i] &+= 1
    }

    mutating func merge(_ other: LoopHistogram) {
        for i in counts.indices { counts[i] += other.counts[i] }
        sumNanoseconds += other.sumNanoseconds
    }

    var count: Int { counts.reduce(0, +) }
}

/// What happens on one event loop, counted by that loop only (every increment is a plain add on
/// a loop-owned object: no locks or atomics per message). `/metrics` gathers every loop's
/// counters with one task per loop and renders the Prometheus text format (`MetricsRenderer`).
final class LoopMetrics {
    /// Phoenix messages decoded from clients, and their WebSocket payload bytes.
    var messagesIn = 0
    var bytesIn = 0
    /// Phoenix frames sent (replies, pushes, fastlane broadcast deliveries), and their bytes.
    var messagesOut = 0
    var bytesOut = 0
    /// Replies by status: "ok", "error", anything else.
    var repliesOK = 0
    var repliesError = 0
    var repliesOther = 0
    /// Open channels by the topic pattern of the script serving them ("ping", "wild:*"…).
    var joinedByPattern: [String: Int] = [:]
    /// Script crashes (join, handle_in/out/info, terminate excluded) and broadcasts fanned out here.
    var scriptErrors = 0
    var broadcasts = 0
    var broadcastDeliveries = 0
    /// Lua channel callbacks (join and handle_in), wall time.
    var callbackTime = LoopHistogram(boundsNanoseconds: [
        1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000, 10_000_000, 100_000_000,
    ])
    /// One loop's fan-out of one broadcast to its local subscribers, wall time.
    var fanoutTime = LoopHistogram(boundsNanoseconds: [
        10_000, 100_000, 1_000_000, 5_000_000, 10_000_000, 25_000_000, 50_000_000, 100_000_000, 1_000_000_000,
    ])
    /// WebSocket closes of Phoenix sockets by close code ("none": TCP closed without a close frame).
    var closesByCode: [String: Int] = [:]
    /// The largest outbound queue, in bytes, of a closed Phoenix socket whose client stopped reading
    /// (past `--max-outbound-buffer`): how far past the mark a slow client got before its 1008.
    var peakQueuedBytesPastMark = 0
    /// `phx.http.request`s finished (and how many failed: refused, timeout, not allowed…), and their time.
    var httpRequests = 0
    var httpErrors = 0
    var httpTime = LoopHistogram(boundsNanoseconds: [
        1_000_000, 5_000_000, 10_000_000, 25_000_000, 50_000_000, 100_000_000, 250_000_000, 500_000_000,
        1_000_000_000, 2_500_000_000, 10_000_000_000,
    ])

    @inline(__always)
    static func now() -> Int64 { Int64(truncatingIfNeeded: NIODeadline.now().uptimeNanoseconds) }

    @inline(__always)
    func countReply(status: String) {
        switch status {
        case "ok": repliesOK &+= 1
        case "error": repliesError &+= 1
        default: repliesOther &+= 1
        }
    }

    /// A copy for the scrape (taken on the loop).
    func snapshot() -> LoopMetrics {
        let copy = LoopMetrics()
        copy.merge(self)
        return copy
    }

    func merge(_ other: LoopMetrics) {
        messagesIn += other.messagesIn
        bytesIn += other.bytesIn
        messagesOut += other.messagesOut
        bytesOut += other.bytesOut
        repliesOK += other.repliesOK
        repliesError += other.repliesError
        repliesOther += other.repliesOther
        joinedByPattern.merge(other.joinedByPattern, uniquingKeysWith: +)
        scriptErrors += other.scriptErrors
        broadcasts += other.broadcasts
        broadcastDeliveries += other.broadcastDeliveries
        callbackTime.merge(other.callbackTime)
        fanoutTime.merge(other.fanoutTime)
        closesByCode.merge(other.closesByCode, uniquingKeysWith: +)
        peakQueuedBytesPastMark = max(peakQueuedBytesPastMark, other.peakQueuedBytesPastMark)
        httpRequests += other.httpRequests
        httpErrors += other.httpErrors
        httpTime.merge(other.httpTime)
    }
}

/// Renders gathered metrics in the Prometheus text exposition format (version 0.0.4).
enum MetricsRenderer {
    struct ServerFigures {
        var webSocketConnections: Int
        var queuedOutboundBytes: Int
        var reloads: Int
        var reloadFailures: Int
        var uptimeSeconds: Double
    }

    static func render(_ m: LoopMetrics, server: ServerFigures) -> String {
        var out = ""
        func metric(_ name: String, _ type: String, _ help: String, _ samples: [(labels: String, value: String)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for s in samples { out += s.labels.isEmpty ? "\(name) \(s.value)\n" : "\(name){\(s.labels)} \(s.value)\n" }
        }
        func one(_ name: String, _ type: String, _ help: String, _ value: Int) { metric(name, type, help, [("", "\(value)")]) }
        func histogram(_ name: String, _ help: String, _ h: LoopHistogram) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) histogram\n"
            var cumulative = 0
            for (i, bound) in h.bounds.enumerated() {
                cumulative += h.counts[i]
                out += "\(name)_bucket{le=\"\(seconds(bound))\"} \(cumulative)\n"
            }
            cumulative += h.counts[h.bounds.count]
            out += "\(name)_bucket{le=\"+Inf\"} \(cumulative)\n"
            out += "\(name)_sum \(seconds(h.sumNanoseconds))\n\(name)_count \(cumulative)\n"
        }
        one("hellosockets_websocket_connections", "gauge", "Open WebSocket connections (all endpoints).", server.webSocketConnections)
        metric("hellosockets_channels_joined", "gauge", "Joined channels by the topic pattern of their script.",
               m.joinedByPattern.sorted { $0.key < $1.key }.map { ("pattern=\"\(escape($0.key))\"", "\($0.value)") })
        one("hellosockets_messages_in_total", "counter", "Phoenix messages received from clients.", m.messagesIn)
        one("hellosockets_messages_out_total", "counter", "Phoenix frames sent to clients (replies, pushes, broadcasts).", m.messagesOut)
        one("hellosockets_bytes_in_total", "counter", "Payload bytes of the Phoenix messages received.", m.bytesIn)
        one("hellosockets_bytes_out_total", "counter", "Payload bytes of the Phoenix frames sent.", m.bytesOut)
        metric("hellosockets_replies_total", "counter", "phx_reply frames sent, by status.",
               [("status=\"ok\"", "\(m.repliesOK)"), ("status=\"error\"", "\(m.repliesError)"), ("status=\"other\"", "\(m.repliesOther)")])
        histogram("hellosockets_lua_callback_seconds", "Time in Lua channel callbacks (join, handle_in).", m.callbackTime)
        one("hellosockets_broadcasts_total", "counter", "Broadcasts fanned out (counted once per event loop).", m.broadcasts)
        one("hellosockets_broadcast_deliveries_total", "counter", "Broadcast deliveries to subscribers.", m.broadcastDeliveries)
        histogram("hellosockets_broadcast_fanout_seconds", "One event loop's fan-out of one broadcast to its subscribers.", m.fanoutTime)
        metric("hellosockets_websocket_closes_total", "counter", "Phoenix socket closes by WebSocket close code (none: no close frame).",
               m.closesByCode.sorted { $0.key < $1.key }.map { ("code=\"\($0.key)\"", "\($0.value)") })
        one("hellosockets_outbound_queued_bytes", "gauge", "Bytes queued for sending to open connections, not yet taken by the kernel.",
            server.queuedOutboundBytes)
        one("hellosockets_outbound_queue_peak_bytes", "gauge",
            "Largest outbound queue of a closed Phoenix socket that went past --max-outbound-buffer (0: none did).",
            m.peakQueuedBytesPastMark)
        one("hellosockets_script_errors_total", "counter", "Channel script crashes (join, callbacks, timers).", m.scriptErrors)
        one("hellosockets_http_requests_total", "counter", "phx.http.request calls finished (answered or failed).", m.httpRequests)
        one("hellosockets_http_errors_total", "counter", "phx.http.request calls that failed (not allowed, refused, timeout…).",
            m.httpErrors)
        histogram("hellosockets_http_request_seconds", "phx.http.request time, from the call to the answer.", m.httpTime)
        metric("hellosockets_reloads_total", "counter", "Hot reloads of channel scripts, by result.",
               [("result=\"ok\"", "\(server.reloads)"), ("result=\"failed\"", "\(server.reloadFailures)")])
        out += "# HELP hellosockets_uptime_seconds Seconds since the server started.\n# TYPE hellosockets_uptime_seconds gauge\n"
        out += "hellosockets_uptime_seconds \(server.uptimeSeconds)\n"
        return out
    }

    private static func seconds(_ nanoseconds: Int64) -> String { "\(Double(nanoseconds) / 1e9)" }

    private static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }
}
