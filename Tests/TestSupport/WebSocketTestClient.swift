import NIOCore
import NIOPosix

/// A WebSocket client for tests, built on `RawClient`: it performs the handshake and then
/// sends masked frames and reads the server's frames, with nothing hidden.
public final class WebSocketTestClient: @unchecked Sendable {
    public let raw: RawClient
    public let handshake: HTTPResponse

    private init(raw: RawClient, handshake: HTTPResponse) {
        self.raw = raw
        self.handshake = handshake
    }

    /// The request a browser would send for `path`, plus `extraHeaders` lines.
    public static func upgradeRequest(path: String, key: String = "dGhlIHNhbXBsZSBub25jZQ==", extraHeaders: [String] = []) -> String {
        (["GET \(path) HTTP/1.1", "Host: 127.0.0.1", "Upgrade: websocket", "Connection: Upgrade",
          "Sec-WebSocket-Key: \(key)", "Sec-WebSocket-Version: 13"] + extraHeaders).joined(separator: "\r\n")
            + "\r\n\r\n"
    }

    /// Connects and upgrades; throws if the server doesn't answer 101.
    public static func connect(
        port: Int,
        path: String,
        extraHeaders: [String] = [],
        receiveBufferSize: Int? = nil,
        localAddress: String? = nil
    ) async throws -> WebSocketTestClient {
        let raw = try await RawClient.connect(port: port, receiveBufferSize: receiveBufferSize, localAddress: localAddress)
        try await raw.send(upgradeRequest(path: path, extraHeaders: extraHeaders))
        let response = try await raw.receiveHTTPResponse()
        guard response.status == 101 else {
            await raw.close()
            throw HandshakeRefused(response: response)
        }
        return WebSocketTestClient(raw: raw, handshake: response)
    }

    public struct HandshakeRefused: Error, CustomStringConvertible {
        public let response: HTTPResponse
        public var description: String { "handshake refused: \(response.statusLine) \(response.body)" }
    }

    public struct UnexpectedFrame: Error, CustomStringConvertible {
        public let frame: ServerFrame
        public var description: String { "unexpected frame: opcode \(frame.opcode), payload \(frame.text)" }
    }

    public func send(text: String) async throws { try await raw.send(FrameBytes.text(text)) }

    public func send(frame bytes: [UInt8]) async throws { try await raw.send(bytes) }

    /// The next frame, whatever it is.
    public func receiveFrame(timeout: Duration = .seconds(5)) async throws -> ServerFrame {
        try await raw.receiveFrame(timeout: timeout)
    }

    /// The next text message (unfragmented, uncompressed); any other frame is an error.
    public func receiveText(timeout: Duration = .seconds(5)) async throws -> String {
        let frame = try await raw.receiveFrame(timeout: timeout)
        guard frame.opcode == 1, frame.fin, !frame.rsv1 else { throw UnexpectedFrame(frame: frame) }
        return frame.text
    }

    /// True if no frame arrives within `duration`.
    public func isSilent(for duration: Duration) async throws -> Bool {
        do {
            let frame = try await raw.receiveFrame(timeout: duration)
            throw UnexpectedFrame(frame: frame)
        } catch is RawClient.Timeout {
            return true
        }
    }

    /// Waits for a close frame and returns its code (nil for an empty close).
    public func receiveClose(timeout: Duration = .seconds(5)) async throws -> UInt16? {
        let frame = try await raw.receiveFrame(timeout: timeout)
        guard frame.opcode == 8 else { throw UnexpectedFrame(frame: frame) }
        return frame.closeCode
    }

    public func close() async { await raw.close() }
}
