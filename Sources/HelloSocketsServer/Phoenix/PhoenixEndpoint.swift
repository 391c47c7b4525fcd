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
        let paramsValue = JSONValue.object(params.mapValues(JSONValue.string))
        let connectInfo = JSONValue.object([
            "uri": .string(head.uri),
            "user_agent": .string(head.headers["user-agent"].first ?? ""),
        ])
        switch runtime.vm.connect(params: paramsValue, connectInfo: connectInfo) {
        case .ok(let assigns, let id):
            let context = SocketContext(id: id, params: paramsValue, assigns: assigns)
            return .accept(PhoenixSocket(context: context, serializerVersion: version, runtime: runtime, logger: logger))
        case .error(let reason):
            // The reason when the script gave one: `phx.error()` alone refuses without saying why.
            let detail = (try? JSONWriter.encodeToString(reason)).flatMap { ["{}", "null", "[]"].contains($0) ? nil : $0 }
            return .reject(.forbidden, "Connection refused by \(mount)'s connect\(detail.map { ": \($0)" } ?? ".")\n")
        case .crashed(let error):
            logger.error("socket connect crashed: \(error)")
            return .reject(.forbidden, "Connection refused: the socket's connect failed.\n")
        }
    }
}
