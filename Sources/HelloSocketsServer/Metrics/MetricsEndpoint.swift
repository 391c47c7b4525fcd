import Cluster
import NIOCore
import PhoenixChannels

/// `GET /metrics`: gathers every event loop's `LoopMetrics` (one task per loop) plus server-wide
/// figures, and renders them in the Prometheus text format.
struct MetricsEndpoint {
    let pubSub: PubSub
    let connections: ConnectionTracker
    /// Per-address refusals (429s); nil when those limits are off.
    let addressLimiter: AddressLimiter?
    let longPollSessions: LongPollRegistry
    let reloads: ReloadEventHub
    let startedAt: NIODeadline
    /// The cluster's figures, with `--redis`.
    let cluster: ClusterNode?
    /// LongPoll requests forwarded to and from other nodes, with `--redis`.
    let longPollForwarder: LongPollForwarder?
    /// `--api-token`: non-loopback scrapers need it (the broadcast API's rule).
    var token: String?

    func scrape(on loop: EventLoop) -> EventLoopFuture<String> {
        let (connections, reloads, startedAt) = (self.connections, self.reloads, self.startedAt)
        let refusals = addressLimiter?.refusals ?? [:]
        let queued = Self.queuedOutboundBytes(of: connections.open, on: loop)
        let longPollEnds = longPollSessions.endedByReason(on: loop)
        let clusterStatus = cluster.map { $0.status().hop(to: loop).map(Optional.some) } ?? loop.makeSucceededFuture(nil)
        let forwarding = longPollForwarder.map { $0.status().hop(to: loop).map(Optional.some) }
            ?? loop.makeSucceededFuture(nil)
        return pubSub.gatherMetrics(on: loop).and(queued).and(longPollEnds).and(clusterStatus).and(forwarding).map {
            all, forwarding in
            let (((metrics, queuedOutboundBytes), longPollEnds), clusterStatus) = all
            let counts = reloads.counts.withLockedValue { $0 }
            let figures = MetricsRenderer.ServerFigures(
                webSocketConnections: connections.webSocketCount,
                longPollSessions: connections.longPollSessionCount,
                longPollEnds: longPollEnds,
                queuedOutboundBytes: queuedOutboundBytes,
                tooManyRequests: refusals,
                reloads: (counts[.reloaded] ?? 0) + (counts[.added] ?? 0) + (counts[.removed] ?? 0) + (counts[.library] ?? 0),
                reloadFailures: counts[.failed] ?? 0,
                uptimeSeconds: Double((NIODeadline.now() - startedAt).nanoseconds) / 1e9
            )
            return MetricsRenderer.render(metrics, server: figures)
                + (clusterStatus.map(MetricsRenderer.render(cluster:)) ?? "")
                + (forwarding.map(MetricsRenderer.render(longPollForwarding:)) ?? "")
        }
    }

    /// The bytes NIO holds for `channels` because their sockets would not take them yet, summed with
    /// one task per event loop (the option is read on the channel's own loop).
    private static func queuedOutboundBytes(of channels: [Channel], on loop: EventLoop) -> EventLoopFuture<Int> {
        let byLoop = Dictionary(grouping: channels) { ObjectIdentifier($0.eventLoop) }
        let sums = byLoop.values.map { channels in
            channels[0].eventLoop.submit {
                channels.reduce(0) { $0 + ((try? $1.syncOptions?.getOption(.bufferedWritableBytes)) ?? 0) }
            }
        }
        return EventLoopFuture.reduce(0, sums, on: loop) { $0 + $1 }
    }
}
