import Foundation
import NIOCore

/// Where a Redis server is and how to talk to it; made from a `redis://` URL or field by field.
public struct RedisConfiguration: Sendable, Hashable {
    public var host: String
    public var port: Int
    /// For `AUTH username password` (Redis 6 ACLs); nil sends `AUTH password`.
    public var username: String?
    /// Sent with `AUTH` right after connecting; nil skips `AUTH`.
    public var password: String?
    /// Chosen with `SELECT` after `AUTH` when not 0. Pub/sub ignores it (channels are server-wide).
    public var database: Int
    /// Bounds on replies (a reply past one closes the connection with a clear error).
    public var limits = RESPLimits()
    /// TCP connect timeout.
    public var connectTimeout: TimeAmount = .seconds(5)
    /// Replies awaited this long with none arriving close the connection (a stopped server, a dead peer): its
    /// commands fail and the connection reconnects.
    public var replyTimeout: TimeAmount = .seconds(5)
    /// An idle connection sends `PING` this often, so a dead server is noticed without traffic.
    public var healthCheckInterval: TimeAmount = .seconds(1)
    /// Delays between reconnect attempts.
    public var backoff = ReconnectBackoff()
    /// Most commands awaiting replies at once; past it `send` fails at once (`tooManyPendingCommands`).
    public var maxPendingCommands = 100_000

    public init(host: String, port: Int = 6379, username: String? = nil, password: String? = nil, database: Int = 0) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
    }

    /// Parses `redis://[[username]:password@]host[:port][/db]` (IPv6 hosts in brackets, `%`-escapes in the
    /// user info), with an error saying what is wrong.
    public init(url: String) throws {
        let parsed = try RedisURL.parse(url)
        self.init(
            host: parsed.host,
            port: parsed.port,
            username: parsed.username,
            password: parsed.password,
            database: parsed.database
        )
    }

    /// The `redis://` URL these fields make (the inverse of `init(url:)`, password included).
    public var url: String {
        func escaped(_ text: String) -> String {
            text.addingPercentEncoding(withAllowedCharacters: .redisUserInfo) ?? text
        }
        var url = "redis://"
        if let password { url += "\(username.map(escaped) ?? ""):\(escaped(password))@" }
        url += serverDescription
        if database != 0 { url += "/\(database)" }
        return url
    }

    /// `host:port`, for logs and errors (never the password).
    public var serverDescription: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}

/// A `redis://` URL that cannot be used, with the reason. The password never appears in it.
public struct RedisURLError: Error, Hashable, CustomStringConvertible {
    /// The URL as given, with any password replaced by `***`.
    public let url: String
    public let reason: String

    public var description: String {
        "invalid Redis URL '\(url)': \(reason) (expected redis://[[username]:password@]host[:port][/db])"
    }
}

/// The `redis://` URL grammar.
enum RedisURL {
    struct Parsed {
        var host: String
        var port = 6379
        var username: String?
        var password: String?
        var database = 0
    }

    static func parse(_ url: String) throws -> Parsed {
        func fail(_ reason: String) -> RedisURLError { RedisURLError(url: redacted(url), reason: reason) }

        guard let (schemePart, afterScheme) = splitScheme(url) else { throw fail("missing the redis:// scheme") }
        let scheme = schemePart.lowercased()
        if scheme == "rediss" { throw fail("TLS (rediss://) is not supported; use redis:// on a trusted network") }
        guard scheme == "redis" else { throw fail("scheme '\(scheme)' is not redis") }
        var rest = afterScheme
        if rest.contains("?") || rest.contains("#") { throw fail("query parameters and fragments are not supported") }

        var databasePart: Substring?
        if let slash = rest.firstIndex(of: "/") {
            databasePart = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        var parsed = Parsed(host: "")
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            guard let colon = userInfo.firstIndex(of: ":") else {
                throw fail("user info without a password; write redis://:password@host or redis://user:password@host")
            }
            let username = userInfo[..<colon]
            guard let user = percentDecoded(username),
                let password = percentDecoded(userInfo[userInfo.index(after: colon)...])
            else { throw fail("bad %-escape in the user info") }
            parsed.username = username.isEmpty ? nil : user
            parsed.password = password
        }

        var portPart: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw fail("IPv6 host without a closing ']'") }
            parsed.host = String(rest[rest.index(after: rest.startIndex)..<close])
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw fail("unexpected '\(after)' after the IPv6 host") }
                portPart = after.dropFirst()
            }
            guard !parsed.host.isEmpty, parsed.host.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else {
                throw fail("'\(parsed.host)' is not an IPv6 address")
            }
        } else {
            if let colon = rest.firstIndex(of: ":") {
                portPart = rest[rest.index(after: colon)...]
                rest = rest[..<colon]
            }
            parsed.host = String(rest)
            guard !parsed.host.isEmpty else { throw fail("missing host") }
            guard
                parsed.host.allSatisfy({
                    $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_")
                })
            else { throw fail("'\(parsed.host)' is not a host name or address") }
        }
        if let portPart {
            guard let port = Int(portPart), (1...65535).contains(port), portPart.allSatisfy(\.isASCII) else {
                throw fail("port '\(portPart)' is not a number from 1 to 65535")
            }
            parsed.port = port
        }
        if let databasePart, !databasePart.isEmpty {
            guard let database = Int(databasePart), database >= 0, databasePart.allSatisfy(\.isASCII) else {
                throw fail("database '\(databasePart)' is not a number from 0 up")
            }
            parsed.database = database
        }
        return parsed
    }

    /// The URL with the password (between the user's ':' and '@') replaced by `***`.
    static func redacted(_ url: String) -> String {
        guard let (scheme, afterScheme) = splitScheme(url) else { return url }
        let authorityEnd =
            afterScheme.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? afterScheme.endIndex
        let authority = afterScheme[..<authorityEnd]
        guard let at = authority.lastIndex(of: "@") else { return url }
        let userInfo = authority[..<at]
        let user = userInfo.firstIndex(of: ":").map { String(userInfo[..<$0]) + ":***" } ?? "***"
        return String(scheme) + "://" + user + String(url[at...])
    }

    /// `scheme://rest` split in two; nil without `://` after the first ':'.
    private static func splitScheme(_ url: String) -> (Substring, Substring)? {
        guard let colon = url.firstIndex(of: ":") else { return nil }
        let afterColon = url[url.index(after: colon)...]
        guard afterColon.hasPrefix("//") else { return nil }
        return (url[..<colon], afterColon.dropFirst(2))
    }

    /// `%XX` escapes decoded as UTF-8; nil for a broken escape or invalid UTF-8.
    static func percentDecoded(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                return nil
            }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

extension CharacterSet {
    /// What may stand unescaped in a `redis://` URL's user or password.
    fileprivate static let redisUserInfo = CharacterSet(
        charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
}
