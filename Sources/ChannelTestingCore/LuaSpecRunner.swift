import Foundation
import KeyValueStore
import RedisClient
import Logging
import LuaRuntime
import PhoenixProtocol

/// Runs Lua spec files (`*_test.lua`) through the harness: `hello-sockets test [DIR]`.
///
/// Specs live beside the channels they test: in `DIR` (the `/socket` mount) and in its socket
/// subfolders (`DIR/stats_socket/`), each run against that folder's scripts. Every `it` gets a
/// fresh in-memory endpoint (its own channel VM, subscriptions and manual clock); the spec file
/// itself runs in one sandboxed `LuaVM` whose `ct` calls go to a `ChannelTest`.
public struct LuaSpecRunner {
    /// The outcome of one test.
    public struct Result: Sendable, Equatable {
        /// The spec file's display path, `channels/ping_test.lua`.
        public var file: String
        /// The `describe`/`it` names; the error message for a file that did not load.
        public var name: String
        /// Where it failed (the failing line of the spec when known, else the `it` line).
        public var line: Int
        /// nil when it passed; else what failed (assertion message, without the `file:line:` prefix).
        public var failure: String?
        /// The channel script error (`channels/ping.lua:56: …`) when a script raised during the test.
        public var scriptError: String?

        public var passed: Bool { failure == nil }

        /// `channels/ping_test.lua:12: ping replies: expected … [script channels/ping.lua:56: …]`.
        public var failureLine: String? {
            guard let failure else { return nil }
            var text = "\(file):\(line): \(name): \(failure)"
            if let scriptError, !failure.contains(scriptError) { text += " [script \(scriptError)]" }
            return text
        }
    }

    public enum Format: String, Sendable, CaseIterable {
        case plain, tap, junit
    }

    public var directory: URL
    public var filter: String?
    public var logger: Logger
    /// Where the specs' `phx.kv` lives: nil (default) a fresh embedded store per test; else this Redis, each test
    /// with keys of its own, deleted after it (`hello-sockets test --redis URL`).
    public var redis: RedisConfiguration?

    public init(directory: URL, filter: String? = nil, logger: Logger = InMemoryTransport.quietLogger) {
        self.directory = directory
        self.filter = filter
        self.logger = logger
    }

    /// The spec files: `DIR/*_test.lua` and `DIR/<socket>/*_test.lua`, sorted, with the folder
    /// (socket mount) whose scripts they test.
    public func specFiles() throws -> [(folder: URL, displayPrefix: String, file: String)] {
        let fm = FileManager.default
        let prefix = ChannelRegistry.displayPrefix(for: directory)
        var folders = [(directory, prefix)]
        for name in try fm.contentsOfDirectory(atPath: directory.path).sorted() where name != "lib" && !name.hasPrefix(".") {
            var isDirectory: ObjCBool = false
            let folder = directory.appendingPathComponent(name)
            if fm.fileExists(atPath: folder.path, isDirectory: &isDirectory), isDirectory.boolValue {
                folders.append((folder, "\(prefix)/\(name)"))
            }
        }
        var files: [(URL, String, String)] = []
        for (folder, display) in folders {
            let names = (try? fm.contentsOfDirectory(atPath: folder.path)) ?? []
            for name in names.sorted() where name.hasSuffix("_test.lua") {
                files.append((folder, display, name))
            }
        }
        return files
    }

    /// Why nothing could be tested: a clear error rather than "0 passed, 0 failed", so CI never goes green
    /// on nothing.
    public enum Failure: Error, CustomStringConvertible, Equatable {
        case noFolder(String)
        case noSpecs(String)
        case nothingMatches(filter: String)

        public var description: String {
            switch self {
            case .noFolder(let path): return "no folder at \(path)"
            case .noSpecs(let path):
                return "no specs in \(path): spec files end in _test.lua and sit beside the channels they test "
                    + "(or in a socket subfolder)"
            case .nothingMatches(let filter): return "no test matches --filter \(filter)"
            }
        }
    }

    /// Runs every spec (matching `filter`, a substring of "file: name") and returns one result per test.
    /// Throws `Failure` when there is no folder, no spec file, or nothing matching the filter. A channel
    /// folder that does not load (with or without specs of its own) is a failed result naming the script.
    public func run() async throws -> [Result] {
        var isDirectory: ObjCBool = false
        let display = ChannelRegistry.displayPrefix(for: directory)
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw Failure.noFolder(display)
        }
        let files = try specFiles()
        guard !files.isEmpty else { throw Failure.noSpecs(display) }
        var results: [Result] = []
        var registries: [URL: ChannelRegistry] = [:]
        var specRedis: SpecRedis?
        if let redis { specRedis = try await SpecRedis(configuration: redis, logger: logger) }
        for (folder, display, name) in files {
            let path = "\(display)/\(name)"
            let registry: ChannelRegistry
            do {
                if let cached = registries[folder] {
                    registry = cached
                } else {
                    registry = try ChannelRegistry(directory: folder, displayPrefix: display)
                    registries[folder] = registry
                }
            } catch {
                results.append(Result(file: path, name: "(channels failed to load)", line: 0, failure: "\(error)"))
                continue
            }
            results += await runFile(
                path: path, url: folder.appendingPathComponent(name), registry: registry, redis: specRedis)
        }
        await specRedis?.close()
        if let filter, results.isEmpty { throw Failure.nothingMatches(filter: filter) }
        return results
    }

    func runFile(path: String, url: URL, registry: ChannelRegistry, redis: SpecRedis?) async -> [Result] {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            return [Result(file: path, name: "(cannot read)", line: 0, failure: "\(error)")]
        }
        let vm: LuaVM
        do { vm = try LuaVM(scripts: registry, limits: registry.limits, logger: logger) } catch {
            return [Result(file: path, name: "(no VM)", line: 0, failure: "\(error)")]
        }
        let cases: [SpecCase]
        switch vm.loadSpec(ScriptSource(path: path, text: text)) {
        case .success(let c): cases = c
        case .failure(let error):
            let (line, message) = Self.split(error.message, path: path)
            return [Result(file: path, name: "(load)", line: line ?? 0, failure: message)]
        }
        var results: [Result] = []
        for (index, spec) in cases.enumerated() {
            if let filter, !filter.isEmpty, !"\(path): \(spec.name)".contains(filter) { continue }
            let store = redis?.makeStore()
            results.append(await runCase(index, spec, path: path, vm: vm, registry: registry, store: store))
            if let redis, let store { await redis.clear(store) }
        }
        return results
    }

    func runCase(
        _ index: Int, _ spec: SpecCase, path: String, vm: LuaVM, registry: ChannelRegistry, store: KeyValueStore?
    ) async -> Result {
        let reporter = CollectingReporter()
        let test: ChannelTest
        do {
            let transport = try InMemoryTransport(registry: registry, logger: logger, store: store)
            test = ChannelTest(transport: transport, reporter: reporter)
        } catch {
            return Result(file: path, name: spec.name, line: spec.line, failure: "\(error)")
        }
        let host = SpecHost(test: test, reporter: reporter)
        var step = vm.startSpecCase(index)
        while case .call(let op, let args) = step {
            step = vm.resumeSpec(await host.call(op, args))
        }
        let scriptError = test.scriptErrors.last.map { $0.message.split(separator: "\n").first.map(String.init) ?? $0.message }
        switch step {
        case .failed(let message, _):
            let (line, text) = Self.split(message, path: path)
            return Result(file: path, name: spec.name, line: line ?? spec.line, failure: text, scriptError: scriptError)
        default:
            return Result(file: path, name: spec.name, line: spec.line, failure: nil)
        }
    }

    /// Splits `path:LINE: message` into the line and the message.
    static func split(_ message: String, path: String) -> (Int?, String) {
        let prefix = path + ":"
        guard message.hasPrefix(prefix) else { return (nil, message) }
        let rest = message.dropFirst(prefix.count)
        guard let colon = rest.firstIndex(of: ":"), let line = Int(rest[..<colon]) else { return (nil, message) }
        return (line, rest[rest.index(after: colon)...].trimmingCharacters(in: .whitespaces))
    }

    // MARK: Output

    /// The report in `format`. Plain: one line per failing test, then `N passed, N failed` last.
    public static func render(_ results: [Result], format: Format) -> String {
        let passed = results.filter(\.passed).count
        let failed = results.count - passed
        switch format {
        case .plain:
            return (results.compactMap(\.failureLine) + ["\(passed) passed, \(failed) failed"]).joined(separator: "\n")
        case .tap:
            var lines = ["TAP version 13", "1..\(results.count)"]
            for (i, r) in results.enumerated() {
                lines.append("\(r.passed ? "ok" : "not ok") \(i + 1) - \(r.file): \(r.name)")
                if let line = r.failureLine {
                    lines += ["  ---", "  message: \(yamlQuote(line))", "  ..."]
                }
            }
            lines.append("# \(passed) passed, \(failed) failed")
            return lines.joined(separator: "\n")
        case .junit:
            var xml = [#"<?xml version="1.0" encoding="UTF-8"?>"#,
                       #"<testsuites name="hello-sockets test" tests="\#(results.count)" failures="\#(failed)">"#]
            let files = results.reduce(into: [String]()) { if !$0.contains($1.file) { $0.append($1.file) } }
            for file in files {
                let mine = results.filter { $0.file == file }
                xml.append(#"  <testsuite name="\#(xmlEscape(file))" tests="\#(mine.count)" failures="\#(mine.filter { !$0.passed }.count)">"#)
                for r in mine {
                    let open = #"    <testcase classname="\#(xmlEscape(file))" name="\#(xmlEscape(r.name))""#
                    if let line = r.failureLine {
                        xml.append(open + ">")
                        xml.append(#"      <failure message="\#(xmlEscape(line))">\#(xmlEscape(line))</failure>"#)
                        xml.append("    </testcase>")
                    } else {
                        xml.append(open + "/>")
                    }
                }
                xml.append("  </testsuite>")
            }
            xml.append("</testsuites>")
            return xml.joined(separator: "\n")
        }
    }

    static func xmlEscape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func yamlQuote(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    /// Runs and renders: the text to print and the exit status (1 on any failure).
    public func report(format: Format) async throws -> (output: String, exitCode: Int32) {
        let results = try await run()
        return (Self.render(results, format: format), results.allSatisfy(\.passed) ? 0 : 1)
    }
}

final class CollectingReporter: ChannelTestReporter {
    var failures: [String] = []
    func fail(_ message: String, file: StaticString, line: UInt) { failures.append(message) }
}

/// Runs the `ct` operations a spec yields on a `ChannelTest`.
final class SpecHost {
    let test: ChannelTest
    let reporter: CollectingReporter
    private var sockets: [TestSocket] = []
    private var channels: [ChannelSocket] = []

    init(test: ChannelTest, reporter: CollectingReporter) {
        self.test = test
        self.reporter = reporter
    }

    func call(_ op: String, _ args: [JSONValue]) async -> Swift.Result<JSONValue, SpecCallFailure> {
        let before = reporter.failures.count
        do {
            let value = try await run(op, args)
            if reporter.failures.count > before { return .failure(SpecCallFailure(message: reporter.failures[before])) }
            return .success(value)
        } catch let error as SpecCallFailure {
            return .failure(error)
        } catch {
            return .failure(SpecCallFailure(message: "ct.\(op): \(error)"))
        }
    }

    private func arg(_ args: [JSONValue], _ i: Int) -> JSONValue { i < args.count ? args[i] : .null }

    /// `ct.kv.<op>(key, …)`: runs the command on the channels' store, answering as `phx.kv` does.
    private func keyValue(_ op: String, _ args: [JSONValue]) async throws -> JSONValue {
        let key = try string(args, 0, "kv.\(op)")
        func integer(_ i: Int, default value: Int64?) throws -> Int64 {
            if case .integer(let n) = arg(args, i) { return n }
            if let value, arg(args, i) == .null { return value }
            throw SpecCallFailure(message: "bad argument #\(i + 1) to 'ct.kv.\(op)' (an integer expected)")
        }
        let command: KVCommand
        switch op {
        case "get": command = .get(key: key)
        case "set":
            let ttl = try integer(2, default: 0)
            command = .set(key: key, value: arg(args, 1), ttlMilliseconds: ttl > 0 ? Int(ttl) : nil)
        case "incr": command = .incr(key: key, by: try integer(1, default: 1))
        case "delete": command = .delete(key: key)
        case "push": command = .push(key: key, value: arg(args, 1), maxLength: Int(try integer(2, default: nil)))
        case "range": command = .range(key: key, count: Int(try integer(1, default: nil)))
        default: throw SpecCallFailure(message: "unknown ct.kv operation \(op)")
        }
        let store = try test.store()
        let answer: Result<KVReply, KVError>
        if let now = store.answerNow(command) {
            answer = now
        } else {
            answer = await withCheckedContinuation { continuation in store.execute(command) { continuation.resume(returning: $0) } }
        }
        switch answer {
        case .success(.value(let value)): return value ?? .null
        case .success(.integer(let n)): return .integer(n)
        case .success(.list(let items)): return .array(items)
        case .success(.stored): return .bool(true)
        case .success(.deleted(let existed)): return .bool(existed)
        case .failure(let error): throw SpecCallFailure(message: "ct.kv.\(op) \(key): \(error.message)")
        }
    }

    private func string(_ args: [JSONValue], _ i: Int, _ op: String) throws -> String {
        guard case .string(let s) = arg(args, i) else {
            throw SpecCallFailure(message: "bad argument #\(i + 1) to 'ct.\(op)' (string expected, got \(arg(args, i).compact))")
        }
        return s
    }

    private func channel(_ args: [JSONValue], _ op: String) throws -> ChannelSocket {
        guard case .integer(let id) = arg(args, 0), id >= 1, Int(id) <= channels.count else {
            throw SpecCallFailure(message: "bad argument #1 to 'ct.\(op)' (channel expected)")
        }
        return channels[Int(id) - 1]
    }

    private func pattern(_ value: JSONValue) -> Pattern {
        switch value {
        case .string(LuaVM.specAnySentinel): return .any
        case .array(let items): return .array(items.map(pattern))
        case .object(let members): return .object(members.mapValues(pattern))
        default: return Pattern(value)
        }
    }

    private func object(_ value: JSONValue) -> JSONValue {
        if case .array(let items) = value, items.isEmpty { return .emptyObject }
        return value
    }

    private func run(_ op: String, _ args: [JSONValue]) async throws -> JSONValue {
        switch op {
        case "socket":
            var params: [String: String] = [:]
            if case .object(let members) = arg(args, 0) {
                for (k, v) in members { params[k] = v.stringValue ?? v.compact }
            }
            let id = arg(args, 1).stringValue
            // `arg(...) == .null` would compare with Optional.none (the annotation makes it JSONValue?).
            let rawAssigns = arg(args, 2)
            let assigns: JSONValue?
            if case .null = rawAssigns { assigns = nil } else { assigns = object(rawAssigns) }
            sockets.append(try await test.socket(params: params, id: id, assigns: assigns))
            return .integer(Int64(sockets.count))
        case "join":
            let socket: TestSocket
            if case .integer(let id) = arg(args, 0), id >= 1, Int(id) <= sockets.count {
                socket = sockets[Int(id) - 1]
            } else {
                socket = try await test.socket()
                sockets.append(socket)
            }
            let topic = try string(args, 1, "subscribe_and_join")
            do {
                let channel = arg(args, 3) == .bool(false)
                    ? try await socket.join(topic, object(arg(args, 2)))
                    : try await socket.subscribeAndJoin(topic, object(arg(args, 2)))
                channels.append(channel)
                return ["channel": .integer(Int64(channels.count)), "topic": .string(topic), "join_reply": channel.joinReply]
            } catch ChannelTestError.joinRefused(_, let status, let response) {
                return ["error": ["status": .string(status), "response": response]]
            }
        case "push":
            return .string(try await channel(args, op).push(try string(args, 1, op), object(arg(args, 2))))
        case "leave":
            return .string(try await channel(args, op).leave())
        case "close":
            try await channel(args, op).close()
            return .null
        case "close_socket":
            if case .integer(let id) = arg(args, 0), id >= 1, Int(id) <= sockets.count { await sockets[Int(id) - 1].close() }
            return .null
        case "broadcast_from":
            try await channel(args, op).broadcastFrom(try string(args, 1, op), object(arg(args, 2)))
            return .null
        case "broadcast":
            try await test.broadcast(try string(args, 0, op), try string(args, 1, op), object(arg(args, 2)))
            return .null
        case "advance_time":
            let ms: Int
            switch arg(args, 0) {
            case .integer(let i): ms = Int(i)
            case .double(let d): ms = Int(d.rounded(.up))
            default: throw SpecCallFailure(message: "bad argument #1 to 'ct.advance_time' (milliseconds expected)")
            }
            try await test.advanceTime(by: .milliseconds(ms))
            return .null
        case "assert_reply":
            let channel = try channel(args, op)
            return await channel.assertReply(try string(args, 1, op), try string(args, 2, op), matching: pattern(arg(args, 3))) ?? .null
        case "refute_reply":
            let channel = try channel(args, op)
            await channel.refuteReply(try string(args, 1, op), arg(args, 2).stringValue, matching: pattern(arg(args, 3)))
            return .null
        case "assert_push":
            return try await channel(args, op).assertPush(try string(args, 1, op), matching: pattern(arg(args, 2))) ?? .null
        case "refute_push":
            try await channel(args, op).refutePush(try string(args, 1, op), matching: pattern(arg(args, 2)))
            return .null
        case "assert_broadcast":
            return try await channel(args, op).assertBroadcast(try string(args, 1, op), matching: pattern(arg(args, 2))) ?? .null
        case "refute_broadcast":
            try await channel(args, op).refuteBroadcast(try string(args, 1, op), matching: pattern(arg(args, 2)))
            return .null
        case "http_stub":
            try test.stubHTTP(try string(args, 0, "http.stub"), try string(args, 1, "http.stub"), HTTPStubResponse(spec: arg(args, 2)))
            return .null
        case "http_requests":
            return .array(try test.httpRequests().map(\.specValue))
        case "kv":
            return try await keyValue(try string(args, 0, "kv"), Array(args.dropFirst()))
        default:
            throw SpecCallFailure(message: "unknown ct operation \(op)")
        }
    }
}
