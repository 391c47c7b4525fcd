import AsyncHTTPClient
import Foundation
import LuaRuntime
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// `phx.http.request`'s transport on swift-server's AsyncHTTPClient: one `HTTPClient` for the
/// whole server on the server's own event loops, and a `LoopClient` per VM whose requests run on
/// that VM's loop (so the answer is already there when the callback resumes).
public final class OutboundHTTPClient: Sendable {
    /// Bytes a response body may have (`--http-max-response`); a larger one fails with "too large".
    public let maxResponseBytes: Int
    private let group: EventLoopGroup
    /// Made at the first request (most servers never make one), gone for good after `shutdown`.
    private let state = NIOLockedValueBox<State>(.idle)

    private enum State {
        case idle
        case running(HTTPClient)
        case shutDown
    }

    /// A client on `group` (the server's loops). Redirects are not followed: a redirect to a host
    /// outside `--http-allow` must not be a way around it. Connections that fail are not retried
    /// (a refused connection answers "refused" at once rather than at the timeout).
    public init(group: EventLoopGroup, maxResponseBytes: Int = 1 << 20) {
        self.group = group
        self.maxResponseBytes = maxResponseBytes
    }

    /// The AsyncHTTPClient, made on first use; nil once shut down.
    private var client: HTTPClient? {
        state.withLockedValue { state in
            switch state {
            case .running(let client):
                return client
            case .shutDown:
                return nil
            case .idle:
                var configuration = HTTPClient.Configuration()
                configuration.redirectConfiguration = .disallow
                configuration.connectionPool.retryConnectionEstablishment = false
                configuration.decompression = .disabled
                let client = HTTPClient(eventLoopGroupProvider: .shared(group), configuration: configuration)
                state = .running(client)
                return client
            }
        }
    }

    /// The transport of the VM on `loop`.
    public func client(on loop: EventLoop) -> ScriptHTTPClient {
        LoopClient(owner: self, loop: loop)
    }

    /// Closes every connection; requests in flight fail, later ones fail with "unavailable".
    public func shutdown() async throws {
        let running = state.withLockedValue { state -> HTTPClient? in
            defer { state = .shutDown }
            if case .running(let client) = state { return client }
            return nil
        }
        try await running?.shutdown()
    }

    fileprivate func execute(
        _ request: ScriptHTTPRequest, on loop: EventLoop,
        completion: @escaping @Sendable (Result<ScriptHTTPResponse, ScriptHTTPError>) -> Void
    ) -> ScriptCancellable? {
        guard let client else {
            completion(.failure(.unavailable))
            return nil
        }
        let prepared: HTTPClient.Request
        do {
            var headers = HTTPHeaders()
            for (name, value) in request.headers { headers.add(name: name, value: value) }
            prepared = try HTTPClient.Request(
                url: request.url.absoluteString, method: HTTPMethod(rawValue: request.method), headers: headers,
                body: request.body.map { .bytes($0) })
        } catch {
            completion(.failure(.failed("\(error)")))
            return nil
        }
        let task = client.execute(
            request: prepared, delegate: ResponseAccumulator(request: prepared, maxBodySize: maxResponseBytes),
            eventLoop: .delegateAndChannel(on: loop),
            deadline: .now() + .milliseconds(Int64(request.timeoutMilliseconds)))
        let limit = maxResponseBytes
        task.futureResult.whenComplete { result in
            switch result {
            case .success(let response):
                completion(.success(ScriptHTTPResponse(
                    status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) },
                    body: response.body.map { Array($0.readableBytesView) } ?? [])))
            case .failure(let error):
                completion(.failure(Self.classify(error, limit: limit)))
            }
        }
        return TaskCancel(task: task)
    }

    /// The script's words for a transport error.
    static func classify(_ error: Error, limit: Int) -> ScriptHTTPError {
        if error is ResponseAccumulator.ResponseTooBigError { return .tooLarge(limit: limit) }
        if let error = error as? HTTPClientError {
            switch error {
            case .deadlineExceeded, .readTimeout, .writeTimeout, .connectTimeout, .getConnectionFromPoolTimeout,
                .tlsHandshakeTimeout:
                return .timeout
            case .alreadyShutdown:
                return .unavailable
            default:
                return .failed("\(error)")
            }
        }
        if isRefused(error) { return .refused }
        return .failed("\(error)")
    }

    private static func isRefused(_ error: Error) -> Bool {
        if let error = error as? IOError { return error.errnoCode == ECONNREFUSED }
        if let error = error as? NIOConnectionError {
            return error.connectionErrors.contains { isRefused($0.error) }
        }
        return false
    }
}

/// The transport one VM uses: requests run on its loop.
private final class LoopClient: ScriptHTTPClient {
    let owner: OutboundHTTPClient
    let loop: EventLoop

    init(owner: OutboundHTTPClient, loop: EventLoop) {
        self.owner = owner
        self.loop = loop
    }

    func execute(
        _ request: ScriptHTTPRequest, completion: @escaping @Sendable (Result<ScriptHTTPResponse, ScriptHTTPError>) -> Void
    ) -> ScriptCancellable? {
        owner.execute(request, on: loop, completion: completion)
    }
}

private struct TaskCancel: ScriptCancellable {
    let task: HTTPClient.Task<HTTPClient.Response>
    func cancel() { task.cancel() }
}
