import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Debian's `nginx` as a round-robin front of the test's own on a free 127.0.0.1 port, proxying HTTP (LongPoll
/// included) and WebSocket upgrades to `upstreams`, with no stickiness: each request may reach another node.
/// Its configuration, temp folders and logs live in a folder of its own, removed by `stop`.
public final class NginxFront {
    public let port: Int
    private let directory: URL
    private var process: Process?

    /// `/usr/sbin/nginx` (or the first `nginx` in PATH), if installed.
    public static var binary: String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let candidates = path.split(separator: ":").map { "\($0)/nginx" } + ["/usr/sbin/nginx"]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Starts nginx in front of `upstreams` (ports on 127.0.0.1) and waits until it accepts connections.
    public static func start(upstreams: [Int]) async throws -> NginxFront {
        guard let binary else { throw RedisServer.LaunchError.didNotStart("nginx is not installed") }
        let front = NginxFront(port: try RedisServer.freePort())
        try front.launch(binary: binary, upstreams: upstreams)
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if let client = try? await RawClient.connect(port: front.port) {
                await client.close()
                return front
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        let log = (try? String(contentsOf: front.directory.appendingPathComponent("error.log"), encoding: .utf8)) ?? ""
        front.stop()
        throw RedisServer.LaunchError.didNotStart("nginx did not accept connections on port \(front.port): \(log)")
    }

    private init(port: Int) {
        self.port = port
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("nginx-test-\(port)-\(UUID())")
    }

    deinit { stop() }

    private func launch(binary: String, upstreams: [Int]) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let dir = directory.path
        let servers = upstreams.map { "        server 127.0.0.1:\($0);" }.joined(separator: "\n")
        let configuration = """
            daemon off;
            worker_processes 1;
            pid \(dir)/nginx.pid;
            error_log \(dir)/error.log warn;
            events { worker_connections 1024; }
            http {
                access_log off;
                client_body_temp_path \(dir)/body;
                proxy_temp_path \(dir)/proxy;
                fastcgi_temp_path \(dir)/fastcgi;
                uwsgi_temp_path \(dir)/uwsgi;
                scgi_temp_path \(dir)/scgi;
                upstream nodes {
            \(servers)
                }
                map $http_upgrade $connection_upgrade {
                    default upgrade;
                    ''      close;
                }
                server {
                    listen 127.0.0.1:\(port);
                    location / {
                        proxy_pass http://nodes;
                        proxy_http_version 1.1;
                        proxy_set_header Upgrade $http_upgrade;
                        proxy_set_header Connection $connection_upgrade;
                        proxy_set_header Host $host;
                        proxy_read_timeout 60s;
                        proxy_buffering off;
                    }
                }
            }

            """
        let file = directory.appendingPathComponent("nginx.conf")
        try configuration.write(to: file, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["-c", file.path, "-p", dir]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
    }

    /// Stops nginx: SIGTERM, which its master handles whatever signal mask it inherited (it stops its worker and
    /// exits), then SIGKILL if it is still there after 5 s; and removes its folder.
    public func stop() {
        if let process, process.isRunning {
            let pid = process.processIdentifier
            Glibc.kill(pid, SIGTERM)
            let deadline = Date().addingTimeInterval(5)
            while process.isRunning && Date() < deadline { usleep(20_000) }
            if process.isRunning { Glibc.kill(pid, SIGKILL) }
        }
        process = nil
        try? FileManager.default.removeItem(at: directory)
    }
}
