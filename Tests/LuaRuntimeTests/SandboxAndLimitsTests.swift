import LuaRuntime
import PhoenixProtocol
import XCTest

/// The sandbox (what scripts can reach) and the limits (budget, memory, bounded patterns).
final class SandboxAndLimitsTests: XCTestCase {
    /// A channel whose handle_in runs `payload.code` as a function body and replies with its result.
    static let evalChannel = """
        local channel = { topic = "eval" }
        function channel.join() return phx.ok() end
        function channel.handle_in(event, payload, socket)
          local f = assert(load(payload.code, "=eval"))
          local v = f()
          return phx.ok({ result = v == nil and phx.null or v })
        end
        return channel
        """

    func eval(_ code: String, limits: LuaLimits = LuaLimits(), lib: [String: String] = [:]) throws -> CallbackResult {
        var files = ["eval.lua": Self.evalChannel]
        for (name, text) in lib { files["lib/\(name).lua"] = text }
        let (registry, vm) = try makeVM(files, limits: limits)
        let c = try join(vm, registry, topic: "eval")
        return vm.handleIn(c.id, event: "eval", payload: .json(j(["code": code])), ref: .string("1"))
    }

    func result(_ code: String, file: StaticString = #filePath, line: UInt = #line) throws -> JSONValue? {
        let r = try eval(code)
        guard case .reply(_, let response) = r else {
            XCTFail("expected a reply, got \(r)", file: file, line: line)
            return nil
        }
        return response["result"]
    }

    func testDangerousGlobalsAreAbsent() throws {
        for name in ["io", "package", "debug", "dofile", "loadfile", "collectgarbage", "rawset", "os.execute",
                     "os.exit", "os.getenv", "os.remove", "string.dump"] {
            XCTAssertEqual(try result("return \(name) == nil"), .bool(true), name)
        }
        XCTAssertEqual(try result("return type(os.time()) == 'number' and type(string.format) == 'function'"), .bool(true))
        XCTAssertEqual(try result("return getmetatable('') "), .string("string"))
    }

    func testUndeclaredGlobalAssignmentFails() throws {
        let error = try XCTUnwrap(crash(try eval("x = 1")))
        XCTAssertTrue(error.message.contains("assignment to undeclared global 'x'"), error.message)
        XCTAssertTrue(error.message.hasPrefix("eval:1:"), error.message)
        // Shared libraries are read-only.
        let error2 = try XCTUnwrap(crash(try eval("string.upper = nil")))
        XCTAssertTrue(error2.message.contains("read-only table 'string'"), error2.message)
    }

    func testBinaryChunksAndGcAreRefused() throws {
        XCTAssertEqual(try result("return (select(2, load('\\27Lua')))"),
                       .string("attempt to load a binary chunk (mode is 't')"))
        let error = try XCTUnwrap(crash(try eval("setmetatable({}, {__gc = function() end})")))
        XCTAssertTrue(error.message.contains("__gc"), error.message)
    }

    func testRequireLoadsOnlyFromLib() throws {
        let lib = ["util": "local M = {} function M.twice(x) return 2 * x end return M"]
        XCTAssertEqual(try eval("return require('util').twice(21)", lib: lib), .reply(status: "ok", response: j(["result": 42])))
        for name in ["../eval", "os", "/etc/passwd", "missing"] {
            let error = try XCTUnwrap(crash(try eval("return require('\(name)')", lib: lib)))
            XCTAssertTrue(error.message.contains("module '\(name)' not found"), error.message)
        }
    }

    func testTracebacksWork() throws {
        let error = try XCTUnwrap(crash(try eval("local function inner() error('deep') end inner()")))
        XCTAssertEqual(error.message, "eval:1: deep")
        XCTAssertTrue(error.traceback?.contains("inner") == true, error.traceback ?? "")
    }

    func testInfiniteLoopStoppedByBudget() throws {
        let limits = LuaLimits(instructionBudget: 100_000)
        let error = try XCTUnwrap(crash(try eval("while true do end", limits: limits)))
        XCTAssertEqual(error.kind, .instructionBudget)
        XCTAssertEqual(error.message, "channels/eval.lua: instruction budget exceeded (100000 instructions)")
    }

    func testPcallCannotSwallowTheBudget() throws {
        let limits = LuaLimits(instructionBudget: 100_000)
        for code in ["while true do pcall(function() while true do end end) end",
                     "while true do xpcall(function() while true do end end, function(m) return m end) end",
                     "local co = coroutine.wrap(function() while true do end end) while true do pcall(co) end"] {
            let error = try XCTUnwrap(crash(try eval(code, limits: limits)), code)
            XCTAssertEqual(error.kind, .instructionBudget, code)
        }
    }

    func testMemoryBombStoppedByCap() throws {
        let limits = LuaLimits(memoryLimit: 8 << 20)
        let (registry, vm) = try makeVM(["eval.lua": Self.evalChannel], limits: limits)
        let c = try join(vm, registry, topic: "eval")
        for code in ["local t = {} for i = 1, 1e9 do t[i] = i end",
                     "local s = 'x' while true do s = s .. s end",
                     "return string.rep('x', 1 << 30)"] {
            let r = vm.handleIn(c.id, event: "eval", payload: .json(j(["code": code])), ref: .string("1"))
            let error = try XCTUnwrap(crash(r), code)
            XCTAssertEqual(error.kind, .memory, code)
            XCTAssertEqual(error.message, "channels/eval.lua: memory limit exceeded (8 MiB)")
        }
        // The VM recovers: memory was collected and the channel still answers.
        XCTAssertLessThan(vm.memoryUsed, 2 << 20)
        XCTAssertEqual(vm.handleIn(c.id, event: "eval", payload: .json(j(["code": "return 1"])), ref: .string("1")),
                       .reply(status: "ok", response: j(["result": 1])))
    }

    func testPathologicalPatternsAreBounded() throws {
        let limits = LuaLimits(instructionBudget: 200_000)
        let start = Date()
        for code in ["return string.rep('a', 30000):find('.-.-.-.-b')",
                     "return string.rep('a', 30000):match('(a*)*b')",
                     "return select(2, string.rep('a', 30000):gsub('a-a-a-b', ''))",
                     "for x in string.rep('a', 30000):gmatch('a*a*a*b') do end"] {
            let error = try XCTUnwrap(crash(try eval(code, limits: limits)), code)
            XCTAssertEqual(error.kind, .instructionBudget, code)
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 2)
    }

    func testPatternFunctionsKeepLuaSemantics() throws {
        let cases: [(String, JSONValue)] = [
            ("return ('hello world'):find('o w')", j(5)),
            ("return select(2, ('hello world'):find('o', 6))", j(8)),
            ("return ('a.b'):find('.', 1, true)", j(2)),
            ("return ('key = value'):match('^(%w+)%s*=%s*(%w+)$')", j("key")),
            ("return select(2, ('key = value'):match('^(%w+)%s*=%s*(%w+)$'))", j("value")),
            ("return ('THE (quick) fox'):find('%((%a+)%)')", j(5)),
            ("return ('f(a(b)c)d'):match('%b()')", j("(a(b)c)")),
            ("return ('THE (quick) fox'):gsub('%f[%a]%a+', string.lower)", j("the (quick) fox")),
            ("return ('hello'):gsub('', '-')", j("-h-e-l-l-o-")),
            ("return ('abc'):gsub('%w', '%0%0')", j("aabbcc")),
            ("return ('hello world'):gsub('(%w+) (%w+)', '%2 %1')", j("world hello")),
            ("return ('$name is $age'):gsub('%$(%w+)', {name = 'Ann', age = 7})", j("Ann is 7")),
            ("local t = {} for k, v in ('a=1, b=2'):gmatch('(%w+)=(%w+)') do t[#t+1] = k .. v end return table.concat(t, ',')", j("a1,b2")),
            ("local n = 0 for _ in ('abc'):gmatch('') do n = n + 1 end return n", j(4)),
            ("return ('  trim  '):match('^%s*(.-)%s*$')", j("trim")),
            ("return ('x = 10'):match('()=()')", j(3)),
            ("return ('hello hello'):find('(l+)o %a+%1')", j(3)),
            ("return ('abc'):match('[^%a]')", .null),
            ("return ('a-z]'):match('[]-]')", j("-")),
            ("return ('2024-01-02'):match('(%d+)-(%d+)-(%d+)')", j("2024")),
            ("return ('abc'):match('.-$')", j("abc")),
            ("return ('aaa'):match('a?a?a?a')", j("aaa")),
            ("return ('x'):rep(3, ',')", j("x,x,x")),
            ("return ('abc'):gsub('b', '%%')", j("a%c")),
            ("return ('one two three'):gsub('%w+', 'x', 2)", j("x x three")),
        ]
        for (code, expected) in cases {
            XCTAssertEqual(try result(code), expected, code)
        }
        for (code, message) in [("return ('a'):find('%')", "malformed pattern (ends with '%')"),
                                ("return ('a'):find('[a')", "malformed pattern (missing ']')"),
                                ("return ('a'):gsub('a', '%2')", "invalid capture index %2"),
                                ("return ('a'):find('(a')", "unfinished capture"),
                                ("return ('a'):gsub('a', '%x')", "invalid use of '%' in replacement string")] {
            let error = try XCTUnwrap(crash(try eval(code)), code)
            XCTAssertTrue(error.message.contains(message), "\(code): \(error.message)")
        }
    }
}
