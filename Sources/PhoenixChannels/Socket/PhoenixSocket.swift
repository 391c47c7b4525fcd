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
    /// The socket's own id topic (`socket.lua`'s `id`): a `disconnect` broadcast there closes it.
    private final class IdentitySubscriber: TopicSubscriber {
        var socket: PhoenixSocket?  // strong (no side table on the socket), let go in `closed`
        func deliver(_ broadcast: EncodedBroadcast) {
            guard broadcast.event == "disconnect" else { return }  // Phoenix ignores other events there
            socket?.transport?.close(.disconnected)
        }
    }

    public let context: SocketContext
    private let serializerVersion: SerializerVersion
    let runtime: LoopRuntime
    let logger: Logger
    /// What frames go out on: the server's WebSocket connection, or an in-memory one (`InProcessEndpoint`).
    private(set) var transport: PhoenixTransport?
    private var channels = JoinedChannels()
    /// Channels gone from `channels` whose `terminate` runs (or waits), so they can still broadcast;
    /// and channels whose socket closed while a callback waited (terminate runs once it finished).
    private var terminating: [JoinedChannel] = []
    /// `phx.send_after` calls made inside `join` before the channel is registered: scheduled once it is.
    private var timersFromJoin: [(channel: ChannelID, timer: TimerID, milliseconds: Int)]?
    /// Only for a socket with an id (most have none: an idle connection is kept small).
    private var identity: IdentitySubscriber?
    /// Where this socket stands with its message and join rates (PhoenixSocket+RateLimits.swift).
    var rates = SocketRates()

    public init(context: SocketContext, serializerVersion: SerializerVersion, runtime: LoopRuntime, logger: Logger) {
        self.context = context
        self.serializerVersion = serializerVersion
        self.runtime = runtime
        self.logger = logger
    }

    /// This socket's loop counters (the transport adds its own, e.g. close codes).
    public var metrics: LoopMetrics { runtime.metrics }

    // MARK: Transport events (any PhoenixTransport)

    /// The transport is ready: frames can go out.
    public func open(_ transport: PhoenixTransport) {
        self.transport = transport
        rates = SocketRates(limits: runtime.socketLimits, now: transport.now.uptimeNanoseconds)
        runtime.sockets[ObjectIdentifier(self)] = self  // hot reload walks a loop's sockets
        if let id = context.id {
            let identity = IdentitySubscriber()
            identity.socket = self
            self.identity = identity
            runtime.subscriptions.subscribe(identity, to: id)
        }
    }

    /// One frame from the client; undecodable input closes the socket (PROTOCOL.md rule 7: the
    /// WebSocket closes with 1007 and says why).
    public func receive(_ frame: PhoenixFrame) {
        do {
            try decodeAndHandle(frame)
        } catch {
            logger.warning("undecodable Phoenix message", metadata: ["conn": "\(transport?.id ?? "?")", "error": "\(error)"])
            transport?.close(.undecodable("\(error)"))
        }
    }

    /// One frame from the client; undecodable input throws and changes nothing else, so the transport
    /// decides (LongPoll answers the POST that carried it with the error and keeps the session).
    public func decodeAndHandle(_ frame: PhoenixFrame) throws(MessageDecodingError) {
        let decoded: Message
        let metrics = runtime.metrics
        metrics.messagesIn &+= 1
        metrics.bytesIn &+= frame.bytes.readableBytes
        // Through a Result: `withUnsafeReadableBytes` rethrows untyped errors.
        typealias Decoding = Result<Message, MessageDecodingError>
        switch frame {
        case .text(let buffer):
            decoded = try buffer.withUnsafeReadableBytes { bytes in
                Decoding { () throws(MessageDecodingError) in try serializerVersion.serializer.decodeText(bytes) }
            }.get()
        case .binary(let buffer):
            decoded = try buffer.withUnsafeReadableBytes { bytes in
                Decoding { () throws(MessageDecodingError) in try serializerVersion.serializer.decodeBinary(bytes) }
            }.get()
        }
        handle(decoded)
    }

    /// The transport is gone: every channel terminates with `shutdown:closed`. A channel whose
    /// callback waits terminates once that finished (its mail is dropped: nobody is there to answer).
    public func closed() {
        endThrottling()
        for channel in channels.all {
            if channel.waiting != nil {
                detach(channel, closing: "shutdown:closed")
            } else {
                remove(channel, terminating: "shutdown:closed")  // Phoenix: {:shutdown, :closed}
            }
        }
        if let id = context.id, let identity {
            runtime.subscriptions.unsubscribe(identity, from: id)
            identity.socket = nil
        }
        self.transport = nil
        forgetIfDone()
    }

    /// The loop lets go of a closed socket once none of its channels' callbacks waits any more.
    private func forgetIfDone() {
        if transport == nil && terminating.isEmpty { runtime.sockets[ObjectIdentifier(self)] = nil }
    }

    // MARK: Incoming messages (Phoenix.Socket handle_in, in its clause order)

    private func handle(_ message: Message) {
        if message.topic == "phoenix" && message.event == PhoenixEvent.heartbeat {
            return sendReply(joinRef: .null, ref: message.ref, topic: "phoenix", status: "ok", response: .emptyObject)
        }
        let channel = channels[topic: message.topic]
        if let channel, channel.isBusy {
            // Its callback waits: this waits its turn, up to a bound (a client must not fill our memory).
            guard channel.mailbox.count < JoinedChannel.mailboxLimit else {
                logger.warning("mailbox full: message refused", metadata: ["topic": "\(channel.topic)", "event": "\(message.event)"])
                return sendReply(joinRef: channel.joinRef, ref: message.ref, topic: channel.topic, status: "error",
                                 response: .object(["reason": .string("mailbox full")]))
            }
            channel.mailbox.append(.message(message))
            return
        }
        dispatch(message, to: channel)
    }

    /// Handles a message for `channel` (the topic's channel, nil when none), which is not busy.
    private func dispatch(_ message: Message, to channel: JoinedChannel?) {
        switch (message.event, channel) {
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
            if case .suspended = result {
                channel.waiting = .handleIn(ref: message.ref)
                return
            }
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
        // Each join runs a script: a socket may start only so many a second (the socket stays open).
        guard admitJoin(topic: message.topic) else {
            return sendReply(joinRef: joinRef, ref: message.ref, topic: message.topic, status: "error",
                             response: .object(["reason": .string("rate limited")]))
        }
        // Phoenix 1.8.9+: a cap on channels per socket, so one client can't fill the VM with joins.
        if existing == nil && channels.count >= runtime.maxChannelsPerSocket {
            logger.warning("too many channels joined", metadata: ["topic": "\(message.topic)", "limit": "\(runtime.maxChannelsPerSocket)"])
            return sendReply(joinRef: joinRef, ref: message.ref, topic: message.topic, status: "error",
                               response: .object(["reason": .string("too many channels joined")]))
        }
        if let existing { remove(existing, terminating: "shutdown:duplicate_join") }
        timersFromJoin = []
        let start = LoopMetrics.now()
        let (id, result) = runtime.vm.join(
            script: script,
            topic: message.topic,
            payload: message.payload,
            joinRef: joinRef,
            socket: context,
            host: self
        )
        runtime.metrics.callbackTime.record(nanoseconds: LoopMetrics.now() - start)
        let pendingTimers = timersFromJoin ?? []
        timersFromJoin = nil
        var channel: JoinedChannel?
        if let id {
            let joined = JoinedChannel(id: id, topic: message.topic, joinRef: joinRef, socket: self)
            joined.pattern = script.topics.first { $0.matches(message.topic) }?.description ?? message.topic
            channels.add(joined)
            for pending in pendingTimers where pending.channel == id {
                scheduleTimer(id, timer: pending.timer, afterMilliseconds: pending.milliseconds)
            }
            channel = joined
        }
        if case .suspended = result, let channel {
            // The join waits: messages for the topic queue in its mailbox until it is answered.
            channel.joined = false
            channel.waiting = .join(ref: message.ref, replacing: existing?.joinRef)
            return
        }
        finishJoin(result, channel: channel, topic: message.topic, joinRef: joinRef, ref: message.ref,
                   replacing: existing?.joinRef)
    }

    /// Answers a join (at once, or when a join that waited finished) and opens or forgets the channel.
    private func finishJoin(
        _ result: JoinResult, channel: JoinedChannel?, topic: String, joinRef: JSONValue, ref: JSONValue,
        replacing: JSONValue?
    ) {
        switch result {
        case .ok(let response):
            if let channel {
                channel.joined = true
                runtime.metrics.joinedByPattern[channel.pattern, default: 0] += 1
                runtime.subscriptions.subscribe(channel, to: topic)
            }
            sendReply(joinRef: joinRef, ref: ref, topic: topic, status: "ok", response: response)
        case .error(let response):
            sendReply(joinRef: joinRef, ref: ref, topic: topic, status: "error", response: response)
        case .crashed(let error):
            logger.error("join crashed: \(error)", metadata: ["conn": "\(transport?.id ?? "?")", "topic": "\(topic)"])
            runtime.metrics.scriptErrors &+= 1
            runtime.scriptErrorObserver?(error)
            sendReply(joinRef: joinRef, ref: ref, topic: topic, status: "error",
                        response: .object(["reason": .string("join crashed")]))
        case .suspended:
            break
        }
        if let channel, !channel.joined { forget(channel) }
        // Duplicate join (PROTOCOL.md rule 5): the new reply first, then phx_close for the old join_ref.
        if let replacing { send(.channelClose(joinRef: replacing, topic: topic)) }
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
        case .suspended:
            break
        }
    }

    /// Forgets a channel; runs `terminate(reason)` unless it crashed (`reason` nil).
    private func remove(_ channel: JoinedChannel, terminating reason: String?) {
        guard channels.contains(channel) else { return }
        forget(channel)
        if let reason {
            runTerminate(channel, reason: reason)
        } else {
            runtime.vm.discard(channel.id)
            ended(channel)
        }
    }

    /// Runs `terminate` of a channel already off the socket. It may still broadcast (e.g. "I left"), as
    /// in Phoenix, and may wait: the channel then lives on in the VM until it finished.
    private func runTerminate(_ channel: JoinedChannel, reason: String) {
        terminating.append(channel)
        if runtime.vm.terminate(channel.id, reason: reason) {
            terminating.removeAll { $0 === channel }
            ended(channel)
        } else {
            channel.waiting = .terminate
        }
    }

    /// The channel is gone for good (its terminate, if any, finished): as Phoenix.Tracker on the channel
    /// process's exit, its presences are untracked and every other member gets the leave diff.
    private func ended(_ channel: JoinedChannel) {
        guard let owner = channel.presenceOwner else { return }
        channel.presenceOwner = nil
        runtime.presence.untrackAll(owner)
    }

    /// Takes a channel off the socket: unsubscribed, timers cancelled. Its queued client messages
    /// are handled again as if they had just arrived (a later join of the topic, or "unmatched topic").
    private func forget(_ channel: JoinedChannel) {
        guard channels.contains(channel) else { return }
        channels.remove(channel)
        if channel.joined {
            runtime.metrics.joinedByPattern[channel.pattern, default: 1] -= 1
            runtime.subscriptions.unsubscribe(channel, from: channel.topic)
        }
        for timer in channel.timers.values { timer.cancel() }
        channel.timers.removeAll()
        for case .message(let message) in channel.mailbox.takeAll() where transport != nil { handle(message) }
    }

    /// The socket closed while the channel's callback waits: off the socket now, terminated once it finished.
    private func detach(_ channel: JoinedChannel, closing reason: String) {
        _ = channel.mailbox.takeAll()
        forget(channel)
        channel.closing = reason
        terminating.append(channel)
    }

    // MARK: The mailbox

    /// A callback that waited finished (`ChannelHost.callbackFinished`): its result takes effect,
    /// then the channel's mail is handled in order until a callback waits again.
    private func finished(_ channel: JoinedChannel, _ result: SuspendedResult) {
        let waiting = channel.waiting
        channel.waiting = nil
        if case .terminated = result {
            terminating.removeAll { $0 === channel }
            ended(channel)
            return forgetIfDone()
        }
        if let reason = channel.closing {
            // The socket closed while this callback waited: its result goes nowhere, the channel ends now.
            channel.closing = nil
            terminating.removeAll { $0 === channel }
            switch result {
            case .callback(.crashed(let error)):
                logger.error("channel crashed: \(error)", metadata: ["topic": "\(channel.topic)"])
                runtime.vm.discard(channel.id)
                ended(channel)
            case .join(.error), .join(.crashed):
                break  // never joined: nothing to terminate (join can't track)
            default:
                runTerminate(channel, reason: reason)
            }
            return forgetIfDone()
        }
        switch (waiting, result) {
        case (.join(let ref, let replacing)?, .join(let result)):
            finishJoin(result, channel: channel, topic: channel.topic, joinRef: channel.joinRef, ref: ref,
                       replacing: replacing)
        case (.handleIn(let ref)?, .callback(let result)):
            apply(result, to: channel, replyRef: ref)
        case (_, .callback(let result)):
            apply(result, to: channel, replyRef: nil)
        default:
            break
        }
        drain(channel)
    }

    /// Queues a broadcast or a timer for a busy channel; past the bound it is dropped, with a warning.
    private func queue(_ mail: JoinedChannel.Mail, for channel: JoinedChannel) {
        guard channel.mailbox.count < JoinedChannel.mailboxLimit else {
            return logger.warning("mailbox full: broadcast or timer dropped", metadata: ["topic": "\(channel.topic)"])
        }
        channel.mailbox.append(mail)
    }

    /// Handles the channel's mail in arrival order, until a callback waits or the channel is gone.
    private func drain(_ channel: JoinedChannel) {
        while channel.waiting == nil, channels.contains(channel), let mail = channel.mailbox.removeFirst() {
            switch mail {
            case .message(let message): dispatch(message, to: channel)
            case .broadcast(let broadcast): handleOut(broadcast, channel)
            case .timer(let timer): fire(timer, channel)
            }
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

    func deliver(_ broadcast: EncodedBroadcast, to channel: JoinedChannel) {
        guard channels.contains(channel) else { return }
        if runtime.vm.intercepts(channel.id, event: broadcast.event) {
            if channel.isBusy { return queue(.broadcast(broadcast), for: channel) }
            handleOut(broadcast, channel)
        } else if let frame = broadcast.frame(for: serializerVersion), let transport {
            let metrics = runtime.metrics
            metrics.messagesOut &+= 1
            metrics.bytesOut &+= frame.frame.bytes.readableBytes
            transport.send(frame)
        }
    }

    private func handleOut(_ broadcast: EncodedBroadcast, _ channel: JoinedChannel) {
        let result = runtime.vm.handleOut(channel.id, event: broadcast.event, payload: broadcast.payload)
        if case .suspended = result { return channel.waiting = .other }
        apply(result, to: channel, replyRef: nil)
    }

    private func fire(_ timer: TimerID, _ channel: JoinedChannel) {
        let result = runtime.vm.fireTimer(channel.id, timer: timer)
        if case .suspended = result { return channel.waiting = .other }
        apply(result, to: channel, replyRef: nil)
    }

    // MARK: Sending

    /// Sends a reply. Its payload is written straight into the loop's reply scratch (no two-key object built per
    /// reply); the frame around it is the serializer's, as for any pre-encoded payload.
    private func sendReply(joinRef: JSONValue, ref: JSONValue, topic: String, status: String, response: JSONValue) {
        runtime.metrics.countReply(status: status)
        runtime.replyScratch.removeAll(keepingCapacity: true)
        do {
            try JSONWriter.writeReplyPayload(status: status, response: response, into: &runtime.replyScratch)
        } catch {
            return logger.error("cannot encode \(PhoenixEvent.reply) on \(topic): \(error)")
        }
        let reply = Message(joinRef: joinRef, ref: ref, topic: topic, event: PhoenixEvent.reply, payload: .json(.null))
        send(reply, payloadJSON: runtime.replyScratch)
        if runtime.replyScratch.capacity > 1 << 16 { runtime.replyScratch = [] }  // don't keep a huge one
    }

    /// Sends `message`; with `payloadJSON`, those bytes (encoded once for many sockets) are its payload.
    private func send(_ message: Message, payloadJSON: [UInt8]? = nil) {
        guard let transport else { return }
        // Encoded into the loop's scratch array (its capacity survives), then copied once into the
        // outbound buffer: no array growth and reallocation per message.
        runtime.encodeScratch.removeAll(keepingCapacity: true)
        let kind: FrameKind
        do {
            if let payloadJSON {
                try serializerVersion.serializer.encode(message, payloadJSON: payloadJSON, into: &runtime.encodeScratch)
                kind = .text
            } else {
                kind = try serializerVersion.serializer.encode(message, into: &runtime.encodeScratch)
            }
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

    /// A joined channel, or the one whose `terminate` is running (it may still broadcast and untrack).
    private func channelOrTerminating(_ id: ChannelID) -> JoinedChannel? {
        channels[id: id] ?? terminating.first(where: { $0.id == id })
    }

    public func broadcast(_ id: ChannelID, event: String, payload: Payload, excludeSelf: Bool) {
        guard let channel = channelOrTerminating(id) else { return }
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
            if channel.isBusy { return self.queue(.timer(timer), for: channel) }
            self.fire(timer, channel)
        }
    }

    public var monotonicNanoseconds: UInt64 { (transport?.now ?? .now()).uptimeNanoseconds }

    public func cancelTimer(_ timer: TimerID) {
        timersFromJoin?.removeAll { $0.timer == timer }
        for channel in channels.all {
            channel.timers.removeValue(forKey: timer)?.cancel()
        }
    }

    public func changePresence(_ id: ChannelID, topic: String?, key: String, _ change: PresenceChange)
        -> Result<String?, PresenceRefusal>
    {
        guard let channel = channelOrTerminating(id) else { return .failure(.unavailable) }
        let tracker = runtime.presence
        let owner = channel.presenceOwner ?? tracker.newOwner()
        channel.presenceOwner = owner
        let topic = topic ?? channel.topic
        // Phoenix's order (docs/presence.md): the tracker's diff reaches this socket before anything the
        // callback sends next (the joiner's own diff, then its presence_state). PubSub delivers through
        // the loop's task queue, later; so this socket's own subscriber of the topic is left out of the
        // broadcast and gets the diff here, now. An intercepting one gets it through handle_out, after
        // this callback, as in Phoenix (the broadcast waits in the channel's mailbox).
        let own = channels[topic: topic].flatMap {
            runtime.vm.intercepts($0.id, event: PresenceTracker.diffEvent) ? nil : $0
        }
        let outcome = tracker.change(owner, topic: topic, key: key, change, excluding: own)
        if let diff = outcome.sentDiff, own != nil {
            send(.broadcast(topic: topic, event: PresenceTracker.diffEvent, payload: .json(diff)))
        }
        return outcome.result
    }

    public func push(_ id: ChannelID, event: String, listing: PresenceListing) {
        guard let channel = channels[id: id] else { return }
        let message = Message.push(joinRef: channel.joinRef, topic: channel.topic, event: event, payload: .json(.null))
        send(message, payloadJSON: listing.json)  // the bytes put together once for every joiner
    }

    public func callbackFinished(_ id: ChannelID, _ result: SuspendedResult) {
        guard let channel = channelOrTerminating(id) else {
            if case .terminated = result {} else { runtime.vm.discard(id) }  // nobody left to answer
            return
        }
        finished(channel, result)
    }
}
