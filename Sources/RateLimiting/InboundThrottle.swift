/// The inbound message limit of one connection, whatever carries it (a WebSocket, a LongPoll
/// session): a token bucket asked before each message, with a grace for clients that stay over it.
///
/// A message without a token is not dropped: the transport holds it and stops reading until
/// `wait(until:)`, then asks again (TCP backpressure slows the client). A client throttled without
/// a break for longer than `grace` is to be closed. Throttling "without a break" lasts from the
/// first message that found the bucket empty until the bucket is seen full again (the client went
/// quiet for `burst / rate` seconds). Pure: time is passed in, in monotonic nanoseconds.
public struct InboundThrottle: Sendable {
    /// What to do with the next message.
    public enum Admission: Equatable, Sendable {
        /// Take it now.
        case proceed
        /// Hold it and stop reading until this time, then ask again.
        case wait(until: UInt64)
        /// The client has been throttled without a break for this long, past the grace: close it.
        case close(throttledNanoseconds: UInt64)
    }

    private var bucket: TokenBucket
    /// Nanoseconds of continuous throttling allowed; nil never closes.
    public let graceNanoseconds: UInt64?
    /// When the current stretch of throttling began; nil while the client is within the limit.
    public private(set) var throttledSince: UInt64?
    /// When the transport stopped reading (the last admission was `wait`); nil while reading.
    public private(set) var pausedSince: UInt64?

    /// A throttle with a full bucket.
    public init(ratePerSecond: Double, burst: Int, graceNanoseconds: UInt64?, now: UInt64) {
        bucket = TokenBucket(ratePerSecond: ratePerSecond, burst: Double(max(1, burst)), now: now)
        self.graceNanoseconds = graceNanoseconds
    }

    /// Asks for one message's token.
    public mutating func admit(now: UInt64) -> Admission {
        bucket.refill(now: now)
        if bucket.isFull { throttledSince = nil }  // a quiet spell ends a stretch of throttling
        if bucket.take(now: now) {
            pausedSince = nil
            return .proceed
        }
        let since = throttledSince ?? now
        throttledSince = since
        let throttledFor = now > since ? now - since : 0
        if let graceNanoseconds, throttledFor > graceNanoseconds {
            pausedSince = nil
            return .close(throttledNanoseconds: throttledFor)
        }
        if pausedSince == nil { pausedSince = now }
        return .wait(until: bucket.tokenDue(now: now))
    }
}
