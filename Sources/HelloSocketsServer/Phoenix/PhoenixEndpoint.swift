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
        let connectInfo = JSONValue.object([
            "transport": .string("websocket"),
            "uri": .string(head.uri),
            "user_agent": .string(head.headers["user-agent"].first ?? ""),
        ])
        let runtime = runtimes.runtime(on: eventLoop)
        // Phoenix passes the whole query string, `vsn` included, to `connect` as params.
        let params = QueryString.parameters(of: head.uri)
        var decide: ((SessionDecision) -> Void)?
        let now = SocketConnector.connect(params: params, connectInfo: connectInfo, runtime: runtime, logger: logger) {
            decide?(decision($0))
        }
        guard let now else { return .pending { decide = $0 } }  // connect waits for I/O
        return decision(now)
    }

    private func decision(_ result: Result<PhoenixSocket, ConnectRefusal>) -> SessionDecision {
        switch result {
        case .success(let socket):
            return .accept(socket)
        case .failure(let refusal):
            if case .crashed = refusal { logger.error("\(mount): \(refusal)") }
            // Phoenix answers a refused connect and an unsupported serializer with 403.
            return .reject(.forbidden, "\(refusal.description.prefix(1).uppercased())\(refusal.description.dropFirst()).\n")
        }
    }
}
