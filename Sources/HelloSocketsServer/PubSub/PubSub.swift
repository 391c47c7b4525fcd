import NIOCore
import PhoenixProtocol
import WebSocketTransport

/// A subscriber to a topic: one joined channel of one Phoenix socket (or a socket's own id topic).
protocol TopicSubscriber: AnyObject {
    /// Delivers a broadcast; called on the subscriber's event loop. `frames` holds the bytes
    /// already serialized for each serializer, shared by every subscriber (Phoenix's fastlane).
    func deliver(_ broadcast: EncodedBroadcast)
}

/// A broadcast, serialized once per serializer and shared read-only by every subscriber.
final class EncodedBroadcast: Sendable {
    let topic: String
    let event: String
    let payload: Payload
    /// The publishing subscriber, for `broadcast_from` (compared by identity, never dereferenced elsewhere).
    let excluded: ObjectIdentifier?
    let v2: PreparedMessage?
    let v1: PreparedMessage?

    init(topic: String, event: String, payload: Payload, excluding excluded: ObjectIdentifier?) {
        self.topic = topic
        self.event = event
        self.payload = payload
        self.excluded = excluded
        // Encoded and framed once into buffers every subscriber's write shares (ByteBuffer is
        // copy-on-write: writing it to many channels copies nothing).
        let message = Message.broadcast(topic: topic, event: event, payload: payload)
        self.v2 = (try? V2JSONSerializer().encode(message)).map { PreparedMessage(WebSocketMessage($0)) }
        self.v1 = (try? V1JSONSerializer().encode(message)).map { PreparedMessage(WebSocketMessage($0)) }
    }

    func frame(for version: SerializerVersion) -> PreparedMessage? {
        version == .v2 ? v2 : v1
    }
}

/// Topic subscriptions of one event loop. Only touched on that loop: no locks.
final class LoopSubscriptions {
    private var subscribers: [String: [ObjectIdentifier: TopicSubscriber]] = [:]
    /// This loop's counters (`/metrics`); only touched on this loop.
    let metrics = LoopMetrics()

    func subscribe(_ subscriber: TopicSubscriber, to topic: String) {
        subscribers[topic, default: [:]][ObjectIdentifier(subscriber)] = subscriber
    }

    func unsubscribe(_ subscriber: TopicSubscriber, from topic: String) {
        subscribers[topic]?[ObjectIdentifier(subscriber)] = nil
        if subscribers[topic]?.isEmpty == true { subscribers[topic] = nil }
    }

    func hasSubscribers(_ topic: String) -> Bool { subscribers[topic] != nil }

    func deliver(_ broadcast: EncodedBroadcast) {
        guard let local = subscribers[broadcast.topic] else { return }
        let start = LoopMetrics.now()
        for (id, subscriber) in local where id != broadcast.excluded {
            subscriber.deliver(broadcast)
        }
        metrics.broadcasts &+= 1
        metrics.broadcastDeliveries &+= local.count
        metrics.fanoutTime.record(nanoseconds: LoopMetrics.now() - start)
    }

    var topicCount: Int { subscribers.count }
}

/// Where a channel's `phx.broadcast` goes: the server's `PubSub`, or `InProcessEndpoint`'s queue.
/// Delivery must happen later (never inside the caller's Lua callback: the VM is busy).
protocol BroadcastBus: AnyObject {
    func broadcast(topic: String, event: String, payload: Payload, excluding excluded: TopicSubscriber?)
}

/// Phoenix.PubSub's counterpart inside one server: subscribers sharded per event loop.
///
/// A broadcast is serialized once, then hops once to each event loop, where it fans out to that
/// loop's subscribers without locks. Order is kept per publisher: each loop's task queue is FIFO.
final class PubSub: BroadcastBus, Sendable {
    private let shards: PerEventLoop<LoopSubscriptions>

    init(loops: [EventLoop]) {
        shards = PerEventLoop(loops: loops) { _ in LoopSubscriptions() }
    }

    /// The subscriptions of `loop`; call only on that loop.
    func subscriptions(on loop: EventLoop) -> LoopSubscriptions {
        shards.value(on: loop)
    }

    /// Every loop's counters, summed (one task per loop).
    func gatherMetrics(on loop: EventLoop) -> EventLoopFuture<LoopMetrics> {
        let futures = shards.entries.map { shard in shard.loop.submit { shard.value.value.metrics.snapshot() } }
        return EventLoopFuture.whenAllSucceed(futures, on: loop).map { all in
            let total = LoopMetrics()
            for m in all { total.merge(m) }
            return total
        }
    }

    /// Publishes to every subscriber of the topic on every loop, except `excluded`.
    func broadcast(topic: String, event: String, payload: Payload, excluding excluded: TopicSubscriber? = nil) {
        let encoded = EncodedBroadcast(
            topic: topic,
            event: event,
            payload: payload,
            excluding: excluded.map(ObjectIdentifier.init)
        )
        for shard in shards.entries {
            shard.loop.execute { shard.value.value.deliver(encoded) }
        }
    }
}

extension WebSocketMessage {
    /// The WebSocket message carrying an encoded Phoenix frame.
    init(_ frame: OutboundFrame) {
        switch frame {
        case .text(let bytes): self = .text(ByteBuffer(bytes: bytes))
        case .binary(let bytes): self = .binary(ByteBuffer(bytes: bytes))
        }
    }
}
