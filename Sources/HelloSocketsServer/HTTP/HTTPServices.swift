import Cluster
import Logging

/// What every HTTP connection of the server shares: the configuration, the endpoints behind the routes and
/// the server-wide trackers. One object per configuration in force, so that each connection's `HTTPHandler`
/// holds a reference rather than its own copy of all this (a held LongPoll GET keeps its handler as long as it
/// waits); a reload makes a new one (`replacing(configuration:)`), and open connections keep theirs.
final class HTTPServices: Sendable {
    let configuration: ServerConfiguration
    /// Each socket mount's WebSocket endpoint, by mount (`/socket`…), and those mounts.
    let endpoints: [String: WebSocketEndpoint]
    let phoenixMounts: Set<String>
    let broadcastAPI: BroadcastAPI
    let connections: ConnectionTracker
    /// Per client address limits; nil when off.
    let addressLimiter: AddressLimiter?
    let logger: Logger
    /// Observes WebSocket connections and LongPoll sessions (the feed, `--trace`); nil when both are off.
    let observerHub: ObserverHub?
    /// `/metrics`; nil serves 404 there.
    let metrics: MetricsEndpoint?
    /// `<mount>/longpoll`; nil with `--no-longpoll`.
    let longPoll: LongPollEndpoint?
    /// This node's cluster membership (`GET /api/cluster`); nil without `--redis`.
    let cluster: ClusterNode?
    /// check_origin (nil when off). The list was validated when the server started; should it not parse, the
    /// check falls back to the same-host rule (closed rather than open).
    let originCheck: OriginCheck?

    init(
        configuration: ServerConfiguration,
        endpoints: [String: WebSocketEndpoint],
        broadcastAPI: BroadcastAPI,
        connections: ConnectionTracker,
        addressLimiter: AddressLimiter? = nil,
        logger: Logger,
        observerHub: ObserverHub? = nil,
        metrics: MetricsEndpoint? = nil,
        longPoll: LongPollEndpoint? = nil,
        cluster: ClusterNode? = nil
    ) {
        self.configuration = configuration
        self.endpoints = endpoints
        self.phoenixMounts = Set(endpoints.keys)
        self.broadcastAPI = broadcastAPI
        self.connections = connections
        self.addressLimiter = addressLimiter
        self.logger = logger
        self.observerHub = observerHub
        self.metrics = metrics
        self.longPoll = longPoll
        self.cluster = cluster
        self.originCheck = (try? configuration.makeOriginCheck()) ?? (configuration.checksOrigin ? .sameHost : nil)
    }

    /// The same services under another configuration (a reload): its origin rule, and its API token for
    /// `/metrics`.
    func replacing(configuration: ServerConfiguration) -> HTTPServices {
        var metrics = self.metrics
        metrics?.token = configuration.apiToken
        return HTTPServices(
            configuration: configuration, endpoints: endpoints, broadcastAPI: broadcastAPI, connections: connections,
            addressLimiter: addressLimiter, logger: logger, observerHub: observerHub, metrics: metrics, longPoll: longPoll,
            cluster: cluster)
    }
}
