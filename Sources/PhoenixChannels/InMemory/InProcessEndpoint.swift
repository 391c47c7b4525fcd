import Foundation
import KeyValueStore
import Logging
import LuaRuntime
import NIOCore
import PhoenixProtocol

/// One Phoenix socket mount run in-process, without a network or an event loop: the real
/// `PhoenixSocket` state machine, `LuaVM` and topic subscriptions, driven by the caller, with
/// timers on a manual clock. This is what `ChannelTesting` runs tests on (deterministic: every
/// call runs until nothing is left to do, and time moves only with `advanceTime`).
///
/// Not thread-safe: use it from one task at a time. Broadcasts are queued and delivered after the
/// callback that made them returns, as the server's PubSub hops through the event loop.
public final class InProcessEndpoint {
    /// The scripts this endpoint runs.
    public let registry: ChannelRegistry
    /// The manual clock, in milliseconds since the endpoint was made.
    public private(set) var now: Int = 0
    /// Told about every script crash (a join, handle_in, handle_out or handle_info that raised).
    public var onScriptError: ((ScriptError) -> Void)? {
        get { runtime.scriptErrorObserver }
        set { runtime.scriptErrorObserver = newValue }
    }

    private let logger: Logger
    private let subscriptions = LoopSubscriptions()
    private let encoder = BroadcastEncoder()
    private var runtime: LoopRuntime!
    private var queue: [() -> Void] = []
    private var timers: [ManualTimer] = []
    private var nextTimerSequence = 0
    private var nextConnection = 0
    private var draining = false

    /// The `phx.kv` store the endpoint's channels use (an embedded one on the manual clock by default).
    public let store: KeyValueStore

    /// An endpoint over an already loaded registry (one `LuaVM` of its own). `presenceBatchMilliseconds`
    /// is the server's `--presence-batch-ms` (0: a diff per change); its windows run on the manual clock.
    /// `http` answers `phx.http.request` (nil: every request fails "unavailable"); `store` backs `phx.kv`
    /// (default: a fresh embedded store whose TTLs run on the manual clock). Answers and the callback timeout
    /// run on the manual clock and the endpoint's queue, as they would on an event loop.
    public init(
        registry: ChannelRegistry, presenceBatchMilliseconds: Int = 0, logger: Logger = Logger(label: "InProcessEndpoint"),
        http: ScriptHTTPClient? = nil, httpPolicy: HTTPPolicy = HTTPPolicy(), store: KeyValueStore? = nil,
        callbackTimeoutMilliseconds: Int = 10_000
    ) throws {
        self.registry = registry
        self.logger = logger
        let clock = ManualClockReading()
        self.store = store ?? EmbeddedStore(now: { clock.milliseconds })
        clock.endpoint = nil
        let services = ScriptServices(
            executor: { [clock] body in clock.endpoint?.queue.append(body) },
            schedule: { [clock] milliseconds, body in
                clock.endpoint?.schedule(afterMilliseconds: milliseconds, body) ?? ManualTimer(due: 0, sequence: 0, body: {})
            },
            http: http, httpPolicy: httpPolicy, kv: self.store, callbackTimeoutMilliseconds: callbackTimeoutMilliseconds)
        let vm = try LuaVM(scripts: registry, limits: registry.limits, logger: logger, services: services)
        let bus = Bus(endpoint: self)
        let batching = PresenceTracker.Batching(milliseconds: presenceBatchMilliseconds) { [unowned self] ms, flush in
            _ = self.schedule(afterMilliseconds: ms, flush)
        }
        let presence = PresenceTracker(node: vm.node, pubSub: bus, batching: batching)
        self.runtime = LoopRuntime(vm: vm, registry: registry, subscriptions: subscriptions, pubSub: bus, presence: presence)
        clock.endpoint = self
    }

    /// What the VM's services see of the endpoint (set once it exists): its queue and manual clock.
    private final class ManualClockReading: @unchecked Sendable {
        weak var endpoint: InProcessEndpoint?
        var milliseconds: Int64 { Int64(endpoint?.now ?? 0) }
    }

    /// Loads the scripts of `directory` (as the server does for one socket mount) into a new endpoint.
    public convenience init(
        directory: URL, displayPrefix: String? = nil, limits: LuaLimits = LuaLimits(), presenceBatchMilliseconds: Int = 0,
        logger: Logger = Logger(label: "InProcessEndpoint")
    ) throws {
        try self.init(
            registry: ChannelRegistry(directory: directory, displayPrefix: displayPrefix, limits: limits),
            presenceBatchMilliseconds: presenceBatchMilliseconds, logger: logger)
    }

    /// The endpoint's presence tracker (`Presence.list`, leak checks).
    public var presence: PresenceTracker { runtime.presence }

    // MARK: Connecting

    /// Connects as a client would, running `socket.lua`'s `connect` and `id` (V2 serializer).
    public func connect(
        params: [String: String] = [:], connectInfo: JSONValue = .emptyObject
    ) -> Result<InProcessConnection, ConnectRefusal> {
        var later: Result<SocketContext, ConnectRefusal>?
        var now = SocketConnector.authorize(params: params, connectInfo: connectInfo, runtime: runtime) { later = $0 }
        if now == nil {
            runUntilIdle()  // connect waits: its answers (stubs) arrive through the queue
            now = later ?? .failure(.crashed(ScriptError(
                kind: .timeout, script: "socket.lua", message: "connect is still waiting (advance the manual clock first)")))
        }
        return now.map { $0.map { connect(context: $0) } } ?? .failure(.refused(.emptyObject))
    }

    /// A connection for a socket built directly (Phoenix.ChannelTest's `socket(Mod, id, assigns)`),
    /// without running `socket.lua`.
    public func connect(context: SocketContext, serializer: SerializerVersion = .v2) -> InProcessConnection {
        nextConnection += 1
        let socket = PhoenixSocket(context: context, serializerVersion: serializer, runtime: runtime, logger: logger)
        let connection = InProcessConnection(id: "t\(nextConnection)", socket: socket, endpoint: self)
        socket.open(connection)
        runUntilIdle()
        return connection
    }

    // MARK: PubSub

    /// A subscription of the caller itself to a topic (Phoenix.ChannelTest's `subscribe`).
    public final class Subscription: TopicSubscriber {
        public let topic: String
        let handler: (String, Payload) -> Void
        init(topic: String, handler: @escaping (String, Payload) -> Void) {
            self.topic = topic
            self.handler = handler
        }
        public func deliver(_ broadcast: EncodedBroadcast) { handler(broadcast.event, broadcast.payload) }
    }

    /// Subscribes `handler` to every broadcast on `topic` (event, payload), as PubSub delivers them
    /// (before any `handle_out`).
    public func subscribe(_ topic: String, _ handler: @escaping (String, Payload) -> Void) -> Subscription {
        let subscription = Subscription(topic: topic, handler: handler)
        subscriptions.subscribe(subscription, to: topic)
        return subscription
    }

    public func unsubscribe(_ subscription: Subscription) {
        subscriptions.unsubscribe(subscription, from: subscription.topic)
    }

    /// `Endpoint.broadcast` (or `broadcast_from` with `excluding`), then runs until idle.
    public func broadcast(topic: String, event: String, payload: Payload, excluding: Subscription? = nil) {
        enqueueBroadcast(topic: topic, event: event, payload: payload, excluding: excluding)
        runUntilIdle()
    }

    fileprivate func enqueueBroadcast(topic: String, event: String, payload: Payload, excluding: TopicSubscriber?) {
        let encoded = encoder.encode(topic: topic, event: event, payload: payload, excluding: excluding)
        queue.append { [subscriptions] in subscriptions.deliver(encoded) }
    }

    private final class Bus: PubSubAdapter {
        unowned let endpoint: InProcessEndpoint
        init(endpoint: InProcessEndpoint) { self.endpoint = endpoint }
        func broadcast(topic: String, event: String, payload: Payload, excluding excluded: TopicSubscriber?) {
            endpoint.enqueueBroadcast(topic: topic, event: event, payload: payload, excluding: excluded)
        }
    }

    // MARK: The manual clock

    final class ManualTimer: PhoenixTimer, ScriptCancellable {
        let due: Int
        let sequence: Int
        var body: (() -> Void)?
        init(due: Int, sequence: Int, body: @escaping () -> Void) {
            self.due = due
            self.sequence = sequence
            self.body = body
        }
        func cancel() { body = nil }
    }

    func schedule(afterMilliseconds milliseconds: Int, _ body: @escaping () -> Void) -> ManualTimer {
        nextTimerSequence += 1
        let timer = ManualTimer(due: now + max(0, milliseconds), sequence: nextTimerSequence, body: body)
        timers.append(timer)
        return timer
    }

    /// Runs `body` once the manual clock has moved `milliseconds` on (a stub's delayed answer).
    public func later(milliseconds: Int, _ body: @escaping () -> Void) {
        _ = schedule(afterMilliseconds: milliseconds, body)
    }

    /// Timers still pending (not fired, not cancelled).
    public var pendingTimerCount: Int { timers.filter { $0.body != nil }.count }

    /// Moves the clock forward, firing every timer that falls due on the way, in order.
    public func advanceTime(byMilliseconds milliseconds: Int) {
        precondition(milliseconds >= 0, "time only moves forward")
        let target = now + milliseconds
        runUntilIdle()
        while let next = nextDueTimer(by: target) {
            now = max(now, next.due)
            fire(next)
            runUntilIdle()
        }
        now = target
    }

    private func nextDueTimer(by time: Int) -> ManualTimer? {
        timers.removeAll { $0.body == nil }
        return timers.filter { $0.due <= time }.min { ($0.due, $0.sequence) < ($1.due, $1.sequence) }
    }

    private func fire(_ timer: ManualTimer) {
        let body = timer.body
        timer.body = nil
        body?()
    }

    /// Runs queued deliveries and timers already due (`send_after(socket, 0, …)`) until none is left.
    public func runUntilIdle() {
        guard !draining else { return }
        draining = true
        defer { draining = false }
        while true {
            if !queue.isEmpty {
                let task = queue.removeFirst()
                task()
            } else if let timer = nextDueTimer(by: now) {
                fire(timer)
            } else {
                return
            }
        }
    }
}

/// A client connection to an `InProcessEndpoint`: frames in with `send`, frames out to `onFrame`.
public final class InProcessConnection: PhoenixTransport {
    public let id: String
    /// Receives every frame the server sends, in order.
    public var onFrame: ((OutboundFrame) -> Void)?
    /// Set when the server closed the connection (a `disconnect` broadcast, an undecodable frame).
    public private(set) var closeReason: SocketCloseReason?
    /// False once either side closed.
    public private(set) var isOpen = true

    private let socket: PhoenixSocket
    private unowned let endpoint: InProcessEndpoint

    init(id: String, socket: PhoenixSocket, endpoint: InProcessEndpoint) {
        self.id = id
        self.socket = socket
        self.endpoint = endpoint
    }

    /// Delivers a text frame from the client, then runs the endpoint until idle.
    public func send(text: String) {
        guard isOpen else { return }
        socket.receive(.text(ByteBuffer(string: text)))
        endpoint.runUntilIdle()
    }

    /// Delivers a binary frame from the client, then runs the endpoint until idle.
    public func send(binary: [UInt8]) {
        guard isOpen else { return }
        socket.receive(.binary(ByteBuffer(bytes: binary)))
        endpoint.runUntilIdle()
    }

    /// The client closes the connection: every channel terminates with `shutdown:closed`.
    public func close() {
        guard isOpen else { return }
        isOpen = false
        socket.closed()
        endpoint.runUntilIdle()
    }

    // MARK: PhoenixTransport (the server's side)

    public func send(_ frame: PhoenixFrame) {
        guard isOpen else { return }
        switch frame {
        case .text(let text): onFrame?(.text(Array(text.readableBytesView)))
        case .binary(let data): onFrame?(.binary(Array(data.readableBytesView)))
        }
    }

    public func send(_ shared: SharedFrame) { send(shared.frame) }

    public func close(_ reason: SocketCloseReason) {
        guard isOpen else { return }
        closeReason = reason
        isOpen = false
        socket.closed()
    }

    public func schedule(afterMilliseconds milliseconds: Int, _ body: @escaping () -> Void) -> PhoenixTimer {
        endpoint.schedule(afterMilliseconds: milliseconds, body)
    }

    /// The manual clock: rate limits (joins, `phx.rate`) refill only as `advanceTime` moves it.
    public var now: NIODeadline { .uptimeNanoseconds(UInt64(endpoint.now) * 1_000_000) }
}
