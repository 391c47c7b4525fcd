import Foundation
import KeyValueStore
import LuaRuntime

/// An event loop by hand for a VM's services: answers queue until `run()`, timers fire on `advance`.
final class ManualLoop {
    private(set) var now = 0
    private var queue: [() -> Void] = []
    private var timers: [Timer] = []

    final class Timer: ScriptCancellable {
        let due: Int
        var body: (() -> Void)?
        init(due: Int, body: @escaping () -> Void) {
            self.due = due
            self.body = body
        }
        func cancel() { body = nil }
    }

    func services(
        http: ScriptHTTPClient? = nil, policy: HTTPPolicy = HTTPPolicy(allow: [HTTPPolicy.Destination("backend.test")!]),
        kv: KeyValueStore? = nil, timeout: Int = 10_000, onHTTPCall: ((HTTPCallRecord) -> Void)? = nil
    ) -> ScriptServices {
        ScriptServices(
            executor: { [unowned self] in queue.append($0) },
            schedule: { [unowned self] ms, body in
                let timer = Timer(due: now + ms, body: body)
                timers.append(timer)
                return timer
            },
            http: http, httpPolicy: policy, kv: kv, callbackTimeoutMilliseconds: timeout, onHTTPCall: onHTTPCall)
    }

    /// Runs queued work until none is left.
    func run() {
        while !queue.isEmpty { queue.removeFirst()() }
    }

    /// Moves the clock, firing due timers in order, running queued work after each.
    func advance(_ milliseconds: Int) {
        let target = now + milliseconds
        run()
        while let next = timers.filter({ $0.body != nil && $0.due <= target }).min(by: { $0.due < $1.due }) {
            now = next.due
            let body = next.body
            next.body = nil
            body?()
            run()
        }
        now = target
    }
}

/// An HTTP client whose requests wait until the test answers them.
final class FakeHTTP: ScriptHTTPClient {
    struct Pending {
        var request: ScriptHTTPRequest
        var completion: @Sendable (Result<ScriptHTTPResponse, ScriptHTTPError>) -> Void
    }
    private(set) var requests: [ScriptHTTPRequest] = []
    private var pending: [Pending] = []
    private(set) var cancelled = 0

    final class Cancel: ScriptCancellable {
        let onCancel: () -> Void
        init(_ onCancel: @escaping () -> Void) { self.onCancel = onCancel }
        func cancel() { onCancel() }
    }

    func execute(
        _ request: ScriptHTTPRequest, completion: @escaping @Sendable (Result<ScriptHTTPResponse, ScriptHTTPError>) -> Void
    ) -> ScriptCancellable? {
        requests.append(request)
        pending.append(Pending(request: request, completion: completion))
        return Cancel { [weak self] in self?.cancelled += 1 }
    }

    var pendingCount: Int { pending.count }

    /// Answers the oldest pending request.
    func answer(_ result: Result<ScriptHTTPResponse, ScriptHTTPError>) {
        pending.removeFirst().completion(result)
    }

    func answer(status: Int, body: String) {
        answer(.success(ScriptHTTPResponse(status: status, headers: [("Content-Type", "text/plain")], body: Array(body.utf8))))
    }
}

/// A store that always makes its caller wait (as a Redis-backed one does), over an embedded one.
final class WaitingStore: KeyValueStore, @unchecked Sendable {
    let inner = EmbeddedStore()
    private(set) var pending: [() -> Void] = []

    func answerNow(_ command: KVCommand) -> Result<KVReply, KVError>? { nil }

    func execute(_ command: KVCommand, completion: @escaping @Sendable (Result<KVReply, KVError>) -> Void) {
        pending.append { [inner] in completion(inner.answerNow(command)!) }
    }

    func answerAll() {
        let all = pending
        pending = []
        for answer in all { answer() }
    }
}
