import Foundation
import LuaRuntime
import PhoenixProtocol
import XCTest

/// A ChannelHost that records every call.
final class FakeHost: ChannelHost {
    enum Call: Equatable {
        case push(ChannelID, String, Payload)
        case broadcast(ChannelID, String, Payload, excludeSelf: Bool)
        case asyncReply(ChannelID, JSONValue, String, JSONValue)
        case schedule(ChannelID, TimerID, Int)
        case cancel(TimerID)
        case finished(ChannelID, SuspendedResult)
    }
    var calls: [Call] = []
    /// A manual clock for `phx.rate`, in nanoseconds.
    var clock: UInt64 = 0
    var monotonicNanoseconds: UInt64 { clock }
    /// Runs inside `push` (a connection that breaks while a callback pushes, say).
    var duringPush: (() -> Void)?

    func push(_ channel: ChannelID, event: String, payload: Payload) {
        calls.append(.push(channel, event, payload))
        duringPush?()
    }
    func broadcast(_ channel: ChannelID, event: String, payload: Payload, excludeSelf: Bool) {
        calls.append(.broadcast(channel, event, payload, excludeSelf: excludeSelf))
    }
    func asyncReply(_ channel: ChannelID, ref: JSONValue, status: String, response: JSONValue) {
        calls.append(.asyncReply(channel, ref, status, response))
    }
    func scheduleTimer(_ channel: ChannelID, timer: TimerID, afterMilliseconds: Int) {
        calls.append(.schedule(channel, timer, afterMilliseconds))
    }
    func cancelTimer(_ timer: TimerID) { calls.append(.cancel(timer)) }
    func callbackFinished(_ channel: ChannelID, _ result: SuspendedResult) { calls.append(.finished(channel, result)) }

    /// Results of callbacks that waited, in order.
    var finished: [SuspendedResult] {
        calls.compactMap { if case .finished(_, let r) = $0 { return r } else { return nil } }
    }

    /// Timers scheduled so far, in order.
    var scheduled: [TimerID] {
        calls.compactMap { if case .schedule(_, let t, _) = $0 { return t } else { return nil } }
    }
}

/// The package's real `channels/` folder.
let channelsDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("channels")

/// Writes `files` (relative path → source) into a fresh temporary `channels` folder.
func makeChannelsFolder(_ files: [String: String]) throws -> URL {
    let root = FileManager.default.temporaryDirectory
        .appendingPathComponent("lua-tests-\(UUID().uuidString)")
        .appendingPathComponent("channels")
    try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    for (path, text) in files {
        let url = root.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: true, encoding: .utf8)
    }
    return root
}

/// A registry and VM over the given scripts.
func makeVM(
    _ files: [String: String], limits: LuaLimits = LuaLimits(), services: ScriptServices = .none
) throws -> (ChannelRegistry, LuaVM) {
    let registry = try ChannelRegistry(directory: try makeChannelsFolder(files), limits: limits)
    return (registry, try LuaVM(scripts: registry, limits: limits, services: services))
}

/// Builds a JSONValue from Swift literals (kept out of JSONValue itself: PhoenixProtocol may add
/// literal conformances of its own).
func j(_ value: Any?) -> JSONValue {
    switch value {
    case nil: return .null
    case let v as JSONValue: return v
    case let v as Bool: return .bool(v)
    case let v as Int: return .integer(Int64(v))
    case let v as Double: return .double(v)
    case let v as String: return .string(v)
    case let v as [Any?]: return .array(v.map(j))
    case let v as [String: Any?]: return .object(v.mapValues(j))
    default: fatalError("not JSON: \(String(describing: value))")
    }
}

/// An empty object.
let empty = JSONValue.emptyObject

/// A test fixture: a VM with one channel joined on `topic`.
struct Joined {
    let vm: LuaVM
    let host: FakeHost
    let id: ChannelID
}

func join(
    _ vm: LuaVM, _ registry: ChannelRegistry, topic: String, payload: JSONValue = .emptyObject,
    socket: SocketContext = SocketContext(), file: StaticString = #filePath, line: UInt = #line
) throws -> Joined {
    let host = FakeHost()
    let script = try XCTUnwrap(registry.route(topic), "no route for \(topic)", file: file, line: line)
    let (id, result) = vm.join(
        script: script, topic: topic, payload: .json(payload), joinRef: .string("1"), socket: socket, host: host)
    XCTAssertEqual(result, .ok(empty), file: file, line: line)
    return Joined(vm: vm, host: host, id: try XCTUnwrap(id, file: file, line: line))
}

/// The error of a crashed result, or a failure.
func crash(_ result: CallbackResult, file: StaticString = #filePath, line: UInt = #line) -> ScriptError? {
    guard case .crashed(let error) = result else {
        XCTFail("expected a crash, got \(result)", file: file, line: line)
        return nil
    }
    return error
}
