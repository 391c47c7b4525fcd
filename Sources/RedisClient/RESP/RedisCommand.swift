import NIOCore

/// One argument of a command: text, raw bytes or an integer, each sent as a bulk string.
public enum RedisArgument: Sendable, Hashable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    case string(String)
    case bytes(ByteBuffer)
    case integer(Int)

    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .integer(value) }
}

/// A command encoded once, when made, as RESP's array of bulk strings (`*N\r\n$len\r\narg\r\n…`): the form every
/// Redis command takes on the wire. Built on the caller's thread; the connection only writes the bytes.
public struct RedisCommand: Sendable, ExpressibleByArrayLiteral {
    /// The wire bytes.
    public let encoded: ByteBuffer
    /// The command's name as given (`SET`), for error messages.
    public let name: String

    public init(_ arguments: [RedisArgument]) {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(Self.estimatedSize(arguments))
        buffer.writeInteger(UInt8(ascii: "*"))
        RESPWire.writeDecimal(arguments.count, to: &buffer)
        buffer.writeStaticString("\r\n")
        for argument in arguments {
            switch argument {
            case .string(let text): RESPWire.writeBulk(text, to: &buffer)
            case .bytes(var bytes): RESPWire.writeBulk(&bytes, to: &buffer)
            case .integer(let value): RESPWire.writeBulk(String(value), to: &buffer)
            }
        }
        encoded = buffer
        if case .string(let first)? = arguments.first { name = first } else { name = "" }
    }

    public init(_ arguments: [String]) {
        self.init(arguments.map(RedisArgument.string))
    }

    public init(arrayLiteral elements: RedisArgument...) {
        self.init(elements)
    }

    private static func estimatedSize(_ arguments: [RedisArgument]) -> Int {
        arguments.reduce(16) { size, argument in
            switch argument {
            case .string(let text): return size + text.utf8.count + 16
            case .bytes(let bytes): return size + bytes.readableBytes + 16
            case .integer: return size + 36
            }
        }
    }
}
