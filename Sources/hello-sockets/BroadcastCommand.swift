import ArgumentParser
import HelloSocketsServer

/// `hello-sockets broadcast TOPIC EVENT [JSON]`: Endpoint.broadcast from the command line.
struct Broadcast: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Broadcast an event to every subscriber of a topic on a running server.",
        discussion: "Example: hello-sockets broadcast ping request_ping '{}'"
    )

    @Argument(help: "The topic, e.g. ping or wild:1:2.")
    var topic: String

    @Argument(help: "The event name.")
    var event: String

    @Argument(help: "The payload, a JSON object.")
    var payload = "{}"

    @Option(help: "Host of the running server.")
    var host = "127.0.0.1"

    @Option(help: "Port of the running server (default: $PORT, else 4000).")
    var port: Int?

    @Option(help: "API token, needed when the server is not on loopback.")
    var token: String?

    func run() async throws {
        let body = try PhoenixJSON.broadcastBody(topic: topic, event: event, payload: payload)
        let port = self.port ?? Serve.environmentPort ?? 4000
        let response = try await BroadcastClient.post(host: host, port: port, body: body, token: token)
        print(response.body)
        if response.status != 200 { throw ExitCode.failure }
    }
}
