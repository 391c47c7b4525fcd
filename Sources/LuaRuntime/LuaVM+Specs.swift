import CLua
import CLuaShim
import PhoenixProtocol

/// One test (`it`) of a spec file.
public struct SpecCase: Sendable, Equatable {
    /// The `describe` names and the `it` name, joined by spaces.
    public var name: String
    /// The line of the `it` call.
    public var line: Int
}

/// Where a running spec test stands after a step.
public enum SpecStep: Sendable, Equatable {
    /// The test called `ct.<op>(args…)`: run it, then `resumeSpec` with the outcome.
    case call(op: String, args: [JSONValue])
    /// The test finished without error.
    case passed
    /// The test raised (an assertion or an error): the message, normally `path:line: …`.
    case failed(message: String, traceback: String?)
}

/// Lua spec files (`*_test.lua`) in this VM's sandbox: see `SpecPrelude`. A VM that runs specs
/// should not also host channels (the harness drives channels in a VM of its own).
extension LuaVM {
    /// `ct.any` as it arrives in `SpecStep.call` arguments.
    public static var specAnySentinel: String { SpecPrelude.anySentinel }

    /// Compiles a spec file and runs its top level, collecting its tests.
    public func loadSpec(_ source: ScriptSource) -> Result<[SpecCase], ScriptError> {
        guard enter() else { return .failure(ScriptError(kind: .misuse, script: source.path, message: "LuaVM busy")) }
        defer { leave() }
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        let runner: Int32
        switch specRunnerRef() {
        case .success(let ref): runner = ref
        case .failure(let error): return .failure(error)
        }
        hs_getref(L, runner)
        field("load", ofTableAt: -1)
        guard loadChunk(source.text, chunkName: "@" + source.path) == LUA_OK else {
            return .failure(ScriptError(kind: .load, script: source.path, message: string(at: -1) ?? "load failed"))
        }
        pushString(source.path)
        runningScript = (source.path, nil)
        defer { runningScript = nil }
        let status = hs_call(L, 2, 1)
        guard status == LUA_OK else {
            var error = scriptError(status: status, path: source.path, topic: nil)
            error.kind = error.kind == .runtime ? .load : error.kind
            recoverAfterError()
            return .failure(error)
        }
        var cases: [SpecCase] = []
        let count = lua_rawlen(L, -1)
        if count > 0 {
            for i in 1...Int64(count) {
                lua_rawgeti(L, -1, i)
                field("name", ofTableAt: -1)
                let name = string(at: -1) ?? "?"
                hs_pop(L, 1)
                field("line", ofTableAt: -1)
                let line = Int(hs_tointeger(L, -1))
                hs_pop(L, 2)
                cases.append(SpecCase(name: name, line: line))
            }
        }
        return .success(cases)
    }

    /// Starts test `index` (0-based, in `loadSpec` order) and runs it to its first `ct` call.
    public func startSpecCase(_ index: Int) -> SpecStep {
        guard let runner = specRunner else { return .failed(message: "no spec loaded", traceback: nil) }
        guard enter() else { return .failed(message: "LuaVM busy", traceback: nil) }
        let top = lua_gettop(L)
        hs_getref(L, runner)
        field("start", ofTableAt: -1)
        lua_pushinteger(L, Int64(index + 1))
        let status = hs_call(L, 1, 0)
        lua_settop(L, top)
        leave()
        guard status == LUA_OK else { return .failed(message: "cannot start test \(index + 1)", traceback: nil) }
        return step(nil)
    }

    /// Resumes the running test with the outcome of its `ct` call: a value, or a failure message
    /// (raised at the spec's line).
    public func resumeSpec(_ outcome: Result<JSONValue, SpecCallFailure>) -> SpecStep {
        step(outcome)
    }

    private func step(_ outcome: Result<JSONValue, SpecCallFailure>?) -> SpecStep {
        guard let runner = specRunner else { return .failed(message: "no spec loaded", traceback: nil) }
        guard enter() else { return .failed(message: "LuaVM busy", traceback: nil) }
        defer { leave() }
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        hs_getref(L, runner)
        field("step", ofTableAt: -1)
        var nargs: Int32 = 0
        switch outcome {
        case nil: break
        case .success(let value):
            lua_pushboolean(L, 1)
            push(value)
            nargs = 2
        case .failure(let failure):
            lua_pushboolean(L, 0)
            pushString(failure.message)
            nargs = 2
        }
        let status = hs_call(L, nargs, 1)
        guard status == LUA_OK else {
            let error = scriptError(status: status, path: "spec", topic: nil)
            recoverAfterError()
            return .failed(message: error.message, traceback: error.traceback)
        }
        field("kind", ofTableAt: -1)
        let kind = string(at: -1)
        hs_pop(L, 1)
        switch kind {
        case "passed":
            return .passed
        case "call":
            field("op", ofTableAt: -1)
            let op = string(at: -1) ?? "?"
            hs_pop(L, 1)
            field("args", ofTableAt: -1)
            defer { hs_pop(L, 1) }
            do {
                switch try readJSON(at: -1, path: "ct.\(op) arguments") {
                case .array(let args): return .call(op: op, args: args)
                default: return .call(op: op, args: [])
                }
            } catch {
                return .failed(message: "ct.\(op): \(error)", traceback: nil)
            }
        default:
            field("message", ofTableAt: -1)
            let message = string(at: -1) ?? "test failed"
            hs_pop(L, 1)
            field("traceback", ofTableAt: -1)
            let traceback = string(at: -1)
            hs_pop(L, 1)
            return .failed(message: message, traceback: traceback)
        }
    }

    /// Loads `SpecPrelude` once into this VM.
    private func specRunnerRef() -> Result<Int32, ScriptError> {
        if let specRunner { return .success(specRunner) }
        guard loadChunk(SpecPrelude.source, chunkName: SpecPrelude.chunkName) == LUA_OK else {
            return .failure(ScriptError(kind: .misuse, script: "spec", message: "spec prelude: \(string(at: -1) ?? "?")"))
        }
        hs_getref(L, internals.makeEnv)
        hs_getref(L, internals.null)
        pushString(SpecPrelude.anySentinel)
        guard hs_call(L, 3, 1) == LUA_OK, lua_type(L, -1) == LUA_TTABLE else {
            return .failure(ScriptError(kind: .misuse, script: "spec", message: "spec prelude: \(string(at: -1) ?? "?")"))
        }
        let ref = hs_ref(L)
        specRunner = ref
        return .success(ref)
    }
}

/// A `ct` call that failed (an assertion, a refused join…): raised in the spec at its line.
public struct SpecCallFailure: Error, Sendable, Equatable {
    public var message: String
    public init(message: String) { self.message = message }
}
