import NIOCore
import PhoenixProtocol

/// A cluster message: one line of JSON (the header), `\n`, then the body bytes, never re-encoded
/// (docs/cluster-design.md, "Message format"). A receiver parses only the header before deciding what to do.
public struct ClusterHeader: Sendable, Equatable {
    /// The format version this node writes and reads.
    public static let version: Int64 = 1

    /// The kinds this node sends or understands.
    public enum Kind: String, Sendable {
        case broadcast = "b"
        case heartbeat = "hb"
        case goodbye = "bye"
        /// On `bcast`: a change of the origin's presences, `t` the topic, `c` its clock after it.
        case presenceDiff = "pd"
        /// On `node:X`: a request for X's presences, and X's reply with `c` the clock they are at.
        case stateRequest = "sync?"
        case state = "sync"
        /// Direct messages (on `node:NAME`): a LongPoll request forwarded to the node holding its session, and
        /// that node's answer.
        case longPollRequest = "lp"
        case longPollReply = "lp!"
    }

    /// `k`, as received: kinds this node does not handle yet (presence, LongPoll) are counted, not refused.
    public var kind: String
    /// `n`, `i`: the origin node.
    public var origin: String
    public var incarnation: String
    /// `s`: the origin incarnation's sequence number on the channel it was published to.
    public var sequence: UInt64
    /// `t`, `e`, `p` of a broadcast: topic, event, and whether the body is a binary payload (`"b"`) or JSON (`"j"`).
    public var topic: String?
    public var event: String?
    public var binaryBody = false
    /// `c`, `m`, `bs` of a heartbeat: tracker clock, presences held, last `s` used on the broadcast channel (`c` also
    /// in a presence diff and a state transfer).
    public var clock: Int64?
    public var presences: Int64?
    public var broadcastSequence: UInt64?
    /// The fields of a direct message's kind (`r`, `op`, `st`…), which the cluster core only carries: written
    /// after the common ones, in key order, and handed to the kind's handler as received.
    public var extra: [String: JSONValue] = [:]

    public init(kind: Kind, origin: NodeIdentity, sequence: UInt64) {
        self.kind = kind.rawValue
        self.origin = origin.name
        self.incarnation = origin.incarnation
        self.sequence = sequence
    }

    /// The whole message: header line, `\n`, body.
    public func message(body: ByteBuffer?) -> ByteBuffer {
        var line: [UInt8] = []
        line.reserveCapacity(128 + (topic?.utf8.count ?? 0) + (event?.utf8.count ?? 0))
        func field(_ name: StaticString, _ write: (inout [UInt8]) -> Void) {
            line.append(UInt8(ascii: line.isEmpty ? "{" : ","))
            line.append(UInt8(ascii: "\""))
            name.withUTF8Buffer { line.append(contentsOf: $0) }
            line.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
            write(&line)
        }
        func string(_ name: StaticString, _ value: String) { field(name) { JSONWriter.writeString(value, into: &$0) } }
        func integer(_ name: StaticString, _ value: Int64) { field(name) { JSONWriter.writeInteger(value, into: &$0) } }
        integer("v", Self.version)
        string("k", kind)
        string("n", origin)
        string("i", incarnation)
        integer("s", Int64(truncatingIfNeeded: sequence))
        if let topic { string("t", topic) }
        if let event { string("e", event) }
        if kind == Kind.broadcast.rawValue { string("p", binaryBody ? "b" : "j") }
        if let clock { integer("c", clock) }
        if let presences { integer("m", presences) }
        if let broadcastSequence { integer("bs", Int64(truncatingIfNeeded: broadcastSequence)) }
        for (name, value) in extra.sorted(by: { $0.key < $1.key }) {
            line.append(UInt8(ascii: ","))
            JSONWriter.writeString(name, into: &line)
            line.append(UInt8(ascii: ":"))
            // Only numbers can fail to encode (NaN, infinity): the fields carried here never hold one.
            (try? JSONWriter.encode(value)).map { line.append(contentsOf: $0) } ?? line.append(contentsOf: "null".utf8)
        }
        line.append(UInt8(ascii: "}"))
        line.append(UInt8(ascii: "\n"))
        var buffer = ByteBuffer()
        buffer.reserveCapacity(line.count + (body?.readableBytes ?? 0))
        buffer.writeBytes(line)
        if var body { buffer.writeBuffer(&body) }
        return buffer
    }

    /// Why a message was not read.
    public enum ParseError: Error, Equatable {
        /// No header line, a header that is not a JSON object, or a required field missing or of the wrong type.
        case malformed(String)
        /// A format version this node does not read.
        case version(Int64)
    }

    /// Splits `message` into its header and body (the body as a slice of the message, not a copy).
    public static func parse(_ message: ByteBuffer) throws(ParseError) -> (ClusterHeader, ByteBuffer) {
        guard let newline = message.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
            throw .malformed("no header line")
        }
        let headerLength = newline - message.readableBytesView.startIndex
        let value: JSONValue
        do {
            value = try message.withUnsafeReadableBytes { bytes throws(JSONParseError) in
                try JSONParser(maxDepth: 2).parse(UnsafeRawBufferPointer(rebasing: bytes[0..<headerLength]))
            }
        } catch {
            throw .malformed("header: \(error)")
        }
        guard case .integer(let version)? = value["v"] else { throw .malformed("no \"v\"") }
        guard version == Self.version else { throw .version(version) }
        guard case .string(let kind)? = value["k"], case .string(let origin)? = value["n"],
            case .string(let incarnation)? = value["i"], case .integer(let sequence)? = value["s"], sequence > 0
        else { throw .malformed("\"k\", \"n\", \"i\" or \"s\" missing or of the wrong type") }
        var header = ClusterHeader(kind: kind, origin: origin, incarnation: incarnation, sequence: UInt64(sequence))
        header.topic = value["t"]?.stringValue
        header.event = value["e"]?.stringValue
        header.binaryBody = value["p"]?.stringValue == "b"
        if case .integer(let clock)? = value["c"] { header.clock = clock }
        if case .integer(let presences)? = value["m"] { header.presences = presences }
        if case .integer(let last)? = value["bs"], last >= 0 { header.broadcastSequence = UInt64(last) }
        if case .object(let members) = value, members.count > 5 {
            header.extra = members.filter { !commonFields.contains($0.key) }
        }
        let bodyStart = headerLength + 1
        let body = message.getSlice(at: message.readerIndex + bodyStart, length: message.readableBytes - bodyStart)
        return (header, body ?? ByteBuffer())
    }

    /// The fields every kind's reader above takes; any other goes to `extra`.
    private static let commonFields: Set<String> = ["v", "k", "n", "i", "s", "t", "e", "p", "c", "m", "bs"]

    private init(kind: String, origin: String, incarnation: String, sequence: UInt64) {
        self.kind = kind
        self.origin = origin
        self.incarnation = incarnation
        self.sequence = sequence
    }
}
