import Foundation
import KeyValueStore

/// Something started for a script that can be called off (a request whose callback timed out).
public protocol ScriptCancellable {
    func cancel()
}

/// What a `LuaVM` reaches outside itself: its event loop (to resume a waiting callback and to
/// time callbacks out), outbound HTTP and the key-value store. A VM without services (the
/// validation VM, a bare test VM) runs callbacks that never wait: `phx.http` and `phx.kv` fail.
public struct ScriptServices {
    /// Runs a closure later on the VM's own event loop (never inline): where answers resume callbacks.
    public var executor: (@escaping () -> Void) -> Void
    /// Runs a closure after some milliseconds on the VM's event loop; the callback timeout uses it.
    public var schedule: (_ milliseconds: Int, _ body: @escaping () -> Void) -> ScriptCancellable
    /// `phx.http.request`'s transport; nil: every request fails with "unavailable".
    public var http: ScriptHTTPClient?
    /// Which hosts `phx.http.request` may reach and how many requests one VM may have in flight.
    public var httpPolicy: HTTPPolicy
    /// `phx.kv`'s store; nil: every call fails with "unavailable".
    public var kv: KeyValueStore?
    /// How long one callback may take, its waits included (`--lua-callback-timeout`). Default 10 s.
    public var callbackTimeoutMilliseconds: Int
    /// Told about every `phx.http.request` once it is over (`--trace`, `/metrics`).
    public var onHTTPCall: ((HTTPCallRecord) -> Void)?

    /// Services with the given parts.
    public init(
        executor: @escaping (@escaping () -> Void) -> Void,
        schedule: @escaping (_ milliseconds: Int, _ body: @escaping () -> Void) -> ScriptCancellable,
        http: ScriptHTTPClient? = nil, httpPolicy: HTTPPolicy = HTTPPolicy(), kv: KeyValueStore? = nil,
        callbackTimeoutMilliseconds: Int = 10_000, onHTTPCall: ((HTTPCallRecord) -> Void)? = nil
    ) {
        self.executor = executor
        self.schedule = schedule
        self.http = http
        self.httpPolicy = httpPolicy
        self.kv = kv
        self.callbackTimeoutMilliseconds = callbackTimeoutMilliseconds
        self.onHTTPCall = onHTTPCall
    }
}

// MARK: - HTTP

/// A `phx.http.request` as the transport gets it (already checked against the `HTTPPolicy`).
public struct ScriptHTTPRequest: Sendable, Equatable {
    public var method: String
    public var url: URL
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]?
    /// The whole exchange must be over by then, or it fails with `timeout`.
    public var timeoutMilliseconds: Int

    public init(method: String, url: URL, headers: [(name: String, value: String)] = [], body: [UInt8]? = nil,
                timeoutMilliseconds: Int) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeoutMilliseconds = timeoutMilliseconds
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.method == b.method && a.url == b.url && a.body == b.body && a.timeoutMilliseconds == b.timeoutMilliseconds
            && a.headers.map(\.name) == b.headers.map(\.name) && a.headers.map(\.value) == b.headers.map(\.value)
    }
}

/// The answer to a `ScriptHTTPRequest`: what the script gets as `response`.
public struct ScriptHTTPResponse: Sendable, Equatable {
    public var status: Int
    /// Names as received; the script sees them lower-cased, repeated ones joined with ", ".
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.status == b.status && a.body == b.body
            && a.headers.map(\.name) == b.headers.map(\.name) && a.headers.map(\.value) == b.headers.map(\.value)
    }
}

/// Why a `phx.http.request` failed. `reason` is the script's `err`.
public enum ScriptHTTPError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No answer within `timeout_ms`.
    case timeout
    /// Nobody listens there (connection refused).
    case refused
    /// The host is not in `--http-allow`.
    case notAllowed
    /// The response body is larger than `--http-max-response`.
    case tooLarge(limit: Int)
    /// The VM already has its maximum of requests in flight.
    case tooManyRequests(limit: Int)
    /// The server is shutting down or has no HTTP client.
    case unavailable
    /// Anything else (DNS, TLS, a reset connection…), with the transport's words.
    case failed(String)

    /// What the script gets: "timeout", "refused", "not allowed", "too large", "too many requests",
    /// "unavailable", or "failed: <detail>".
    public var reason: String {
        switch self {
        case .timeout: return "timeout"
        case .refused: return "refused"
        case .notAllowed: return "not allowed"
        case .tooLarge: return "too large"
        case .tooManyRequests: return "too many requests"
        case .unavailable: return "unavailable"
        case .failed(let detail): return "failed: \(detail)"
        }
    }

    /// The reason with what explains it, for the log.
    public var description: String {
        switch self {
        case .notAllowed: return "not allowed (the host is not in --http-allow)"
        case .tooLarge(let limit): return "too large (the response is over --http-max-response, \(limit) bytes)"
        case .tooManyRequests(let limit): return "too many requests (\(limit) in flight on this event loop)"
        default: return reason
        }
    }
}

/// The transport behind `phx.http.request` (AsyncHTTPClient in the server, stubs in tests).
public protocol ScriptHTTPClient: AnyObject {
    /// Starts `request` and calls `completion` exactly once, later, on any thread. The returned
    /// handle cancels it (the completion then reports whatever the transport makes of that).
    func execute(
        _ request: ScriptHTTPRequest, completion: @escaping @Sendable (Result<ScriptHTTPResponse, ScriptHTTPError>) -> Void
    ) -> ScriptCancellable?
}

/// Where `phx.http.request` may go: nowhere unless allowed (server-side request forgery is the
/// risk: a script must not become a way into the network behind the server).
public struct HTTPPolicy: Sendable, Equatable {
    /// An allowed destination: a host name or address as written in URLs (compared without
    /// case, no DNS lookup), and a port, or any port when nil.
    public struct Destination: Sendable, Equatable, CustomStringConvertible {
        public var host: String
        public var port: Int?

        /// Parses `HOST`, `HOST:PORT`, `[v6]` or `[v6]:PORT`; nil when malformed.
        public init?(_ text: String) {
            var host = Substring(text)
            var port: Int?
            if host.hasPrefix("[") {
                guard let close = host.firstIndex(of: "]") else { return nil }
                let rest = host[host.index(after: close)...]
                host = host[host.index(after: host.startIndex)..<close]
                if !rest.isEmpty {
                    guard rest.hasPrefix(":"), let p = Int(rest.dropFirst()), (1...65535).contains(p) else { return nil }
                    port = p
                }
            } else if let colon = host.lastIndex(of: ":") {
                guard let p = Int(host[host.index(after: colon)...]), (1...65535).contains(p) else { return nil }
                port = p
                host = host[..<colon]
            }
            guard !host.isEmpty, !host.contains("/"), !host.contains("@"), !host.contains(" ") else { return nil }
            self.host = host.lowercased()
            self.port = port
        }

        public var description: String {
            let h = host.contains(":") ? "[\(host)]" : host
            return port.map { "\(h):\($0)" } ?? h
        }
    }

    /// The destinations allowed (`--http-allow`, repeatable); empty: every request is refused.
    public var allow: [Destination]
    /// Requests one VM (one event loop) may have in flight; more fail at once with "too many requests".
    public var maxConcurrentPerVM: Int
    /// `timeout_ms` when the script gives none.
    public var defaultTimeoutMilliseconds: Int
    /// Every destination allowed: only for a transport that never reaches a network (test stubs).
    public var allowsAnyDestination: Bool

    public init(
        allow: [Destination] = [], maxConcurrentPerVM: Int = 64, defaultTimeoutMilliseconds: Int = 5_000,
        allowsAnyDestination: Bool = false
    ) {
        self.allow = allow
        self.maxConcurrentPerVM = maxConcurrentPerVM
        self.defaultTimeoutMilliseconds = defaultTimeoutMilliseconds
        self.allowsAnyDestination = allowsAnyDestination
    }

    /// True when `url` (http or https, with a host) goes to an allowed destination.
    public func allows(_ url: URL) -> Bool {
        guard let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
            let host = url.host?.lowercased(), !host.isEmpty
        else { return false }
        if allowsAnyDestination { return true }
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        let port = url.port ?? (scheme == "https" ? 443 : 80)
        return allow.contains { $0.host == bare && ($0.port == nil || $0.port == port) }
    }
}

/// One finished `phx.http.request`, for `--trace` and `/metrics`.
public struct HTTPCallRecord: Sendable {
    public var method: String
    public var url: String
    /// The status, or the error.
    public var outcome: Result<Int, ScriptHTTPError>
    public var durationNanoseconds: UInt64
    /// `channels/room.lua:12`, where the script called it.
    public var site: String
    public var topic: String?
}

extension ScriptServices {
    /// No event loop, no HTTP, no store: for VMs whose callbacks never wait (validation, bare tests).
    public static var none: ScriptServices {
        ScriptServices(executor: { $0() }, schedule: { _, _ in NoCancellable() })
    }
}

private struct NoCancellable: ScriptCancellable {
    func cancel() {}
}
