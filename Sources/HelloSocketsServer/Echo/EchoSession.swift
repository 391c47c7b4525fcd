import WebSocketTransport

/// `/echo`: every text or binary message comes back unchanged (diagnostics and Autobahn conformance).
final class EchoSession: WebSocketSession {
    func webSocketDidOpen(_ connection: WebSocketConnection) {}

    func webSocket(_ connection: WebSocketConnection, didReceive message: WebSocketMessage) {
        switch message {
        case .text(let text): connection.send(text: text)
        case .binary(let data): connection.send(binary: data)
        }
    }

    func webSocketDidClose(_ connection: WebSocketConnection) {}
}
