import NIOHTTP1

/// Phoenix's `check_origin` for WebSocket upgrades (cross-site WebSocket hijacking guard).
///
/// Checked only when the upgrade request carries an `Origin` header (non-browser clients send none).
/// With no allowed list the Origin's host must equal the host of the request's `Host` header
/// (Phoenix's `check_origin: true` compares only the host). With a list, the Origin must match one
/// entry: `https://example.com`, `//example.com` (any scheme and port), `//*.example.com` (the host or
/// any subdomain), `http://localhost:4000`; scheme and port are compared only where the entry has them.
public struct OriginCheck: Sendable, Equatable {
    /// One parsed origin: scheme, host and port, each nil when not given.
    struct Origin: Equatable, Sendable {
        var scheme: String?
        var host: String
        var port: Int?

        /// Parses `scheme://host:port`, `//host`, `host:port`; nil for `null` or anything without a host.
        init?(_ text: String) {
            var rest = Substring(text.lowercased().trimmingWhitespace())
            if let range = rest.range(of: "//") {
                let scheme = rest[..<range.lowerBound]
                if scheme.hasSuffix(":") { self.scheme = String(scheme.dropLast()) } else if !scheme.isEmpty { return nil }
                rest = rest[range.upperBound...]
            }
            if let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) { rest = rest[..<slash] }
            if let at = rest.lastIndex(of: "@") { rest = rest[rest.index(after: at)...] }
            guard let (host, port) = Self.splitHostPort(rest) else { return nil }
            self.host = host
            self.port = port ?? scheme.flatMap(Self.defaultPort)
        }

        static func defaultPort(_ scheme: String) -> Int? {
            switch scheme {
            case "http", "ws": return 80
            case "https", "wss": return 443
            default: return nil
            }
        }

        /// `host`, `host:port`, `[v6]`, `[v6]:port`.
        static func splitHostPort(_ text: Substring) -> (String, Int?)? {
            var host = text
            var port: Int?
            if text.hasPrefix("[") {
                guard let close = text.firstIndex(of: "]") else { return nil }
                host = text[text.index(after: text.startIndex)..<close]
                let after = text[text.index(after: close)...]
                if after.hasPrefix(":") {
                    guard let p = Int(after.dropFirst()) else { return nil }
                    port = p
                } else if !after.isEmpty {
                    return nil
                }
            } else if let colon = text.lastIndex(of: ":") {
                host = text[..<colon]
                guard let p = Int(text[text.index(after: colon)...]) else { return nil }
                port = p
            }
            guard !host.isEmpty else { return nil }
            return (String(host), port)
        }
    }

    /// The origins allowed; empty means "same host as the request's Host header".
    let allowed: [Origin]

    /// The default rule: the Origin's host must be the `Host` header's.
    static let sameHost = OriginCheck(allowed: [])

    private init(allowed: [Origin]) {
        self.allowed = allowed
    }

    /// Parses the allowed list; throws naming an entry that has no host.
    public init(allowedOrigins: [String] = []) throws {
        allowed = try allowedOrigins.map { text in
            guard let origin = Origin(text) else { throw InvalidOrigin(text: text) }
            return origin
        }
    }

    public struct InvalidOrigin: Error, CustomStringConvertible {
        public let text: String
        public var description: String {
            "invalid allowed origin \"\(text)\": expected scheme://host[:port], //host or //*.host"
        }
    }

    /// Decides on one upgrade request: nil when allowed (or no Origin), else the refused Origin.
    func refusedOrigin(_ head: HTTPRequestHead) -> String? {
        guard let text = head.headers["origin"].first else { return nil }
        guard let origin = Origin(text) else { return text }
        if allowed.isEmpty {
            guard let hostHeader = head.headers["host"].first,
                let host = Origin.splitHostPort(Substring(hostHeader.lowercased().trimmingWhitespace()))?.0
            else { return text }
            return origin.host == host ? nil : text
        }
        return allowed.contains { Self.matches(origin, allowed: $0) } ? nil : text
    }

    static func matches(_ origin: Origin, allowed: Origin) -> Bool {
        if let scheme = allowed.scheme, scheme != origin.scheme { return false }
        if let port = allowed.port, port != origin.port { return false }
        if allowed.host.hasPrefix("*.") {
            let base = allowed.host.dropFirst(2)
            return origin.host == base || origin.host.hasSuffix("." + base)
        }
        return origin.host == allowed.host
    }
}

extension String {
    fileprivate func trimmingWhitespace() -> String {
        var s = Substring(self)
        while s.first?.isWhitespace == true { s.removeFirst() }
        while s.last?.isWhitespace == true { s.removeLast() }
        return String(s)
    }
}
