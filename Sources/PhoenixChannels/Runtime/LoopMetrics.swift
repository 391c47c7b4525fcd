import Foundation
import NIOCore

/// A fixed-bucket histogram of durations, owned by one event loop: plain integers, no lock, no atomic.
public struct LoopHistogram: Sendable {
    /// Upper bounds in nanoseconds (Prometheus `le`, cumulative when rendered).
    public let bounds: [Int64]
    /// Per-bucket (non-cumulative) counts; the last slot is +Inf.
    public private(set) var counts: [Int]
    public private(set) var sumNanoseconds: Int64 = 0

    public init(boundsNanoseconds: [Int64]) {
        bounds = boundsNanoseconds
        counts = Array(repeating: 0, count: boundsNanoseconds.count + 1)
    }

    @inline(__always)
    public mutating func record(nanoseconds: Int64) {
        sumNanoseconds &+= nanoseconds
        var i = 0
        while i < bounds.count && nanoseconds > bounds[i] { i += 1 }
        counts[i] &+= 1
    }

    public mutating func merge(_ other: LoopHistogram) {
        for i in counts.indices { counts[i] += other.counts[i] }
        sumNanoseconds += other.sumNanoseconds
    }

    public var count: Int { counts.reduce(0, +) }
}

/// What happens on one event loop, counted by that loop only (every increment is a plain add on
/// a loop-owned object: no locks or atomics per message). `/metrics` gathers every loop's
/// counters with one task per loop and renders the Prometheus text format (`MetricsRenderer`).
public final class LoopMetrics {
    public init() {}

    /// Phoenix messages decoded from clients, and their payload bytes.
    public var messagesIn = 0
    public var bytesIn = 0
    /// Phoenix frames sent (replies, pushes, fastlane broadcast deliveries), and their bytes.
    public var messagesOut = 0
    public var bytesOut = 0
    /// Replies by status: "ok", "error", anything else.
    public var repliesOK = 0
    public var repliesError = 0
    public var repliesOther = 0
    /// Open channels by the topic pattern of the script serving them ("ping", "wild:*"…).
    public var joinedByPattern: [String: Int] = [:]
    /// Script crashes (join, handle_in/out/info, terminate excluded) and broadcasts fanned out here.
    public var scriptErrors = 0
    public var broadcasts = 0
    public var broadcastDeliveries = 0
    /// Lua channel callbacks (join and handle_in), wall time.
    public var callbackTime = LoopHistogram(boundsNanoseconds: [
        1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000, 10_000_000, 100_000_000,
    ])
    /// One loop's fan-out of one broadcast to its local subscribers, wall time.
    public var fanoutTime = LoopHistogram(boundsNanoseconds: [
        10_000, 100_000, 1_000_000, 5_000_000, 10_000_000, 25_000_000, 50_000_000, 100_000_000, 1_000_000_000,
    ])
    /// WebSocket closes of Phoenix sockets by close code ("none": TCP closed without a close frame).
    public var closesByCode: [String: Int] = [:]
    /// The largest outbound queue, in bytes, of a closed Phoenix socket whose client stopped reading
    /// (past `--max-outbound-buffer`): how far past the mark a slow client got before its 1008.
    public var peakQueuedBytesPastMark = 0
    /// Sockets whose reading is paused now because they are over `--client-message-rate`.
    public var throttledSockets = 0
    /// Time sockets spent paused for the message rate, summed (added as each pause ends).
    public var throttledNanoseconds: Int64 = 0
    /// Sockets closed for staying over the message rate past `--client-throttle-grace`.
    public var rateLimitCloses = 0
    /// Joins answered `rate limited` (`--join-rate`).
    public var joinsRateLimited = 0
    /// `phx.http.request`s finished (and how many failed: refused, timeout, not allowed…), and their time.
    public var httpRequests = 0
    public var httpErrors = 0
    public var httpTime = LoopHistogram(boundsNanoseconds: [
        1_000_000, 5_000_000, 10_000_000, 25_000_000, 50_000_000, 100_000_000, 250_000_000, 500_000_000,
        1_000_000_000, 2_500_000_000, 10_000_000_000,
    ])

    @inline(__always)
    public static func now() -> Int64 { Int64(truncatingIfNeeded: NIODeadline.now().uptimeNanoseconds) }

    @inline(__always)
    public func countReply(status: String) {
        switch status {
        case "ok": repliesOK &+= 1
        case "error": repliesError &+= 1
        default: repliesOther &+= 1
        }
    }

    /// A copy for the scrape (taken on the loop).
    public func snapshot() -> LoopMetrics {
        let copy = LoopMetrics()
        copy.merge(self)
        return copy
    }

    public func merge(_ other: LoopMetrics) {
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
        throttledSockets += other.throttledSockets
        throttledNanoseconds += other.throttledNanoseconds
        rateLimitCloses += other.rateLimitCloses
        joinsRateLimited += other.joinsRateLimited
        httpRequests += other.httpRequests
        httpErrors += other.httpErrors
        httpTime.merge(other.httpTime)
    }
}

