import Synchronization
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import PhoenixProtocol
import WebSocketTransport

/// The observer: hands every observed connection a `ConnectionObserver` and fans its events out to the
/// subscribers of the feed (`/observe`) and to `--trace`.
///
/// **Matching the page to its own connection.** The start page must connect with exactly
/// `/socket/websocket?token=undefined&vsn=2.0.0`, so it cannot add an id to the URL. Instead it sets a cookie
/// `hs_observe=<random>` (path `/socket`, SameSite=Strict) just before connecting, and subscribes with
/// `/observe?follow=<random>`. The browser sends the cookie with the upgrade request (visible among the
/// handshake headers), and the feed sends that subscriber only the events of connections carrying it;
/// reconnects carry it too. Without `follow` a subscriber gets every connection.
///
/// **A slow observer never slows the observed connection.** Publishing never blocks and never waits for a
/// subscriber: each subscriber has a bounded queue (`queueLimit` events waiting for its event loop); when it is
/// full, or when the subscriber's socket is not writable (its TCP send buffer is over NIO's high-water mark),
/// the event is dropped and counted, and the next event delivered is preceded by `{"type":"dropped","count":n}`.
///
/// Open connections' `open` events are kept, so a subscriber that arrives late still sees their handshakes.
final class ObserverHub: Sendable {
    /// Events waiting for one subscriber's event loop before further ones are dropped.
    static let queueLimit = 512
    /// Payload bytes copied into one feed event; longer payloads are cut and marked `"truncated": true`.
    static let payloadLimit = 16 * 1024

    /// Whether `/observe` is served.
    let feedEnabled: Bool
    /// Where `--trace` lines go, or nil.
    let trace: TraceWriter?

    private struct State {
        var subscribers: [FeedSubscriber] = []
        /// Open observed connections: their follow id and `open` event.
        var live: [String: (followID: String?, openEvent: String)] = [:]
    }

    private let state = NIOLockedValueBox(State())
    /// Read on every observed frame: kept apart from `state` so that check is one short lock.
    /// Read on every frame of every connection: an atomic, not a lock.
    private let subscriberCount = Atomic<Int>(0)

    /// The node serving the page, in a cluster (`--redis`): the feed's `hello` names it.
    let nodeName: String?

    init(feedEnabled: Bool, trace: TraceWriter?, nodeName: String? = nil) {
        self.feedEnabled = feedEnabled
        self.trace = trace
        self.nodeName = nodeName
    }

    /// Whether a server on `host` observes by default: only on loopback, where only this machine can look.
    static func isLoopback(host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    var hasSubscribers: Bool { subscriberCount.load(ordering: .relaxed) > 0 }

    /// The observer for a new WebSocket connection.
    func observer(for connectionID: String, peer: SocketAddress?) -> ConnectionObserver {
        ConnectionObserver(hub: self, connectionID: connectionID, peer: peer)
    }

    // MARK: Called by connection observers

    func connectionOpened(_ connectionID: String, followID: String?, event: String) {
        guard feedEnabled else { return }
        let subscribers = state.withLockedValue { state -> [FeedSubscriber] in
            state.live[connectionID] = (followID, event)
            return state.subscribers
        }
        for subscriber in subscribers where subscriber.wants(followID) { subscriber.offer(event) }
    }

    func publish(_ event: String, followID: String?) {
        let subscribers = state.withLockedValue { $0.subscribers }
        for subscriber in subscribers where subscriber.wants(followID) { subscriber.offer(event) }
    }

    func connectionClosed(_ connectionID: String, followID: String?, event: String) {
        guard feedEnabled else { return }
        let subscribers = state.withLockedValue { state -> [FeedSubscriber] in
            state.live[connectionID] = nil
            return state.subscribers
        }
        for subscriber in subscribers where subscriber.wants(followID) { subscriber.offer(event) }
    }

    // MARK: Subscribers

    func subscribe(_ subscriber: FeedSubscriber) {
        let live = state.withLockedValue { state -> [(followID: String?, openEvent: String)] in
            state.subscribers.append(subscriber)
            return Array(state.live.values)
        }
        subscriberCount.add(1, ordering: .relaxed)
        subscriber.offer(Self.encode([
            "type": .string("hello"),
            "follow": subscriber.follow.map(JSONValue.string) ?? .null,
            "queue_limit": .integer(Int64(Self.queueLimit)),
            "payload_limit": .integer(Int64(Self.payloadLimit)),
            "t": .integer(Self.now()),
            "node": nodeName.map(JSONValue.string) ?? .null,
        ]))
        for connection in live where subscriber.wants(connection.followID) { subscriber.offer(connection.openEvent) }
    }

    func unsubscribe(_ subscriber: FeedSubscriber) {
        let removed = state.withLockedValue { state -> Bool in
            let before = state.subscribers.count
            state.subscribers.removeAll { $0 === subscriber }
            return state.subscribers.count < before
        }
        if removed { subscriberCount.subtract(1, ordering: .relaxed) }
    }

    // MARK: Helpers

    /// Microseconds since 1970.
    static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1_000_000) }

    static func encode(_ members: [String: JSONValue]) -> String {
        (try? JSONWriter.encodeToString(.object(members))) ?? #"{"type":"error"}"#
    }
}

/// One `/observe` client: a bounded queue in front of its connection (see `ObserverHub`).
final class FeedSubscriber: @unchecked Sendable {
    let follow: String?
    let loop: EventLoop
    /// Touched only on `loop`.
    private weak var connection: WebSocketConnection?
    private let counters = NIOLockedValueBox<(pending: Int, dropped: Int)>((0, 0))

    init(follow: String?, connection: WebSocketConnection, loop: EventLoop) {
        self.follow = follow
        self.connection = connection
        self.loop = loop
    }

    func wants(_ followID: String?) -> Bool { follow == nil || follow == followID }

    /// Queues an event for delivery, or drops and counts it; never blocks.
    func offer(_ event: String) {
        let accepted = counters.withLockedValue { counters -> Bool in
            guard counters.pending < ObserverHub.queueLimit else {
                counters.dropped += 1
                return false
            }
            counters.pending += 1
            return true
        }
        guard accepted else { return }
        loop.execute { self.deliver(event) }
    }

    private func deliver(_ event: String) {
        counters.withLockedValue { $0.pending -= 1 }
        guard let connection, connection.isOpen else { return }
        guard connection.isWritable else {
            counters.withLockedValue { $0.dropped += 1 }
            return
        }
        let dropped = counters.withLockedValue { counters -> Int in
            defer { counters.dropped = 0 }
            return counters.dropped
        }
        if dropped > 0 {
            let report = ObserverHub.encode([
                "type": .string("dropped"), "count": .integer(Int64(dropped)), "t": .integer(ObserverHub.now()),
            ])
            connection.send(text: ByteBuffer(string: report))
        }
        connection.send(text: ByteBuffer(string: event))
    }

    /// Events dropped so far and not yet reported (tests).
    var droppedCount: Int { counters.withLockedValue { $0.dropped } }
}

/// The `/observe` WebSocket: subscribes on open; what the client sends is ignored.
final class ObserverFeedSession: WebSocketSession {
    private let hub: ObserverHub
    private let follow: String?
    private var subscriber: FeedSubscriber?

    init(hub: ObserverHub, follow: String?) {
        self.hub = hub
        self.follow = follow
    }

    func webSocketDidOpen(_ connection: WebSocketConnection) {
        guard let loop = connection.eventLoop else { return }
        let subscriber = FeedSubscriber(follow: follow, connection: connection, loop: loop)
        self.subscriber = subscriber
        hub.subscribe(subscriber)
    }

    func webSocket(_ connection: WebSocketConnection, didReceive message: WebSocketMessage) {}

    func webSocketDidClose(_ connection: WebSocketConnection) {
        if let subscriber { hub.unsubscribe(subscriber) }
        subscriber = nil
    }
}

/// Writes `--trace` lines to stderr (or elsewhere in tests), one whole line at a time.
final class TraceWriter: Sendable {
    private let lock = NIOLock()
    private let sink: @Sendable (String) -> Void

    init(sink: @escaping @Sendable (String) -> Void) { self.sink = sink }

    static let standardError = TraceWriter { line in
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    func line(_ text: String) { lock.withLock { sink(text) } }
}
