import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A TCP client for tests that speaks raw bytes: it sends exactly what a test asks for and
/// exposes everything the server sent, so tests can check handshakes and frames byte for byte.
public final class RawClient: @unchecked Sendable {
    private let channel: Channel
    private let inbox: Inbox

    private final class Inbox: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        let state = NIOLockedValueBox<(bytes: [UInt8], closed: Bool)>(([], false))

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            state.withLockedValue { $0.bytes += buffer.readableBytesView }
        }

        func channelInactive(context: ChannelHandlerContext) {
            state.withLockedValue { $0.closed = true }
        }
    }

    public struct Timeout: Error, CustomStringConvertible {
        public let waitingFor: String
        public var description: String { "timed out waiting for \(waitingFor)" }
    }

    /// - Parameter receiveBufferSize: SO_RCVBUF for the socket, to make a stalled client stall sooner.
    /// - Parameter prepare: adds handlers before the client's own (e.g. a TLS client handler).
    /// - Parameter localAddress: the source address to connect from (127.0.0.2, 127.0.0.3… are all
    ///   local on Linux: per-address limits are tested with them).
    public static func connect(
        port: Int,
        receiveBufferSize: Int? = nil,
        localAddress: String? = nil,
        group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        prepare: (@Sendable (Channel) throws -> Void)? = nil
    ) async throws -> RawClient {
        let inbox = Inbox()
        var bootstrap = ClientBootstrap(group: group)
        if let receiveBufferSize {
            bootstrap = bootstrap.channelOption(.socketOption(.so_rcvbuf), value: SocketOptionValue(receiveBufferSize))
        }
        if let localAddress {
            bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: localAddress, port: 0))
        }
        let channel = try await bootstrap
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try prepare?(channel)
                    try channel.pipeline.syncOperations.addHandler(inbox)
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return RawClient(channel: channel, inbox: inbox)
    }

    private init(channel: Channel, inbox: Inbox) {
        self.channel = channel
        self.inbox = inbox
    }

    public func send(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes))
    }

    public func send(_ text: String) async throws { try await send(Array(text.utf8)) }

    /// Stops or resumes reading from the socket, as a client that stalls would.
    public func setReading(_ reading: Bool) async throws {
        try await channel.setOption(ChannelOptions.autoRead, value: reading).get()
        if reading { channel.read() }
    }

    /// Bytes received and not yet consumed.
    public var bufferedByteCount: Int { inbox.state.withLockedValue { $0.bytes.count } }

    /// Whether the server closed the TCP connection.
    public var isClosed: Bool { inbox.state.withLockedValue { $0.closed } }

    public func close() async { try? await channel.close() }

    /// Polls the received bytes until `take` consumes a prefix and returns a value, or the time is up.
    public func receive<T>(
        _ what: String,
        timeout: Duration = .seconds(5),
        _ take: (inout ArraySlice<UInt8>) -> T?
    ) async throws -> T {
        let deadline = ContinuousClock.now + timeout
        while true {
            let taken: T? = inbox.state.withLockedValue { state in
                var slice = state.bytes[...]
                guard let value = take(&slice) else { return nil }
                state.bytes.removeFirst(state.bytes.count - slice.count)
                return value
            }
            if let taken { return taken }
            if ContinuousClock.now >= deadline || (isClosed && inbox.state.withLockedValue { $0.bytes.isEmpty }) {
                throw Timeout(waitingFor: what)
            }
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    /// Reads one HTTP response head and body (by Content-Length).
    public func receiveHTTPResponse(timeout: Duration = .seconds(5)) async throws -> HTTPResponse {
        try await receive("an HTTP response", timeout: timeout) { bytes in HTTPResponse.parse(&bytes) }
    }

    /// Reads one WebSocket frame.
    public func receiveFrame(timeout: Duration = .seconds(5)) async throws -> ServerFrame {
        try await receive("a WebSocket frame", timeout: timeout) { bytes in ServerFrame.parse(&bytes) }
    }

    /// Waits until the server closes the TCP connection; true if it did within the timeout.
    public func waitForClose(timeout: Duration = .seconds(5)) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !isClosed && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        return isClosed
    }
}

/// An HTTP/1.1 response as raw text.
public struct HTTPResponse {
    public var statusLine: String
    public var headers: [(name: String, value: String)]
    public var body: String

    public var status: Int { Int(statusLine.split(separator: " ")[1]) ?? 0 }

    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    static func parse(_ bytes: inout ArraySlice<UInt8>) -> HTTPResponse? {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let end = bytes.indices.first(where: { bytes[$0...].starts(with: separator) }) else { return nil }
        let lines = String(decoding: bytes[bytes.startIndex..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let headers = lines.dropFirst().compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        let length = headers.first { $0.0.lowercased() == "content-length" }.flatMap { Int($0.1) } ?? 0
        let bodyStart = end + 4
        guard bytes.endIndex - bodyStart >= length else { return nil }
        let body = String(decoding: bytes[bodyStart..<(bodyStart + length)], as: UTF8.self)
        bytes = bytes[(bodyStart + length)...]
        return HTTPResponse(statusLine: lines[0], headers: headers, body: body)
    }
}
