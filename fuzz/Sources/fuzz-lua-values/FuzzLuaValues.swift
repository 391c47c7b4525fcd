import FuzzSupport
import Logging
import LuaRuntime
import PhoenixProtocol

/// JSON payload → Lua → JSON through a real `LuaVM` running an echo channel: `handle_in` pushes the payload back
/// with `phx.push` and replies with it. Whatever JSONParser accepts comes back equal, or the callback fails with a
/// clean conversion error (only: nesting deeper than the VM's value depth); never a crash. One VM serves every input,
/// so the VM's memory is checked to stay bounded across inputs.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzLuaValues(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = fuzzInput(data, size)
    guard let value = try? JSONParser().parse(input) else { return 0 }
    let payload: JSONValue
    if case .object = value { payload = value } else { payload = .object(["v": value]) }

    let fixture = Fixture.shared
    fixture.host.pushes.removeAll()
    let result = fixture.vm.handleIn(fixture.id, event: "echo", payload: .json(payload), ref: .string("1"))
    switch result {
    case .reply(let status, let response):
        check(status == "ok", "status \(status)", input: input)
        check(response == payload, "reply changed the payload:\n\(payload)\n\(response)", input: input)
        check(fixture.host.pushes == [.json(payload)], "push changed the payload: \(fixture.host.pushes)", input: input)
    case .crashed(let error):
        check(
            error.message.contains("nested more than"),
            "conversion failed other than by depth: \(error)\npayload: \(payload)", input: input)
        check(depth(payload) > fixture.limits.maxValueDepth, "depth error at depth \(depth(payload))", input: input)
        // The channel is discarded after a crash, as the server does; join a fresh one.
        fixture.vm.discard(fixture.id)
        fixture.rejoin()
    default:
        propertyFailure("unexpected result \(result)", input: input)
    }
    check(fixture.vm.channelCount == 1, "\(fixture.vm.channelCount) channels alive", input: input)
    check(fixture.vm.memoryUsed < 32 << 20, "VM holds \(fixture.vm.memoryUsed) bytes", input: input)
    return 0
}

private func depth(_ value: JSONValue) -> Int {
    switch value {
    case .array(let items): return 1 + (items.map(depth).max() ?? 0)
    case .object(let members): return 1 + (members.values.map(depth).max() ?? 0)
    default: return 0
    }
}

private let echoSource = """
    local channel = { topic = { "echo" } }
    function channel.join(topic, payload, socket) return phx.ok() end
    function channel.handle_in(event, payload, socket)
      phx.push(socket, event, payload)
      return phx.ok(payload)
    end
    return channel
    """

private final class Scripts: ScriptProvider, @unchecked Sendable {
    let echo = ChannelScript(
        name: "echo", source: ScriptSource(path: "echo.lua", text: echoSource), topics: [TopicPattern("echo")!],
        intercepts: [])
    func script(named name: String) -> ChannelScript? { name == "echo" ? echo : nil }
    func library(named name: String) -> ScriptSource? { nil }
}

private final class Host: ChannelHost {
    var pushes: [Payload] = []
    func push(_ channel: ChannelID, event: String, payload: Payload) { pushes.append(payload) }
    func broadcast(_ channel: ChannelID, event: String, payload: Payload, excludeSelf: Bool) {}
    func asyncReply(_ channel: ChannelID, ref: JSONValue, status: String, response: JSONValue) {}
    func scheduleTimer(_ channel: ChannelID, timer: TimerID, afterMilliseconds: Int) {}
    func cancelTimer(_ timer: TimerID) {}
    func callbackFinished(_ channel: ChannelID, _ result: SuspendedResult) {
        propertyFailure("the echo channel never waits, yet a suspended callback finished: \(result)")
    }
}

private final class Fixture {
    nonisolated(unsafe) static let shared = Fixture()
    let scripts = Scripts()
    let host = Host()
    let limits = LuaLimits()
    let vm: LuaVM
    var id: ChannelID

    init() {
        do {
            vm = try LuaVM(scripts: scripts, limits: limits, logger: Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() }))
        } catch {
            propertyFailure("cannot open a VM: \(error)")
        }
        id = ChannelID(rawValue: 0)
        rejoin()
    }

    func rejoin() {
        let (id, result) = vm.join(
            script: scripts.echo, topic: "echo", payload: .json(.emptyObject), joinRef: .string("1"),
            socket: SocketContext(), host: host)
        guard let id, result == .ok(.emptyObject) else { propertyFailure("echo join failed: \(result)") }
        self.id = id
    }
}
