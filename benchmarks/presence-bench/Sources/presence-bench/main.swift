// presence-bench: N clients join one room topic at a given rate over WebSockets (Phoenix V2 serializer),
// each keeping its member list as phoenix.js's Presence does (diffs that arrive before the state of the
// current join wait for it; metas are matched by phx_ref), and reports how long until every client's
// list holds all N, the frames the server sent, and, with --server-pid, the server's CPU per join from
// /proc. It speaks only the wire protocol: point it at any Phoenix-protocol server whose room channel
// tracks each joiner (`{"user": "u<i>"}`) and pushes presence_state after the join.
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import PhoenixProtocol

struct Options {
    var host = "127.0.0.1"
    var port = 4000
    var path = "/socket/websocket?vsn=2.0.0"
    var clients = 500
    var rate = 100.0
    var topic = "room:bench"
    var threads = 1
    var timeout = 300.0
    var serverPID: Int32?

    static let usage = """
        usage: presence-bench [--url ws://127.0.0.1:4000/socket/websocket?vsn=2.0.0] [--clients N] [--rate JOINS_PER_S]
                              [--topic room:bench] [--threads T] [--timeout SECONDS] [--server-pid PID]
        """

    init(_ arguments: [String]) throws {
        var rest = arguments[...]
        func value(_ flag: String) throws -> String {
            guard let v = rest.popFirst() else { throw Failure("\(flag) needs a value\n\(Self.usage)") }
            return v
        }
        while let flag = rest.popFirst() {
            switch flag {
            case "--url":
                let url = try value(flag)
                guard let parsed = URLComponents(string: url), parsed.scheme == "ws", let host = parsed.host else {
                    throw Failure("--url must be ws://HOST:PORT/PATH")
                }
                guard ["127.0.0.1", "localhost", "::1"].contains(host) || host.hasPrefix("127.") else {
                    throw Failure("--url: loopback servers only")
                }
                self.host = host == "localhost" ? "127.0.0.1" : host
                port = parsed.port ?? 80
                path = parsed.percentEncodedPath + (parsed.percentEncodedQuery.map { "?" + $0 } ?? "")
            case "--clients": clients = Int(try value(flag)) ?? 0
            case "--rate": rate = Double(try value(flag)) ?? 0
            case "--topic": topic = try value(flag)
            case "--threads": threads = Int(try value(flag)) ?? 0
            case "--timeout": timeout = Double(try value(flag)) ?? 0
            case "--server-pid": serverPID = Int32(try value(flag))
            case "-h", "--help": throw Failure(Self.usage)
            default: throw Failure("unknown option \(flag)\n\(Self.usage)")
            }
        }
        guard clients > 0, clients <= 19_000, rate > 0, threads > 0, timeout > 0 else {
            throw Failure("--clients (1...19000), --rate, --threads and --timeout must be positive\n\(Self.usage)")
        }
    }
}

struct Failure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// What one client received.
struct Counters {
    var frames = 0, bytes = 0, diffs = 0, states = 0, replies = 0, other = 0

    mutating func add(_ other: Counters) {
        frames += other.frames; bytes += other.bytes; diffs += other.diffs
        states += other.states; replies += other.replies; self.other += other.other
    }
}

/// The room as the clients see it together: how many lists are complete.
final class Room: @unchecked Sendable {
    let expected: Int
    private let lock = NIOLock()
    private var complete = 0
    private var joined = 0
    private var done: (() -> Void)?
    private(set) var completedAt: ContinuousClock.Instant?

    init(expected: Int) { self.expected = expected }

    func onComplete(_ body: @escaping () -> Void) { lock.withLock { done = body } }

    func memberCountChanged(from old: Int, to new: Int) {
        guard (old == expected) != (new == expected) else { return }
        let finished: (() -> Void)? = lock.withLock {
            complete += new == expected ? 1 : -1
            guard complete == expected, completedAt == nil else { return nil }
            completedAt = .now
            return done
        }
        finished?()
    }

    func joinReplied() { lock.withLock { joined += 1 } }
    var joinedCount: Int { lock.withLock { joined } }
    var completeCount: Int { lock.withLock { complete } }
}

/// One client: a WebSocket (handshake, unmasked server frames, masked client frames) carrying the Phoenix
/// V2 serializer, and a Presence list kept as phoenix.js keeps it. Touched only on its channel's loop.
final class Member: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let index: Int
    let options: Options
    let room: Room
    let upgraded: EventLoopPromise<Void>
    private var context: ChannelHandlerContext?
    private var isOpen = false
    private var inbound = ByteBuffer()
    private var message: [UInt8] = []
    private var heartbeat: RepeatedTask?
    private var nextRef = 1
    private let joinRef = "1"
    /// key → phx_refs of its metas, oldest first (phoenix.js's state, metas reduced to their refs).
    private var presences: [String: [String]] = [:]
    private var hasState = false
    private var pendingDiffs: [JSONValue] = []
    private(set) var counters = Counters()

    init(index: Int, options: Options, room: Room, upgraded: EventLoopPromise<Void>) {
        self.index = index
        self.options = options
        self.room = room
        self.upgraded = upgraded
    }

    func channelActive(context: ChannelHandlerContext) {
        self.context = context
        let request = "GET \(options.path) HTTP/1.1\r\nHost: \(options.host):\(options.port)\r\nUpgrade: websocket\r\n"
            + "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: request)), promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        heartbeat?.cancel()
        upgraded.fail(Failure("client \(index): connection closed"))
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        upgraded.fail(error)
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        inbound.writeBuffer(&bytes)
        if !isOpen {
            guard let end = inbound.readableBytesView.firstRange(of: Array("\r\n\r\n".utf8)) else { return }
            let head = inbound.readString(length: end.upperBound - inbound.readerIndex) ?? ""
            guard head.hasPrefix("HTTP/1.1 101") else {
                upgraded.fail(Failure("client \(index): upgrade refused: \(head.prefix(80))"))
                context.close(promise: nil)
                return
            }
            isOpen = true
            heartbeat = context.eventLoop.scheduleRepeatedTask(initialDelay: .seconds(25), delay: .seconds(25)) { [self] _ in
                sendText(#"[null,"hb\#(nextRef)","phoenix","heartbeat",{}]"#)
                nextRef += 1
            }
            upgraded.succeed(())
        }
        readFrames()
        inbound.discardReadBytes()
    }

    /// Server frames: unmasked; text may be fragmented; pings are answered; a close ends the client.
    private func readFrames() {
        while inbound.readableBytes >= 2 {
            let start = inbound.readerIndex
            guard let b0: UInt8 = inbound.getInteger(at: start), let b1: UInt8 = inbound.getInteger(at: start + 1) else { return }
            var header = 2
            var length = Int(b1 & 0x7F)
            if length == 126 {
                guard let n: UInt16 = inbound.getInteger(at: start + 2) else { return }
                length = Int(n)
                header += 2
            } else if length == 127 {
                guard let n: UInt64 = inbound.getInteger(at: start + 2) else { return }
                length = Int(n)
                header += 8
            }
            guard inbound.readableBytes >= header + length else { return }
            inbound.moveReaderIndex(forwardBy: header)
            let payload = inbound.readBytes(length: length) ?? []
            switch b0 & 0x0F {
            case 0x0, 0x1:
                message += payload
                if b0 & 0x80 != 0 {
                    received(message)
                    message.removeAll(keepingCapacity: true)
                }
            case 0x9:
                send(opcode: 0xA, payload)
            case 0x8:
                context?.close(promise: nil)
                return
            default:
                break
            }
        }
    }

    private func received(_ text: [UInt8]) {
        counters.frames += 1
        counters.bytes += text.count
        guard case .array(let fields)? = try? JSONParser().parse(text), fields.count == 5,
              case .string(let event) = fields[3] else { counters.other += 1; return }
        switch event {
        case "presence_state":
            counters.states += 1
            let before = presences.count
            syncState(fields[4])
            hasState = true
            for diff in pendingDiffs { syncDiff(diff) }
            pendingDiffs.removeAll()
            room.memberCountChanged(from: before, to: presences.count)
        case "presence_diff":
            counters.diffs += 1
            if hasState {
                let before = presences.count
                syncDiff(fields[4])
                room.memberCountChanged(from: before, to: presences.count)
            } else {
                pendingDiffs.append(fields[4])
            }
        case "phx_reply":
            counters.replies += 1
            if fields[1] == .string(joinRef) { room.joinReplied() }
        default:
            counters.other += 1
        }
    }

    // MARK: phoenix.js Presence (syncState, syncDiff), on refs

    private static func refs(_ presence: JSONValue?) -> [String] {
        guard case .array(let metas)? = presence?["metas"] else { return [] }
        return metas.compactMap { $0["phx_ref"]?.stringValue }
    }

    private func syncState(_ state: JSONValue) {
        guard case .object(let incoming) = state else { return }
        var joins: [String: [String]] = [:], leaves: [String: [String]] = [:]
        for (key, refs) in presences where incoming[key] == nil { leaves[key] = refs }
        for (key, presence) in incoming {
            let new = Self.refs(presence)
            guard let current = presences[key] else { joins[key] = new; continue }
            let joined = new.filter { !current.contains($0) }, left = current.filter { !new.contains($0) }
            if !joined.isEmpty { joins[key] = joined }
            if !left.isEmpty { leaves[key] = left }
        }
        apply(joins: joins, leaves: leaves)
    }

    private func syncDiff(_ diff: JSONValue) {
        var joins: [String: [String]] = [:], leaves: [String: [String]] = [:]
        if case .object(let members)? = diff["joins"] { for (key, p) in members { joins[key] = Self.refs(p) } }
        if case .object(let members)? = diff["leaves"] { for (key, p) in members { leaves[key] = Self.refs(p) } }
        apply(joins: joins, leaves: leaves)
    }

    private func apply(joins: [String: [String]], leaves: [String: [String]]) {
        for (key, new) in joins {
            presences[key] = (presences[key] ?? []).filter { !new.contains($0) } + new
        }
        for (key, gone) in leaves {
            guard let current = presences[key] else { continue }
            let kept = current.filter { !gone.contains($0) }
            presences[key] = kept.isEmpty ? nil : kept
        }
    }

    // MARK: Sending

    func join() {
        sendText(#"["\#(joinRef)","\#(joinRef)","\#(options.topic)","phx_join",{"user":"u\#(index)"}]"#)
    }

    private func sendText(_ text: String) { send(opcode: 0x1, Array(text.utf8)) }

    private func send(opcode: UInt8, _ payload: [UInt8]) {
        guard let context else { return }
        var frame = context.channel.allocator.buffer(capacity: payload.count + 14)
        frame.writeInteger(0x80 | opcode)
        if payload.count < 126 {
            frame.writeInteger(UInt8(0x80 | payload.count))
        } else if payload.count <= 0xFFFF {
            frame.writeInteger(UInt8(0x80 | 126))
            frame.writeInteger(UInt16(payload.count))
        } else {
            frame.writeInteger(UInt8(0x80 | 127))
            frame.writeInteger(UInt64(payload.count))
        }
        let mask = (0..<4).map { _ in UInt8.random(in: 0...255) }
        frame.writeBytes(mask)
        frame.writeBytes(payload.enumerated().map { $0.element ^ mask[$0.offset & 3] })
        context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
    }
}

/// The server's CPU time (user + system) in seconds, from /proc/PID/stat.
func serverCPUSeconds(_ pid: Int32?) -> Double? {
    guard let pid, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return nil }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    // After the command: state is field 3 of the man page; utime and stime are fields 14 and 15.
    guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

func ownCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
        + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

func seconds(_ duration: Duration) -> Double {
    let (s, atto) = duration.components
    return Double(s) + Double(atto) / 1e18
}

func run(_ options: Options) async throws -> Int32 {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: options.threads)
    let room = Room(expected: options.clients)
    var members: [Member] = []
    var channels: [Channel] = []
    // Connect everyone first (not measured), a hundred handshakes at a time.
    for batch in stride(from: 0, to: options.clients, by: 100) {
        var pending: [(Member, EventLoopFuture<Channel>)] = []
        for index in batch..<min(batch + 100, options.clients) {
            let loop = group.next()
            let member = Member(index: index, options: options, room: room, upgraded: loop.makePromise())
            let channel = ClientBootstrap(group: loop)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { $0.pipeline.addHandler(member) }
                .connect(host: options.host, port: options.port)
            pending.append((member, channel))
        }
        for (member, channel) in pending {
            channels.append(try await channel.get())
            try await member.upgraded.futureResult.get()
            members.append(member)
        }
    }
    let finished = AsyncStream<Void>.makeStream()
    room.onComplete { finished.continuation.yield(()) }

    let cpuStart = serverCPUSeconds(options.serverPID)
    let clientCPUStart = ownCPUSeconds()
    let start = ContinuousClock.now
    let joining = Task {
        for (index, member) in members.enumerated() {
            let due = start + .seconds(Double(index) / options.rate)
            if due > .now { try? await Task.sleep(until: due, clock: .continuous) }
            channels[index].eventLoop.execute { member.join() }
        }
        return ContinuousClock.now
    }
    let timeout = Task {
        try? await Task.sleep(for: .seconds(options.timeout))
        finished.continuation.yield(())
    }
    for await _ in finished.stream { break }
    timeout.cancel()
    let lastJoin = await joining.value
    let end = room.completedAt ?? .now
    let cpuEnd = serverCPUSeconds(options.serverPID)
    let clientCPU = ownCPUSeconds() - clientCPUStart

    var total = Counters()
    for (member, channel) in zip(members, channels) {
        total.add(try await channel.eventLoop.submit { member.counters }.get())
    }
    let (joined, complete) = (room.joinedCount, room.completeCount)  // before closing: leaves would follow
    for channel in channels { channel.close(promise: nil) }
    try? await group.shutdownGracefully()

    let converged = room.completedAt != nil
    let n = options.clients
    var fields = [
        "clients=\(n)", "rate=\(options.rate)", "converged=\(converged)", "joined=\(joined)",
        "complete_lists=\(complete)",
        String(format: "converge_s=%.3f", seconds(end - start)),
        String(format: "after_last_join_s=%.3f", max(0, seconds(end - lastJoin))),
        "frames=\(total.frames)", "diffs=\(total.diffs)", "states=\(total.states)", "replies=\(total.replies)",
        "bytes=\(total.bytes)", String(format: "client_cpu_s=%.2f", clientCPU),
    ]
    if let cpuStart, let cpuEnd {
        fields.append(String(format: "server_cpu_s=%.2f", cpuEnd - cpuStart))
        fields.append(String(format: "server_ms_per_join=%.3f", (cpuEnd - cpuStart) * 1000 / Double(n)))
    }
    print("RESULT presence " + fields.joined(separator: " "))
    return converged ? 0 : 1
}

do {
    let options = try Options(Array(CommandLine.arguments.dropFirst()))
    exit(try await run(options))
} catch {
    FileHandle.standardError.write(Data("presence-bench: \(error)\n".utf8))
    exit(2)
}
