import NIOConcurrencyHelpers
import NIOCore
import PhoenixChannels

/// The LongPoll sessions of one event loop, by token, and how many ended for which reason (`/metrics`).
/// Only touched on its loop.
final class LongPollLoopSessions {
    private var sessions: [String: LongPollSession] = [:]
    private(set) var endedByReason: [LongPollEnd: Int] = [:]

    func add(_ session: LongPollSession) { sessions[session.token] = session }

    /// The live session given exactly this token, at this mount.
    func session(token: String, mount: String) -> LongPollSession? {
        guard let session = sessions[token], session.mount == mount, session.ended == nil else { return nil }
        return session
    }

    func remove(_ session: LongPollSession, reason: LongPollEnd) {
        guard sessions.removeValue(forKey: session.token) != nil else { return }
        endedByReason[reason, default: 0] += 1
    }

    var count: Int { sessions.count }

    /// Ends every session (server shutdown).
    func endAll(_ reason: LongPollEnd) {
        for session in Array(sessions.values) { session.end(reason) }
    }
}

/// Every event loop's LongPoll sessions. A session lives on the loop that created it; its token names
/// that loop (by index in the group), so a request arriving on another loop hops to it.
final class LongPollRegistry: Sendable {
    private let perLoop: PerEventLoop<LongPollLoopSessions>
    private let nextID = NIOLockedValueBox(0)

    init(loops: [EventLoop]) {
        perLoop = PerEventLoop(loops: loops) { _ in LongPollLoopSessions() }
    }

    /// The sessions of `loop`; call only on that loop.
    func sessions(on loop: EventLoop) -> LongPollLoopSessions { perLoop.value(on: loop) }

    /// The index of `loop` in the group (what tokens carry).
    func index(of loop: EventLoop) -> Int? { perLoop.entries.firstIndex { $0.loop === loop } }

    /// The loop with this index, if any.
    func loop(at index: Int) -> EventLoop? {
        perLoop.entries.indices.contains(index) ? perLoop.entries[index].loop : nil
    }

    /// A new session's name for logs and the observer: "lp1", "lp2"…
    func makeSessionID() -> String {
        "lp\(nextID.withLockedValue { $0 += 1; return $0 })"
    }

    /// Sessions ended so far, by reason, summed over every loop (one task per loop).
    func endedByReason(on loop: EventLoop) -> EventLoopFuture<[LongPollEnd: Int]> {
        let futures = perLoop.entries.map { entry in entry.loop.submit { entry.value.value.endedByReason } }
        return EventLoopFuture.whenAllSucceed(futures, on: loop).map { all in
            all.reduce(into: [:]) { total, counts in total.merge(counts, uniquingKeysWith: +) }
        }
    }

    /// Ends every session on every loop (graceful shutdown); their channels terminate.
    func endAll(_ reason: LongPollEnd) async {
        for entry in perLoop.entries {
            try? await entry.loop.submit { entry.value.value.endAll(reason) }.get()
            try? await entry.loop.submit {}.get()  // after the channels' terminate, queued by `end`
        }
    }
}
