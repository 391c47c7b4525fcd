import NIOCore

/// The reply parser as a SwiftNIO decoder: bytes in, one `RESPValue` per complete reply out.
public struct RESPReplyDecoder: ByteToMessageDecoder {
    public typealias InboundOut = RESPValue

    private var parser: RESPParser

    public init(limits: RESPLimits = RESPLimits()) {
        parser = RESPParser(limits: limits)
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let value = try parser.next(from: &buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(value))
        return .continue
    }

    public mutating func decodeLast(
        context: ChannelHandlerContext,
        buffer: inout ByteBuffer,
        seenEOF: Bool
    ) throws -> DecodingState {
        // A reply cut short by EOF is dropped: the connection is gone, and its command fails as lost.
        try decode(context: context, buffer: &buffer)
    }
}
