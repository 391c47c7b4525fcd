import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// The client side of `POST /api/broadcast`, used by `hello-sockets broadcast`.
public enum BroadcastClient {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Posts one broadcast and returns the server's status and body.
    public static func post(
        host: String,
        port: Int,
        body: String,
        token: String? = nil
    ) async throws -> (status: Int, body: String) {
        let collector = ResponseCollector()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(collector)
                }
            }
            .connect(host: host, port: port).get()
        var headers = HTTPHeaders([
            ("Host", "\(host):\(port)"), ("Content-Type", "application/json"),
            ("Content-Length", "\(body.utf8.count)"), ("Connection", "close"),
        ])
        if let token { headers.add(name: "Authorization", value: "Bearer \(token)") }
        let head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/api/broadcast", headers: headers)
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(string: body))), promise: nil)
        try await channel.writeAndFlush(HTTPClientRequestPart.end(nil))
        try await channel.closeFuture.get()
        guard let response = collector.response.withLockedValue({ $0 }) else {
            throw Failure(description: "the server closed the connection without answering")
        }
        return response
    }

    private final class ResponseCollector: ChannelInboundHandler, Sendable {
        typealias InboundIn = HTTPClientResponsePart
        let response = NIOLockedValueBox<(status: Int, body: String)?>(nil)

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head): response.withLockedValue { $0 = (Int(head.status.code), "") }
            case .body(let chunk): response.withLockedValue { $0?.body += String(buffer: chunk) }
            case .end: context.close(promise: nil)
            }
        }
    }
}
