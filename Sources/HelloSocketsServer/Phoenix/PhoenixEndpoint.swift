import Logging
import LuaRuntime
import NIOCore
import NIOHTTP1
import PhoenixChannels
import PhoenixProtocol

/// A Phoenix socket mount's WebSocket (`/socket/websocket`): opens a `PhoenixSocket` with the
/// request's query params and hands the upgraded connection to it.
struct PhoenixEndpoint: WebSocketEndpoint {
    let mount: String
    let runtimes: LoopRuntimes
    let logger: Logger

    func session(for head: HTTPRequestHead, on eventLoop: EventLoop) -> SessionDecision {
        let runtime = runtimes.runtime(on: eventLoop)
        var decide: ((SessionDecision) -> Void)?
        let now = Self.connect(head, transport: "websocket", mount: mount, runtime: runtime, logger: logger) {
            decide?(Self.decision($0))
        }
        guard let now else { return .pending { decide = $0 } }  // connect waits for I/O
        return Self.decision(now)
    }

    private static func decision(_ result: Result<PhoenixSocket, ConnectRefusal>) -> SessionDecision {
        switch result {
        case .success(let socket):
            return .accept(socket)
        case .failure(let refusal):
            // Phoenix answers a refused connect and an unsupported serializer with 403.
            return .reject(.forbidden, "\(refusal.description.prefix(1).uppercased())\(refusal.description.dropFirst()).\n")
        }
    }

    /// Opens a Phoenix socket for an HTTP request, whatever transport is to carry it: Phoenix passes the
    /// whole query string, `vsn` included, to `connect` as params, and `connect_info` says which transport
    /// (`"websocket"`, `"longpoll"`). A `connect` that crashed is logged as an error. Returns the outcome,
    /// or nil when `connect` waits for I/O: `completion` then gets it later, on the runtime's loop.
    static func connect(
        _ head: HTTPRequestHead, transport: String, mount: String, runtime: LoopRuntime, logger: Logger,
        completion: @escaping (Result<PhoenixSocket, ConnectRefusal>) -> Void
    ) -> Result<PhoenixSocket, ConnectRefusal>? {
        let connectInfo = JSONValue.object([
            "transport": .string(transport),
            "uri": .string(head.uri),
            "user_agent": .string(head.headers["user-agent"].first ?? ""),
        ])
        let params = QueryString.parameters(of: head.uri)
        func logged(_ result: Result<PhoenixSocket, ConnectRefusal>) -> Result<PhoenixSocket, ConnectRefusal> {
            if case .failure(let refusal) = result, case .crashed = refusal { logger.error("\(mount): \(refusal)") }
            return result
        }
        return SocketConnector.connect(params: params, connectInfo: connectInfo, runtime: runtime, logger: logger) {
            completion(logged($0))
        }.map(logged)
    }
}
