import Foundation
import KeyValueStore
import Logging
import LuaRuntime
import PhoenixChannels
import PhoenixProtocol

/// How to open a test socket: Phoenix.ChannelTest's `socket(Mod, id, assigns)` (`id`/`assigns`
/// given: the socket is built directly) or `connect(Mod, params)` (`socket.lua` runs).
public struct SocketOptions: Sendable, Equatable {
    /// The connect params (the WebSocket URL's query), also `socket.params` in channels.
    public var params: [String: String]
    /// The socket id; set it (or `assigns`) to skip `socket.lua`.
    public var id: String?
    /// The assigns; set them (or `id`) to skip `socket.lua`.
    public var assigns: JSONValue?

    public init(params: [String: String] = [:], id: String? = nil, assigns: JSONValue? = nil) {
        self.params = params
        self.id = id
        self.assigns = assigns
    }

    /// True when the socket is built directly instead of going through `socket.lua`.
    public var bypassesConnect: Bool { id != nil || assigns != nil }
}

/// Where a `ChannelTest` runs: in memory (`InMemoryTransport`, deterministic, with a manual
/// clock) or against a live server (`LiveTransport` in `ChannelTesting`).
public protocol ChannelTestTransport: AnyObject {
    /// True when frames arrive on their own time (a network): assertions then wait up to their
    /// timeout. In memory every call runs to completion, so assertions look once.
    var isLive: Bool { get }
    /// Opens a socket connection. Throws `ChannelTestError.connectRefused` when `socket.lua` refuses.
    func connect(_ options: SocketOptions) async throws -> any ChannelTestConnection
    /// Subscribes the test itself to `topic` (for `assertBroadcast`): `handler(event, payload)`
    /// gets every broadcast as PubSub delivers it. Returns false when the transport cannot
    /// (live: broadcasts are then seen as the fastlane frames the test's sockets receive).
    func subscribe(topic: String, _ handler: @escaping (String, JSONValue) -> Void) -> Bool
    /// `Endpoint.broadcast`; with `excludingTest`, `broadcast_from` the test process (its own
    /// subscription does not get it).
    func broadcast(topic: String, event: String, payload: JSONValue, excludingTest: Bool) async throws
    /// Moves the manual clock forward, firing due `phx.send_after` timers. Live: throws
    /// `ChannelTestError.manualClockUnavailable`.
    func advanceTime(byMilliseconds milliseconds: Int) async throws
    /// Script crashes since the last call (in memory; live: always empty, they are in the server log).
    func takeScriptErrors() -> [ScriptError]
    /// Answers `phx.http.request`s for `method url` with `response` (in memory; a live server makes
    /// real requests: throws `unsupported`).
    func stubHTTP(method: String, url: String, response: HTTPStubResponse) throws
    /// The `phx.http.request`s channels made, in order (in memory; live: throws `unsupported`).
    func httpRequests() throws -> [ScriptHTTPRequest]
    /// The `phx.kv` store the channels use (in memory: the endpoint's; live: the server's when given).
    func keyValueStore() throws -> KeyValueStore
}

/// One socket connection of a transport, speaking the V2 JSON serializer.
public protocol ChannelTestConnection: AnyObject {
    /// Sends a text frame.
    func send(text: String) async throws
    /// The frames received since the last call. When there are none, a live connection waits
    /// up to `timeout` for one; an in-memory one returns at once.
    func receive(timeout: Duration) async throws -> [OutboundFrame]
    /// Closes the connection from the client's side (`shutdown:closed` for its channels).
    func close() async
}

/// Errors the harness throws (assertion failures are reported, not thrown).
public enum ChannelTestError: Error, Equatable, CustomStringConvertible {
    /// `socket.lua` refused the connection, with its reason.
    case connectRefused(String)
    /// A join was refused: the reply status and response (`{"reason":"join crashed"}` on a crash).
    case joinRefused(topic: String, status: String, response: JSONValue)
    /// No reply to the join arrived.
    case noJoinReply(topic: String)
    /// `advanceTime` on a live server.
    case manualClockUnavailable
    /// Something the transport cannot do (e.g. assigns without `socket.lua` on a live server).
    case unsupported(String)

    public var description: String {
        switch self {
        case .connectRefused(let reason): return "connect refused: \(reason)"
        case .joinRefused(let topic, let status, let response): return "join \(topic) refused: \(status) \(response.compact)"
        case .noJoinReply(let topic): return "no reply to the join of \(topic)"
        case .manualClockUnavailable: return "advanceTime needs the in-memory transport (a live server runs on real time)"
        case .unsupported(let what): return "not supported by this transport: \(what)"
        }
    }
}

// MARK: - In memory

/// The in-memory transport: the real `PhoenixSocket`, `LuaVM` and subscriptions of an
/// `InProcessEndpoint`, no sockets, time on a manual clock. Deterministic.
public final class InMemoryTransport: ChannelTestTransport {
    /// The endpoint the sockets connect to (one `LuaVM`: every socket of a test shares it, so
    /// broadcasts fan out between them).
    public let endpoint: InProcessEndpoint
    /// What `phx.http.request` answers (the endpoint must have been made with it as its `http`).
    public let stubs: HTTPStubs?
    private var subscriptions: [String: InProcessEndpoint.Subscription] = [:]
    private var scriptErrors: [ScriptError] = []

    public init(endpoint: InProcessEndpoint, stubs: HTTPStubs? = nil) {
        self.endpoint = endpoint
        self.stubs = stubs
        endpoint.onScriptError = { [weak self] in self?.scriptErrors.append($0) }
        stubs?.schedule = { [unowned endpoint] milliseconds, body in endpoint.later(milliseconds: milliseconds, body) }
    }

    /// A transport over a fresh endpoint for `registry` (reuse one registry across tests), whose
    /// `phx.http.request`s are answered by stubs and whose `phx.kv` is `store` (default: a fresh embedded store).
    public convenience init(
        registry: ChannelRegistry, logger: Logger = InMemoryTransport.quietLogger, store: KeyValueStore? = nil
    ) throws {
        let stubs = HTTPStubs()
        // Stubs never reach a network: every destination is allowed (the server's --http-allow is not in play).
        let endpoint = try InProcessEndpoint(
            registry: registry, logger: logger, http: stubs, httpPolicy: HTTPPolicy(allowsAnyDestination: true),
            store: store)
        self.init(endpoint: endpoint, stubs: stubs)
    }

    /// A transport loading the scripts of `directory` (one socket mount: `channels/` or
    /// `channels/stats_socket/`).
    public convenience init(channels directory: URL, logger: Logger = InMemoryTransport.quietLogger) throws {
        let registry = try ChannelRegistry(directory: directory)
        try self.init(registry: registry, logger: logger)
    }

    /// A logger that drops everything (crashes are reported by the harness instead); set
    /// `TEST_LOG=1` to see the runtime's log.
    public static var quietLogger: Logger {
        var logger = Logger(label: "ChannelTesting")
        logger.logLevel = ProcessInfo.processInfo.environment["TEST_LOG"] == nil ? .critical : .debug
        return logger
    }

    public var isLive: Bool { false }

    public func connect(_ options: SocketOptions) async throws -> any ChannelTestConnection {
        if options.bypassesConnect {
            let context = SocketContext(
                id: options.id, params: .object(options.params.mapValues(JSONValue.string)),
                assigns: options.assigns ?? .emptyObject)
            return InMemoryConnection(endpoint.connect(context: context))
        }
        switch endpoint.connect(params: options.params) {
        case .success(let connection): return InMemoryConnection(connection)
        case .failure(let refusal):
            if case .crashed(let error) = refusal { scriptErrors.append(error) }
            throw ChannelTestError.connectRefused(refusal.description)
        }
    }

    public func subscribe(topic: String, _ handler: @escaping (String, JSONValue) -> Void) -> Bool {
        if subscriptions[topic] == nil {
            subscriptions[topic] = endpoint.subscribe(topic) { event, payload in handler(event, payload.testJSON) }
        }
        return true
    }

    public func broadcast(topic: String, event: String, payload: JSONValue, excludingTest: Bool) async throws {
        endpoint.broadcast(
            topic: topic, event: event, payload: .json(payload), excluding: excludingTest ? subscriptions[topic] : nil)
    }

    public func advanceTime(byMilliseconds milliseconds: Int) async throws {
        endpoint.advanceTime(byMilliseconds: milliseconds)
    }

    public func takeScriptErrors() -> [ScriptError] {
        defer { scriptErrors.removeAll() }
        return scriptErrors
    }

    public func stubHTTP(method: String, url: String, response: HTTPStubResponse) throws {
        guard let stubs else { throw ChannelTestError.unsupported("HTTP stubs (this endpoint has its own HTTP client)") }
        stubs.stub(method, url, response)
    }

    public func httpRequests() throws -> [ScriptHTTPRequest] {
        guard let stubs else { throw ChannelTestError.unsupported("HTTP stubs (this endpoint has its own HTTP client)") }
        return stubs.requests
    }

    public func keyValueStore() throws -> KeyValueStore { endpoint.store }
}

final class InMemoryConnection: ChannelTestConnection {
    let connection: InProcessConnection
    private var frames: [OutboundFrame] = []

    init(_ connection: InProcessConnection) {
        self.connection = connection
        connection.onFrame = { [unowned self] in self.frames.append($0) }
    }

    func send(text: String) async throws { connection.send(text: text) }

    func receive(timeout: Duration) async throws -> [OutboundFrame] {
        defer { frames.removeAll() }
        return frames
    }

    func close() async { connection.close() }
}

extension Payload {
    /// JSON as is; binary as `{"binary": "<hex>"}` (patterns then match it as an object).
    var testJSON: JSONValue {
        switch self {
        case .json(let value): return value
        case .binary(let bytes): return .object(["binary": .string(bytes.map { String(format: "%02x", $0) }.joined())])
        }
    }
}
