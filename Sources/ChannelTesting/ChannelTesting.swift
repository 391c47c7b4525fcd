@_exported import ChannelTestingCore
import Foundation
import HelloSocketsServer
@_exported import KeyValueStore
import LuaRuntime
import PhoenixChannels
@_exported import PhoenixProtocol
import TestSupport
import XCTest

/// Reports harness failures with `XCTFail` at the asserting line.
public final class XCTestReporter: ChannelTestReporter {
    public init() {}
    public func fail(_ message: String, file: StaticString, line: UInt) {
        XCTFail(message, file: file, line: line)
    }
}

extension ChannelTest {
    /// A test on the in-memory transport over the scripts of `directory` (a socket mount:
    /// `channels/` or a subfolder such as `channels/stats_socket/`). Failures are `XCTFail`s.
    public static func inMemory(channels directory: URL) throws -> ChannelTest {
        ChannelTest(transport: try InMemoryTransport(channels: directory), reporter: XCTestReporter())
    }

    /// A test against a server listening on loopback `port`, socket mount `path`. Failures are
    /// `XCTFail`s. No manual clock here: `advanceTime` throws `manualClockUnavailable`. Give the
    /// server's `keyValueStore` as `store` to look into `phx.kv` (a server run in the test's process).
    public static func live(port: Int, path: String = "/socket", store: KeyValueStore? = nil) -> ChannelTest {
        ChannelTest(transport: LiveTransport(port: port, path: path, store: store), reporter: XCTestReporter())
    }
}

/// The live transport: real WebSocket connections to a server on loopback (V2 serializer).
///
/// Differences from the in-memory transport, all inherent to a real server:
/// - no manual clock: `advanceTime` throws `ChannelTestError.manualClockUnavailable` (test
///   timers by waiting, or in memory);
/// - sockets always go through `socket.lua` (`id`/`assigns` throw `unsupported`);
/// - the test cannot subscribe to the server's PubSub: `assertBroadcast` sees broadcasts as the
///   fastlane frames (`[null,null,topic,…]`) the first socket joined to the topic receives, so
///   intercepted events are not seen there, and `broadcastFrom` goes through the broadcast API
///   (it is seen like any other broadcast);
/// - script crashes are in the server's log, not in failure messages;
/// - `phx.http.request` goes to real backends (no stubs), and `phx.kv` is seen only when the
///   server's store was given;
/// - assertions wait up to `assertTimeout`, refutations watch for `refuteTimeout`.
public final class LiveTransport: ChannelTestTransport {
    public let port: Int
    public let path: String
    public let store: KeyValueStore?

    public init(port: Int, path: String = "/socket", store: KeyValueStore? = nil) {
        self.port = port
        self.path = path
        self.store = store
    }

    public var isLive: Bool { true }

    public func connect(_ options: SocketOptions) async throws -> any ChannelTestConnection {
        guard !options.bypassesConnect else {
            throw ChannelTestError.unsupported("a socket with id/assigns (a live server always runs socket.lua)")
        }
        var query = ["vsn=2.0.0"]
        for (key, value) in options.params.sorted(by: { $0.key < $1.key }) {
            query.append("\(Self.escape(key))=\(Self.escape(value))")
        }
        do {
            let client = try await WebSocketTestClient.connect(port: port, path: "\(path)/websocket?" + query.joined(separator: "&"))
            return LiveConnection(client)
        } catch let refused as WebSocketTestClient.HandshakeRefused {
            throw ChannelTestError.connectRefused(refused.description)
        }
    }

    private static func escape(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? text
    }

    public func subscribe(topic: String, _ handler: @escaping (String, JSONValue) -> Void) -> Bool { false }

    public func broadcast(topic: String, event: String, payload: JSONValue, excludingTest: Bool) async throws {
        let body = try PhoenixJSON.broadcastBody(topic: topic, event: event, payload: JSONWriter.encodeToString(payload))
        let response = try await BroadcastClient.post(host: "127.0.0.1", port: port, body: body)
        guard response.status == 200 else { throw ChannelTestError.unsupported("broadcast API answered \(response.status)") }
    }

    public func advanceTime(byMilliseconds milliseconds: Int) async throws {
        throw ChannelTestError.manualClockUnavailable
    }

    public func takeScriptErrors() -> [ScriptError] { [] }

    public func stubHTTP(method: String, url: String, response: HTTPStubResponse) throws {
        throw ChannelTestError.unsupported("HTTP stubs (a live server calls real backends)")
    }

    public func httpRequests() throws -> [ScriptHTTPRequest] {
        throw ChannelTestError.unsupported("recorded HTTP requests (a live server calls real backends)")
    }

    public func keyValueStore() throws -> KeyValueStore {
        guard let store else { throw ChannelTestError.unsupported("phx.kv without the server's store (ChannelTest.live(store:))") }
        return store
    }
}

final class LiveConnection: ChannelTestConnection {
    let client: WebSocketTestClient
    init(_ client: WebSocketTestClient) { self.client = client }

    func send(text: String) async throws { try await client.send(text: text) }

    func receive(timeout: Duration) async throws -> [OutboundFrame] {
        do {
            let frame = try await client.receiveFrame(timeout: max(timeout, .milliseconds(1)))
            switch frame.opcode {
            case 1: return [.text(frame.payload)]
            case 2: return [.binary(frame.payload)]
            default: return []
            }
        } catch is RawClient.Timeout {
            return []
        }
    }

    func close() async { await client.close() }
}
