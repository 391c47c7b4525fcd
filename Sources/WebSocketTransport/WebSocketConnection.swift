import Logging
import NIOCore
import NIOWebSocket

/// What a WebSocket application implements: it receives whole, validated messages.
///
/// Every call happens on the connection's event loop. The Phoenix socket and the echo
/// endpoint are both sessions; this layer knows nothing of either.
public protocol WebSocketSession: AnyObject {
    /// The connection is open and may send.
    func webSocketDidOpen(_ connection: WebSocketConnection)
    /// A complete message arrived (text is valid UTF-8).
    func webSocket(_ connection: WebSocketConnection, didReceive message: WebSocketMessage)
    /// The TCP connection is gone; called exactly once.
    func webSocketDidClose(_ connection: WebSocketConnection)
    /// Asked before each data message is taken (an inbound rate limit); the default admits everything.
    func webSocketAdmission(_ connection: WebSocketConnection) -> MessageAdmission
}

extension WebSocketSession {
    public func webSocketAdmission(_ connection: WebSocketConnection) -> MessageAdmission { .proceed }
}

/// A session's answer to "may the next message be taken now?".
public enum MessageAdmission: Equatable, Sendable {
    /// Take it.
    case proceed
    /// Hold it and stop reading the socket until then (TCP backpressure slows the client down);
    /// it and every frame read after it are taken later, in order.
    case wait(until: NIODeadline)
    /// Close the connection with 1008 (policy violation) and this reason; held frames are discarded.
    case close(reason: String)
}

/// One upgraded connection: frame parsing and rules, control frames, the close handshake and the idle timeout
/// (RFC 6455 §5-7), delivering complete messages to its `WebSocketSession`. It reads the socket's bytes
/// itself (`FrameParser`): nothing sits between it and the socket.
public final class WebSocketConnection: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    /// Whole frames as bytes (`ServerFrameWriter`): no NIO frame encoder after this handler.
    public typealias OutboundOut = ByteBuffer

    private enum State {
        case open
        /// We sent a close frame and wait for the peer's (RFC 6455 §7.1.1), or for the close timeout.
        case closeSent
        case closed
    }

    public let configuration: WebSocketConfiguration
    public let logger: Logger
    /// A short id for logs and the observer ("c17").
    public let id: String
    private let session: WebSocketSession
    private var parser: FrameParser
    /// The byte stream is broken (a frame no later bytes can make valid): nothing more is parsed.
    private var parserFailed = false
    private var assembler: MessageAssembler
    private let deflate: DeflateCodec?
    private var state = State.open
    private var context: ChannelHandlerContext?
    private var lastFrameReceived = NIODeadline.uptimeNanoseconds(0)
    /// The loop's shared wheel, or one of its own when the connection runs alone (tests, tools).
    private var timerWheel: TimerWheel?
    /// One timer serves both timeouts: idle while open, the peer's close reply after we sent ours.
    private var timer: TimerWheel.Timer?
    private var isReading = false
    private var needsFlush = false
    /// Frames read while the session made us wait (`MessageAdmission.wait`), in arrival order: what one
    /// socket read brought in after reading was paused. Made at the first pause (most connections never pause).
    private var held: CircularBuffer<WebSocketFrame>?
    /// Set while reading is paused for the session; fires when it may go on.
    private var resumeTimer: TimerWheel.Timer?
    private var isPaused = false
    /// Sees every frame both ways (the observer feed, `--trace`); set before the connection is added to a pipeline.
    public var observer: WebSocketFrameObserver?
    private var messageIsCompressed = false
    /// The code of the first close frame sent or received (1005 for a close without a code);
    /// nil while open, or when TCP went away without a close frame.
    public private(set) var closeCode: UInt16?
    /// The most bytes queued for this client at once past the high-water mark, 0 if it never got there.
    /// Below the mark NIO keeps the channel writable, so a queue that never passed it is at most
    /// `maxPendingOutbound`; sampling only past it keeps the per-message cost to a flag check.
    public private(set) var peakQueuedBytesPastMark = 0
    /// NIO said the channel is past its high-water mark (`channelWritabilityChanged`): a flag, so a write
    /// need not ask the channel (reaching it from the context takes retains on every send).
    private var isPastHighWater = false

    public init(
        id: String,
        session: WebSocketSession,
        configuration: WebSocketConfiguration,
        deflate: PerMessageDeflate.Parameters?,
        timerWheel: TimerWheel? = nil,
        logger: Logger
    ) {
        self.id = id
        self.timerWheel = timerWheel
        self.session = session
        self.configuration = configuration
        self.logger = logger
        self.deflate = deflate.map(DeflateCodec.init)
        self.parser = FrameParser(maxFrameSize: configuration.maxMessageSize)
        self.assembler = MessageAssembler(
            maxMessageSize: configuration.maxMessageSize,
            deflate: self.deflate,
            allocator: ByteBufferAllocator()
        )
    }

    /// The event loop every call on this connection must be made on.
    public var eventLoop: EventLoop? { context?.eventLoop }

    /// Whether the connection still accepts messages to send.
    public var isOpen: Bool { if case .open = state { return context != nil } else { return false } }

    /// Whether the socket's send buffer is below its high-water mark (a slow reader makes it false).
    public var isWritable: Bool { context?.channel.isWritable ?? false }

    // MARK: Channel events

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let highWater = max(configuration.maxPendingOutbound, 2)
        try? context.channel.syncOptions?.setOption(
            .writeBufferWaterMark,
            value: ChannelOptions.Types.WriteBufferWaterMark(low: highWater / 2, high: highWater)
        )
        lastFrameReceived = context.eventLoop.now
        let wheel = timerWheel ?? TimerWheel(
            eventLoop: context.eventLoop,
            resolution: TimerWheel.resolution(for: [configuration.idleTimeout, configuration.closeTimeout]),
            slotCount: 64
        )
        timerWheel = wheel
        // The timers hold the connection strongly (finish lets them go): a weak reference would give the
        // connection a side table for life, and every retain of it on the send path would take the slow path.
        let timer = wheel.makeTimer { self.timerFired() }
        self.timer = timer
        wheel.arm(timer, in: configuration.idleTimeout)
        session.webSocketDidOpen(self)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        finish()
        context.fireChannelInactive()
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        finish()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !parserFailed else { return }
        var bytes = parser.append(unwrapInboundIn(data))
        isReading = true
        let now = context.eventLoop.now  // once per read, not per frame
        do {
            while self.context != nil, let frame = try parser.nextFrame(in: &bytes) {
                lastFrameReceived = now  // a whole frame: bytes trickling in are still idle
                if let observer { observer.webSocket(id, didReceive: frame) }
                if isPaused {
                    hold(frame, first: false)  // the rest of a read that was under way when we paused: kept in order
                } else {
                    take(frame)
                }
            }
        } catch {
            parserFailed = true
            held = nil
            fail(error)
        }
    }

    /// Handles one frame, unless the session makes a new message wait (then it is held, first in line).
    private func take(_ frame: WebSocketFrame) {
        if case .open = state, frame.opcode == .text || frame.opcode == .binary {
            switch session.webSocketAdmission(self) {
            case .proceed:
                break
            case .wait(let deadline):
                hold(frame, first: true)
                pause(until: deadline)
                return
            case .close(let reason):
                held = nil
                fail(.policyViolation(reason))
                return
            }
        }
        do {
            try receive(frame)
        } catch let error as WebSocketCloseError {
            fail(error)
        } catch {
            fail(.protocolError("\(error)"))
        }
    }

    // MARK: Pausing (inbound rate limit)

    private func hold(_ frame: WebSocketFrame, first: Bool) {
        if held == nil { held = CircularBuffer(initialCapacity: 16) }
        if first { held?.prepend(frame) } else { held?.append(frame) }
    }

    /// Stops reading the socket until `deadline`: the kernel's buffers fill and TCP slows the client.
    private func pause(until deadline: NIODeadline) {
        guard let context, let timerWheel else { return }
        if !isPaused {
            isPaused = true
            try? context.channel.syncOptions?.setOption(.autoRead, value: false)
        }
        let timer = resumeTimer ?? timerWheel.makeTimer { self.resume() }  // strong: see handlerAdded
        resumeTimer = timer
        timerWheel.arm(timer, at: deadline)
    }

    /// Takes the held frames in order (each new message asks the session again), then reads again.
    private func resume() {
        guard let context, isPaused else { return }
        isPaused = false
        lastFrameReceived = context.eventLoop.now  // the client was sending all along; we were not reading
        isReading = true  // replies of the whole batch go out with one flush
        while !isPaused, context === self.context, let frame = held?.popFirst() {
            take(frame)
        }
        isReading = false
        if needsFlush, self.context != nil {
            needsFlush = false
            context.flush()
        }
        if !isPaused, self.context != nil {
            try? context.channel.syncOptions?.setOption(.autoRead, value: true)
        }
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        isReading = false
        if needsFlush {
            needsFlush = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    /// NIO marks the channel unwritable past its high-water mark (the server sets it to
    /// `maxPendingOutbound`): the client stopped reading, so stop queueing for it.
    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        isPastHighWater = !context.channel.isWritable
        if isPastHighWater, case .open = state {
            logger.warning(
                "client is not reading: closing",
                metadata: ["conn": "\(id)", "limit": "\(configuration.maxPendingOutbound)"]
            )
            close(code: .policyViolation, reason: "too slow: outbound buffer full")
        }
        context.fireChannelWritabilityChanged()
    }

    public func errorCaught(context: ChannelHandlerContext, error: Error) {
        logger.debug("connection error", metadata: ["conn": "\(id)", "error": "\(error)"])
        context.close(promise: nil)
    }

    // MARK: Frames

    private func receive(_ frame: WebSocketFrame) throws {
        // §5.1: a server must close the connection on an unmasked client frame.
        guard frame.maskKey != nil else { throw WebSocketCloseError.protocolError("unmasked client frame") }
        // §5.2: RSV2/RSV3 have no meaning without an extension that defines them; RSV1 only for deflate data.
        guard !frame.rsv2, !frame.rsv3 else { throw WebSocketCloseError.protocolError("reserved bits set") }
        switch frame.opcode {
        case .text, .binary, .continuation:
            guard case .open = state else { return }  // §7.1.4: after our close, data is discarded
            if frame.opcode != .continuation { messageIsCompressed = frame.rsv1 }
            if let message = try assembler.receive(frame) {
                if let observer { observer.webSocket(id, didReceive: message, compressed: messageIsCompressed) }
                session.webSocket(self, didReceive: message)
            }
        case .ping, .pong, .connectionClose:
            // §5.5: control frames are at most 125 bytes and never fragmented.
            guard frame.fin, frame.length <= 125 else {
                throw WebSocketCloseError.protocolError("fragmented or oversized control frame")
            }
            guard !frame.rsv1 else { throw WebSocketCloseError.protocolError("RSV1 set on a control frame") }
            if frame.opcode == .ping {
                guard case .open = state else { return }
                // §5.5.2: a pong carries the ping's application data.
                write(frame.unmaskedData, opcode: .pong)
            } else if frame.opcode == .connectionClose {
                try receiveClose(frame.unmaskedData)
            }  // §5.5.3: an unsolicited pong needs no answer
        default:
            throw WebSocketCloseError.protocolError("unknown opcode \(frame.opcode)")
        }
    }

    /// §5.5.1 and §7.4: validate the peer's close frame, echo its code, then close TCP.
    private func receiveClose(_ payload: ByteBuffer) throws {
        if case .closeSent = state {
            closeTransport()
            return
        }
        var payload = payload
        var reply = context?.channel.allocator.buffer(capacity: 2) ?? ByteBuffer()
        switch payload.readableBytes {
        case 0:
            break  // no status code: answer with an empty close
        case 1:
            throw WebSocketCloseError.protocolError("close frame with a 1-byte payload")
        default:
            guard let code = payload.readInteger(as: UInt16.self), isValidReceivedCloseCode(code) else {
                throw WebSocketCloseError.protocolError("invalid close code")
            }
            let reasonIsValid = payload.withUnsafeReadableBytes { UTF8Validator.isValid($0) }
            guard reasonIsValid else { throw WebSocketCloseError.invalidPayload("close reason is not valid UTF-8") }
            reply.writeInteger(code)
            if closeCode == nil { closeCode = code }
        }
        if closeCode == nil { closeCode = 1005 }
        state = .closeSent
        write(reply, opcode: .connectionClose, flush: true) { [weak self] in
            self?.closeTransport()
        }
    }

    // MARK: Sending

    /// Sends a text message (the bytes must be valid UTF-8).
    public func send(text: ByteBuffer) { send(text, opcode: .text) }

    /// Sends a binary message.
    public func send(binary: ByteBuffer) { send(binary, opcode: .binary) }

    /// Sends a message as its kind says.
    public func send(_ message: WebSocketMessage) {
        switch message {
        case .text(let text): send(text, opcode: .text)
        case .binary(let data): send(data, opcode: .binary)
        }
    }

    /// Sends a message framed once for many connections; compressing or observed connections frame it their own way.
    public func send(_ prepared: PreparedMessage) {
        guard case .open = state, context != nil else { return }
        if observer != nil || deflate?.shouldCompress(prepared.message.payload.readableBytes) == true {
            return send(prepared.message)
        }
        writeFrame(prepared.frame)
    }

    private func send(_ data: ByteBuffer, opcode: WebSocketOpcode) {
        guard case .open = state, let context else { return }
        var payload = data
        var compressed = false
        if let deflate, deflate.shouldCompress(data.readableBytes) {
            do {
                payload = try deflate.deflate(data, allocator: context.channel.allocator)
                compressed = true
            } catch {
                logger.warning("compression failed; sending uncompressed", metadata: ["conn": "\(id)"])
            }
        }
        if let observer {
            observer.webSocket(id, willSend: WebSocketFrame(fin: true, rsv1: compressed, opcode: opcode, data: payload), payload: data)
        }
        write(payload, opcode: opcode, rsv1: compressed, observed: true)
    }

    /// Starts the closing handshake (§7.1.2): send a close frame, then wait briefly for the peer's.
    public func close(code: WebSocketErrorCode, reason: String = "") {
        guard case .open = state, let context else { return }
        state = .closeSent
        if closeCode == nil { closeCode = UInt16(webSocketErrorCode: code) }
        write(closePayload(code: code, reason: reason, allocator: context.channel.allocator), opcode: .connectionClose, flush: true)
        if let timerWheel, let timer { timerWheel.arm(timer, in: configuration.closeTimeout) }
        // Read again to see the peer's close frame: held and further data frames are discarded now (§7.1.4).
        if isPaused {
            if let timerWheel, let resumeTimer { timerWheel.cancel(resumeTimer) }
            resume()
        }
    }

    /// Fails the connection (§7.1.7): send a close frame with the error's code, then close TCP.
    private func fail(_ error: WebSocketCloseError) {
        guard let context else { return }
        logger.warning(
            "closing WebSocket",
            metadata: ["conn": "\(id)", "code": "\(UInt16(webSocketErrorCode: error.code))", "reason": "\(error)"]
        )
        guard case .open = state else {
            closeTransport()
            return
        }
        state = .closeSent
        if closeCode == nil { closeCode = UInt16(webSocketErrorCode: error.code) }
        let payload = closePayload(code: error.code, reason: error.description, allocator: context.channel.allocator)
        write(payload, opcode: .connectionClose, flush: true) { [weak self] in self?.closeTransport() }
    }

    private func closePayload(code: WebSocketErrorCode, reason: String, allocator: ByteBufferAllocator) -> ByteBuffer {
        var data = allocator.buffer(capacity: 2 + reason.utf8.count)
        data.write(webSocketErrorCode: code)
        // §5.5: the whole control payload fits in 125 bytes; cut the reason on a character boundary.
        var reasonBytes = Substring(reason)
        while reasonBytes.utf8.count > 123 { reasonBytes.removeLast() }
        data.writeString(String(reasonBytes))
        return data
    }

    private func write(
        _ payload: ByteBuffer,
        opcode: WebSocketOpcode,
        rsv1: Bool = false,
        flush: Bool = false,
        observed: Bool = false,
        then: (() -> Void)? = nil
    ) {
        if !observed, let observer {
            observer.webSocket(id, willSend: WebSocketFrame(fin: true, opcode: opcode, data: payload), payload: payload)
        }
        writeFrame(ServerFrameWriter.frame(payload, opcode: opcode, rsv1: rsv1), flush: flush, then: then)
    }

    /// Writes a whole frame; flushes at once, or at the end of the current read batch.
    private func writeFrame(_ frame: ByteBuffer, flush: Bool = false, then: (() -> Void)? = nil) {
        guard let context else { return }
        let promise: EventLoopPromise<Void>? = then.map { action in
            let promise = context.eventLoop.makePromise(of: Void.self)
            promise.futureResult.whenComplete { _ in action() }
            return promise
        }
        context.write(wrapOutboundOut(frame), promise: promise)
        if isPastHighWater, let queued = try? context.channel.syncOptions?.getOption(.bufferedWritableBytes) {
            peakQueuedBytesPastMark = max(peakQueuedBytesPastMark, queued)
        }
        if flush || !isReading {
            context.flush()
        } else {
            needsFlush = true  // flushed once at channelReadComplete: one syscall per read batch
        }
    }

    // MARK: Timers and teardown

    /// Open: the idle check, re-armed for the remaining time rather than reset on every frame.
    /// Closing: the peer did not answer our close frame in time.
    private func timerFired() {
        guard let context, let timerWheel, let timer else { return }
        switch state {
        case .open:
            // A paused client is sending (we are not reading): not idle.
            if isPaused { lastFrameReceived = context.eventLoop.now }
            let idleUntil = lastFrameReceived + configuration.idleTimeout
            if context.eventLoop.now >= idleUntil {
                logger.debug("idle timeout", metadata: ["conn": "\(id)"])
                close(code: .normalClosure, reason: "idle timeout")
            } else {
                timerWheel.arm(timer, at: idleUntil)
            }
        case .closeSent:
            closeTransport()
        case .closed:
            break
        }
    }

    private func closeTransport() {
        guard let context else { return }
        context.close(promise: nil)
    }

    private func finish() {
        guard context != nil else { return }
        state = .closed
        if let timerWheel, let timer { timerWheel.cancel(timer) }
        if let timerWheel, let resumeTimer { timerWheel.cancel(resumeTimer) }
        timer = nil  // their actions hold this connection
        resumeTimer = nil
        held = nil
        isPaused = false
        context = nil
        session.webSocketDidClose(self)
        if let observer { observer.webSocketDidClose(id) }
    }
}
