import Logging
import LuaRuntime
import NIOCore
import NIOHTTP1
import PhoenixProtocol

/// A Phoenix socket mount (`/socket`): negotiates the serializer from `vsn`, runs the socket's
/// `connect` rule, and hands the upgraded connection to a `PhoenixSocket`.
struct PhoenixEndpoint: WebSocketEndpoint {
    let mount: String
    let runtimes: LoopRuntimes
    let logger: Logger

    func session(for head: HTTPRequestHead, on eventLoop: EventLoop) -> SessionDecision {
        // Phoenix passes the whole query string, `vsn` included, to `connect` as params.
        let params = QueryString.parameters(of: head.uri)
        guard let version = SerializerVersion(vsn: params["vsn"]) else {
            // Phoenix answers an unsupported serializer version with 403.
            return .reject(.forbidden, "Unsupported vsn \(params["vsn"] ?? ""): this socket speaks 1.x and 2.x.\n")
        }
        let runtime = runtimes.runtime(on: eventLoop)
        let connectInfo: [String: String] = [
            "uri": head.uri,
            "user_agent": head.headers["user-agent"].first ?? "",
        ]
        switch runtime.vm.connect(params: params, connectInfo: connectInfo) {
        case .refused(let reason):
            return .reject(.forbidden, "Connection refused by socket.lua\(reason.map { ": \($0)" } ?? "").\n")
        case .accepted(let context):
            return .accept(PhoenixSocket(context: context, serializerVersion: version, runtime: runtime, logger: logger))
        }
    }
}
