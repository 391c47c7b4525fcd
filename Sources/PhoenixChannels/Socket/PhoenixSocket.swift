import Logging
import LuaRuntime
import NIOCore
import PhoenixProtocol

/// One Phoenix socket: the state machine over the channels a client has joined (Phoenix.Socket's
/// `handle_in` clauses and Phoenix.Channel.Server's result handling), on one connection's event loop.
/// It knows no HTTP and no sockets: a `PhoenixTransport` (a WebSocket, a LongPoll session, memory)
/// feeds it frames with `receive` and carries what it sends.
///
/// Wire rules follow PROTOCOL.md "Our rules": the reply to a join carries the join message's
/// ref as its join_ref (Phoenix 1.4); control replies nobody owns carry a null join_ref.
public final class PhoenixSocket {
    /// A joined channel: its VM handle, the join_ref its frames carry, and its PubSub subscription.
    final class JoinedChannel: TopicSubscriber {
        let id: ChannelID
        let topic: String
        let joinRef: JSONValue
        /// The topic pattern of the script serving it (`/metrics`' joined channels).
        var pattern = ""
        unowned let socket: PhoenixSocket
        var timers: [TimerID: PhoenixTimer] = [:]

        init(id: ChannelID, topic: String, joinRef: JSONValue, socket: PhoenixSocket) {
            self.id = id
            self.topic = topic
            self.joinRef = joinRef
            self.socket = socket
        }

        func deliver(_ broadcast: EncodedBroadcast) { socket.deliver(broadcast, to: self) }
    }

    /// The socket's own id topic (`socket.lua`'s `id`): a `disconnect` broadcast there closes it.
    private final class IdentitySubscriber: TopicSubscriber {
        weak var socket: PhoenixSocket?
        func deliver(_ broadcast: EncodedBroadcast) {
            guard broadcast.event == "disconnect" else { return }  // Phoenix ignores other events there
            socket?.transport?.close(.disconnected)
        }
    }

    public let context: SocketContext
    private let serializer: any MessageSerializer
    private let serializerVersion: SerializerVersion
    private let runtime: LoopRuntime
    private let logger: Logger
    /// What frames go out on: the server's WebSocket connection, or an in-memory one (`InProcessEndpoint`).
    private var transport: PhoenixTransport?
    private var channels = JoinedChannels()
    /// `phx.send_after` calls made inside `join`, before the channel is registered: scheduled once the join succeeds.
    /// The channel whose `terminate` is running (already removed from `channels`), so it can still broadcast.
    private var terminating: JoinedChannel?
    private var timersFromJoin: [(channel: ChannelID, timer: TimerID, milliseconds: Int)]?
    private let identity = IdentitySubscriber()

    public init(context: SocketContext, serializerVersion: SerializerVersion, runtime: LoopRuntime, logger: Logger) {
        self.context = context
        self.serializerVersion = serializerVersion
        self.serializer = serializerVersion.serializer
        self.runtime = runtime
        self.logger = logger
    }

    /// This socket's loop counters (the transport adds its own, e.g. close codes).
    public var metrics: LoopMetrics { runtime.metrics }

    // MARK: Transport events (any PhoenixTransport)

    /// The transport is ready: frames can go out.
    public func open(_ transport: PhoenixTransport) {
        self.transport = transport
        runtime.sockets[ObjectIdentifier(self)] = self  // hot reload walks a loop's sockets
        if let id = context.id {
            identity.socket = self
            runtime.subscriptions.subscribe(identity, to: id)
        }
    }

    /// One frame from the client.
    public func receive(_ frame: PhoenixFrame) {
        let decoded: Message
        let metrics = runtime.metrics
        metrics.messagesIn &+= 1
        metrics.bytesIn &+= frame.bytes.readableBytes
        do {
            switch frame {
            case .text(let buffer): decoded = try buffer.withUnsafeReadableBytes { try serializer.decodeText($0) }
            case .binary(let buffer): decoded = try buffer.withUnsafeReadableBytes { try serializer.decodeBinary($0) }
            }
        } catch {
            // PROTOCOL.md rule 7: undecodable input closes the socket with 1007 and says why.
            logger.warning("undecodable Phoenix message", metadata: ["conn": "\(transport?.id ?? "?")", "error": "\(error)"])
            transport?.close(.undecodable("\(error)"))
            return
        }
        handle(decoded)
    }

    /// The transport is gone: every channel terminates with `shutdown:closed`.
    public func closed() {
        for channel in channels.all {
            remove(channel, terminating: "shutdown:closed")  // Phoenix: {:shutdown, :closed}
        }
        if let id = context.id { runtime.subscriptions.unsubscribe(identity, from: id) }
        runtime.sockets[ObjectIdentifier(self)] = nil
        self.transport = nil
    }

    // MARK: Incoming messages (Phoenix.Socket handle_in, in its clause order)

    private func handle(_ message: Message) {
        if message.topic == "phoenix" && message.event == PhoenixEvent.heartbeat {
            return sendReply(joinRef: .null, ref: message.ref, topic: "phoenix", status: "ok", response: .emptyObject)
        }
        switch (message.event, channels[topic: message.topic]) {
        case (PhoenixEvent.join, let existing):
            join(message, replacing: existing)
        case (PhoenixEvent.leave, let channel?):
            sendReply(joinRef: channel.joinRef, ref: message.ref, topic: channel.topic, status: "ok", response: .emptyObject)
            remove(channel, terminating: "shutdown:left")
            send(.channelClose(joinRef: channel.joinRef, topic: channel.topic))
        case (PhoenixEvent.leave, nil):
            sendReply(joinRef: .null, ref: message.ref, topic: message.topic, status: "ok", response: .emptyObject)
        case (_, let channel?):
            let start = LoopMetrics.now()
            let result = runtime.vm.handleIn(channel.id, event: message.event, payload: message.payload, ref: message.ref)
            runtime.metrics.callbackTime.record(nanoseconds: LoopMetrics.now() - start)
            apply(result, to: channel, replyRef: message.ref)
        case (_, nil):
            sendUnmatched(message)
        }
    }

    private func join(_ message: Message, replacing existing: JoinedChannel?) {
        guard let script = runtime.registry.route(message.topic) else {
            return sendUnmatched(message)
        }
        // Phoenix 1.4: the join message's ref becomes the channel's join_ref.
        let joinRef = message.ref
        // Phoenix 1.8.9+: a cap on channels per socket, so one client can't fill the VM with joins.
        if existing == nil && channels.count >= runtime.maxChannelsPerSocket {
            logger.warning("too many channels joined", metadata: ["topic": "\(message.topic)", "limit": "\(runtime.maxChannelsPerSocket)"])
            return sendReply(joinRef: joinRef, ref: message.ref, topic: message.topic, status: "error",
                               response: .object(["reason": .string("too many channels joined")]))
        }
        if let existing { remove(existing, terminating: "shutdown:duplicate_join") }
        timersFromJoin = []
        defer { timersFromJoin = nil }
        let start = LoopMetrics.now()
        defer { runtime.metrics.callbackTime.record(nanoseconds: LoopMetrics.now() - start) }
        let (id, result) = runtime.vm.join(
            script: script,
            topic: message.topic,
            payload: message.payload,
            joinRef: joinRef,
            socket: context,
            host: self
        )
        switch result {
        case .ok(let response):
            if let id {
                let channel = JoinedChannel(id: id, topic: message.topic, joinRef: joinRef, socket: self)
                channel.pattern = script.topics.first { $0.matches(message.topic) }?.description ?? message.topic
                runtime.metrics.joinedByPattern[channel.pattern, default: 0] += 1
                channels.add(channel)
                runtime.subscriptions.subscribe(channel, to: message.topic)
                for pending in timersFromJoin ?? [] where pending.channel == id {
                    scheduleTimer(id, timer: pending.timer, afterMilliseconds: pending.milliseconds)
                }
            }
            sendReply(joinRef: joinRef, ref: message.ref, topic: message.topic, status: "ok", response: response)
        case .error(let response):
            sendReply(joinRef: joinRef, ref: message.ref, topic: message.topic, status: "error", response: response)
        case .crashed(let error):
            logger.error("join crashed: \(error)", metadata: ["conn": "\(transport?.id ?? "?")", "topic": "\(message.topic)"])
            runtime.metrics.scriptErrors &+= 1
            runtime.scriptErrorObserver?(error)
            sendReply(joinRef: joinRef, ref: message.ref, topic: message.topic, status: "error",
                        response: .object(["reason": .string("join crashed")]))
        }
        // Duplicate join (PROTOCOL.md rule 5): the new reply first, then phx_close for the old join_ref.
        if let existing { send(.channelClose(joinRef: existing.joinRef, topic: existing.topic)) }
    }

    private func sendUnmatched(_ message: Message) {
        sendReply(joinRef: .null, ref: message.ref, topic: message.topic, status: "error",
                    response: .object(["reason": .string("unmatched topic")]))
    }

    /// Phoenix.Channel.Server's handling of a callback result.
    private func apply(_ result: CallbackResult, to channel: JoinedChannel, replyRef: JSONValue?) {
        guard channels.contains(channel) else { return }  // left or crashed meanwhile
        switch result {
        case .noreply:
            break
        case .reply(let status, let response):
            guard let replyRef else {
                logger.warning("reply outside handle_in ignored", metadata: ["topic": "\(channel.topic)"])
                return
            }
            sendReply(joinRef: channel.joinRef, ref: replyRef, topic: channel.topic, status: status, response: response)
        case .stop(let reason, let reply):
            if let reply, let replyRef {
                sendReply(joinRef: channel.joinRef, ref: replyRef, topic: channel.topic, status: reply.status,
                            response: reply.response)
            }
            remove(channel, terminating: reason)
            if isCleanStop(reason) {
                send(.channelClose(joinRef: channel.joinRef, topic: channel.topic))
            } else {
                logger.error("channel stopped: \(reason)", metadata: ["topic": "\(channel.topic)"])
                send(.channelError(joinRef: channel.joinRef, topic: channel.topic))
            }
        case .crashed(let error):
            logger.error("channel crashed: \(error)", metadata: ["conn": "\(transport?.id ?? "?")", "topic": "\(channel.topic)"])
            runtime.metrics.scriptErrors &+= 1
            runtime.scriptErrorObserver?(error)
            remove(channel, terminating: nil)
            send(.channelError(joinRef: channel.joinRef, topic: channel.topic))
        }
    }

    /// Forgets a channel; runs `terminate(reason)` unless it crashed (`reason` nil).
    private func remove(_ channel: JoinedChannel, terminating reason: String?) {
        guard channels.contains(channel) else { return }
        channels.remove(channel)
        runtime.metrics.joinedByPattern[channel.pattern, default: 1] -= 1
        runtime.subscriptions.unsubscribe(channel, from: channel.topic)
        for timer in channel.timers.values { timer.cancel() }
        channel.timers.removeAll()
        if let reason {
            // terminate may still broadcast (e.g. "I left"), as in Phoenix; it is unsubscribed already.
            terminating = channel
            defer { terminating = nil }
            runtime.vm.terminate(channel.id, reason: reason)
        } else {
            runtime.vm.discard(channel.id)
        }
    }

    /// Hot reload: the script `scriptName` was deleted, so its joined channels end as if they
    /// crashed (no terminate; the client gets phx_error). Returns how many. Call on this loop.
    public func closeChannels(ofScript scriptName: String) -> Int {
        let doomed = channels.all.filter { runtime.vm.scriptName(of: $0.id) == scriptName }
        for channel in doomed {
            remove(channel, terminating: nil)
            send(.channelError(joinRef: channel.joinRef, topic: channel.topic))
        }
        return doomed.count
    }

    // MARK: Broadcasts

    fileprivate func deliver(_ broadcast: EncodedBroadcast, to channel: JoinedChannel) {
        guard channels.contains(channel) else { return }
        if runtime.vm.intercepts(channel.id, event: broadcast.event) {
            let result = runtime.vm.handleOut(channel.id, event: broadcast.event, payload: broadcast.payload)
            apply(result, to: channel, replyRef: nil)
        } else if let frame = broadcast.frame(for: serializerVersion), let transport {
            let metrics = runtime.metrics
            metrics.messagesOut &+= 1
            metrics.bytesOut &+= frame.frame.bytes.readableBytes
            transport.send(frame)
        }
    }

    // MARK: Sending

    private func sendReply(joinRef: JSONValue, ref: JSONValue, topic: String, status: String, response: JSONValue) {
        runtime.metrics.countReply(status: status)
        send(.reply(joinRef: joinRef, ref: ref, topic: topic, status: status, response: response))
    }

    private func send(_ message: Message) {
        guard let transport else { return }
        // Encoded into the loop's scratch array (its capacity survives), then copied once into the
        // outbound buffer: no array growth and reallocation per message.
        runtime.encodeScratch.removeAll(keepingCapacity: true)
        let kind: FrameKind
        do {
            kind = try serializer.encode(message, into: &runtime.encodeScratch)
        } catch {
            logger.error("cannot encode \(message.event) on \(message.topic): \(error)")
            return
        }
        let metrics = runtime.metrics
        metrics.messagesOut &+= 1
        metrics.bytesOut &+= runtime.encodeScratch.count
        var buffer = transport.makeFrameBuffer(capacity: runtime.encodeScratch.count)
        buffer.writeBytes(runtime.encodeScratch)
        if runtime.encodeScratch.capacity > 1 << 16 { runtime.encodeScratch = [] }  // don't keep a huge one
        transport.send(kind == .text ? .text(buffer) : .binary(buffer))
    }
}

// MARK: - What channels ask of the socket (ChannelHost)

extension PhoenixSocket: ChannelHost {
    public func push(_ id: ChannelID, event: String, payload: Payload) {
        guard let channel = channels[id: id] else { return }
        send(.push(joinRef: channel.joinRef, topic: channel.topic, event: event, payload: payload))
    }

    public func broadcast(_ id: ChannelID, event: String, payload: Payload, excludeSelf: Bool) {
        guard let channel = channels[id: id] ?? terminating.flatMap({ $0.id == id ? $0 : nil }) else { return }
        runtime.pubSub.broadcast(topic: channel.topic, event: event, payload: payload, excluding: excludeSelf ? channel : nil)
    }

    public func asyncReply(_ id: ChannelID, ref: JSONValue, status: String, response: JSONValue) {
        guard let channel = channels[id: id] else { return }
        sendReply(joinRef: channel.joinRef, ref: ref, topic: channel.topic, status: status, response: response)
    }

    public func scheduleTimer(_ id: ChannelID, timer: TimerID, afterMilliseconds milliseconds: Int) {
        if channels[id: id] == nil, timersFromJoin != nil {
            timersFromJoin?.append((id, timer, milliseconds))  // inside join: the channel is not registered yet
            return
        }
        guard let channel = channels[id: id], let transport else { return }
        channel.timers[timer] = transport.schedule(afterMilliseconds: milliseconds) { [weak self, weak channel] in
            guard let self, let channel, channel.timers.removeValue(forKey: timer) != nil else { return }
            let result = self.runtime.vm.fireTimer(channel.id, timer: timer)
            self.apply(result, to: channel, replyRef: nil)
        }
    }

    public func cancelTimer(_ timer: TimerID) {
        timersFromJoin?.removeAll { $0.timer == timer }
        for channel in channels.all {
            channel.timers.removeValue(forKey: timer)?.cancel()
        }
    }
}
