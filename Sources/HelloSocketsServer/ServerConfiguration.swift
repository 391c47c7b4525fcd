import NIOCore
import WebSocketTransport

/// Everything the server needs to know to start.
public struct ServerConfiguration: Sendable {
    /// Address to listen on (default loopback: the observer and admin endpoints are open there).
    public var host: String
    /// Port to listen on; 0 picks a free one (tests).
    public var port: Int
    /// Folder of channel scripts.
    public var channelsDirectory: String
    /// Event loops (threads); default one per core.
    public var eventLoopCount: Int
    /// Limits and options of the WebSocket layer.
    public var webSocket: WebSocketConfiguration

    public init(
        host: String = "127.0.0.1",
        port: Int = 4000,
        channelsDirectory: String = "./channels",
        eventLoopCount: Int = System.coreCount,
        webSocket: WebSocketConfiguration = WebSocketConfiguration()
    ) {
        self.host = host
        self.port = port
        self.channelsDirectory = channelsDirectory
        self.eventLoopCount = eventLoopCount
        self.webSocket = webSocket
    }
}
