import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import RateLimiting

/// Limits per client address (`--max-connections-per-ip`, `--connect-rate-per-ip`) and the proxies
/// trusted to name the client (`--trusted-proxy`).
public struct AddressLimits: Sendable, Equatable {
    /// Open WebSockets one address may hold; 0 turns the limit off.
    public var maxConnectionsPerAddress: Int
    /// New WebSockets per second one address may open (burst: the same number, at least 1); 0 turns it off.
    public var connectRatePerAddress: Double
    /// Peers whose `X-Forwarded-For`/`Forwarded` name the client; from anyone else those headers are ignored.
    public var trustedProxies: [AddressRange]

    /// Both limits off, no trusted proxy (the defaults).
    public init(
        maxConnectionsPerAddress: Int = 0, connectRatePerAddress: Double = 0, trustedProxies: [AddressRange] = []
    ) {
        self.maxConnectionsPerAddress = maxConnectionsPerAddress
        self.connectRatePerAddress = connectRatePerAddress
        self.trustedProxies = trustedProxies
    }

    /// Whether either limit is on.
    public var isActive: Bool { maxConnectionsPerAddress > 0 || connectRatePerAddress > 0 }
}

/// Counts each client address's open WebSockets and LongPoll sessions and its recent opens, and refuses one
/// past either limit (answered 429). Shared by every event loop behind a lock: it is touched once
/// per upgrade and once per close, never per message. IPv6 addresses count by their /64.
final class AddressLimiter: Sendable {
    /// The limit an upgrade ran into: the `reason` label of `hellosockets_http_429_total`.
    enum Reason: String, CaseIterable {
        case connectionsPerIP = "connections_per_ip"
        case connectRatePerIP = "connect_rate_per_ip"
    }

    /// Why a WebSocket upgrade or a LongPoll open was refused.
    enum Refusal: Equatable {
        case tooManyConnections(limit: Int)
        case connectingTooFast(retryAfterSeconds: Int)

        var reason: Reason {
            switch self {
            case .tooManyConnections: return .connectionsPerIP
            case .connectingTooFast: return .connectRatePerIP
            }
        }

        /// `Retry-After`: when a token is due for the rate; for the count, a guess (a slot frees when one
        /// of the client's sockets closes, which nobody can tell).
        var retryAfterSeconds: Int {
            switch self {
            case .tooManyConnections: return 5
            case .connectingTooFast(let seconds): return seconds
            }
        }

        /// The 429's headers and plain-text body (a WebSocket upgrade and a LongPoll open answer alike).
        var headers: HTTPHeaders { ["Retry-After": "\(retryAfterSeconds)"] }
        var body: String {
            switch self {
            case .tooManyConnections(let limit):
                return "Too many connections from your address (at most \(limit)); try again later.\n"
            case .connectingTooFast(let seconds):
                return "New connections from your address come too fast; retry in \(seconds) s.\n"
            }
        }
    }

    private struct Entry {
        var open = 0
        var bucket: TokenBucket?
        var warning = OncePerInterval()

        func isIdle(now: UInt64) -> Bool {
            guard open == 0 else { return false }
            guard var bucket else { return true }
            bucket.refill(now: now)
            return bucket.isFull  // a full bucket is the same as a new one
        }
    }

    private struct State {
        var entries: [IPAddress: Entry] = [:]
        var refusals: [Reason: Int] = [:]
        /// Past this many entries, idle ones are swept out (amortized: the mark doubles with the table).
        var sweepMark = 1024
    }

    let limits: AddressLimits
    private let state = NIOLockedValueBox(State())
    private let logger: Logger

    init(limits: AddressLimits, logger: Logger) {
        self.limits = limits
        self.logger = logger
    }

    /// Takes a slot for `address` (give it back with `release` when the WebSocket or LongPoll session
    /// ends), or refuses and logs the refusal once a minute per address.
    func claim(_ address: IPAddress, connectionID: String) -> Refusal? {
        let key = address.limitKey
        let now = NIODeadline.now().uptimeNanoseconds
        let (refusal, warn): (Refusal?, Bool) = state.withLockedValue { state in
            var entry = state.entries[key] ?? Entry()
            defer { state.entries[key] = entry }
            var refusal: Refusal?
            if limits.connectRatePerAddress > 0 {
                let rate = limits.connectRatePerAddress
                var bucket = entry.bucket
                    ?? TokenBucket(ratePerSecond: rate, burst: max(1, rate.rounded(.up)), now: now)
                if !bucket.take(now: now) {
                    let wait = Double(bucket.tokenDue(now: now) - now) / 1e9
                    refusal = .connectingTooFast(retryAfterSeconds: max(1, Int(wait.rounded(.up))))
                }
                entry.bucket = bucket
            }
            if refusal == nil, limits.maxConnectionsPerAddress > 0, entry.open >= limits.maxConnectionsPerAddress {
                refusal = .tooManyConnections(limit: limits.maxConnectionsPerAddress)
            }
            if let refusal {
                state.refusals[refusal.reason, default: 0] += 1
                return (refusal, entry.warning.allow(now: now))
            }
            entry.open += 1
            if state.entries.count > state.sweepMark { Self.sweep(&state, now: now) }
            return (nil, false)
        }
        if let refusal, warn {
            logger.warning("refused a connection: too many from one address (429)", metadata: [
                "conn": "\(connectionID)", "client": "\(address)", "limit": "\(refusal.reason.rawValue)",
            ])
        }
        return refusal
    }

    /// Gives back the slot `claim` took for `address`.
    func release(_ address: IPAddress) {
        let key = address.limitKey
        let now = NIODeadline.now().uptimeNanoseconds
        state.withLockedValue { state in
            guard var entry = state.entries[key] else { return }
            entry.open -= 1
            state.entries[key] = entry.isIdle(now: now) ? nil : entry
        }
    }

    private static func sweep(_ state: inout State, now: UInt64) {
        state.entries = state.entries.filter { !$0.value.isIdle(now: now) }
        state.sweepMark = max(1024, 2 * state.entries.count)
    }

    /// Upgrades refused with 429, by reason (`/metrics`).
    var refusals: [Reason: Int] { state.withLockedValue { $0.refusals } }
}
