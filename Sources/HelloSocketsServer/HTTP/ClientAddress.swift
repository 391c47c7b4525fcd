import Foundation
import NIOCore
import NIOHTTP1

/// An IPv4 or IPv6 address as bytes (4 or 16); an IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) is its IPv4 one.
struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    let bytes: [UInt8]

    /// Parses `192.0.2.1` or `2001:db8::1`; nil for anything else.
    init?<S: StringProtocol>(_ text: S) {
        var v4 = in_addr()
        var v6 = in6_addr()
        let string = String(text)
        if inet_pton(AF_INET, string, &v4) == 1 {
            self.init(normalizing: withUnsafeBytes(of: &v4) { Array($0) })
        } else if inet_pton(AF_INET6, string, &v6) == 1 {
            self.init(normalizing: withUnsafeBytes(of: &v6) { Array($0) })
        } else {
            return nil
        }
    }

    /// The address of a connected peer; nil for a Unix socket.
    init?(_ address: SocketAddress) {
        switch address {
        case .v4(let v4):
            var raw = v4.address.sin_addr
            self.init(normalizing: withUnsafeBytes(of: &raw) { Array($0) })
        case .v6(let v6):
            var raw = v6.address.sin6_addr
            self.init(normalizing: withUnsafeBytes(of: &raw) { Array($0) })
        case .unixDomainSocket:
            return nil
        }
    }

    private init(normalizing bytes: [UInt8]) {
        let mappedPrefix: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]
        self.bytes = bytes.count == 16 && bytes.starts(with: mappedPrefix) ? Array(bytes[12...]) : bytes
    }

    var isIPv4: Bool { bytes.count == 4 }

    /// What the per-address limits count by: an IPv4 address, or an IPv6 address's /64 (one
    /// subscriber's usual allocation: counting single IPv6 addresses would let a client pick new ones).
    var limitKey: IPAddress { isIPv4 ? self : IPAddress(prefix: bytes[0..<8]) }

    private init(prefix: ArraySlice<UInt8>) { bytes = Array(prefix) + Array(repeating: 0, count: 16 - prefix.count) }

    var description: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let family = isIPv4 ? AF_INET : AF_INET6
        let ok = bytes.withUnsafeBytes { raw in
            inet_ntop(family, raw.baseAddress, &buffer, socklen_t(buffer.count)) != nil
        }
        return ok ? String(cString: buffer) : "?"
    }

    /// A socket address for this IP (port 0), for checks that take one.
    var socketAddress: SocketAddress? { try? SocketAddress(ipAddress: description, port: 0) }
}

/// A range of addresses in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`; a bare address is one
/// address): a `--trusted-proxy`.
public struct AddressRange: Sendable, Equatable, CustomStringConvertible {
    let network: IPAddress
    let prefixLength: Int

    /// Parses a CIDR range; throws saying what is wrong.
    public init(parsing text: String) throws {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(parts[0]) else { throw InvalidRange(text: text, why: "not an IP address") }
        let bits = address.bytes.count * 8
        var length = bits
        if parts.count == 2 {
            guard let given = Int(parts[1]), (0...bits).contains(given) else {
                throw InvalidRange(text: text, why: "the prefix length must be 0 to \(bits)")
            }
            length = given
        }
        network = address
        prefixLength = length
    }

    /// Whether `address` lies in the range (IPv4 ranges hold IPv4 addresses, IPv6 ranges IPv6 ones).
    func contains(_ address: IPAddress) -> Bool {
        guard address.bytes.count == network.bytes.count else { return false }
        var remaining = prefixLength
        for (a, b) in zip(address.bytes, network.bytes) where remaining > 0 {
            let mask: UInt8 = remaining >= 8 ? 0xff : ~(0xff >> UInt8(remaining))
            if a & mask != b & mask { return false }
            remaining -= 8
        }
        return true
    }

    public var description: String { "\(network)/\(prefixLength)" }

    struct InvalidRange: Error, CustomStringConvertible {
        let text: String
        let why: String
        var description: String { "\(text): \(why) (expected CIDR, e.g. 10.0.0.0/8 or 2001:db8::/32)" }
    }
}

/// Who the client is: the TCP peer, or behind a trusted proxy the address the proxy reports.
enum ClientAddress {
    /// The peer's address, unless the peer is in `trustedProxies`: then the nearest hop, from the
    /// right, of `X-Forwarded-For` (or of `Forwarded: for=` when there is no X-Forwarded-For) that is
    /// not itself a trusted proxy. Walking from the right means a client can't name itself: it can
    /// only prepend to the list, and the proxies append what they saw. A hop that is not an address
    /// (`unknown`, an obfuscated name) stops the walk at the last trusted hop.
    static func resolve(peer: SocketAddress?, headers: HTTPHeaders, trustedProxies: [AddressRange]) -> IPAddress? {
        guard let peer = peer.flatMap(IPAddress.init) else { return nil }
        guard trustedProxies.contains(where: { $0.contains(peer) }) else { return peer }
        var client = peer
        for hop in forwardedHops(headers).reversed() {
            guard let address = hop else { break }
            client = address
            if !trustedProxies.contains(where: { $0.contains(address) }) { break }
        }
        return client
    }

    /// The hops of X-Forwarded-For (all its lines, in order), else of Forwarded's `for=` parameters;
    /// nil stands for a hop that is not an address.
    static func forwardedHops(_ headers: HTTPHeaders) -> [IPAddress?] {
        let xff = headers["x-forwarded-for"]
        if !xff.isEmpty {
            return xff.flatMap { $0.split(separator: ",") }.map { node($0.trimmingCharacters(in: .whitespaces)) }
        }
        // RFC 7239: elements separated by commas, pairs by semicolons; values may be quoted.
        return headers["forwarded"].flatMap { $0.split(separator: ",") }.compactMap { element -> IPAddress?? in
            for pair in element.split(separator: ";") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                guard kv.count == 2, kv[0].trimmingCharacters(in: .whitespaces).lowercased() == "for" else { continue }
                var value = kv[1].trimmingCharacters(in: .whitespaces)
                if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") {
                    value = String(value.dropFirst().dropLast())
                }
                return .some(node(value))
            }
            return nil  // an element without `for` says nothing about the client
        }
    }

    /// An address from a node: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`, `[2001:db8::1]:4711`.
    private static func node(_ text: String) -> IPAddress? {
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            return IPAddress(text[text.index(after: text.startIndex)..<close])
        }
        if let address = IPAddress(text) { return address }
        let parts = text.split(separator: ":")
        return parts.count == 2 ? IPAddress(parts[0]) : nil
    }
}
