import Logging
import LuaRuntime
import NIOCore

/// What one event loop owns: its Lua VM (every channel joined on this loop lives in it) and its
/// share of the PubSub subscriptions. Used only on its loop: no locks (the OpenResty model).
public final class LoopRuntime {
    public let vm: LuaVM
    public let registry: ChannelRegistry
    public let subscriptions: LoopSubscriptions
    public let pubSub: any PubSubAdapter
    /// The node's presence tracker, shared by every loop (the VM's `phx.presence.list` reads it too).
    public let presence: PresenceTracker
    /// Channels one socket may have joined at once (Phoenix 1.8's `max_channels_per_transport`).
    public let maxChannelsPerSocket: Int
    /// Each socket's inbound message and join rates.
    public let socketLimits: SocketLimits
    /// Told about every script crash a socket of this runtime handles (ChannelTesting reports them).
    public var scriptErrorObserver: ((ScriptError) -> Void)?
    /// The open Phoenix sockets on this loop (hot reload closes the channels of a deleted script).
    public var sockets: [ObjectIdentifier: PhoenixSocket] = [:]
    /// This loop's counters (`/metrics`), shared with its PubSub subscriptions.
    public var metrics: LoopMetrics { subscriptions.metrics }
    /// Reused by every socket of this loop to encode outbound frames (no array growth per message).
    var encodeScratch: [UInt8] = []
    /// Reused for the payload of every reply (`PhoenixSocket.sendReply`).
    var replyScratch: [UInt8] = []

    public init(
        vm: LuaVM,
        registry: ChannelRegistry,
        subscriptions: LoopSubscriptions,
        pubSub: any PubSubAdapter,
        presence: PresenceTracker? = nil,
        maxChannelsPerSocket: Int = 100,
        socketLimits: SocketLimits = SocketLimits()
    ) {
        self.vm = vm
        self.registry = registry
        self.subscriptions = subscriptions
        self.pubSub = pubSub
        // Without a node-wide tracker (a single-loop runtime), one of its own.
        self.presence = presence ?? PresenceTracker(node: vm.node, pubSub: pubSub)
        self.maxChannelsPerSocket = maxChannelsPerSocket
        vm.presence = self.presence
        self.socketLimits = socketLimits
    }
}

/// One `LoopRuntime` per event loop of the server.
public final class LoopRuntimes: Sendable {
    private let runtimes: [(loop: EventLoop, runtime: NIOLoopBound<LoopRuntime>)]

    /// Builds each loop's runtime on that loop (a `lua_State` must only be touched by its own thread).
    public static func make(
        loops: [EventLoop],
        build: @escaping @Sendable (EventLoop) throws -> LoopRuntime
    ) async throws -> LoopRuntimes {
        var runtimes: [(EventLoop, NIOLoopBound<LoopRuntime>)] = []
        for loop in loops {
            let bound = try await loop.submit { NIOLoopBound(try build(loop), eventLoop: loop) }.get()
            runtimes.append((loop, bound))
        }
        return LoopRuntimes(runtimes: runtimes)
    }

    private init(runtimes: [(EventLoop, NIOLoopBound<LoopRuntime>)]) {
        self.runtimes = runtimes.map { (loop: $0.0, runtime: $0.1) }
    }

    /// Runs `body` on every loop with that loop's runtime; the results in loop order.
    public func onEveryLoop<T: Sendable>(_ body: @escaping @Sendable (LoopRuntime) -> T) -> EventLoopFuture<[T]> {
        let futures = runtimes.map { entry in entry.loop.submit { body(entry.runtime.value) } }
        return EventLoopFuture.whenAllSucceed(futures, on: runtimes[0].loop)
    }

    /// The runtime of `loop`; call only on that loop.
    public func runtime(on loop: EventLoop) -> LoopRuntime {
        guard let entry = runtimes.first(where: { $0.loop === loop }) else {
            preconditionFailure("event loop not part of this server")
        }
        return entry.runtime.value
    }
}
