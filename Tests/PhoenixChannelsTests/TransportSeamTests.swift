import Foundation
import Logging
import LuaRuntime
import NIOCore
import PhoenixChannels
import PhoenixProtocol
import XCTest

/// The channel layer driven through a transport of the test's own, as the WebSocket and LongPoll
/// transports drive it: frames in with `receive`, frames out through `PhoenixTransport`.
final class TransportSeamTests: XCTestCase {
    final class RecordingTransport: PhoenixTransport {
        let id = "r1"
        var sent: [String] = []
        var closedWith: SocketCloseReason?
        /// A manual clock (rate limits read it).
        var now = NIODeadline.uptimeNanoseconds(1_000_000_000)

        func send(_ frame: PhoenixFrame) { sent.append(String(buffer: frame.bytes)) }
        func send(_ shared: SharedFrame) { sent.append("shared " + String(buffer: shared.frame.bytes)) }
        func close(_ reason: SocketCloseReason) { closedWith = reason }
        func schedule(afterMilliseconds milliseconds: Int, _ body: @escaping () -> Void) -> PhoenixTimer { NoTimer() }
    }

    /// Queues broadcasts; `flush` delivers them to the loop's subscriptions (after the callback, as PubSub does).
    final class QueuedBus: PubSubAdapter {
        var subscriptions: LoopSubscriptions?
        var queued: [EncodedBroadcast] = []
        let encoder = BroadcastEncoder(prepare: { _ in "prepared" })
        func broadcast(topic: String, event: String, payload: Payload, excluding excluded: TopicSubscriber?) {
            queued.append(encoder.encode(topic: topic, event: event, payload: payload, excluding: excluded))
        }
        func flush() {
            while !queued.isEmpty { subscriptions?.deliver(queued.removeFirst()) }
        }
    }

    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("seam-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try """
        local channel = { topic = "room:*" }
        function channel.join(topic, payload, socket) return phx.ok() end
        function channel.handle_in(event, payload, socket)
          if event == "shout" then phx.broadcast(socket, "shout", payload) return end
          if event == "limited" then return phx.ok({ allowed = phx.rate(socket, "k", 1, 2) }) end
          return phx.ok({ echo = payload })
        end
        return channel
        """.write(to: directory.appendingPathComponent("room.lua"), atomically: true, encoding: .utf8)
        try """
        local socket = {}
        function socket.connect(params, connect_info)
          if params.user == "mallory" then return phx.error({ reason = "banned" }) end
          return phx.ok({ user = params.user })
        end
        return socket
        """.write(to: directory.appendingPathComponent("socket.lua"), atomically: true, encoding: .utf8)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    private func makeRuntime(bus: QueuedBus, limits: SocketLimits = SocketLimits()) throws -> LoopRuntime {
        let registry = try ChannelRegistry(directory: directory, displayPrefix: "channels", limits: LuaLimits())
        let vm = try LuaVM(scripts: registry, limits: registry.limits, logger: Logger(label: "test"))
        let subscriptions = LoopSubscriptions()
        bus.subscriptions = subscriptions
        return LoopRuntime(vm: vm, registry: registry, subscriptions: subscriptions, pubSub: bus, socketLimits: limits)
    }

    private func open(
        _ params: [String: String], runtime: LoopRuntime, logger: Logger = Logger(label: "test")
    ) throws -> (PhoenixSocket, RecordingTransport) {
        let socket = try XCTUnwrap(SocketConnector.connect(
            params: params, connectInfo: .emptyObject, runtime: runtime, logger: logger, completion: { _ in }
        )).get()
        let transport = RecordingTransport()
        socket.open(transport)
        return (socket, transport)
    }

    func testRepliesAndBroadcastsGoThroughTheTransport() throws {
        let bus = QueuedBus()
        let runtime = try makeRuntime(bus: bus)
        let (socket, transport) = try open(["vsn": "2.0.0", "user": "ana"], runtime: runtime)
        socket.receive(.text(ByteBuffer(string: #"["1","1","room:a","phx_join",{}]"#)))
        socket.receive(.text(ByteBuffer(string: #"["1","2","room:a","hi",{"n":1}]"#)))
        socket.receive(.text(ByteBuffer(string: #"["1","3","room:a","shout",{"n":2}]"#)))
        bus.flush()
        XCTAssertEqual(transport.sent, [
            #"["1","1","room:a","phx_reply",{"response":{},"status":"ok"}]"#,
            #"["1","2","room:a","phx_reply",{"response":{"echo":{"n":1}},"status":"ok"}]"#,
            // A broadcast reaches the transport as the frame shared by every subscriber of the node.
            #"shared [null,null,"room:a","shout",{"n":2}]"#,
        ])
        XCTAssertEqual(socket.context.assigns, .object(["user": .string("ana")]))
    }

    func testUndecodableInputClosesWithAReason() throws {
        let (socket, transport) = try open(["vsn": "2.0.0"], runtime: try makeRuntime(bus: QueuedBus()))
        socket.receive(.text(ByteBuffer(string: "not json")))
        guard case .undecodable(let why)? = transport.closedWith else {
            return XCTFail("expected an undecodable close, got \(String(describing: transport.closedWith))")
        }
        XCTAssertFalse(why.isEmpty)
    }

    func testConnectRefusals() throws {
        let runtime = try makeRuntime(bus: QueuedBus())
        let logger = Logger(label: "test")
        func refusal(_ params: [String: String]) -> ConnectRefusal? {
            if case .failure(let refusal)? = SocketConnector.connect(
                params: params, connectInfo: .emptyObject, runtime: runtime, logger: logger, completion: { _ in })
            {
                return refusal
            }
            return nil
        }
        XCTAssertEqual(refusal(["vsn": "3.0.0"]), .unsupportedVersion("3.0.0"))
        XCTAssertEqual(refusal(["vsn": "2.0.0", "user": "mallory"]), .refused(.object(["reason": .string("banned")])))
        XCTAssertEqual(refusal(["vsn": "2.0.0", "user": "mallory"])?.description, #"connect refused by socket.lua: {"reason":"banned"}"#)
        XCTAssertNil(refusal(["user": "ana"]))  // no vsn: V1, as Phoenix
    }

    // MARK: Rate limits (any transport)

    func testJoinsPastTheJoinRateAreAnsweredRateLimited() throws {
        let (socket, transport) = try open(["vsn": "2.0.0"], runtime: try makeRuntime(bus: QueuedBus()))
        for n in 1...25 { socket.receive(.text(ByteBuffer(string: #"["\#(n)","\#(n)","room:\#(n)","phx_join",{}]"#))) }
        XCTAssertEqual(transport.sent.filter { $0.hasSuffix(#"{"response":{},"status":"ok"}]"#) }.count, 20, "the default burst")
        XCTAssertEqual(transport.sent.last, #"["25","25","room:25","phx_reply",{"response":{"reason":"rate limited"},"status":"error"}]"#)
        XCTAssertEqual(socket.metrics.joinsRateLimited, 5)
        socket.receive(.text(ByteBuffer(string: #"["25","26","room:25","hi",{}]"#)))
        XCTAssertEqual(transport.sent.last, #"[null,"26","room:25","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]"#)
        transport.now = transport.now + .milliseconds(99)
        socket.receive(.text(ByteBuffer(string: #"["27","27","room:27","phx_join",{}]"#)))
        XCTAssertTrue(transport.sent.last?.contains("rate limited") == true)
        transport.now = transport.now + .milliseconds(1)  // 10 a second: a token every 100 ms
        socket.receive(.text(ByteBuffer(string: #"["28","28","room:28","phx_join",{}]"#)))
        XCTAssertEqual(transport.sent.last, #"["28","28","room:28","phx_reply",{"response":{},"status":"ok"}]"#)
        XCTAssertNil(transport.closedWith, "the socket stays open")
    }

    func testTheMessageRateMakesTheTransportWaitAndClosesPastTheGrace() throws {
        let limits = SocketLimits(messageRate: 10, messageBurst: 3, throttleGrace: .seconds(2))
        let (socket, transport) = try open(["vsn": "2.0.0"], runtime: try makeRuntime(bus: QueuedBus(), limits: limits))
        let start = transport.now
        XCTAssertEqual((0..<3).map { _ in socket.admitMessage() }, [.proceed, .proceed, .proceed])
        XCTAssertEqual(socket.admitMessage(), .wait(until: start + .milliseconds(100)))
        XCTAssertEqual(socket.metrics.throttledSockets, 1)
        transport.now = start + .milliseconds(100)
        XCTAssertEqual(socket.admitMessage(), .proceed)
        XCTAssertEqual(socket.metrics.throttledSockets, 0)
        XCTAssertEqual(socket.metrics.throttledNanoseconds, 100_000_000)
        // Kept over the rate: every wait honoured, and still closed once the grace is over.
        var admission = socket.admitMessage()
        while case .wait(let until) = admission {
            transport.now = until
            admission = socket.admitMessage()
            if admission == .proceed { admission = socket.admitMessage() }
        }
        XCTAssertEqual(admission, .close(reason: "message rate exceeded: over 10/s for 2.1 s"))
        XCTAssertEqual(transport.now, start + .milliseconds(2100))
        XCTAssertEqual(socket.metrics.rateLimitCloses, 1)
        XCTAssertEqual(socket.metrics.throttledSockets, 0)
    }

    func testAClosedSocketIsNoLongerCountedAsThrottled() throws {
        let limits = SocketLimits(messageRate: 10, messageBurst: 1)
        let (socket, transport) = try open(["vsn": "2.0.0"], runtime: try makeRuntime(bus: QueuedBus(), limits: limits))
        XCTAssertEqual(socket.admitMessage(), .proceed)
        guard case .wait = socket.admitMessage() else { return XCTFail("expected to wait") }
        XCTAssertEqual(socket.metrics.throttledSockets, 1)
        transport.now = transport.now + .milliseconds(40)
        socket.closed()
        XCTAssertEqual(socket.metrics.throttledSockets, 0)
        XCTAssertEqual(socket.metrics.throttledNanoseconds, 40_000_000)
    }

    func testNoLimitMeansNoLimit() throws {
        let (socket, _) = try open(["vsn": "2.0.0"], runtime: try makeRuntime(bus: QueuedBus(), limits: .unlimited))
        XCTAssertTrue((0..<10_000).allSatisfy { _ in socket.admitMessage() == .proceed })
    }

    func testPhxRateRunsOnTheTransportsClock() throws {
        let (socket, transport) = try open(["vsn": "2.0.0"], runtime: try makeRuntime(bus: QueuedBus()))
        socket.receive(.text(ByteBuffer(string: #"["1","1","room:a","phx_join",{}]"#)))
        for ref in 2...4 { socket.receive(.text(ByteBuffer(string: #"["1","\#(ref)","room:a","limited",{}]"#))) }
        transport.now = transport.now + .seconds(1)
        socket.receive(.text(ByteBuffer(string: #"["1","5","room:a","limited",{}]"#)))
        XCTAssertEqual(transport.sent.dropFirst().map { $0.contains(#""allowed":true"#) }, [true, true, false, true])
    }

    func testAnOffendingClientIsLoggedOnceAMinuteNotOnceAMessage() throws {
        let log = RecordedLog()
        let logger = Logger(label: "test") { _ in log }
        let limits = SocketLimits(messageRate: 10, messageBurst: 1, throttleGrace: .zero, joinRate: 1, joinBurst: 1)
        let (socket, transport) = try open(
            ["vsn": "2.0.0"], runtime: try makeRuntime(bus: QueuedBus(), limits: limits), logger: logger)
        func floodFor(seconds: Int) {
            let end = transport.now + .seconds(Int64(seconds))
            while transport.now < end {  // a join whenever the message rate lets one in: 10 a second
                switch socket.admitMessage() {
                case .proceed: socket.receive(.text(ByteBuffer(string: #"["1","1","room:a","phx_join",{}]"#)))
                case .wait(let until): transport.now = until
                case .close: return XCTFail("no grace: never closed")
                }
            }
        }
        floodFor(seconds: 30)  // some 300 pauses and 270 refused joins
        XCTAssertEqual(log.messages, [
            "client over the message rate: not reading it until it slows down",
            "client over the join rate: joins answered rate limited",
        ])
        floodFor(seconds: 31)
        XCTAssertEqual(log.messages.count, 4, "once more each, a minute after the first")
    }
}

/// A log handler keeping the messages it is given.
private final class RecordedLog: LogHandler, @unchecked Sendable {
    var messages: [String] = []
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) { messages.append(event.message.description) }
}
