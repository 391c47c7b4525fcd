import Logging
import NIOCore
import NIOHTTP1

/// Answers requests the HTTP parser rejects, then closes: 431 for oversized headers (RFC 6585 §5),
/// 400 with the parser's reason for anything else malformed. NIO's own handler says 400 for both.
final class HTTPErrorResponder: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let connectionID: String
    private let logger: Logger
    /// A response is being written: an error answer can't be interleaved with it.
    private var responseInProgress = false

    init(connectionID: String, logger: Logger) {
        self.connectionID = connectionID
        self.logger = logger
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        guard let parserError = error as? HTTPParserError else {
            return context.fireErrorCaught(error)
        }
        let (status, body): (HTTPResponseStatus, String) =
            parserError == .headerOverflow
            ? (.requestHeaderFieldsTooLarge, "Request headers too large.\n")
            : (.badRequest, "Malformed HTTP request (\(parserError)).\n")
        logger.warning("bad HTTP request: \(parserError)", metadata: ["conn": "\(connectionID)", "status": "\(status.code)"])
        if !responseInProgress {
            let headers = HTTPHeaders([
                ("Connection", "close"), ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", "\(body.utf8.count)"),
            ])
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
        context.close(promise: nil)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head) where head.status.code >= 200: responseInProgress = true
        case .end: responseInProgress = false
        default: break
        }
        context.write(data, promise: promise)
    }
}
