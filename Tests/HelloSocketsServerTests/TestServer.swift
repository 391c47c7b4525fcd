import HelloSocketsServer
import Logging
import NIOCore
import TestSupport
import WebSocketTransport
import XCTest

/// Starts a real server on a free loopback port for one test.
final class TestServer {
    let server: HelloSocketsServer
    let port: Int

    /// The repository's `channels/` folder.
    static let channelsDirectory: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.appendingPathComponent("channels").path
    }()

    static func start(
        channels: String = TestServer.channelsDirectory,
        webSocket: WebSocketConfiguration = WebSocketConfiguration(closeTimeout: .milliseconds(250)),
        threads: Int = 2,
        maxConnections: Int = 16_384,
        handshakeTimeout: TimeAmount = .seconds(10),
        maxChannels: Int = 100,
        log: CapturedLog? = nil,
        configure: (inout ServerConfiguration) -> Void = { _ in }
    ) async throws -> TestServer {
        var logger = log?.logger ?? Logger(label: "test-server")
        if log == nil { logger.logLevel = ProcessInfo.processInfo.environment["TEST_LOG"] == nil ? .critical : .debug }
        var configuration = ServerConfiguration(
            host: "127.0.0.1",
            port: 0,
            channelsDirectory: channels,
            eventLoopCount: threads,
            webSocket: webSocket,
            maxConnections: maxConnections,
            handshakeTimeout: handshakeTimeout
        )
        configuration.maxChannelsPerSocket = maxChannels
        configure(&configuration)
        let server = HelloSocketsServer(configuration: configuration, logger: logger)
        let address = try await server.start()
        return TestServer(server: server, port: try XCTUnwrap(address.port))
    }

    private init(server: HelloSocketsServer, port: Int) {
        self.server = server
        self.port = port
    }

    func stop() async throws { try await server.shutdown() }

    /// `GET /metrics`: the response and its samples, name (with labels) → value.
    func scrapeMetrics() async throws -> (response: HTTPResponse, samples: [String: Double]) {
        let client = try await RawClient.connect(port: port)
        try await client.send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        let response = try await client.receiveHTTPResponse()
        await client.close()
        var samples: [String: Double] = [:]
        for line in response.body.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            guard parts.count == 2, let value = Double(parts[1]) else { throw BadMetricsLine(line: String(line)) }
            samples[String(parts[0])] = value
        }
        return (response, samples)
    }

    struct BadMetricsLine: Error, CustomStringConvertible {
        let line: String
        var description: String { "bad /metrics line: \(line)" }
    }
}
