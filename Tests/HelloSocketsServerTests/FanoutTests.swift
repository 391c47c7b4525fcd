import HelloSocketsServer
import TestSupport
import XCTest

/// Broadcasts across event loops: every subscriber gets every message exactly once, in publishing order.
final class FanoutTests: XCTestCase {
    func testBroadcastReachesEverySubscriberOnEveryLoopOnceAndInOrder() async throws {
        let server = try await TestServer.start(channels: PhoenixFeatureTests.fixtures, threads: 2)
        addTeardownBlock { try? await server.stop() }
        let subscriberCount = 200, messageCount = 20
        var subscribers: [WebSocketTestClient] = []
        for _ in 0..<subscriberCount {
            let client = try await WebSocketTestClient.connect(port: server.port, path: "/socket/websocket?vsn=2.0.0")
            try await client.send(text: #"["1","1","lab:fan","phx_join",{}]"#)
            subscribers.append(client)
        }
        for client in subscribers { _ = try await client.receiveText() }  // join replies

        // Two publishers: the HTTP broadcast API and a channel client (phx.broadcast), interleaved.
        let publisher = subscribers[0]
        for n in 1...messageCount {
            let body = try PhoenixJSON.broadcastBody(topic: "lab:fan", event: "api", payload: #"{"n":\#(n)}"#)
            let status = try await BroadcastClient.post(host: "127.0.0.1", port: server.port, body: body).status
            XCTAssertEqual(status, 200)
            try await publisher.send(text: #"["1","\#(n + 1)","lab:fan","shout",{"n":\#(n)}]"#)
        }

        for (index, client) in subscribers.enumerated() {
            var fromAPI: [String] = [], fromChannel: [String] = []
            for _ in 0..<(2 * messageCount) {
                let frame = try await client.receiveText()
                if frame.contains(#""api""#) { fromAPI.append(frame) } else { fromChannel.append(frame) }
            }
            XCTAssertEqual(fromAPI, (1...messageCount).map { #"[null,null,"lab:fan","api",{"n":\#($0)}]"# }, "subscriber \(index)")
            XCTAssertEqual(fromChannel, (1...messageCount).map { #"[null,null,"lab:fan","shout",{"n":\#($0)}]"# }, "subscriber \(index)")
            let silent = try await client.isSilent(for: .milliseconds(index == 0 ? 100 : 1))
            XCTAssertTrue(silent, "no duplicates")
        }
        for client in subscribers { await client.close() }
    }
}
