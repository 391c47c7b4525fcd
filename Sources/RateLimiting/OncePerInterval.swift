/// Lets something happen at most once per interval (a warning about one offending client, once a
/// minute rather than once a message). Pure: time is passed in, in monotonic nanoseconds.
public struct OncePerInterval: Sendable {
    /// The shortest time between two occurrences.
    public let intervalNanoseconds: UInt64
    private var last: UInt64?

    /// Once a minute unless told otherwise.
    public init(intervalNanoseconds: UInt64 = 60_000_000_000) {
        self.intervalNanoseconds = intervalNanoseconds
    }

    /// True, and remembers `now`, if the last occurrence was at least an interval ago (or never).
    public mutating func allow(now: UInt64) -> Bool {
        if let last, now >= last, now - last < intervalNanoseconds { return false }
        last = now
        return true
    }
}
