import Foundation
import Logging
import NIOCore
import PhoenixChannels
import PhoenixProtocol
import RedisClient

/// This node's membership in a cluster on Redis (docs/cluster-design.md): one publisher connection for every
/// message it sends (so its messages reach every node in the order it sent them), one subscriber on the cluster's
/// channels, heartbeats, the table of other nodes with down detection, and loss accounting by sequence numbers.
///
/// All state lives on `eventLoop` (the loop of both Redis connections): no locks. Broadcasts from other loops hop
/// there once each; the loop's task queue is FIFO, so each loop's order is kept.
public final class ClusterNode: @unchecked Sendable {
    /// What a node is told at start.
    public struct Settings: Sendable {
        public var cluster: String
        public var identity: NodeIdentity
        public var heartbeatInterval: TimeAmount
        public var downAfter: TimeAmount
        /// A node down this long is forgotten (Phoenix.Tracker's `permdown_period`, 20 minutes): names that never
        /// come back (default names are new at every start) must not pile up in the tables.
        public var forgetAfter: TimeAmount = .minutes(20)

        public init(cluster: String, identity: NodeIdentity, heartbeatInterval: TimeAmount, downAfter: TimeAmount) {
            self.cluster = cluster
            self.identity = identity
            self.heartbeatInterval = heartbeatInterval
            self.downAfter = downAfter
        }
    }

    /// Which of the cluster's channels a message came on (the label of the loss counter).
    public enum ChannelKind: String, Sendable, CaseIterable {
        case broadcast = "bcast"
        case tracker
        case node
    }

    /// Counters, on `eventLoop`.
    public struct Counters: Sendable {
        /// `PUBLISH`es Redis accepted, and those that failed (refused while disconnected, or lost in flight).
        public var published = 0
        public var publishFailed = 0
        /// Broadcasts from other nodes delivered here.
        public var received = 0
        /// Messages from other nodes that never arrived (gaps in their sequence numbers), by channel.
        public var lost: [ChannelKind: Int] = [:]
        /// Messages not used, by reason: `version` (unknown format version), `malformed`, `kind` (not handled here).
        public var dropped: [String: Int] = [:]
        /// Time from publishing a broadcast to receiving it back from Redis: the leg every node pays.
        public var lag = LoopHistogram(boundsNanoseconds: [
            100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000, 25_000_000, 50_000_000,
            100_000_000, 250_000_000, 1_000_000_000,
        ])
    }

    /// A picture of the node, taken on its loop (`/metrics`, `GET /api/cluster`).
    public struct Status: Sendable {
        public var settings: Settings
        public var publisherConnected: Bool
        public var subscriberConnected: Bool
        public var counters: Counters
        /// The other nodes, by name.
        public var nodes: [NodeReplica]
        /// Nodes up, this one included.
        public var nodesUp: Int { 1 + nodes.filter { $0.status == .up }.count }
    }

    public let settings: Settings
    public var identity: NodeIdentity { settings.identity }
    public let channels: ClusterChannels
    /// The loop every piece of state, both connections and every callback live on.
    public let eventLoop: EventLoop
    private let local: PubSub
    private let logger: Logger
    private let publisher: RedisConnection
    private let subscriber: RedisSubscriber

    private var sequences: [String: UInt64] = [:]
    private var table = NodeTable()
    private var counters = Counters()
    private var publisherConnected = false
    private var subscriberConnected = false
    /// Own broadcasts on their way through Redis (sequence number, when published), for the lag histogram.
    private var inFlight = CircularBuffer<(sequence: UInt64, sentAt: NIODeadline)>(initialCapacity: 64)
    /// Whether a loss was logged since our subscriber last connected (later ones only go to debug).
    private var lossLogged = false
    private var publishFailureLogged = false
    private var nameClashLogged = false
    private var heartbeat: Scheduled<Void>?
    private var downCheck: RepeatedTask?
    private var lastTick = NIODeadline.now()
    private var leaving = false
    /// This node's presences, replicated to the others (`replicate(_:)`), and theirs as held here.
    private var presence: PresenceTracker?
    private var replicas: PresenceReplicas
    /// The clock of the last `pd` this node published (a heartbeat's `c`).
    private var publishedClock: UInt64 = 0
    /// Who handles each kind of direct message (LongPoll forwarding, presence transfer).
    private var directHandlers: [String: (ClusterHeader, ByteBuffer) -> Void] = [:]

    public init(settings: Settings, redis: RedisConfiguration, eventLoop: EventLoop, local: PubSub, logger: Logger) {
        self.settings = settings
        self.channels = ClusterChannels(cluster: settings.cluster)
        self.eventLoop = eventLoop
        self.local = local
        self.replicas = PresenceReplicas(retryAfter: .nanoseconds(2 * settings.heartbeatInterval.nanoseconds))
        var logger = logger
        logger[metadataKey: "node"] = "\(settings.identity.name)"
        self.logger = logger
        // The connections call back into this node, which does not exist yet: through a relay.
        let relay = Relay()
        publisher = RedisConnection(
            configuration: redis, eventLoop: eventLoop, logger: logger,
            onStateChange: { state in relay.node?.publisherChanged(state) })
        subscriber = RedisSubscriber(
            configuration: redis, eventLoop: eventLoop, logger: logger,
            onMessage: { message in relay.node?.receive(message) },
            onStateChange: { state in relay.node?.subscriberChanged(state) })
        relay.node = self
    }

    private final class Relay: PresenceReplication, @unchecked Sendable {
        weak var node: ClusterNode?

        func publish(_ delta: PresenceDelta, clock: UInt64) {
            node?.publishPresenceDiff(delta, clock: clock)
        }
    }

    /// Replicates `tracker`'s presences to the other nodes and lists theirs in it. Call before `start`.
    public func replicate(_ tracker: PresenceTracker) {
        let relay = Relay()
        relay.node = self
        tracker.replication = relay
        eventLoop.execute { [self] in presence = tracker }
    }

    /// Connects both connections, subscribes and starts heartbeats and down detection. The future succeeds once
    /// the first attempts are over, connected or not: without Redis the node serves its own clients and keeps
    /// reconnecting in the background.
    public func start() -> EventLoopFuture<Void> {
        eventLoop.flatSubmit { [self] in
            lastTick = .now()
            scheduleHeartbeat()
            let tick = TimeAmount.nanoseconds(min(250_000_000, settings.downAfter.nanoseconds / 4))
            downCheck = eventLoop.scheduleRepeatedTask(initialDelay: tick, delay: tick) { [self] _ in
                checkForDownNodes()
            }
            // Remembered while not connected yet: subscribed on (every) connection before it counts as up.
            _ = subscriber.subscribe([channels.broadcast, channels.tracker, channels.node(identity.name)])
            let attempts = [publisher.connect(), subscriber.connect()].map { attempt in
                attempt.flatMapErrorThrowing { [logger] error in
                    logger.error("cluster: Redis not reachable yet (\(error)); serving local clients, retrying")
                }
            }
            return EventLoopFuture.andAllComplete(attempts, on: eventLoop)
        }
    }

    /// Graceful leave: says goodbye (the others drop this node at once), then closes both connections.
    public func leave() -> EventLoopFuture<Void> {
        eventLoop.flatSubmit { [self] in
            leaving = true
            heartbeat?.cancel()
            downCheck?.cancel()
            let bye = publisherConnected
                ? publish(.goodbye, on: channels.tracker, body: nil) { _ in } : eventLoop.makeSucceededVoidFuture()
            let timeout = eventLoop.makePromise(of: Void.self)
            let timer = eventLoop.scheduleTask(in: .seconds(1)) { timeout.succeed() }
            bye.whenComplete { _ in timer.cancel(); timeout.succeed() }
            return timeout.futureResult.flatMap { [self] in
                publisher.close().and(subscriber.close()).map { _ in }.recover { _ in }
            }
        }
    }

    /// Sends a broadcast to the other nodes (the caller has delivered it locally). Thread-safe.
    public func publishBroadcast(topic: String, event: String, payload: Payload) {
        let body: ByteBuffer
        let binary: Bool
        switch payload {
        case .json(let value):
            guard let bytes = try? JSONWriter.encode(value) else {
                return logger.warning("cluster: broadcast \(event) on \(topic) not sent: its payload is not JSON")
            }
            body = ByteBuffer(bytes: bytes)
            binary = false
        case .binary(let bytes):
            body = ByteBuffer(bytes: bytes)
            binary = true
        }
        eventLoop.execute { [self] in
            _ = publish(.broadcast, on: channels.broadcast, body: body) { header in
                header.topic = topic
                header.event = event
                header.binaryBody = binary
            }
        }
    }

    /// Sends a change of this node's presences (called under the tracker's lock, in clock order: one hop, FIFO).
    private func publishPresenceDiff(_ delta: PresenceDelta, clock: UInt64) {
        eventLoop.execute { [self] in
            publishedClock = clock
            guard let body = try? JSONWriter.encode(delta.payload) else {
                return logger.warning("cluster: presence diff on \(delta.topic) not sent: its metas are not JSON")
            }
            _ = publish(.presenceDiff, on: channels.broadcast, body: ByteBuffer(bytes: body)) { header in
                header.topic = delta.topic
                header.clock = Int64(truncatingIfNeeded: clock)
            }
        }
    }

    /// The node's picture now.
    public func status() -> EventLoopFuture<Status> {
        eventLoop.submit { [self] in
            Status(
                settings: settings, publisherConnected: publisherConnected, subscriberConnected: subscriberConnected,
                counters: counters, nodes: table.replicas.values.sorted { $0.name < $1.name })
        }
    }

    // MARK: Direct messages

    /// Hands every direct message of `kind` that reaches this node (on its `node:` channel) to `handler`, on
    /// `eventLoop`. Register before `start`.
    public func handleDirect(_ kind: ClusterHeader.Kind, _ handler: @escaping (ClusterHeader, ByteBuffer) -> Void) {
        eventLoop.execute { [self] in directHandlers[kind.rawValue] = handler }
    }

    /// Sends a message to node `name` alone, on its `node:` channel, numbered in that channel's sequence.
    /// Call on `eventLoop`; the future fails when Redis did not take it (counted in `publishFailed`).
    public func sendDirect(
        _ kind: ClusterHeader.Kind, to name: String, body: ByteBuffer?, fill: (inout ClusterHeader) -> Void
    ) -> EventLoopFuture<Void> {
        eventLoop.preconditionInEventLoop()
        return publish(kind, on: channels.node(name), body: body, fill: fill)
    }

    /// The other node named `name` as this node knows it (nil: never heard of, or it said goodbye). On `eventLoop`.
    public func peer(_ name: String) -> NodeReplica? {
        eventLoop.preconditionInEventLoop()
        return table.replicas[name]
    }

    // MARK: Sending (on eventLoop)

    /// Publishes one message with the next sequence number of `channel`. A failure is counted here and keeps its
    /// number: the receivers count it as lost, so their counter is exactly what they missed.
    private func publish(
        _ kind: ClusterHeader.Kind, on channel: String, body: ByteBuffer?, fill: (inout ClusterHeader) -> Void
    ) -> EventLoopFuture<Void> {
        let sequence = (sequences[channel] ?? 0) + 1
        sequences[channel] = sequence
        var header = ClusterHeader(kind: kind, origin: identity, sequence: sequence)
        fill(&header)
        if kind == .broadcast {
            if inFlight.count >= 10_000 { inFlight.removeFirst() }
            inFlight.append((sequence, .now()))
        }
        let command = RedisCommand(["PUBLISH", .string(channel), .bytes(header.message(body: body))])
        return publisher.send(command).map { [self] _ in
            counters.published += 1
        }.flatMapErrorThrowing { [self] error in
            counters.publishFailed += 1
            if !publishFailureLogged {
                publishFailureLogged = true
                logger.warning("""
                    cluster: messages to other nodes not sent (\(error)); counted in cluster_publish_failed_total \
                    until Redis is back
                    """)
            }
            throw error
        }
    }

    private func scheduleHeartbeat() {
        // Staggered by up to 25 % so the nodes' heartbeats spread out (Phoenix's jitter).
        let interval = Double(settings.heartbeatInterval.nanoseconds) * Double.random(in: 0.75...1.0)
        heartbeat = eventLoop.scheduleTask(in: .nanoseconds(Int64(interval))) { [self] in
            sendHeartbeat()
            scheduleHeartbeat()
        }
    }

    private func sendHeartbeat() {
        // While the publisher is down a heartbeat would only fail: no number is spent on it.
        guard publisherConnected, !leaving else { return }
        let lastBroadcast = sequences[channels.broadcast] ?? 0
        _ = publish(.heartbeat, on: channels.tracker, body: nil) { header in
            header.clock = Int64(truncatingIfNeeded: publishedClock)
            header.presences = Int64(presence?.localClock.presences ?? 0)
            header.broadcastSequence = lastBroadcast
        }
    }

    // MARK: Receiving (on eventLoop)

    private func receive(_ message: RedisPubSubMessage) {
        let header: ClusterHeader, body: ByteBuffer
        do {
            (header, body) = try ClusterHeader.parse(message.payload)
        } catch {
            switch error {
            case .version(let version):
                counters.dropped["version", default: 0] += 1
                logger.debug("cluster: dropped a message of format version \(version) on \(message.channel)")
            case .malformed(let why):
                counters.dropped["malformed", default: 0] += 1
                logger.debug("cluster: dropped a malformed message on \(message.channel): \(why)")
            }
            return
        }
        if header.origin == identity.name {
            if header.incarnation == identity.incarnation {
                // Our own message back from Redis: already delivered here; it times the Redis leg.
                if header.kind == ClusterHeader.Kind.broadcast.rawValue { measureLag(header.sequence) }
                return
            }
            if !nameClashLogged {
                nameClashLogged = true
                logger.error(
                    "cluster: another node uses this node's name \(identity.name) (incarnation \(header.incarnation))")
            }
        }
        let arrival = table.heard(name: header.origin, incarnation: header.incarnation, at: .now())
        if let old = arrival.replaced {
            logger.notice(
                "cluster: node \(header.origin) restarted (incarnation \(old.incarnation) → \(header.incarnation))")
        } else if arrival.isNew {
            logger.info("cluster: node \(header.origin) joined")
        }
        if arrival.cameBack { logger.notice("cluster: node \(header.origin) is up again") }
        let now = NIODeadline.now()
        apply(replicas.heard(from: header.origin, incarnation: header.incarnation), from: header.origin)
        let kind = kind(of: message.channel)
        countLoss(table.record(sequence: header.sequence, from: header.origin, on: message.channel), kind, header)
        switch ClusterHeader.Kind(rawValue: header.kind) {
        case .broadcast?:
            deliver(header, body: body)
        case .heartbeat?:
            table.recordHeartbeat(
                from: header.origin, clock: header.clock ?? 0, presences: header.presences ?? 0, at: Date())
            if let last = header.broadcastSequence, last > 0 {
                let gap = table.record(lastSequence: last, from: header.origin, on: channels.broadcast)
                countLoss(gap, .broadcast, header)
            }
            let clock = UInt64(clamping: header.clock ?? 0)
            apply(replicas.heartbeat(clock: clock, from: header.origin, at: now), from: header.origin)
        case .goodbye?:
            _ = table.remove(header.origin)
            apply(replicas.remove(header.origin), from: header.origin)
            logger.notice("cluster: node \(header.origin) left")
        case .presenceDiff?:
            guard let topic = header.topic, let clock = header.clock, clock > 0,
                let payload = parseJSON(body),
                let delta = PresenceDelta(topic: topic, payload: payload, owner: PresenceReplicas.owner(header.origin))
            else { return dropMalformed(header) }
            apply(replicas.diff(delta, clock: UInt64(clock), from: header.origin, at: now), from: header.origin)
        case .stateRequest? where kind == .node:
            sendState(to: header.origin)
        case .state? where kind == .node:
            guard let clock = header.clock, clock >= 0, let state = parseJSON(body),
                let entries = Self.entries(of: state, owner: PresenceReplicas.owner(header.origin))
            else { return dropMalformed(header) }
            apply(replicas.state(entries, clock: UInt64(clock), from: header.origin), from: header.origin)
        case .longPollRequest?, .longPollReply?:
            guard kind == .node, let handler = directHandlers[header.kind] else {
                counters.dropped["kind", default: 0] += 1
                return
            }
            handler(header, body)
        case .stateRequest?, .state?, nil:
            counters.dropped["kind", default: 0] += 1
        }
    }

    // MARK: Presence replication (on eventLoop)

    /// Applies the rules' outcome: the deltas to the tracker (which tells local subscribers), then a `sync?`.
    private func apply(_ outcome: PresenceReplicas.Outcome, from origin: String) {
        if let presence { for delta in outcome.deltas { presence.applyRemote(delta) } }
        guard outcome.askForState, presence != nil, publisherConnected, !leaving else { return }
        logger.debug("cluster: asking node \(origin) for its presences")
        _ = sendDirect(.stateRequest, to: origin, body: nil) { _ in }
    }

    /// Answers a `sync?`: this node's own presences, `{"TOPIC":{"KEY":{"metas":[…]}}}`, and the clock they are at.
    private func sendState(to requester: String) {
        guard let presence, publisherConnected, !leaving else { return }
        let (entries, clock) = presence.localState()
        var byTopic: [String: [PresenceEntry]] = [:]
        for entry in entries { byTopic[entry.topic, default: []].append(entry) }
        guard let body = try? JSONWriter.encode(.object(byTopic.mapValues(PresenceEntry.list))) else {
            return logger.warning("cluster: presences for node \(requester) not sent: a meta is not JSON")
        }
        _ = sendDirect(.state, to: requester, body: ByteBuffer(bytes: body)) { header in
            header.clock = Int64(truncatingIfNeeded: clock)
        }
    }

    private static func entries(of state: JSONValue, owner: PresenceOwner) -> [PresenceEntry]? {
        guard case .object(let topics) = state else { return nil }
        var entries: [PresenceEntry] = []
        for (topic, list) in topics {
            guard let listed = PresenceEntry.entries(of: list, topic: topic, owner: owner) else { return nil }
            entries += listed
        }
        return entries
    }

    private func parseJSON(_ body: ByteBuffer) -> JSONValue? {
        let parsed = body.withUnsafeReadableBytes { bytes in
            Result { () throws(JSONParseError) in try JSONParser().parse(bytes) }
        }
        guard case .success(let value) = parsed else { return nil }
        return value
    }

    private func dropMalformed(_ header: ClusterHeader) {
        counters.dropped["malformed", default: 0] += 1
        logger.debug("cluster: dropped a malformed \(header.kind) from node \(header.origin)")
    }

    private func deliver(_ header: ClusterHeader, body: ByteBuffer) {
        guard let topic = header.topic, let event = header.event else {
            counters.dropped["malformed", default: 0] += 1
            return
        }
        let payload: Payload
        if header.binaryBody {
            payload = .binary(Array(body.readableBytesView))
        } else {
            guard let value = parseJSON(body) else {
                counters.dropped["malformed", default: 0] += 1
                logger.debug("cluster: broadcast \(event) on \(topic) from \(header.origin): payload not JSON")
                return
            }
            payload = .json(value)
        }
        counters.received += 1
        table.countReceived(from: header.origin)
        local.broadcast(topic: topic, event: event, payload: payload, excluding: nil)
    }

    private func countLoss(_ gap: UInt64, _ kind: ChannelKind, _ header: ClusterHeader) {
        guard gap > 0 else { return }
        counters.lost[kind] = counters.lost[kind, default: 0].addingSaturated(gap)
        // A lost message may have been a presence diff or a transfer: ask for the state.
        apply(replicas.lost(from: header.origin, at: .now()), from: header.origin)
        let line: Logger.Message = """
            cluster: \(gap) message(s) from node \(header.origin) on \(kind.rawValue) never arrived (Redis pub/sub \
            keeps nothing while a link is down); counted in cluster_messages_lost_total
            """
        if lossLogged {
            logger.debug(line)
        } else {
            lossLogged = true
            logger.warning(line)
        }
    }

    private func measureLag(_ sequence: UInt64) {
        while let first = inFlight.first, first.sequence < sequence { inFlight.removeFirst() }
        guard let first = inFlight.first, first.sequence == sequence else { return }
        inFlight.removeFirst()
        counters.lag.record(nanoseconds: (NIODeadline.now() - first.sentAt).nanoseconds)
    }

    private func kind(of channel: String) -> ChannelKind {
        channel == channels.broadcast ? .broadcast : channel == channels.tracker ? .tracker : .node
    }

    // MARK: Links and liveness (on eventLoop)

    private func publisherChanged(_ state: RedisConnectionState) {
        switch state {
        case .connected:
            publisherConnected = true
            publishFailureLogged = false
        case .disconnected:
            publisherConnected = false
        }
    }

    private func subscriberChanged(_ state: RedisConnectionState) {
        switch state {
        case .connected:
            subscriberConnected = true
            lossLogged = false
            // Whatever we did not hear while away is our silence, not theirs.
            table.resetLastHeard(to: .now())
            logger.info("cluster \(settings.cluster): listening as node \(identity)")
            sendHeartbeat()
        case .disconnected(let cause):
            guard subscriberConnected else { return }
            subscriberConnected = false
            if !leaving {
                logger.warning(
                    "cluster: lost the Redis subscription (\(cause)); local delivery goes on, down detection waits")
            }
        }
    }

    /// Declares down the nodes silent for `downAfter`, except while our own link is down, and not right after a
    /// pause of this process (a tick far later than due means we were stopped, not that they were).
    private func checkForDownNodes() {
        let now = NIODeadline.now()
        defer { lastTick = now }
        guard subscriberConnected, !leaving else { return }
        let sinceLastTick = now - lastTick
        if sinceLastTick > .nanoseconds(settings.downAfter.nanoseconds / 2) {
            table.resetLastHeard(to: now)
            let paused = sinceLastTick.nanoseconds / 1_000_000
            logger.notice("cluster: this process was paused for \(paused) ms; no node is declared down for it")
            return
        }
        for replica in table.markDown(silentSince: now - settings.downAfter) {
            let silent = Double((now - replica.lastHeard).nanoseconds) / 1e9
            logger.warning("cluster: node \(replica.name) is down (silent for \(String(format: "%.1f", silent)) s)")
            apply(replicas.down(replica.name), from: replica.name)
        }
        for replica in table.forget(silentSince: now - settings.forgetAfter) {
            logger.notice("cluster: node \(replica.name) forgotten (down for \(settings.forgetAfter.nanoseconds / 60_000_000_000) min)")
            apply(replicas.remove(replica.name), from: replica.name)  // down already: no leaves left to send
            sequences[channels.node(replica.name)] = nil
        }
    }
}
