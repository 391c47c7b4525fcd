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

    private func makeRuntime(bus: QueuedBus) throws -> LoopRuntime {
        let registry = try ChannelRegistry(directory: directory, displayPrefix: "channels", limits: LuaLimits())
        let vm = try LuaVM(scripts: registry, limits: registry.limits, logger: Logger(label: "test"))
        let subscriptions = LoopSubscriptions()
        bus.subscriptions = subscriptions
        return LoopRuntime(vm: vm, registry: registry, subscriptions: subscriptions, pubSub: bus)
    }

    private func open(_ params: [String: String], runtime: LoopRuntime) throws -> (PhoenixSocket, RecordingTransport) {
        let socket = try XCTUnwrap(SocketConnector.connect(
            params: params, connectInfo: .emptyObject, runtime: runtime, logger: Logger(label: "test"), completion: { _ in }
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
}
