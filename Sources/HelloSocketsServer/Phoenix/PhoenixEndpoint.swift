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
        switch Self.connect(head, transport: "websocket", mount: mount, runtime: runtime, logger: logger) {
        case .success(let socket):
            return .accept(socket)
        case .failure(let refusal):
            // Phoenix answers a refused connect and an unsupported serializer with 403.
            return .reject(.forbidden, "\(refusal.description.prefix(1).uppercased())\(refusal.description.dropFirst()).\n")
        }
    }

    /// Opens a Phoenix socket for an HTTP request, whatever transport is to carry it: Phoenix passes the
    /// whole query string, `vsn` included, to `connect` as params, and `connect_info` says which transport
    /// (`"websocket"`, `"longpoll"`). A `connect` that crashed is logged as an error.
    static func connect(
        _ head: HTTPRequestHead, transport: String, mount: String, runtime: LoopRuntime, logger: Logger
    ) -> Result<PhoenixSocket, ConnectRefusal> {
        let connectInfo = JSONValue.object([
            "transport": .string(transport),
            "uri": .string(head.uri),
            "user_agent": .string(head.headers["user-agent"].first ?? ""),
        ])
        let params = QueryString.parameters(of: head.uri)
        let result = SocketConnector.connect(params: params, connectInfo: connectInfo, runtime: runtime, logger: logger)
        if case .failure(let refusal) = result, case .crashed = refusal { logger.error("\(mount): \(refusal)") }
        return result
    }
}
