import NIOConcurrencyHelpers
import NIOCore

/// The server's open connections: for the connection limit (WebSockets and LongPoll sessions alike),
/// graceful shutdown and `/metrics`.
///
/// Touched only when a connection opens, upgrades or closes (never per message), so a lock is cheap here.
final class ConnectionTracker: Sendable {
    private struct State {
        var channels: [ObjectIdentifier: Channel] = [:]
        var webSockets = 0
        var longPollSessions = 0
        var nextID: UInt64 = 0
        var accepting = true
        var maxWebSockets: Int
    }

    private let state: NIOLockedValueBox<State>

    /// Open WebSockets at most; a reload may change it (open ones beyond a lowered limit stay open).
    var maxWebSockets: Int {
        get { state.withLockedValue { $0.maxWebSockets } }
        set { state.withLockedValue { $0.maxWebSockets = newValue } }
    }

    init(maxWebSockets: Int) {
        self.state = NIOLockedValueBox(State(maxWebSockets: maxWebSockets))
    }

    /// Registers a new TCP connection and returns its id for the logs ("c17").
    func opened(_ channel: Channel) -> String {
        let id = state.withLockedValue { state -> UInt64 in
            state.nextID += 1
            state.channels[ObjectIdentifier(channel)] = channel
            return state.nextID
        }
        channel.closeFuture.whenComplete { [self] _ in
            _ = state.withLockedValue { $0.channels.removeValue(forKey: ObjectIdentifier(channel)) }
        }
        return "c\(id)"
    }

    /// Claims a WebSocket slot; false when the limit is reached or the server is shutting down.
    func claimWebSocket(for channel: Channel) -> Bool {
        let claimed = state.withLockedValue { state -> Bool in
            guard state.accepting, state.webSockets + state.longPollSessions < state.maxWebSockets else { return false }
            state.webSockets += 1
            return true
        }
        if claimed {
            channel.closeFuture.whenComplete { [self] _ in state.withLockedValue { $0.webSockets -= 1 } }
        }
        return claimed
    }

    /// Claims a slot for a LongPoll session (they count toward the same limit as WebSockets); false
    /// when the limit is reached or the server is shutting down. `releaseLongPollSession` gives it back.
    func claimLongPollSession() -> Bool {
        state.withLockedValue { state -> Bool in
            guard state.accepting, state.webSockets + state.longPollSessions < state.maxWebSockets else { return false }
            state.longPollSessions += 1
            return true
        }
    }

    func releaseLongPollSession() {
        state.withLockedValue { $0.longPollSessions -= 1 }
    }

    var webSocketCount: Int { state.withLockedValue { $0.webSockets } }
    var longPollSessionCount: Int { state.withLockedValue { $0.longPollSessions } }

    /// Every open connection, for `/metrics`.
    var open: [Channel] { state.withLockedValue { Array($0.channels.values) } }

    /// Stops accepting upgrades and returns every open connection.
    func drain() -> [Channel] {
        state.withLockedValue { state in
            state.accepting = false
            return Array(state.channels.values)
        }
    }
}
