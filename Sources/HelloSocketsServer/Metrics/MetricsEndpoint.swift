import NIOCore

/// `GET /metrics`: gathers every event loop's `LoopMetrics` (one task per loop) plus server-wide
/// figures, and renders them in the Prometheus text format.
struct MetricsEndpoint {
    let pubSub: PubSub
    let connections: ConnectionTracker
    let reloads: ReloadEventHub
    let startedAt: NIODeadline
    /// `--api-token`: non-loopback scrapers need it (the broadcast API's rule).
    let token: String?

    func scrape(on loop: EventLoop) -> EventLoopFuture<String> {
        let (connections, reloads, startedAt) = (self.connections, self.reloads, self.startedAt)
        return pubSub.gatherMetrics(on: loop).map { metrics in
            let counts = reloads.counts.withLockedValue { $0 }
            let figures = MetricsRenderer.ServerFigures(
                webSocketConnections: connections.webSocketCount,
                reloads: (counts[.reloaded] ?? 0) + (counts[.added] ?? 0) + (counts[.removed] ?? 0) + (counts[.library] ?? 0),
                reloadFailures: counts[.failed] ?? 0,
                uptimeSeconds: Double((NIODeadline.now() - startedAt).nanoseconds) / 1e9
            )
            return MetricsRenderer.render(metrics, server: figures)
        }
    }
}
