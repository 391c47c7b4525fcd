/// A token bucket: `ratePerSecond` tokens a second flow in, at most `burst` are kept, each event
/// takes one. Pure: time is passed in (monotonic nanoseconds), so tests drive it without sleeping.
///
/// Used for every rate limit of the server: a socket's inbound messages and joins, new connections
/// per client address, and `phx.rate` in channel scripts.
public struct TokenBucket: Sendable, Equatable {
    /// Tokens added per second.
    public private(set) var ratePerSecond: Double
    /// Most tokens held at once: how many events may come back to back after a quiet spell.
    public private(set) var burst: Double
    /// Tokens held at the last update (fractions accumulate).
    public private(set) var tokens: Double
    /// When `tokens` was last brought up to date.
    private var updatedAt: UInt64

    /// A full bucket. `ratePerSecond` must be positive, `burst` at least 1.
    public init(ratePerSecond: Double, burst: Double, now: UInt64) {
        precondition(ratePerSecond > 0 && ratePerSecond.isFinite && burst >= 1 && burst.isFinite)
        self.ratePerSecond = ratePerSecond
        self.burst = burst
        self.tokens = burst
        self.updatedAt = now
    }

    /// Adds the tokens that flowed in since the last update.
    public mutating func refill(now: UInt64) {
        guard now > updatedAt else { return }
        tokens = min(burst, tokens + Double(now - updatedAt) * ratePerSecond / 1e9)
        updatedAt = now
    }

    /// Takes one token if there is one (after refilling); false leaves the bucket as it was.
    public mutating func take(now: UInt64) -> Bool {
        refill(now: now)
        // Tolerance for the rounding of fractional refills: a wait of `nanosecondsUntilToken` must suffice.
        guard tokens >= 1 - Self.epsilon else { return false }
        tokens = max(0, tokens - 1)
        return true
    }

    /// Whether the bucket holds all it can (nothing was taken for at least `burst / ratePerSecond` seconds).
    public var isFull: Bool { tokens >= burst - Self.epsilon }

    /// Nanoseconds after the last update until one token is there (0 if one is).
    public var nanosecondsUntilToken: UInt64 {
        tokens >= 1 - Self.epsilon ? 0 : UInt64(((1 - tokens) / ratePerSecond * 1e9).rounded(.up))
    }

    /// When one token will be there, in the clock of `now`.
    public func tokenDue(now: UInt64) -> UInt64 {
        var copy = self
        copy.refill(now: now)
        return max(now, copy.updatedAt) + copy.nanosecondsUntilToken
    }

    /// Changes the rate and burst, keeping the tokens held (at most the new burst).
    public mutating func reconfigure(ratePerSecond: Double, burst: Double, now: UInt64) {
        precondition(ratePerSecond > 0 && ratePerSecond.isFinite && burst >= 1 && burst.isFinite)
        refill(now: now)
        self.ratePerSecond = ratePerSecond
        self.burst = burst
        tokens = min(tokens, burst)
    }

    private static let epsilon = 1e-9
}

extension TokenBucket {
    /// A rate as people write it, for logs and messages: `100/s`, `0.5/s`.
    public static func describe(ratePerSecond rate: Double) -> String {
        (rate == rate.rounded() && abs(rate) < 1e15 ? "\(Int(rate))" : "\(rate)") + "/s"
    }
}
