import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Why the server cannot listen where it was told to, said so a person knows what to do next.
public struct ListenError: Error, CustomStringConvertible {
    public var host: String
    public var port: Int
    /// The system's error number (`EADDRINUSE`…), nil when the failure was not a system call's.
    public var errno: Int32?
    public var underlying: String

    public var description: String {
        let address = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        switch errno {
        case EADDRINUSE:
            return "cannot listen on \(address): the port is already in use (another hello-sockets, or another "
                + "server). Stop that one, or choose another port with --port N (or $PORT)."
        case EACCES:
            return "cannot listen on \(address): permission denied. Ports below 1024 need root or "
                + "CAP_NET_BIND_SERVICE; use a port of 1024 or more, or a proxy in front."
        case EADDRNOTAVAIL:
            return "cannot listen on \(address): no network interface of this machine has that address. "
                + "Use 127.0.0.1, 0.0.0.0 (every interface) or one of this machine's addresses with --host."
        default:
            return "cannot listen on \(address): \(underlying)"
        }
    }

    /// The error for a failed bind of `host:port`.
    init(host: String, port: Int, error: Error) {
        self.host = host
        self.port = port
        self.errno = (error as? IOError)?.errnoCode
        self.underlying = "\(error)"
    }

    /// Binds `host:port` the way the server does, and lets go at once: a taken port or an address that is
    /// not this machine's is reported before anything else starts. Port 0 always succeeds.
    public static func probe(host: String, port: Int) async throws {
        guard port != 0 else { return }
        do {
            let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: host, port: port).get()
            try await channel.close()
        } catch {
            throw ListenError(host: host, port: port, error: error)
        }
    }
}
