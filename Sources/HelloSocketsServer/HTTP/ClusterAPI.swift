import Cluster
import Foundation
import NIOCore
import PhoenixProtocol

/// `GET /api/cluster`: this node and every node it has heard from, with their last heartbeat and counts, as JSON
/// (open to loopback clients, others with the API token, like `POST /api/broadcast`).
enum ClusterAPI {
    static func render(_ status: ClusterNode.Status, now: Date = Date(), monotonicNow: NIODeadline = .now()) -> String {
        let counters = status.counters
        let me: [String: JSONValue] = [
            "name": .string(status.settings.identity.name),
            "incarnation": .string(status.settings.identity.incarnation),
            "self": .bool(true),
            "status": .string("up"),
            "redis": .object([
                "publisher": .string(status.publisherConnected ? "connected" : "disconnected"),
                "subscriber": .string(status.subscriberConnected ? "connected" : "disconnected"),
            ]),
            "published": .integer(Int64(counters.published)),
            "publish_failed": .integer(Int64(counters.publishFailed)),
            "received": .integer(Int64(counters.received)),
            "lost": .object(Dictionary(uniqueKeysWithValues: ClusterNode.ChannelKind.allCases.map {
                ($0.rawValue, JSONValue.integer(Int64(counters.lost[$0] ?? 0)))
            })),
        ]
        let others: [JSONValue] = status.nodes.map { node in
            .object([
                "name": .string(node.name),
                "incarnation": .string(node.incarnation),
                "self": .bool(false),
                "status": .string(node.status.rawValue),
                "last_heartbeat": node.lastHeartbeat.map { .string(timestamp($0)) } ?? .null,
                "silent_ms": .integer((monotonicNow - node.lastHeard).nanoseconds / 1_000_000),
                "received": .integer(Int64(node.received)),
                "lost": .integer(Int64(node.lost)),
                "presences": .integer(node.presences),
            ])
        }
        let body: JSONValue = .object([
            "cluster": .string(status.settings.cluster),
            "node": .string(status.settings.identity.name),
            "nodes_up": .integer(Int64(status.nodesUp)),
            "nodes": .array([.object(me)] + others),
        ])
        return (try? JSONWriter.encodeToString(body)) ?? #"{"error":"cluster status not encodable"}"#
    }

    private static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }
}
