import NIOHTTP1

/// Where an HTTP request goes. The folder layout mirrors this: `HTTP/` serves pages and
/// upgrades, `Echo/` and `Phoenix/` are the WebSocket sessions behind the upgrade, `LongPoll/`
/// Phoenix's HTTP transport.
enum Route: Equatable {
    /// The start page.
    case index
    /// The raw echo WebSocket.
    case echo
    /// `POST /api/broadcast`: Endpoint.broadcast from outside a channel.
    case broadcastAPI
    /// `GET /api/cluster`: the nodes of the cluster (same access rule as the broadcast API).
    case clusterAPI
    /// `GET /metrics`: Prometheus text format (same access rule as the broadcast API).
    case metrics
    /// A Phoenix socket endpoint, e.g. `/socket/websocket`; `mount` is `/socket`.
    case phoenixSocket(mount: String)
    /// A Phoenix socket's LongPoll transport, e.g. `/socket/longpoll` (LongPoll/).
    case longPoll(mount: String)
    /// `/observe`: the observer feed WebSocket (Observer/).
    case observerFeed
    /// A static file of the start page, e.g. `/js/phoenix-client.js` (Observer/Assets/).
    case asset(path: String)
    case notFound

    /// The path without its query string.
    static func path(of uri: String) -> Substring {
        uri[..<(uri.utf8.firstIndex(of: UInt8(ascii: "?")) ?? uri.endIndex)]
    }

    /// - Parameter longPoll: whether `<mount>/longpoll` is served (`--no-longpoll` turns it off).
    init(uri: String, phoenixMounts: Set<String>, longPoll: Bool = false) {
        let path = Route.path(of: uri)
        switch path {
        case "/", "/index.html": self = .index
        case "/echo": self = .echo
        case "/api/broadcast": self = .broadcastAPI
        case "/api/cluster": self = .clusterAPI
        case "/metrics": self = .metrics
        case "/observe": self = .observerFeed
        case _ where ObserverAssets.file(at: path) != nil: self = .asset(path: String(path))
        default:
            // Phoenix serves a socket mounted at `/socket` on `/socket/websocket` (transport path).
            if path.hasSuffix("/websocket") {
                let mount = String(path.dropLast("/websocket".count))
                if phoenixMounts.contains(mount) {
                    self = .phoenixSocket(mount: mount)
                    return
                }
            }
            if longPoll && path.hasSuffix("/longpoll") {
                let mount = String(path.dropLast("/longpoll".count))
                if phoenixMounts.contains(mount) {
                    self = .longPoll(mount: mount)
                    return
                }
            }
            self = .notFound
        }
    }

    var isWebSocket: Bool {
        switch self {
        case .echo, .phoenixSocket, .observerFeed: return true
        case .index, .broadcastAPI, .clusterAPI, .metrics, .notFound, .asset, .longPoll: return false
        }
    }
}
