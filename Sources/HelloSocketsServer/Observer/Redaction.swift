import NIOHTTP1

/// What the observer feed and `--trace` hide: secrets a browser or client puts in the handshake.
///
/// - Query parameters whose name contains `token`, `secret`, `password` or `jwt` become `name=[redacted]`, except
///   the values `undefined`, `null` and the empty string, which carry no secret: the book's page connects with
///   `token=undefined` (its `window.userToken` is unset) and the observer keeps that visible on purpose.
/// - `Authorization`, `Proxy-Authorization` and Phoenix's token headers (`X-Phoenix-Longpoll-Token`,
///   `X-Phoenix-AuthToken`) become `[redacted]`.
/// - `Cookie` keeps only the observer's own `hs_observe` cookie (the page's follow id); other cookies show as
///   `name=[redacted]`.
enum Redaction {
    static let placeholder = "[redacted]"
    /// The cookie the start page sets so that the feed can tell it its own connection (see `ObserverHub`).
    static let followCookie = "hs_observe"

    static func isSecretName(_ name: Substring) -> Bool {
        let lower = name.lowercased()
        return lower.contains("token") || lower.contains("secret") || lower.contains("password") || lower.contains("jwt")
    }

    static func isHarmlessValue(_ value: Substring) -> Bool {
        value.isEmpty || value == "undefined" || value == "null"
    }

    /// The URI with secret query values replaced.
    static func uri(_ uri: String) -> String {
        guard let question = uri.firstIndex(of: "?") else { return uri }
        let path = uri[..<question]
        let query = uri[uri.index(after: question)...]
        let pairs = query.split(separator: "&", omittingEmptySubsequences: false).map { pair -> String in
            guard let equals = pair.firstIndex(of: "=") else { return String(pair) }
            let name = pair[..<equals]
            let value = pair[pair.index(after: equals)...]
            if isSecretName(name) && !isHarmlessValue(value) { return "\(name)=\(placeholder)" }
            return String(pair)
        }
        return path + "?" + pairs.joined(separator: "&")
    }

    /// One header value, redacted by header name.
    static func header(name: String, value: String) -> String {
        switch name.lowercased() {
        case "authorization", "proxy-authorization", "x-phoenix-longpoll-token", "x-phoenix-authtoken":
            return placeholder
        case "cookie":
            return value.split(separator: ";").map { part -> String in
                let trimmed = part.drop { $0 == " " }
                guard let equals = trimmed.firstIndex(of: "=") else { return String(trimmed) }
                let name = trimmed[..<equals]
                return name == followCookie ? String(trimmed) : "\(name)=\(placeholder)"
            }.joined(separator: "; ")
        default:
            return value
        }
    }

    /// The `hs_observe` cookie value of a request, if any.
    static func followID(in headers: HTTPHeaders) -> String? {
        for value in headers["cookie"] {
            for part in value.split(separator: ";") {
                let trimmed = part.drop { $0 == " " }
                if trimmed.hasPrefix(followCookie + "=") {
                    let id = trimmed.dropFirst(followCookie.count + 1)
                    if !id.isEmpty { return String(id) }
                }
            }
        }
        return nil
    }
}
