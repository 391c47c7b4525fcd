import PhoenixChannels
import PhoenixProtocol

/// The Redis PubSub adapter: local subscribers get a broadcast at once (the local fastlane, never waiting for
/// Redis), then one `PUBLISH` carries it to every other node, which delivers it through its own fastlane.
/// `broadcast_from`'s sender is excluded here only: other nodes have no such subscriber.
public final class ClusterPubSub: PubSubAdapter, Sendable {
    public let local: PubSub
    public let node: ClusterNode

    public init(local: PubSub, node: ClusterNode) {
        self.local = local
        self.node = node
    }

    public func broadcast(topic: String, event: String, payload: Payload, excluding excluded: TopicSubscriber?) {
        local.broadcast(topic: topic, event: event, payload: payload, excluding: excluded)
        node.publishBroadcast(topic: topic, event: event, payload: payload)
    }
}
