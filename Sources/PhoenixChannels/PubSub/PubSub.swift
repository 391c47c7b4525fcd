import NIOCore
import PhoenixProtocol

/// A subscriber to a topic: one joined channel of one Phoenix socket (or a socket's own id topic).
public protocol TopicSubscriber: AnyObject {
    /// Delivers a broadcast; called on the subscriber's event loop. The broadcast holds the bytes
    /// already serialized for each serializer, shared by every subscriber (Phoenix's fastlane).
    func deliver(_ broadcast: EncodedBroadcast)
}

/// Phoenix.PubSub.Adapter's seam: where a channel's (or the outside world's) broadcasts go. The
/// node's own `PubSub` fans out to local subscribers; a cluster adapter also carries them to other
/// nodes; `InProcessEndpoint` queues them. Delivery must happen later, never inside the caller's
/// Lua callback (the VM is busy). Presence diffs are broadcasts too (`PresenceTracker`), made under
/// the tracker's lock: `broadcast` must not block or call back into the tracker.
public protocol PubSubAdapter: AnyObject {
    func broadcast(topic: String, event: String, payload: Payload, excluding excluded: TopicSubscriber?)
}

/// A Phoenix frame encoded once for every subscriber of a node, with what the node's transport
/// prepared from it once (the WebSocket frames it once: every socket then writes the same bytes).
public final class SharedFrame: Sendable {
    public let frame: PhoenixFrame
    public let prepared: (any Sendable)?

    init(frame: PhoenixFrame, prepared: (any Sendable)?) {
        self.frame = frame
        self.prepared = prepared
    }
}

/// Encodes broadcasts once per serializer. `prepare` is the node's transport framing an encoded
/// frame once for all its connections (nil: nothing to prepare, e.g. in memory).
public struct BroadcastEncoder: Sendable {
    private let prepare: @Sendable (PhoenixFrame) -> (any Sendable)?

    public init(prepare: @escaping @Sendable (PhoenixFrame) -> (any Sendable)? = { _ in nil }) {
        self.prepare = prepare
    }

    public func encode(topic: String, event: String, payload: Payload, excluding excluded: TopicSubscriber?)
        -> EncodedBroadcast
    {
        encode(topic: topic, event: event, payload: payload, excluding: excluded.map(ObjectIdentifier.init))
    }

    /// As above, the excluded subscriber given by identity (it may live on another loop).
    public func encode(topic: String, event: String, payload: Payload, excluding excluded: ObjectIdentifier?)
        -> EncodedBroadcast
    {
        let message = Message.broadcast(topic: topic, event: event, payload: payload)
        return EncodedBroadcast(
            topic: topic, event: event, payload: payload, excluded: excluded,
            v2: shared((try? V2JSONSerializer().encode(message))), v1: shared(try? V1JSONSerializer().encode(message)))
    }

    private func shared(_ encoded: OutboundFrame?) -> SharedFrame? {
        guard let encoded else { return nil }
        let frame = PhoenixFrame(encoded)
        return SharedFrame(frame: frame, prepared: prepare(frame))
    }
}

/// A broadcast, serialized once per serializer and shared read-only by every subscriber.
public final class EncodedBroadcast: Sendable {
    public let topic: String
    public let event: String
    public let payload: Payload
    /// The publishing subscriber, for `broadcast_from` (compared by identity, never dereferenced).
    public let excluded: ObjectIdentifier?
    let v2: SharedFrame?
    let v1: SharedFrame?

    init(topic: String, event: String, payload: Payload, excluded: ObjectIdentifier?, v2: SharedFrame?, v1: SharedFrame?) {
        self.topic = topic
        self.event = event
        self.payload = payload
        self.excluded = excluded
        self.v2 = v2
        self.v1 = v1
    }

    public func frame(for version: SerializerVersion) -> SharedFrame? {
        version == .v2 ? v2 : v1
    }
}

/// Topic subscriptions of one event loop. Only touched on that loop: no locks.
public final class LoopSubscriptions {
    private var subscribers: [String: [ObjectIdentifier: TopicSubscriber]] = [:]
    /// This loop's counters (`/metrics`); only touched on this loop.
    public let metrics = LoopMetrics()

    public init() {}

    public func subscribe(_ subscriber: TopicSubscriber, to topic: String) {
        subscribers[topic, default: [:]][ObjectIdentifier(subscriber)] = subscriber
    }

    public func unsubscribe(_ subscriber: TopicSubscriber, from topic: String) {
        subscribers[topic]?[ObjectIdentifier(subscriber)] = nil
        if subscribers[topic]?.isEmpty == true { subscribers[topic] = nil }
    }

    /// Delivers to this loop's subscribers of `topic` what `encode` makes, made only when there are some.
    public func deliver(to topic: String, _ encode: () -> EncodedBroadcast) {
        guard let local = subscribers[topic] else { return }
        fanOut(encode(), to: local)
    }

    public func deliver(_ broadcast: EncodedBroadcast) {
        guard let local = subscribers[broadcast.topic] else { return }
        fanOut(broadcast, to: local)
    }

    private func fanOut(_ broadcast: EncodedBroadcast, to local: [ObjectIdentifier: TopicSubscriber]) {
        let start = LoopMetrics.now()
        for (id, subscriber) in local where id != broadcast.excluded {
            subscriber.deliver(broadcast)
        }
        metrics.broadcasts &+= 1
        metrics.broadcastDeliveries &+= local.count
        metrics.fanoutTime.record(nanoseconds: LoopMetrics.now() - start)
    }

    public var topicCount: Int { subscribers.count }
}

/// Phoenix.PubSub's local adapter: this node's subscribers, sharded per event loop.
///
/// A broadcast hops once to each event loop; a loop with subscribers for its topic serializes it once and fans
/// it out to them without locks. Order is kept per publisher: each loop's task queue is FIFO.
public final class PubSub: PubSubAdapter, Sendable {
    private let shards: PerEventLoop<LoopSubscriptions>
    private let encoder: BroadcastEncoder

    public init(loops: [EventLoop], encoder: BroadcastEncoder = BroadcastEncoder()) {
        shards = PerEventLoop(loops: loops) { _ in LoopSubscriptions() }
        self.encoder = encoder
    }

    /// The subscriptions of `loop`; call only on that loop.
    public func subscriptions(on loop: EventLoop) -> LoopSubscriptions {
        shards.value(on: loop)
    }

    /// Every loop's counters, summed (one task per loop).
    public func gatherMetrics(on loop: EventLoop) -> EventLoopFuture<LoopMetrics> {
        let futures = shards.entries.map { shard in shard.loop.submit { shard.value.value.metrics.snapshot() } }
        return EventLoopFuture.whenAllSucceed(futures, on: loop).map { all in
            let total = LoopMetrics()
            for m in all { total.merge(m) }
            return total
        }
    }

    /// Publishes to every subscriber of the topic on every loop of this node, except `excluded`.
    ///
    /// Encoded on each loop that has subscribers rather than once for the node: every subscriber's write
    /// retains and releases the frame's storage, and one storage shared by the loops' threads bounced its cache
    /// line between the cores on every delivery. A loop without subscribers for the topic encodes nothing.
    public func broadcast(topic: String, event: String, payload: Payload, excluding excluded: TopicSubscriber? = nil) {
        let excludedID = excluded.map(ObjectIdentifier.init)
        for shard in shards.entries {
            shard.loop.execute { [encoder] in
                shard.value.value.deliver(to: topic) {
                    encoder.encode(topic: topic, event: event, payload: payload, excluding: excludedID)
                }
            }
        }
    }
}

extension PhoenixFrame {
    /// The frame carrying an encoded Phoenix message.
    public init(_ frame: OutboundFrame) {
        switch frame {
        case .text(let bytes): self = .text(ByteBuffer(bytes: bytes))
        case .binary(let bytes): self = .binary(ByteBuffer(bytes: bytes))
        }
    }
}
