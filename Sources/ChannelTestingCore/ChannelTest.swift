import Foundation
import KeyValueStore
import LuaRuntime
import PhoenixProtocol

/// Where assertion failures go: XCTFail in `ChannelTesting`, a list in the Lua spec runner.
public protocol ChannelTestReporter: AnyObject {
    func fail(_ message: String, file: StaticString, line: UInt)
}

/// A message the test received, as Phoenix.ChannelTest's test process does.
public struct TestMessage: Equatable, Sendable, CustomStringConvertible {
    public enum Kind: Equatable, Sendable {
        /// `phx_reply` to the push with this ref.
        case reply(ref: JSONValue, status: String, response: JSONValue)
        /// Anything else the socket sent on a topic: `phx.push`, fastlane broadcasts, `phx_close`, `phx_error`.
        case push(event: String, payload: JSONValue)
        /// A broadcast seen through the test's own subscription to the topic (`assertBroadcast`).
        case broadcast(event: String, payload: JSONValue)
    }

    public var topic: String
    public var kind: Kind

    public var description: String {
        switch kind {
        case .reply(let ref, let status, let response): return "reply \(ref.compact) \(status) \(response.compact) on \(topic)"
        case .push(let event, let payload): return "push \(event) \(payload.compact) on \(topic)"
        case .broadcast(let event, let payload): return "broadcast \(event) \(payload.compact) on \(topic)"
        }
    }
}

/// The test process of Phoenix.ChannelTest: opens sockets on a transport, joins channels, and
/// keeps one mailbox of everything received, which the `assert*`/`refute*` methods of
/// `ChannelSocket` search (and consume, for asserts).
///
/// The same test body runs in memory (`InMemoryTransport`: deterministic, `advanceTime` works)
/// or against a live server (`LiveTransport`: assertions wait, no manual clock).
public final class ChannelTest {
    public let transport: any ChannelTestTransport
    public let reporter: any ChannelTestReporter
    /// How long assertions wait on a live transport (ignored in memory). Default 1 s.
    public var assertTimeout: Duration = .seconds(1)
    /// How long refutations watch on a live transport (ignored in memory). Default 100 ms, as ExUnit.
    public var refuteTimeout: Duration = .milliseconds(100)

    struct Entry {
        var socket: ObjectIdentifier?  // nil for the test's own broadcast subscription
        var message: TestMessage
    }
    var mailbox: [Entry] = []
    /// Script crashes seen so far (in memory), newest last; failure messages cite them.
    public private(set) var scriptErrors: [ScriptError] = []
    private var sockets: [TestSocket] = []
    /// Live: per topic, the socket whose fastlane frames stand for the test's broadcasts.
    var broadcastWitness: [String: ObjectIdentifier] = [:]
    private var subscribed: Set<String> = []

    public init(transport: any ChannelTestTransport, reporter: any ChannelTestReporter) {
        self.transport = transport
        self.reporter = reporter
    }

    /// Opens a socket: through `socket.lua` with `params`, or built directly when `id` or
    /// `assigns` is given (Phoenix.ChannelTest's `socket(Mod, id, assigns)`; in memory only).
    public func socket(params: [String: String] = [:], id: String? = nil, assigns: JSONValue? = nil) async throws -> TestSocket {
        let connection = try await transport.connect(SocketOptions(params: params, id: id, assigns: assigns))
        let socket = TestSocket(test: self, connection: connection)
        sockets.append(socket)
        await collect()
        return socket
    }

    /// A new socket (default options) joined to `topic`: Phoenix's `subscribe_and_join!`.
    /// Throws `ChannelTestError.joinRefused` when the join replies error.
    public func subscribeAndJoin(_ topic: String, _ payload: JSONValue = .emptyObject) async throws -> ChannelSocket {
        try await socket().subscribeAndJoin(topic, payload)
    }

    /// `Endpoint.broadcast(topic, event, payload)`.
    public func broadcast(_ topic: String, _ event: String, _ payload: JSONValue = .emptyObject) async throws {
        try await transport.broadcast(topic: topic, event: event, payload: payload, excludingTest: false)
        await collect()
    }

    /// Moves the manual clock forward: due `phx.send_after` timers fire (in memory only; a live
    /// server throws `ChannelTestError.manualClockUnavailable`).
    public func advanceTime(by duration: Duration) async throws {
        let (seconds, attoseconds) = duration.components
        try await transport.advanceTime(byMilliseconds: Int(seconds * 1000 + attoseconds / 1_000_000_000_000_000))
        await collect()
    }

    /// `Presence.list(topic)`: `{key: {metas: [meta, …]}}` as clients have been told it (in memory; a live
    /// server throws `ChannelTestError.unsupported`). Diffs arrive as ordinary pushes (`presence_diff`).
    public func presenceList(_ topic: String) async throws -> JSONValue {
        await collect()
        return try await transport.presenceList(topic: topic)
    }

    /// Answers `phx.http.request`s for `method url` with `response` from now on (in memory only):
    /// `try test.stubHTTP("GET", "http://backend/x", HTTPStubResponse(status: 200, body: "{}"))`.
    public func stubHTTP(_ method: String, _ url: String, _ response: HTTPStubResponse) throws {
        try transport.stubHTTP(method: method, url: url, response: response)
    }

    /// The `phx.http.request`s the channels made so far, in order (in memory only).
    public func httpRequests() throws -> [ScriptHTTPRequest] {
        try transport.httpRequests()
    }

    /// The `phx.kv` store the channels use, to seed it or look into it.
    public func store() throws -> KeyValueStore {
        try transport.keyValueStore()
    }

    /// Subscribes the test to a topic (done by `subscribeAndJoin`).
    func subscribe(_ topic: String, witness: TestSocket) {
        guard subscribed.insert(topic).inserted else { return }
        let direct = transport.subscribe(topic: topic) { [weak self] event, payload in
            self?.mailbox.append(Entry(socket: nil, message: TestMessage(topic: topic, kind: .broadcast(event: event, payload: payload))))
        }
        if !direct { broadcastWitness[topic] = ObjectIdentifier(witness) }
    }

    /// Moves what every socket received into the mailbox (no waiting).
    func collect() async {
        for socket in sockets where !transport.isLive {
            if let frames = try? await socket.connection.receive(timeout: .zero) { record(frames, from: socket) }
        }
        scriptErrors += transport.takeScriptErrors()
    }

    func record(_ frames: [OutboundFrame], from socket: TestSocket) {
        let serializer = V2JSONSerializer()
        for frame in frames {
            guard let message = try? (frame.kind == .text ? serializer.decodeText(frame.bytes) : serializer.decodeBinary(frame.bytes)) else {
                continue
            }
            let id = ObjectIdentifier(socket)
            let payload = message.payload.testJSON
            if message.event == PhoenixEvent.reply {
                let status = message.replyStatus ?? payload["status"]?.stringValue ?? "?"
                let response = message.replyStatus != nil ? payload : (payload["response"] ?? .emptyObject)
                mailbox.append(Entry(socket: id, message: TestMessage(topic: message.topic, kind: .reply(ref: message.ref, status: status, response: response))))
                continue
            }
            mailbox.append(Entry(socket: id, message: TestMessage(topic: message.topic, kind: .push(event: message.event, payload: payload))))
            if message.joinRef == .null, message.ref == .null, broadcastWitness[message.topic] == id {
                mailbox.append(Entry(socket: nil, message: TestMessage(topic: message.topic, kind: .broadcast(event: message.event, payload: payload))))
            }
        }
    }

    /// Finds (and with `consume`, removes) the first mailbox entry `matches` accepts, waiting up
    /// to `timeout` on a live transport for frames from `socket`.
    func find(
        on socket: TestSocket, timeout: Duration, consume: Bool, _ matches: (Entry) -> Bool
    ) async -> TestMessage? {
        await collect()
        let deadline = ContinuousClock.now + timeout
        while true {
            if let index = mailbox.firstIndex(where: matches) {
                let message = mailbox[index].message
                if consume { mailbox.remove(at: index) }
                return message
            }
            let remaining = deadline - ContinuousClock.now
            guard transport.isLive, remaining > .zero, socket.isOpen else { return nil }
            guard let frames = try? await socket.connection.receive(timeout: remaining) else { return nil }
            record(frames, from: socket)
        }
    }

    /// A failure message: what was expected, and what arrived instead.
    func failure(_ expectation: String, socket: TestSocket, topic: String) -> String {
        let seen = mailbox.filter { $0.socket == nil || $0.socket == ObjectIdentifier(socket) }.map(\.message.description)
        var text = "\(expectation) on \(topic): "
        text += seen.isEmpty ? "received nothing" : "received instead: [" + seen.joined(separator: "; ") + "]"
        if let error = scriptErrors.last { text += "; script error: \(error.message)" }
        return text
    }
}

/// One socket connection of a `ChannelTest` (Phoenix.ChannelTest's socket).
public final class TestSocket {
    public unowned let test: ChannelTest
    let connection: any ChannelTestConnection
    private var nextRef = 0
    public private(set) var isOpen = true

    init(test: ChannelTest, connection: any ChannelTestConnection) {
        self.test = test
        self.connection = connection
    }

    func makeRef() -> String {
        nextRef += 1
        return String(nextRef)
    }

    func send(joinRef: String?, ref: String, topic: String, event: String, payload: JSONValue) async throws {
        let message = Message(
            joinRef: joinRef.map(JSONValue.string) ?? .null, ref: .string(ref), topic: topic, event: event, payload: .json(payload))
        guard case .text(let bytes) = try V2JSONSerializer().encode(message) else { return }
        try await connection.send(text: String(decoding: bytes, as: UTF8.self))
        await test.collect()
    }

    /// Subscribes the test to `topic`, then joins it (`subscribe_and_join!`). Throws
    /// `ChannelTestError.joinRefused` (with the error reply) when the join is refused.
    public func subscribeAndJoin(_ topic: String, _ payload: JSONValue = .emptyObject) async throws -> ChannelSocket {
        test.subscribe(topic, witness: self)
        return try await join(topic, payload)
    }

    /// Joins `topic` without subscribing the test to it (`join`).
    public func join(_ topic: String, _ payload: JSONValue = .emptyObject) async throws -> ChannelSocket {
        let ref = makeRef()
        try await send(joinRef: ref, ref: ref, topic: topic, event: PhoenixEvent.join, payload: payload)
        let reply = await test.find(on: self, timeout: test.assertTimeout, consume: true) { entry in
            guard entry.socket == ObjectIdentifier(self), entry.message.topic == topic,
                case .reply(.string(ref), _, _) = entry.message.kind else { return false }
            return true
        }
        guard case .reply(_, let status, let response)? = reply?.kind else { throw ChannelTestError.noJoinReply(topic: topic) }
        guard status == "ok" else { throw ChannelTestError.joinRefused(topic: topic, status: status, response: response) }
        return ChannelSocket(socket: self, topic: topic, joinRef: ref, joinReply: response)
    }

    /// Closes the connection (every channel on it terminates with `shutdown:closed`).
    public func close() async {
        guard isOpen else { return }
        isOpen = false
        await connection.close()
        await test.collect()
    }
}

/// A joined channel: push to it and assert on what comes back.
public final class ChannelSocket {
    public let socket: TestSocket
    public let topic: String
    /// The join's ref, which every frame of this channel carries as join_ref.
    public let joinRef: String
    /// The join's ok response (`{}` unless the script replied with one).
    public let joinReply: JSONValue
    var test: ChannelTest { socket.test }

    init(socket: TestSocket, topic: String, joinRef: String, joinReply: JSONValue) {
        self.socket = socket
        self.topic = topic
        self.joinRef = joinRef
        self.joinReply = joinReply
    }

    /// Pushes an event to the channel (handle_in); returns the ref to `assertReply` on.
    @discardableResult
    public func push(_ event: String, _ payload: JSONValue = .emptyObject) async throws -> String {
        let ref = socket.makeRef()
        try await socket.send(joinRef: joinRef, ref: ref, topic: topic, event: event, payload: payload)
        return ref
    }

    /// Leaves the channel (`phx_leave`, terminate `shutdown:left`); returns the leave's ref
    /// (its reply is `ok {}`, then `phx_close` is pushed).
    @discardableResult
    public func leave() async throws -> String {
        try await push(PhoenixEvent.leave)
    }

    /// Closes the socket this channel lives on (`shutdown:closed`), as Phoenix.ChannelTest's `close`.
    public func close() async { await socket.close() }

    /// Broadcasts on this topic from the test (`broadcast_from`): every channel of the topic
    /// gets it, the test's own subscription does not. Live: sent through the server's broadcast
    /// API, so `assertBroadcast` may see it.
    public func broadcastFrom(_ event: String, _ payload: JSONValue = .emptyObject) async throws {
        try await test.transport.broadcast(topic: topic, event: event, payload: payload, excludingTest: true)
        await test.collect()
    }

    private func mine(_ entry: ChannelTest.Entry) -> Bool {
        entry.socket == ObjectIdentifier(socket) && entry.message.topic == topic
    }

    // MARK: Assertions

    /// Waits for a message `payload` picks (returning its payload) and consumes it; reports `expectation` if none comes.
    private func expect(
        _ expectation: String, file: StaticString, line: UInt, _ payload: (ChannelTest.Entry) -> JSONValue?
    ) async -> JSONValue? {
        var picked: JSONValue?
        _ = await test.find(on: socket, timeout: test.assertTimeout, consume: true) { entry in
            picked = payload(entry)
            return picked != nil
        }
        if picked == nil {
            test.reporter.fail(test.failure("expected \(expectation)", socket: socket, topic: topic), file: file, line: line)
        }
        return picked
    }

    /// Reports a failure if a message `payload` picks arrives within the refute timeout (it is left in place).
    private func refute(
        _ expectation: String, file: StaticString, line: UInt, _ payload: (ChannelTest.Entry) -> JSONValue?
    ) async {
        let found = await test.find(on: socket, timeout: test.refuteTimeout, consume: false) { payload($0) != nil }
        if let found { test.reporter.fail("expected no \(expectation) on \(topic), got \(found)", file: file, line: line) }
    }

    /// Picks a reply to `ref` on this channel (any status when nil) matching `pattern`.
    private func reply(_ ref: String, _ status: String?, _ pattern: Pattern) -> (ChannelTest.Entry) -> JSONValue? {
        { [self] entry in
            guard mine(entry), case .reply(.string(ref), let s, let response) = entry.message.kind,
                status == nil || status == s, pattern.matches(response)
            else { return nil }
            return response
        }
    }

    /// Picks a push of `event` on this channel matching `pattern`.
    private func push(_ event: String, _ pattern: Pattern) -> (ChannelTest.Entry) -> JSONValue? {
        { [self] entry in
            guard mine(entry), case .push(event, let payload) = entry.message.kind, pattern.matches(payload) else { return nil }
            return payload
        }
    }

    /// Picks a broadcast of `event` on this topic, as the test's subscription saw it, matching `pattern`.
    private func broadcast(_ event: String, _ pattern: Pattern) -> (ChannelTest.Entry) -> JSONValue? {
        { [topic] entry in
            guard entry.socket == nil, entry.message.topic == topic, case .broadcast(event, let payload) = entry.message.kind,
                pattern.matches(payload)
            else { return nil }
            return payload
        }
    }

    /// Asserts a reply to `ref` with `status` whose response matches `pattern`; returns the response.
    @discardableResult
    public func assertReply(
        _ ref: String, _ status: String = "ok", matching pattern: Pattern = .any,
        file: StaticString = #filePath, line: UInt = #line
    ) async -> JSONValue? {
        await expect("reply \(status) \(pattern) to ref \(ref)", file: file, line: line, reply(ref, status, pattern))
    }

    /// Asserts no reply to `ref` (with `status`, when given) matching `pattern` arrives.
    public func refuteReply(
        _ ref: String, _ status: String? = nil, matching pattern: Pattern = .any,
        file: StaticString = #filePath, line: UInt = #line
    ) async {
        await refute("reply to ref \(ref)", file: file, line: line, reply(ref, status, pattern))
    }

    /// Asserts the channel pushed `event` (a `phx.push`, a fastlane broadcast, `phx_close`,
    /// `phx_error`) with a payload matching `pattern`; returns the payload.
    @discardableResult
    public func assertPush(
        _ event: String, matching pattern: Pattern = .any, file: StaticString = #filePath, line: UInt = #line
    ) async -> JSONValue? {
        await expect("push \(event) \(pattern)", file: file, line: line, push(event, pattern))
    }

    /// Asserts no push of `event` matching `pattern` arrives.
    public func refutePush(
        _ event: String, matching pattern: Pattern = .any, file: StaticString = #filePath, line: UInt = #line
    ) async {
        await refute("push \(event) \(pattern)", file: file, line: line, push(event, pattern))
    }

    /// Asserts a broadcast of `event` matching `pattern` went out on the topic (seen by the
    /// test's subscription, before any `handle_out`); returns the payload.
    @discardableResult
    public func assertBroadcast(
        _ event: String, matching pattern: Pattern = .any, file: StaticString = #filePath, line: UInt = #line
    ) async -> JSONValue? {
        await expect("broadcast \(event) \(pattern)", file: file, line: line, broadcast(event, pattern))
    }

    /// Asserts no broadcast of `event` matching `pattern` went out on the topic.
    public func refuteBroadcast(
        _ event: String, matching pattern: Pattern = .any, file: StaticString = #filePath, line: UInt = #line
    ) async {
        await refute("broadcast \(event) \(pattern)", file: file, line: line, broadcast(event, pattern))
    }
}
