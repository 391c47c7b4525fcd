import Logging
import NIOCore
import NIOHTTP1
import PhoenixChannels
import PhoenixProtocol
import WebSocketTransport

/// A LongPoll request as a session sees it: the HTTP request and where it came from (an HTTP connection here, or
/// another node that forwarded it).
struct LongPollRequest: Sendable {
    let head: HTTPRequestHead
    /// The HTTP connection's id for logs ("c5"), or the forwarding node and request ("via node2/7").
    let connectionID: String
    /// The loop the answer is made on (the HTTP connection's; the cluster's for a forwarded request).
    let eventLoop: EventLoop
    /// Whether whoever asked can still take frames: a held poll checks it before handing them over.
    let isClientThere: @Sendable () -> Bool
    /// Where the HTTP connection reports that its client left before the answer; nil for a forwarded request.
    var departure: LongPollDeparture? = nil
    let peer: SocketAddress?
    /// The client's address (behind a `--trusted-proxy`, the one the proxy names): the per-address limits count it.
    let client: IPAddress?
    let received: NIODeadline
}

/// Where an HTTP connection reports that its client left before its LongPoll request was answered (a forwarded poll
/// then withdraws itself, so the owner keeps its frames for the next poll). Only touched on the connection's loop.
final class LongPollDeparture: @unchecked Sendable {
    private var hasLeft = false
    private var action: (() -> Void)?

    /// Runs `action` when the client leaves, or at once if it left already: a poll forwarded after its client hung
    /// up (while the request hopped to the session's loop and back) must be withdrawn all the same.
    func onLeave(_ action: @escaping () -> Void) {
        if hasLeft { action() } else { self.action = action }
    }

    /// The connection closed before the request was answered.
    func clientLeft() {
        hasLeft = true
        let action = self.action
        self.action = nil
        action?()
    }
}

/// Why a LongPoll session ended (the `reason` label of `/metrics`).
enum LongPollEnd: String, CaseIterable {
    /// No poll for 1.5 × the window (Phoenix's `:shutdown_if_inactive`).
    case timeout
    /// More unpolled frames than `--max-outbound-buffer` bytes (the WebSocket closes with 1008 there).
    case overflow
    /// A `disconnect` broadcast to the socket's id.
    case disconnect
    /// The socket asked to close on undecodable input (not through POST, which answers the error instead).
    case undecodable
    /// The server shut down.
    case shutdown
    /// The client stayed over `--client-message-rate` past `--client-throttle-grace` (the WebSocket closes
    /// with 1008 there).
    case rateLimited = "rate_limited"
}

/// One LongPoll session: the transport of a `PhoenixSocket` between HTTP requests
/// (Phoenix.Transports.LongPoll.Server). Frames the socket sends wait in a queue until a GET takes
/// them all; a GET finding none is held until one arrives or the window passes (then 204). A session
/// not polled for 1.5 × the window ends, and its channels terminate as on a socket close.
///
/// Owned by the event loop that created it: everything here runs on that loop, without locks.
final class LongPollSession: PhoenixTransport {
    struct Settings: Sendable {
        /// How long a GET is held (Phoenix's `window_ms`).
        var window: TimeAmount
        /// Unpolled frame bytes past which the session ends (`--max-outbound-buffer`).
        var maxQueuedBytes: Int
    }

    /// A GET waiting for frames.
    private final class Poll {
        let request: LongPollRequest
        let promise: EventLoopPromise<LongPollAnswer>
        var timer: TimerWheel.Timer?

        init(request: LongPollRequest, promise: EventLoopPromise<LongPollAnswer>) {
            self.request = request
            self.promise = promise
        }
    }

    /// For logs, the observer and `--trace` ("lp3").
    let id: String
    /// Its token: the key it is found by (see `LongPollToken`).
    let token: String
    /// The socket mount it belongs to (a token of `/socket` opens nothing at `/stats_socket`).
    let mount: String
    let eventLoop: EventLoop
    private var socket: PhoenixSocket?
    private let settings: Settings
    private let timerWheel: TimerWheel
    private let observer: LongPollObserver?
    private let logger: Logger
    /// Told once when the session ends (the registry forgets it and frees its connection slot).
    private let onEnd: (LongPollSession, LongPollEnd) -> Void

    /// Frames sent and not yet polled, oldest first, and their bytes.
    private var queue: [PhoenixFrame] = []
    private var queuedBytes = 0
    /// The poll frames go to: the newest GET. Older ones still held (a client that gave up on a request
    /// and polled again) wait out their window and get 204, as in Phoenix.
    private var current: Poll?
    private var held: [Poll] = []
    private var flushScheduled = false
    /// POSTs whose frames go to the socket, oldest first: the first is being handed over (at the socket's
    /// message rate), the others wait behind it so nothing is reordered.
    private var posts: [Post] = []
    /// Set while a POST waits for the message rate: fires when the socket may take its next frame.
    private var rateTimer: TimerWheel.Timer?
    private var inactivity: TimerWheel.Timer?
    private(set) var ended: LongPollEnd?

    init(
        id: String, token: String, mount: String, socket: PhoenixSocket, settings: Settings,
        timerWheel: TimerWheel, observer: LongPollObserver?, logger: Logger,
        onEnd: @escaping (LongPollSession, LongPollEnd) -> Void
    ) {
        self.id = id
        self.token = token
        self.mount = mount
        self.socket = socket
        self.settings = settings
        self.timerWheel = timerWheel
        self.eventLoop = timerWheel.eventLoop
        self.observer = observer
        self.logger = logger
        self.onEnd = onEnd
        let inactivity = timerWheel.makeTimer { [weak self] in self?.checkInactivity() }
        self.inactivity = inactivity
        timerWheel.arm(inactivity, in: Self.inactivityLimit(settings.window))
    }

    static func inactivityLimit(_ window: TimeAmount) -> TimeAmount { .nanoseconds(window.nanoseconds * 3 / 2) }

    // MARK: Requests (on this loop)

    /// A GET: answered at once with everything queued, else held until a frame comes or the window passes.
    func poll(_ request: LongPollRequest, answer promise: EventLoopPromise<LongPollAnswer>) {
        guard ended == nil else { return promise.succeed(.status(410)) }
        let poll = Poll(request: request, promise: promise)
        current = poll
        held.append(poll)
        rearmInactivity()
        if !queue.isEmpty { return flush() }
        let timer = timerWheel.makeTimer { [weak self] in
            guard let self else { return poll.promise.succeed(.status(410)) }
            self.windowPassed(poll)
        }
        poll.timer = timer
        timerWheel.arm(timer, in: settings.window)
    }

    /// A POST being handed to the socket: its frames not yet taken, and who gets the answer.
    private final class Post {
        let request: LongPollRequest
        var lines: ArraySlice<LongPollPostBody.Line>
        let malformed: LongPollPostBody.Malformed?
        var tried: [PhoenixFrame] = []
        let answer: (LongPollAnswer) -> Void

        init(
            request: LongPollRequest, lines: [LongPollPostBody.Line], malformed: LongPollPostBody.Malformed?,
            answer: @escaping (LongPollAnswer) -> Void
        ) {
            self.request = request
            self.lines = lines[...]
            self.malformed = malformed
            self.answer = answer
        }
    }

    /// POSTs of one session that may wait for the message rate at once; more are refused (429), not kept.
    static let maxWaitingPosts = 32

    /// A POST's frames, handled in order: the place where LongPoll input enters the socket. Each frame
    /// waits for the socket's message rate (`PhoenixSocket.admitMessage`), so a client over it gets its
    /// answer later: delayed, never dropped. A frame the serializer cannot decode is answered with the
    /// error; the frames before it were handled, those after it are not, and the session goes on.
    func receive(
        _ lines: [LongPollPostBody.Line], malformed: LongPollPostBody.Malformed?, request: LongPollRequest,
        answer: @escaping (LongPollAnswer) -> Void
    ) {
        guard socket != nil, ended == nil else { return answer(.status(410)) }
        guard posts.count < Self.maxWaitingPosts else {
            return answer(.error(429, "more than \(Self.maxWaitingPosts) POSTs waiting for the message rate"))
        }
        posts.append(Post(request: request, lines: lines, malformed: malformed, answer: answer))
        if posts.count == 1 { handOverPosts() }
    }

    /// Hands the waiting POSTs' frames to the socket, oldest first, each when the message rate lets it,
    /// and answers each POST once its frames are in.
    private func handOverPosts() {
        while let post = posts.first {
            guard let socket, ended == nil else { return }  // `end` answered them
            guard let line = post.lines.first else {
                posts.removeFirst()
                finish(post, post.malformed.map { badInput($0, request: post.request) } ?? .status(200))
                continue
            }
            switch socket.admitMessage() {
            case .proceed:
                break
            case .wait(let until):
                let timer = rateTimer ?? timerWheel.makeTimer { [weak self] in self?.handOverPosts() }
                rateTimer = timer
                timerWheel.arm(timer, at: until)
                return
            case .close(let reason):
                posts.removeFirst()
                finish(post, .error(429, reason))
                return end(.rateLimited)
            }
            post.lines.removeFirst()
            post.tried.append(line.frame)
            do {
                try socket.decodeAndHandle(line.frame)
            } catch {
                posts.removeFirst()
                let malformed = LongPollPostBody.Malformed(line: line.number, reason: "\(error)")
                finish(post, badInput(malformed, request: post.request))
                continue
            }
            // e.g. the queue overflowed meanwhile: `end` answered this POST (410) and the ones behind it.
            if ended != nil { return }
        }
    }

    private func finish(_ post: Post, _ answer: LongPollAnswer) {
        observer?.posted(post.request, frames: post.tried, answer: answer)
        post.answer(answer)
    }

    private func badInput(_ malformed: LongPollPostBody.Malformed, request: LongPollRequest) -> LongPollAnswer {
        logger.warning("undecodable LongPoll POST",
                       metadata: ["session": "\(id)", "conn": "\(request.connectionID)", "error": "\(malformed)"])
        let rest = malformed.line == nil
            ? "no frame was handled" : "the frames before it were handled, those after it were not"
        return .error(400, "\(malformed) (\(rest))")
    }

    // MARK: Polls

    private func flush() {
        flushScheduled = false
        guard let poll = current, !queue.isEmpty else { return }
        guard poll.request.isClientThere() else {
            // The client went away while its GET was held: keep the frames for its next poll.
            current = nil
            return answer(poll, .messages([], status: 204, token: token))
        }
        let frames = queue
        queue.removeAll(keepingCapacity: false)
        queuedBytes = 0
        current = nil
        answer(poll, .messages(frames, status: 200, token: token))
    }

    private func windowPassed(_ poll: Poll) {
        if poll === current { current = nil }
        answer(poll, .messages([], status: 204, token: token))
    }

    private func answer(_ poll: Poll, _ answer: LongPollAnswer) {
        if let timer = poll.timer { timerWheel.cancel(timer) }
        poll.timer = nil  // the timer's closure holds the poll
        held.removeAll { $0 === poll }
        rearmInactivity()
        observer?.polled(poll.request, answer: answer)
        poll.promise.succeed(answer)
    }

    // MARK: Lifetime

    private func rearmInactivity() {
        if let inactivity { timerWheel.arm(inactivity, in: Self.inactivityLimit(settings.window)) }
    }

    private func checkInactivity() {
        // Polling right now, or a POST we hold for the message rate: the client is there.
        if current != nil || !posts.isEmpty { return rearmInactivity() }
        logger.debug("LongPoll session not polled in time: ending it", metadata: ["session": "\(id)"])
        end(.timeout)
    }

    /// Ends the session: held polls are answered `{"status":410}` (the client's next request opens a new
    /// session), queued frames are dropped, and the channels terminate (`shutdown:closed`) on the next
    /// loop turn, outside whatever callback asked for the end.
    func end(_ reason: LongPollEnd) {
        guard ended == nil else { return }
        ended = reason
        if let inactivity { timerWheel.cancel(inactivity) }
        inactivity = nil
        if let rateTimer { timerWheel.cancel(rateTimer) }
        rateTimer = nil
        let waiting = posts
        posts = []
        for post in waiting { finish(post, .status(410)) }
        queue = []
        queuedBytes = 0
        current = nil
        for poll in held { answer(poll, .status(410)) }
        onEnd(self, reason)
        observer?.closed(reason: reason)
        let socket = self.socket
        self.socket = nil
        eventLoop.execute { socket?.closed() }
    }

    // MARK: PhoenixTransport

    func send(_ frame: PhoenixFrame) {
        guard ended == nil else { return }
        queue.append(frame)
        queuedBytes += frame.bytes.readableBytes
        if queuedBytes > settings.maxQueuedBytes {
            logger.warning(
                "LongPoll client stopped polling: \(queuedBytes) bytes queued, ending the session",
                metadata: ["session": "\(id)", "limit": "\(settings.maxQueuedBytes)"]
            )
            return end(.overflow)
        }
        if current != nil && !flushScheduled {
            // Frames sent in this loop turn (a POST's replies, a fan-out) go out in one answer.
            flushScheduled = true
            eventLoop.execute { [weak self] in self?.flush() }
        }
    }

    func send(_ shared: SharedFrame) { send(shared.frame) }

    func close(_ reason: SocketCloseReason) {
        switch reason {
        case .disconnected: end(.disconnect)
        case .undecodable: end(.undecodable)
        }
    }

    func schedule(afterMilliseconds milliseconds: Int, _ body: @escaping () -> Void) -> PhoenixTimer {
        eventLoop.scheduleTask(in: .milliseconds(Int64(milliseconds)), body)
    }

}
