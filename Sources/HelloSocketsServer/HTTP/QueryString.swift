/// Parses a URL query string into a map, as Plug's `fetch_query_params` does for the socket's `params`.
enum QueryString {
    static func parameters(of uri: String) -> [String: String] {
        guard let query = uri.split(separator: "?", maxSplits: 1).dropFirst().first else { return [:] }
        var parameters: [String: String] = [:]
        for pair in query.split(separator: "&") where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = decode(parts[0])
            parameters[name] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return parameters
    }

    /// The value of the last parameter called `name` (Plug's rule for a repeated name; names compared as
    /// written), without parsing the others: for a lookup on every request. Works on the UTF-8 bytes.
    static func lastValue(of name: String, in uri: String) -> String? {
        let bytes = uri.utf8
        guard var start = bytes.firstIndex(of: UInt8(ascii: "?")).map({ bytes.index(after: $0) }) else { return nil }
        var found: Substring.UTF8View?
        while start < bytes.endIndex {
            let end = bytes[start...].firstIndex(of: UInt8(ascii: "&")) ?? bytes.endIndex
            let pair = uri[start..<end].utf8
            if pair.starts(with: name.utf8) {
                let rest = pair.dropFirst(name.utf8.count)
                if rest.isEmpty { found = rest } else if rest.first == UInt8(ascii: "=") { found = rest.dropFirst() }
            }
            start = end < bytes.endIndex ? bytes.index(after: end) : end
        }
        return found.map(decode)
    }

    /// Percent-decoding with `+` as space (application/x-www-form-urlencoded); bad escapes stay as they are.
    static func decode(_ text: Substring) -> String { decode(text.utf8) }

    static func decode<Bytes: Collection<UInt8>>(_ text: Bytes) -> String {
        if !text.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }) {
            return String(decoding: text, as: UTF8.self)  // nothing to decode (a session token, say)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.count)
        var iterator = Array(text)[...]
        while let byte = iterator.popFirst() {
            switch byte {
            case UInt8(ascii: "+"): bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                if iterator.count >= 2, let value = UInt8(String(decoding: iterator.prefix(2), as: UTF8.self), radix: 16) {
                    bytes.append(value)
                    iterator = iterator.dropFirst(2)
                } else {
                    bytes.append(byte)
                }
            default: bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
