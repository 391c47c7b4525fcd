import ArgumentParser
import HelloSocketsServer
import ServerSettings

/// `hello-sockets broadcast TOPIC EVENT [JSON]`: Endpoint.broadcast from the command line.
struct Broadcast: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Broadcast an event to every subscriber of a topic on a running server.",
        discussion: """
            The port and API token come, like the server's, from the flags, else $HELLO_SOCKETS_PORT / $PORT \
            and $HELLO_SOCKETS_API_TOKEN, else the config file (--config FILE or $HELLO_SOCKETS_CONFIG).
            Example: hello-sockets broadcast ping request_ping '{}'
            """
    )

    @Argument(help: "The topic, e.g. ping or wild:1:2.")
    var topic: String

    @Argument(help: "The event name.")
    var event: String

    @Argument(help: "The payload, a JSON object.")
    var payload = "{}"

    @Option(help: "Host of the running server.")
    var host = "127.0.0.1"

    @Option(help: "Port of the running server (default: as the server's port setting, 4000).")
    var port: Int?

    @Option(help: "API token, needed when the server is not on loopback (default: the server's api_token setting).")
    var token: String?

    @Option(help: "The server's config file, for its port and API token.")
    var config: String?

    func run() async throws {
        let body = try PhoenixJSON.broadcastBody(topic: topic, event: event, payload: payload)
        var flags = config.map { ["--config", $0] } ?? []
        if let port { flags += ["--port", String(port)] }
        if let token { flags += ["--api-token", token] }
        let server = try SettingsLoader(arguments: flags).loadValues().configuration
        let response = try await BroadcastClient.post(host: host, port: server.port, body: body, token: server.apiToken)
        print(response.body)
        if response.status != 200 { throw ExitCode.failure }
    }
}
