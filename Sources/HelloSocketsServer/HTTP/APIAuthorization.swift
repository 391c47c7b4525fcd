import NIOCore
import NIOHTTP1

/// Who may use the admin endpoints (`POST /api/broadcast`, the observer feed `/observe`): loopback
/// peers, and others only with the API token (`--api-token`). Without a token configured they are
/// loopback-only, whatever address the server listens on.
enum APIAuthorization {
    /// True for a loopback peer, or for a request carrying `Authorization: Bearer <token>` (or, when
    /// `allowQuery`, `?token=<token>`, for browsers' WebSockets, which cannot set headers).
    static func allows(_ head: HTTPRequestHead, peer: SocketAddress?, token: String?, allowQuery: Bool = false) -> Bool {
        if peer?.isLoopback ?? false { return true }
        guard let token, !token.isEmpty else { return false }
        if let header = head.headers["authorization"].first, header.hasPrefix("Bearer "),
            constantTimeEqual(String(header.dropFirst("Bearer ".count)), token)
        {
            return true
        }
        if allowQuery, let given = QueryString.parameters(of: head.uri)["token"], constantTimeEqual(given, token) {
            return true
        }
        return false
    }

    /// Compares without an early exit on the first differing byte (the length still shows).
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for i in x.indices { difference |= x[i] ^ y[i] }
        return difference == 0
    }
}
