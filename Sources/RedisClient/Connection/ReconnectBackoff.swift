import NIOCore

/// Delays between reconnect attempts: doubling from `initialDelay`, capped at `maximumDelay`, jittered.
public struct ReconnectBackoff: Sendable, Hashable {
    public var initialDelay: TimeAmount
    public var maximumDelay: TimeAmount

    public init(initialDelay: TimeAmount = .milliseconds(100), maximumDelay: TimeAmount = .seconds(5)) {
        self.initialDelay = initialDelay
        self.maximumDelay = maximumDelay
    }

    /// The delay before attempt `attempt` (0 is the first retry of an outage), for `random` in 0..<1.
    ///
    /// "Equal jitter": half the capped exponential delay plus a random part of the other half, so every node that
    /// lost the same server does not come back in the same millisecond, yet none waits less than half its step.
    public func delay(attempt: Int, random: Double) -> TimeAmount {
        let doublings = min(max(attempt, 0), 40)
        let initial = max(initialDelay.nanoseconds, 1)
        let cap = max(maximumDelay.nanoseconds, initial)
        // Shifting by more than the leading zero bits less one would overflow; such a step is past any cap.
        let step = doublings > initial.leadingZeroBitCount - 1 ? cap : min(cap, initial << doublings)
        let half = step / 2
        return .nanoseconds(half + Int64(Double(step - half) * min(max(random, 0), 1)))
    }
}
