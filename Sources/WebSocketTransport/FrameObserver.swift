import NIOCore
import NIOHTTP1
import NIOWebSocket

/// Watches one connection's traffic as the server sees it: the opening handshake, then every frame in
/// both directions. Used by the observer feed (`/observe`) and `--trace`; this layer knows nothing of them.
///
/// Every call happens on the connection's event loop, synchronously, so an implementation must be cheap
/// (copy what it needs and hand it off). A connection without an observer pays one nil check per frame.
public protocol WebSocketFrameObserver: AnyObject {
    /// The opening handshake the server accepted: the client's request and the `101` response head.
    func webSocket(_ connectionID: String, didHandshake request: HTTPRequestHead, response: HTTPResponseHead)
    /// A frame as it came off the wire, before any validation (it may be about to fail the connection).
    /// `frame.data` is still masked; `frame.maskKey` is the client's key and `frame.unmaskedData` the payload.
    func webSocket(_ connectionID: String, didReceive frame: WebSocketFrame)
    /// A complete inbound message after reassembly and inflating (only interesting for compressed or
    /// fragmented messages: the frames alone then don't show the application data).
    func webSocket(_ connectionID: String, didReceive message: WebSocketMessage, compressed: Bool)
    /// A frame about to be written. `payload` is the application data before compression (the same bytes as
    /// `frame.data` unless `frame.rsv1` is set). Server frames are never masked.
    func webSocket(_ connectionID: String, willSend frame: WebSocketFrame, payload: ByteBuffer)
    /// The TCP connection is gone.
    func webSocketDidClose(_ connectionID: String)
}

extension WebSocketFrameObserver {
    public func webSocket(_ connectionID: String, didHandshake request: HTTPRequestHead, response: HTTPResponseHead) {}
    public func webSocket(_ connectionID: String, didReceive message: WebSocketMessage, compressed: Bool) {}
    public func webSocketDidClose(_ connectionID: String) {}
}

extension WebSocketHandshake {
    /// The steps of RFC 6455 §4.2.2 item 5.4, for showing how `Sec-WebSocket-Accept` comes from the key.
    public struct AcceptDerivation: Sendable, Equatable {
        public var key: String
        public var guid: String
        /// `key + guid`, the string that is hashed.
        public var concatenated: String
        /// SHA-1 of `concatenated`, lowercase hex (20 bytes).
        public var sha1Hex: String
        /// base64 of the 20 digest bytes: the `Sec-WebSocket-Accept` value.
        public var accept: String
    }

    public static func acceptDerivation(forKey key: String) -> AcceptDerivation {
        let key = key.trimmingSpaces()
        let digest = acceptDigest(forKey: key)
        let hexDigits = Array("0123456789abcdef")
        let hex = String(digest.flatMap { [hexDigits[Int($0 >> 4)], hexDigits[Int($0 & 0x0F)]] })
        return AcceptDerivation(key: key, guid: guid, concatenated: key + guid, sha1Hex: hex, accept: Base64.encode(digest))
    }
}
