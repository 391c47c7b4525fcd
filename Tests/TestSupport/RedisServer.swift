import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A `redis-server` of the test's own on a free 127.0.0.1 port, with no persistence; killed, paused, restarted on
/// the same port, and stopped by the test.
public final class RedisServer {
    public let port: Int
    public let password: String?
    private let arguments: [String]
    private let directory: URL
    private var process: Process?

    /// Starts a server (`requirepass` when `password` is given) and waits until it accepts connections.
    public static func start(password: String? = nil) throws -> RedisServer {
        var lastError: Error?
        // The port is free when picked, but another process may take it first: try a few.
        for _ in 0..<3 {
            let server = RedisServer(port: try freePort(), password: password)
            do {
                try server.launch()
                return server
            } catch {
                lastError = error
                server.stop()
            }
        }
        throw lastError ?? LaunchError.didNotStart("no attempt made")
    }

    private init(port: Int, password: String?) {
        self.port = port
        self.password = password
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("redis-test-\(port)-\(UUID())")
        var arguments = [
            "--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--daemonize", "no", "--dir", directory.path, "--loglevel", "warning",
        ]
        if let password { arguments += ["--requirepass", password] }
        self.arguments = arguments
    }

    deinit { stop() }

    /// `redis://[:password@]127.0.0.1:port[/database]`.
    public func url(database: Int? = nil, password: String? = nil) -> String {
        let secret = password ?? self.password
        return "redis://\(secret.map { ":\($0)@" } ?? "")127.0.0.1:\(port)\(database.map { "/\($0)" } ?? "")"
    }

    private func launch() throws {
        guard let binary = Self.binary else {
            throw LaunchError.didNotStart("redis-server not found in PATH or /usr/bin: run scripts/install-deps.sh")
        }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            guard process.isRunning else {
                throw LaunchError.didNotStart("redis-server exited with status \(process.terminationStatus)")
            }
            if Self.acceptsConnections(port: port) { return }
            usleep(20_000)
        }
        throw LaunchError.didNotStart("redis-server did not accept connections on port \(port) within 10 s")
    }

    /// SIGKILL: the server vanishes at once, as in a crash; its clients see their connections reset.
    public func kill() {
        guard let process, process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        self.process = nil
    }

    /// SIGSTOP / SIGCONT: the server stops answering but keeps its connections open.
    public func pause() { signal(SIGSTOP) }
    public func resume() { signal(SIGCONT) }

    private func signal(_ signal: Int32) {
        guard let process, process.isRunning else { return }
        Glibc.kill(process.processIdentifier, signal)
    }

    /// Starts the server again on the same port (after `kill`), empty.
    public func restart() throws {
        kill()
        try launch()
    }

    /// Stops the server (with SIGKILL: it keeps nothing, and it inherits the test thread's signal mask, in which
    /// SIGTERM may be blocked) and removes its folder.
    public func stop() {
        kill()
        try? FileManager.default.removeItem(at: directory)
    }

    /// What `redis-cli` prints for one command against this server (to look at keys as an operator would).
    public func cli(_ arguments: String...) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["redis-cli", "-p", "\(port)"] + (password.map { ["-a", $0, "--no-auth-warning"] } ?? [])
            + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private static var binary: String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let candidates = path.split(separator: ":").map { "\($0)/redis-server" } + ["/usr/bin/redis-server"]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// A port nothing listens on now: bind port 0 on 127.0.0.1 and read what the kernel chose.
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw LaunchError.didNotStart("socket() failed") }
        defer { close(fd) }
        var address = loopback(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sockaddr in
                bind(fd, sockaddr, length) == 0 && getsockname(fd, sockaddr, &length) == 0
            }
        }
        guard bound else { throw LaunchError.didNotStart("could not bind a free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    private static func acceptsConnections(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = loopback(port: port)
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sockaddr in
                connect(fd, sockaddr, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    public enum LaunchError: Error, CustomStringConvertible {
        case didNotStart(String)
        public var description: String {
            switch self {
            case .didNotStart(let why): return why
            }
        }
    }
}
