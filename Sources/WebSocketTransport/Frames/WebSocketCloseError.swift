import NIOWebSocket

/// A reason to close the connection, with the RFC 6455 §7.4.1 code it maps to.
public enum WebSocketCloseError: Error, Equatable, CustomStringConvertible {
    /// 1002: the peer broke the framing rules.
    case protocolError(String)
    /// 1007: data inconsistent with the message type (bad UTF-8, bad compressed data, undecodable payload).
    case invalidPayload(String)
    /// 1009: a message over the size limit.
    case messageTooBig(limit: Int)
    /// 1008: the peer broke a policy of the server (e.g. stayed over its message rate).
    case policyViolation(String)

    public var code: WebSocketErrorCode {
        switch self {
        case .protocolError: return .protocolError
        case .invalidPayload: return .dataInconsistentWithMessage
        case .messageTooBig: return .messageTooLarge
        case .policyViolation: return .policyViolation
        }
    }

    /// The reason sent in the close frame and logged.
    public var description: String {
        switch self {
        case .protocolError(let reason), .invalidPayload(let reason), .policyViolation(let reason): return reason
        case .messageTooBig(let limit): return "message larger than \(limit) bytes"
        }
    }
}

/// Close codes a peer may send (RFC 6455 §7.4): the registered ones that may appear on the
/// wire, and the 3000-4999 ranges for libraries and applications. 1004-1006 and 1015 are
/// reserved and must never appear in a close frame; 1016-2999 are unassigned.
func isValidReceivedCloseCode(_ code: UInt16) -> Bool {
    switch code {
    case 1000...1003, 1007...1014, 3000...4999: return true
    default: return false
    }
}
