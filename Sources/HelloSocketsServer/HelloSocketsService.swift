import Logging
import ServiceLifecycle

/// The server as a swift-service-lifecycle `Service`: it serves until the `ServiceGroup` running it
/// asks for a graceful shutdown (SIGTERM/SIGINT), then drains as `HelloSocketsServer.shutdown()` does.
public struct HelloSocketsService: Service {
    public let server: HelloSocketsServer
    private let logger: Logger

    public init(server: HelloSocketsServer, logger: Logger) {
        self.server = server
        self.logger = logger
    }

    public func run() async throws {
        try await server.start()
        // Throws only when the task is cancelled (the group gave up); drain in that case too, so no
        // client is left without its 1001 and every channel's terminate still runs.
        try? await gracefulShutdown()
        logger.info("shutting down gracefully")
        try await server.shutdown()
        logger.info("stopped")
    }
}
