import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RedisClient

/// Publishes/s through one Redis with `RedisConnection`: one publisher keeps `--window` PUBLISH commands in flight
/// (each encoded on its own, as the cluster will), `--subscribers` `RedisSubscriber`s (each on its own event loop,
/// as one per node) count what arrives. Prints one line per run. Started by `benchmarks/redis-publish.sh`, which
/// brings its own redis-server.
@main
struct RedisPublish {
    struct Options {
        var url = "redis://127.0.0.1:6379"
        var messages = 200_000
        var window = 1_000
        var payload = 64
        var subscribers = 1
        /// redis-server's pid, to report its CPU time per publish (from /proc).
        var serverPID: Int?
    }

    static func parse(_ arguments: [String]) -> Options {
        var options = Options()
        var iterator = arguments.makeIterator()
        while let flag = iterator.next() {
            guard let value = iterator.next() else { usage("\(flag) needs a value") }
            func number() -> Int {
                guard let number = Int(value), number >= 0 else { usage("\(flag) \(value) is not a count") }
                return number
            }
            switch flag {
            case "--url": options.url = value
            case "--messages": options.messages = number()
            case "--window": options.window = max(number(), 1)
            case "--payload": options.payload = number()
            case "--subscribers": options.subscribers = number()
            case "--server-pid": options.serverPID = number()
            default: usage("unknown flag \(flag)")
            }
        }
        return options
    }

    static func usage(_ problem: String) -> Never {
        FileHandle.standardError.write(
            Data(
                """
                redis-publish: \(problem)
                usage: redis-publish [--url redis://host:port] [--messages N] [--window N] [--payload BYTES]
                                     [--subscribers N] [--server-pid PID]

                """.utf8))
        exit(2)
    }

    static func main() async throws {
        let options = parse(Array(CommandLine.arguments.dropFirst()))
        let configuration = try RedisConfiguration(url: options.url)
        var logger = Logger(label: "redis-publish")
        logger.logLevel = .warning
        let group = MultiThreadedEventLoopGroup(numberOfThreads: options.subscribers + 1)
        let channel = "bench:\(UUID().uuidString)"

        let received = NIOLockedValueBox(0)
        let allReceived = group.next().makePromise(of: Void.self)
        let expected = options.messages * options.subscribers
        var subscribers: [RedisSubscriber] = []
        for _ in 0..<options.subscribers {
            // Loop 0 publishes; subscribers take the others.
            let subscriber = RedisSubscriber(configuration: configuration, eventLoop: group.next(), logger: logger) {
                _ in
                let total = received.withLockedValue { count -> Int in
                    count += 1
                    return count
                }
                if total == expected { allReceived.succeed() }
            }
            try await subscriber.connect().get()
            try await subscriber.subscribe([channel]).get()
            subscribers.append(subscriber)
        }

        let publisherLoop = group.next()
        let publisher = RedisConnection(configuration: configuration, eventLoop: publisherLoop, logger: logger)
        try await publisher.connect().get()
        let payload = ByteBuffer(repeating: UInt8(ascii: "x"), count: options.payload)

        let start = DispatchTime.now().uptimeNanoseconds
        let clientCPUStart = processCPUSeconds()
        let serverCPUStart = options.serverPID.flatMap(cpuSeconds(pid:))
        let acknowledged = try await publisherLoop.flatSubmit {
            Pump(
                publisher: publisher, channel: channel, payload: payload, total: options.messages,
                window: options.window
            ).run()
        }.get()
        let published = DispatchTime.now().uptimeNanoseconds
        if options.subscribers > 0 { try await allReceived.futureResult.get() }
        let delivered = DispatchTime.now().uptimeNanoseconds
        let clientCPU = processCPUSeconds() - clientCPUStart
        var serverCPU: Double?
        if let pid = options.serverPID, let before = serverCPUStart, let after = cpuSeconds(pid: pid) {
            serverCPU = after - before
        }

        let publishSeconds = Double(published - start) / 1e9
        let deliverySeconds = Double(delivered - start) / 1e9
        print(
            String(
                format: "messages=%d payload=%dB window=%d subscribers=%d: %.0f publishes/s acknowledged (%.2f s), "
                    + "%.0f deliveries/s (all received after %.2f s), acknowledged=%d",
                options.messages, options.payload, options.window, options.subscribers,
                Double(options.messages) / publishSeconds, publishSeconds,
                Double(expected) / deliverySeconds, deliverySeconds, acknowledged
            ))
        // CPU time does not depend on what else the machine runs: per message it is the figure to compare.
        let perMessage = { (seconds: Double) in String(format: "%.2f", seconds / Double(options.messages) * 1e6) }
        print(
            "  CPU per publish: client \(perMessage(clientCPU)) µs (publisher and subscribers)"
                + (serverCPU.map { ", redis-server \(perMessage($0)) µs" } ?? ""))
        for subscriber in subscribers { try await subscriber.close().get() }
        try await publisher.close().get()
        try await group.shutdownGracefully()
    }
}

/// Keeps `window` publishes in flight on the publisher's loop until `total` are acknowledged.
final class Pump {
    let publisher: RedisConnection
    let channel: String
    let payload: ByteBuffer
    let total: Int
    let window: Int
    var sent = 0
    var acknowledged = 0
    var failed = false
    let done: EventLoopPromise<Int>

    init(publisher: RedisConnection, channel: String, payload: ByteBuffer, total: Int, window: Int) {
        self.publisher = publisher
        self.channel = channel
        self.payload = payload
        self.total = total
        self.window = window
        done = publisher.eventLoop.makePromise()
    }

    func run() -> EventLoopFuture<Int> {
        fill()
        return done.futureResult
    }

    private func fill() {
        while !failed && sent - acknowledged < window && sent < total {
            sent += 1
            publisher.send(["PUBLISH", .string(channel), .bytes(payload)]).assumeIsolated().whenComplete { result in
                guard !self.failed else { return }
                if case .failure(let error) = result {
                    self.failed = true
                    self.done.fail(error)
                    return
                }
                self.acknowledged += 1
                if self.acknowledged == self.total { self.done.succeed(self.acknowledged) } else { self.fill() }
            }
        }
    }
}

/// User + system CPU seconds of this process so far.
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
        + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

/// User + system CPU seconds of another process, from /proc/PID/stat (fields 14 and 15, in clock ticks).
func cpuSeconds(pid: Int) -> Double? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return nil }
    // The fields after the command name (which may hold spaces) start at field 3.
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}
