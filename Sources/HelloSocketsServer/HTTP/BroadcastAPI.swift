import NIOCore
import NIOHTTP1
import PhoenixChannels
import PhoenixProtocol

/// `POST /api/broadcast` with `{"topic": …, "event": …, "payload": {…}}`: Phoenix's `Endpoint.broadcast`
/// for the outside world (scripts, cron jobs, `hello-sockets broadcast`).
///
/// Open to loopback clients; others must send `Authorization: Bearer <token>` matching `--api-token`.
struct BroadcastAPI {
    let pubSub: any PubSubAdapter & Sendable
    let token: String?

    /// Largest request body accepted.
    static let maxBodySize = 1 << 20

    struct Response {
        var status: HTTPResponseStatus
        var body: String
    }

    func handle(head: HTTPRequestHead, body: [UInt8], peer: SocketAddress?) -> Response {
        guard head.method == .POST else { return Response(status: .methodNotAllowed, body: #"{"error":"use POST"}"#) }
        guard isAuthorized(head, peer: peer) else {
            return Response(status: .forbidden, body: #"{"error":"the broadcast API is open to loopback clients or with the API token"}"#)
        }
        let request: JSONValue
        do {
            request = try JSONParser().parse(body)
        } catch {
            return failure("\(error)")
        }
        guard case .string(let topic)? = request["topic"], !topic.isEmpty else { return failure("\"topic\" must be a non-empty string") }
        guard case .string(let event)? = request["event"], !event.isEmpty else { return failure("\"event\" must be a non-empty string") }
        let payload = request["payload"] ?? .emptyObject
        // Phoenix 1.4 requires a map payload for broadcasts.
        guard case .object = payload else { return failure("\"payload\" must be a JSON object") }
        pubSub.broadcast(topic: topic, event: event, payload: .json(payload), excluding: nil)
        return Response(status: .ok, body: #"{"status":"ok"}"#)
    }

    func isAuthorized(_ head: HTTPRequestHead, peer: SocketAddress?) -> Bool {
        APIAuthorization.allows(head, peer: peer, token: token)
    }

    private func failure(_ reason: String) -> Response {
        let message = (try? JSONWriter.encodeToString(.object(["error": .string(reason)]))) ?? #"{"error":"bad request"}"#
        return Response(status: .badRequest, body: message)
    }
}

extension SocketAddress {
    /// 127.0.0.0/8, ::1 and IPv4-mapped loopback.
    var isLoopback: Bool {
        guard let ip = ipAddress else { return false }
        return ip.hasPrefix("127.") || ip == "::1" || ip.hasPrefix("::ffff:127.")
    }
}
