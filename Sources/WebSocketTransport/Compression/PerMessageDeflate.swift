/// permessage-deflate (RFC 7692): negotiating the extension from the client's offers.
public enum PerMessageDeflate {
    /// The server's side of the negotiation.
    public struct Policy: Sendable, Equatable {
        /// Ask clients to reset their compression context after every message (saves our inflate memory).
        public var requireClientNoContextTakeover: Bool
        /// Reset our compression context after every message even when the client doesn't ask.
        public var serverNoContextTakeover: Bool
        /// Messages shorter than this go out uncompressed (RSV1 clear), which RFC 7692 §6 allows.
        public var minimumCompressedSize: Int

        public init(
            requireClientNoContextTakeover: Bool = false,
            serverNoContextTakeover: Bool = false,
            minimumCompressedSize: Int = 256
        ) {
            self.requireClientNoContextTakeover = requireClientNoContextTakeover
            self.serverNoContextTakeover = serverNoContextTakeover
            self.minimumCompressedSize = minimumCompressedSize
        }
    }

    /// What both sides agreed on for one connection.
    public struct Parameters: Sendable, Equatable {
        /// We reset our deflate context after each message.
        public var serverNoContextTakeover: Bool
        /// The client resets its deflate context after each message, so we may reset our inflater too.
        public var clientNoContextTakeover: Bool
        /// The LZ77 window we compress with (RFC 7692 §7.1.2.1).
        public var serverMaxWindowBits: Int
        /// The window the client compresses with, when we asked for one (RFC 7692 §7.1.2.2).
        public var clientMaxWindowBits: Int?
        public var minimumCompressedSize: Int

        /// The `Sec-WebSocket-Extensions` value of the 101 response.
        public var responseHeaderValue: String {
            var value = "permessage-deflate"
            if serverNoContextTakeover { value += "; server_no_context_takeover" }
            if clientNoContextTakeover { value += "; client_no_context_takeover" }
            if serverMaxWindowBits != 15 { value += "; server_max_window_bits=\(serverMaxWindowBits)" }
            if let clientMaxWindowBits { value += "; client_max_window_bits=\(clientMaxWindowBits)" }
            return value
        }
    }

    /// Picks the first acceptable permessage-deflate offer (RFC 7692 §5.1), or nil to decline compression.
    ///
    /// - Parameter offers: the `Sec-WebSocket-Extensions` header values, already split on commas.
    public static func negotiate(offers: [String], policy: Policy) -> Parameters? {
        for offer in offers {
            var parts = offer.split(separator: ";").map { $0.trimmingSpaces() }
            guard parts.first?.lowercased() == "permessage-deflate" else { continue }
            parts.removeFirst()
            if let parameters = accept(parts, policy: policy) { return parameters }
        }
        return nil
    }

    /// Accepts one offer's parameters, or nil when any is unknown, repeated or out of range (§7.1: decline it).
    private static func accept(_ parts: [String], policy: Policy) -> Parameters? {
        var seen = Set<String>()
        var serverNoContextTakeover = policy.serverNoContextTakeover
        var clientNoContextTakeover = policy.requireClientNoContextTakeover
        var serverWindow = 15
        var clientWindow: Int? = nil
        for part in parts where !part.isEmpty {
            let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingSpaces() }
            let name = pair[0].lowercased()
            let value = pair.count == 2 ? pair[1].trimmingCharacters(in: "\"") : nil
            guard seen.insert(name).inserted else { return nil }
            switch name {
            case "server_no_context_takeover":
                guard value == nil else { return nil }
                serverNoContextTakeover = true
            case "client_no_context_takeover":
                guard value == nil else { return nil }
                clientNoContextTakeover = true
            case "server_max_window_bits":
                guard let bits = value.flatMap(windowBits) else { return nil }
                // zlib cannot deflate with a 256-byte window (it silently widens 8 to 9), and a server
                // must not answer with more than the client allowed: decline this offer instead.
                guard bits >= 9 else { return nil }
                serverWindow = bits
            case "client_max_window_bits":
                // Without a value the client merely says it supports the parameter; we inflate with the
                // full 15-bit window, which reads any smaller one, so we never need to restrict it.
                if let value {
                    guard let bits = windowBits(value) else { return nil }
                    clientWindow = bits
                }
            default:
                return nil
            }
        }
        return Parameters(
            serverNoContextTakeover: serverNoContextTakeover,
            clientNoContextTakeover: clientNoContextTakeover,
            serverMaxWindowBits: serverWindow,
            clientMaxWindowBits: clientWindow,
            minimumCompressedSize: policy.minimumCompressedSize
        )
    }

    private static func windowBits(_ text: String) -> Int? {
        guard text.count <= 2, text.allSatisfy(\.isASCII), let bits = Int(text), (8...15).contains(bits) else {
            return nil
        }
        return bits
    }
}

extension String {
    fileprivate func trimmingCharacters(in quote: Character) -> String {
        guard count >= 2, first == quote, last == quote else { return self }
        return String(dropFirst().dropLast())
    }
}
