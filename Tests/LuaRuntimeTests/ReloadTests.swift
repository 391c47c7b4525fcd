import LuaRuntime
import PhoenixProtocol
import XCTest

/// The registry and VM side of hot reload, without the file watcher.
final class ReloadTests: XCTestCase {
    static let counter = """
        local c = { topic = "n" }
        function c.join(topic, payload, socket) socket.assigns.n = 0 return phx.ok() end
        function c.handle_in(event, payload, socket)
          socket.assigns.n = socket.assigns.n + 1
          return phx.reply("ok", { n = socket.assigns.n, v = 1 })
        end
        return c
        """

    private func push(_ c: Joined) -> CallbackResult {
        c.vm.handleIn(c.id, event: "e", payload: .json(empty), ref: .string("1"))
    }

    func testMigrateReceivesAssignsAndOldVersionOnceAndItsResultBecomesAssigns() throws {
        let (registry, vm) = try makeVM(["n.lua": Self.counter])
        let c = try join(vm, registry, topic: "n")
        XCTAssertEqual(push(c), .reply(status: "ok", response: j(["n": 1, "v": 1])))
        try registry.update(name: "n", text: """
            local c = { topic = "n" }
            function c.join() return phx.ok() end
            function c.migrate(assigns, old) return { n = assigns.n + 100, old = old } end
            function c.handle_in(event, payload, socket)
              socket.assigns.n = socket.assigns.n + 1
              return phx.reply("ok", { n = socket.assigns.n, old = socket.assigns.old, v = 2 })
            end
            return c
            """)
        XCTAssertEqual(push(c), .reply(status: "ok", response: j(["n": 102, "old": 1, "v": 2])))
        XCTAssertEqual(push(c), .reply(status: "ok", response: j(["n": 103, "old": 1, "v": 2])))
    }

    func testMigrateReturningNothingKeepsAssignsAndACrashCrashesTheChannel() throws {
        let (registry, vm) = try makeVM(["n.lua": Self.counter])
        let c = try join(vm, registry, topic: "n")
        _ = push(c)
        try registry.update(name: "n", text: Self.counter.replacingOccurrences(
            of: "\nreturn c", with: "\nfunction c.migrate() end\nreturn c").replacingOccurrences(of: "v = 1", with: "v = 2"))
        XCTAssertEqual(push(c), .reply(status: "ok", response: j(["n": 2, "v": 2])))
        try registry.update(name: "n", text: Self.counter.replacingOccurrences(
            of: "\nreturn c", with: "\nfunction c.migrate() error('nope') end\nreturn c"))
        let error = crash(push(c))
        XCTAssertTrue(error?.message.hasPrefix("channels/n.lua:") ?? false, error?.message ?? "")
    }

    func testRemoveUnroutesAndAReAddedScriptKeepsCountingVersions() throws {
        let (registry, _) = try makeVM(["n.lua": Self.counter])
        try registry.update(name: "n", text: Self.counter)
        XCTAssertEqual(registry.remove(name: "n")?.version, ScriptVersion(rawValue: 2))
        XCTAssertNil(registry.route("n"))
        XCTAssertNil(registry.remove(name: "n"))
        let again = try registry.update(name: "n", text: Self.counter)
        XCTAssertEqual(again.version, ScriptVersion(rawValue: 3), "a VM's cached v1/v2 can never be mistaken for it")
        XCTAssertNotNil(registry.route("n"))
    }

    func testDependenciesAreTrackedTransitivelyAndALibraryChangeIsAllOrNothing() throws {
        let (registry, vm) = try makeVM([
            "lib/inner.lua": "return { word = 'a' }",
            "lib/outer.lua": "local inner = require('inner') return { word = function() return inner.word end }",
            "uses.lua": """
                local outer = require("outer")
                return { topic = "uses", join = function() return phx.ok() end,
                         handle_in = function() return phx.reply("ok", { w = outer.word() }) end }
                """,
            "plain.lua": "return { topic = 'plain', join = function() return phx.ok() end }",
        ])
        XCTAssertEqual(registry.script(named: "uses")?.dependencies, ["inner", "outer"])
        XCTAssertEqual(registry.script(named: "plain")?.dependencies, [])
        let c = try join(vm, registry, topic: "uses")
        XCTAssertEqual(push(c), .reply(status: "ok", response: j(["w": "a"])))

        let reloaded = try registry.updateLibrary(name: "inner", text: "return { word = 'b' }")
        XCTAssertEqual(reloaded.map(\.name), ["uses"])
        XCTAssertEqual(registry.script(named: "uses")?.version, ScriptVersion(rawValue: 2))
        XCTAssertEqual(registry.script(named: "plain")?.version, ScriptVersion(rawValue: 1))
        XCTAssertEqual(push(c), .reply(status: "ok", response: j(["w": "b"])), "the VM's require cache was emptied")

        // A module that makes a dependent fail to load changes nothing.
        XCTAssertThrowsError(try registry.updateLibrary(name: "inner", text: "error('broken at load')")) { error in
            XCTAssertTrue("\(error)".contains("broken at load"), "\(error)")
        }
        XCTAssertEqual(registry.library(named: "inner")?.text, "return { word = 'b' }")
        XCTAssertEqual(registry.script(named: "uses")?.version, ScriptVersion(rawValue: 2))
        // A syntax error names the module's file and line.
        XCTAssertThrowsError(try registry.updateLibrary(name: "inner", text: "return {")) { error in
            XCTAssertTrue((error as? ScriptError)?.message.hasPrefix("channels/lib/inner.lua:1:") ?? false, "\(error)")
        }
        // Deleting a module its dependents need is refused too.
        XCTAssertThrowsError(try registry.updateLibrary(name: "outer", text: nil))
        XCTAssertNotNil(registry.library(named: "outer"))
    }
}
