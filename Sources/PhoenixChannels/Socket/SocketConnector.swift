import Logging
import LuaRuntime
import PhoenixProtocol

/// Why a socket was not opened.
public enum ConnectRefusal: Error, Equatable, CustomStringConvertible {
    /// `vsn` names no serializer this server speaks (Phoenix answers 403).
    case unsupportedVersion(String)
    /// `socket.lua`'s `connect` returned `phx.error(reason)`.
    case refused(JSONValue)
    /// `socket.lua`'s `connect` raised.
    case crashed(ScriptError)

    public var description: String {
        switch self {
        case .unsupportedVersion(let vsn):
            return "unsupported vsn \(vsn.isEmpty ? "(empty)" : vsn): this socket speaks 1.x and 2.x"
        case .refused(.object(let fields)) where fields.isEmpty:
            return "connect refused by socket.lua"
        case .refused(let reason):
            return "connect refused by socket.lua: \((try? JSONWriter.encodeToString(reason)) ?? "?")"
        case .crashed(let error):
            return "socket.lua's connect crashed: \(error)"
        }
    }
}

/// Opening a Phoenix socket, whatever transport carries it (Phoenix.Socket's `connect`): the
/// serializer from `vsn`, then `socket.lua`'s `connect` and `id`. `connect` may wait for I/O
/// (`phx.http.request`): then these return nil and `completion` gets the outcome later, on the
/// runtime's loop; otherwise they return it (and `completion` is not called).
public enum SocketConnector {
    /// Runs `socket.lua`'s `connect` and `id` with the client's params (the whole query string, `vsn`
    /// included, as Phoenix passes it).
    public static func authorize(
        params: [String: String], connectInfo: JSONValue, runtime: LoopRuntime,
        completion: @escaping (Result<SocketContext, ConnectRefusal>) -> Void
    ) -> Result<SocketContext, ConnectRefusal>? {
        let paramsValue = JSONValue.object(params.mapValues(JSONValue.string))
        func outcome(_ result: ConnectResult) -> Result<SocketContext, ConnectRefusal> {
            switch result {
            case .ok(let assigns, let id):
                return .success(SocketContext(id: id, params: paramsValue, assigns: assigns))
            case .error(let reason):
                return .failure(.refused(reason))
            case .crashed(let error):
                return .failure(.crashed(error))
            case .suspended:
                return .failure(.crashed(ScriptError(kind: .misuse, script: "socket.lua", message: "connect never finished")))
            }
        }
        let result = runtime.vm.connect(params: paramsValue, connectInfo: connectInfo) { completion(outcome($0)) }
        if case .suspended = result { return nil }
        return outcome(result)
    }

    /// Negotiates the serializer and authorizes; the socket is not open until its transport calls `open`.
    public static func connect(
        params: [String: String], connectInfo: JSONValue, runtime: LoopRuntime, logger: Logger,
        completion: @escaping (Result<PhoenixSocket, ConnectRefusal>) -> Void
    ) -> Result<PhoenixSocket, ConnectRefusal>? {
        guard let version = SerializerVersion(vsn: params["vsn"]) else {
            return .failure(.unsupportedVersion(params["vsn"] ?? ""))
        }
        func socket(_ context: SocketContext) -> PhoenixSocket {
            PhoenixSocket(context: context, serializerVersion: version, runtime: runtime, logger: logger)
        }
        return authorize(params: params, connectInfo: connectInfo, runtime: runtime) { completion($0.map(socket)) }?
            .map(socket)
    }
}
