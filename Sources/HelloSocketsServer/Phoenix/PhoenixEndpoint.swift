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
        var decide: ((SessionDecision) -> Void)?
        let result = runtime.vm.connect(params: paramsValue, connectInfo: connectInfo) { result in
            decide?(decision(result, params: paramsValue, version: version, runtime: runtime))
        }
        if case .suspended = result { return .pending { decide = $0 } }
        return decision(result, params: paramsValue, version: version, runtime: runtime)
    }

    private func decision(
        _ result: ConnectResult, params: JSONValue, version: SerializerVersion, runtime: LoopRuntime
    ) -> SessionDecision {
        switch result {
        case .ok(let assigns, let id):
            let context = SocketContext(id: id, params: params, assigns: assigns)
            return .accept(PhoenixSocket(context: context, serializerVersion: version, runtime: runtime, logger: logger))
        case .error(let reason):
            let detail = (try? JSONWriter.encodeToString(reason)) ?? "{}"
            return .reject(.forbidden, "Connection refused by the socket's connect: \(detail)\n")
        case .crashed(let error):
            logger.error("socket connect crashed: \(error)")
            return .reject(.forbidden, "Connection refused: the socket's connect failed.\n")
        case .suspended:
            return .reject(.internalServerError, "Connection refused: the socket's connect suspended twice.\n")
        }
    }
}
