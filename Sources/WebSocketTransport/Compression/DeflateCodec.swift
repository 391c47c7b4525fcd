import CompressNIO
import NIOCore

/// One connection's permessage-deflate state: an inflater for what the client sends, a deflater for what we send.
///
/// Both zlib streams are created on first use: most Phoenix traffic is small and goes out
/// uncompressed, and a deflate stream costs ~256 KiB, which idle connections shouldn't pay.
final class DeflateCodec {
    let parameters: PerMessageDeflate.Parameters
    private var inflater: ZlibDecompressor?
    private var deflater: ZlibCompressor?

    init(parameters: PerMessageDeflate.Parameters) {
        self.parameters = parameters
    }

    /// The 4 bytes RFC 7692 §7.2.1 strips from the end of every compressed message.
    private static let syncFlushTail: [UInt8] = [0x00, 0x00, 0xFF, 0xFF]

    /// Inflates one frame of a compressed message onto `output`, refusing to grow it past `limit` bytes.
    /// Decompression bombs stop at the limit: we never allocate more than the message size cap.
    func inflate(_ input: inout ByteBuffer, isFinal: Bool, into output: inout ByteBuffer, limit: Int) throws {
        let inflater = try self.inflater ?? ZlibDecompressor(algorithm: .deflate, windowSize: 15)
        self.inflater = inflater
        if isFinal { input.writeBytes(Self.syncFlushTail) }
        // zlib may hold output back when the buffer fills, so keep going until it neither
        // has input left nor reported a full output buffer.
        var outputWasFull = false
        var justReset = false
        while input.readableBytes > 0 || outputWasFull {
            if output.writableBytes == 0 {
                guard output.readableBytes < limit else { throw WebSocketCloseError.messageTooBig(limit: limit) }
                let grow = min(max(input.readableBytes * 4, 16 * 1024), limit - output.readableBytes)
                output.reserveCapacity(minimumWritableBytes: grow)
            }
            do {
                outputWasFull = false
                let (inputBefore, outputBefore) = (input.readableBytes, output.readableBytes)
                try inflater.inflate(from: &input, to: &output)
                if input.readableBytes == inputBefore && output.readableBytes == outputBefore {
                    // No error and no progress: zlib reached the end of a DEFLATE block with BFINAL set
                    // (Z_STREAM_END), which RFC 7692 §7.2.3.4 allows a sender to use instead of a sync flush.
                    // What follows (e.g. our 00 00 FF FF) starts a new stream; without the reset this loop
                    // would spin forever. Found by fuzz/ (fuzz-ws-frames).
                    guard !justReset else { throw WebSocketCloseError.invalidPayload("invalid permessage-deflate data") }
                    try inflater.reset()
                    justReset = true
                    continue
                }
                justReset = false
            } catch let error as WebSocketCloseError {
                throw error
            } catch let error as CompressNIOError where error == .bufferOverflow {
                outputWasFull = true
            } catch let error as CompressNIOError where error == .inputBufferOverflow {
                break  // zlib needs more input than this frame has: the next frame continues the message
            } catch {
                throw WebSocketCloseError.invalidPayload("invalid permessage-deflate data")
            }
            if output.readableBytes > limit { throw WebSocketCloseError.messageTooBig(limit: limit) }
        }
        if output.readableBytes > limit { throw WebSocketCloseError.messageTooBig(limit: limit) }
        if isFinal && parameters.clientNoContextTakeover { try inflater.reset() }
    }

    /// Whether a message of this size is worth compressing.
    func shouldCompress(_ size: Int) -> Bool { size >= parameters.minimumCompressedSize }

    /// Deflates one whole message (RFC 7692 §7.2.1: sync flush, then drop the trailing 00 00 FF FF).
    func deflate(_ message: ByteBuffer, allocator: ByteBufferAllocator) throws -> ByteBuffer {
        let deflater =
            try self.deflater
            ?? ZlibCompressor(
                algorithm: .deflate,
                configuration: ZlibConfiguration(windowSize: Int32(parameters.serverMaxWindowBits))
            )
        self.deflater = deflater
        var input = message
        var output = allocator.buffer(capacity: deflater.maxSize(from: input))
        try deflater.deflate(from: &input, to: &output, flush: .sync)
        output.moveWriterIndex(to: output.writerIndex - Self.syncFlushTail.count)
        if parameters.serverNoContextTakeover { try deflater.reset() }
        return output
    }
}
