import Foundation

/// Who this node is in the cluster: its name (`--node-name`) and its incarnation, random at each start, so a
/// node restarted under the same name is a new replica (Phoenix's `{name, vsn}`).
public struct NodeIdentity: Sendable, Hashable, CustomStringConvertible {
    public let name: String
    /// 16 lowercase hex digits.
    public let incarnation: String

    public init(name: String, incarnation: String = NodeIdentity.randomIncarnation()) {
        self.name = name
        self.incarnation = incarnation
    }

    public var description: String { "\(name) (\(incarnation))" }

    /// Whether `name` can name a node: 1 to 64 letters, digits, `.`, `-` or `_` (it is part of a Redis channel).
    public static func isValidName(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count) && name.utf8.allSatisfy(isNameByte)
    }

    /// The default name: the host name's first label, `-`, and 6 random base32 characters (new at each start).
    public static func defaultName(hostName: String = ProcessInfo.processInfo.hostName) -> String {
        let label = hostName.split(separator: ".").first.map(String.init) ?? ""
        let kept = label.unicodeScalars.filter { $0.isASCII && isNameByte(UInt8($0.value)) }
        let cleaned = String(String.UnicodeScalarView(kept))
        let host = cleaned.isEmpty ? "node" : String(cleaned.prefix(50))
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567")
        let suffix = String((0..<6).map { _ in alphabet[Int.random(in: 0..<alphabet.count)] })
        return "\(host)-\(suffix)"
    }

    /// 16 random lowercase hex digits.
    public static func randomIncarnation() -> String {
        let hex = String(UInt64.random(in: .min ... .max), radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    private static func isNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "_"):
            return true
        default:
            return false
        }
    }
}

/// The Redis channels of one cluster (`hs:NAME:…`).
public struct ClusterChannels: Sendable {
    /// Broadcasts from every node, to every node.
    public let broadcast: String
    /// Heartbeats and goodbyes.
    public let tracker: String
    private let nodePrefix: String

    public init(cluster: String) {
        broadcast = "hs:\(cluster):bcast"
        tracker = "hs:\(cluster):tracker"
        nodePrefix = "hs:\(cluster):node:"
    }

    /// The direct channel of node `name`.
    public func node(_ name: String) -> String { nodePrefix + name }
}
