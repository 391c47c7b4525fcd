import NIOCore
import RateLimiting

/// Where one socket stands with its rate limits (`SocketLimits`): a hundred-odd bytes per socket.
struct SocketRates {
    /// The inbound message limit; nil when off.
    var throttle: InboundThrottle?
    /// The join limit; nil when off.
    var joins: TokenBucket?
    /// Warnings about this client being over a limit: once a minute, not once a message.
    var throttleWarning = OncePerInterval()
    var joinWarning = OncePerInterval()

    /// No limits (until the socket opens).
    init() {}

    /// Full buckets for `limits`, from `now`.
    init(limits: SocketLimits, now: UInt64) {
        let grace = limits.throttleGrace.nanoseconds
        if limits.messageRate > 0 {
            throttle = InboundThrottle(
                ratePerSecond: limits.messageRate, burst: limits.messageBurst,
                graceNanoseconds: grace > 0 ? UInt64(grace) : nil, now: now)
        }
        if limits.joinRate > 0 {
            joins = TokenBucket(ratePerSecond: limits.joinRate, burst: Double(max(1, limits.joinBurst)), now: now)
        }
    }
}

extension PhoenixSocket {
    /// The inbound rate limit (`SocketLimits.messageRate`): the transport asks before each message it
    /// takes from the client, and holds that message (reading nothing more) while told to wait.
    public func admitMessage() -> InboundAdmission {
        guard rates.throttle != nil else { return .proceed }
        let now = monotonicNanoseconds
        let pausedSince = rates.throttle?.pausedSince
        switch rates.throttle?.admit(now: now) {
        case .proceed, nil:
            if let pausedSince { endPause(since: pausedSince, now: now) }
            return .proceed
        case .wait(let until):
            if pausedSince == nil {
                metrics.throttledSockets += 1
                if rates.throttleWarning.allow(now: now) {
                    let limits = runtime.socketLimits
                    logger.warning("client over the message rate: not reading it until it slows down", metadata: [
                        "conn": "\(transport?.id ?? "?")",
                        "rate": "\(TokenBucket.describe(ratePerSecond: limits.messageRate))",
                        "burst": "\(limits.messageBurst)",
                    ])
                }
            }
            return .wait(until: .uptimeNanoseconds(until))
        case .close(let throttledFor):
            if let pausedSince { endPause(since: pausedSince, now: now) }
            metrics.rateLimitCloses &+= 1
            let rate = TokenBucket.describe(ratePerSecond: runtime.socketLimits.messageRate)
            let seconds = Double(throttledFor / 1_000_000) / 1000
            logger.warning("client over the message rate past the grace: closing", metadata: [
                "conn": "\(transport?.id ?? "?")", "rate": "\(rate)", "throttled_s": "\(seconds)",
            ])
            return .close(reason: "message rate exceeded: over \(rate) for \(seconds) s")
        }
    }

    /// The transport closed: a pause in progress ends (`/metrics`).
    func endThrottling() {
        guard let pausedSince = rates.throttle?.pausedSince else { return }
        endPause(since: pausedSince, now: monotonicNanoseconds)
        rates.throttle = nil
    }

    private func endPause(since: UInt64, now: UInt64) {
        metrics.throttledSockets -= 1
        metrics.throttledNanoseconds &+= Int64(clamping: now > since ? now - since : 0)
    }

    /// Takes a join token (`SocketLimits.joinRate`); false, counted and logged (once a minute), when
    /// the socket joins too fast.
    func admitJoin(topic: String) -> Bool {
        guard rates.joins != nil else { return true }
        let now = monotonicNanoseconds
        guard rates.joins?.take(now: now) == false else { return true }
        metrics.joinsRateLimited &+= 1
        if rates.joinWarning.allow(now: now) {
            logger.warning("client over the join rate: joins answered rate limited", metadata: [
                "conn": "\(transport?.id ?? "?")", "topic": "\(topic)",
                "rate": "\(TokenBucket.describe(ratePerSecond: runtime.socketLimits.joinRate))",
            ])
        }
        return false
    }
}
