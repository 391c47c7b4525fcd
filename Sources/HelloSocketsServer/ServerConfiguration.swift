import LuaRuntime
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
    /// Limits of every channel script: instructions per callback, memory per VM.
    public var lua: LuaLimits
    /// Token that lets non-loopback clients use `POST /api/broadcast`; nil keeps it loopback-only.
    public var apiToken: String?
    /// Hot reload: watch the channels folder and swap in edited scripts (`--no-watch` turns it off).
    public var watchChannels: Bool

    public init(
        host: String = "127.0.0.1",
        port: Int = 4000,
        channelsDirectory: String = "./channels",
        eventLoopCount: Int = System.coreCount,
        webSocket: WebSocketConfiguration = WebSocketConfiguration(),
        lua: LuaLimits = LuaLimits(),
        apiToken: String? = nil,
        watchChannels: Bool = true
    ) {
        self.host = host
        self.port = port
        self.channelsDirectory = channelsDirectory
        self.eventLoopCount = eventLoopCount
        self.webSocket = webSocket
        self.lua = lua
        self.apiToken = apiToken
        self.watchChannels = watchChannels
    }
}
