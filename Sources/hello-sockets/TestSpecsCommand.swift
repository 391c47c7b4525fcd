import Foundation
import ArgumentParser
import ChannelTestingCore
import Logging
import RedisClient

/// `hello-sockets test [DIR]`: runs the Lua channel specs (`*_test.lua`) through the harness.
struct TestSpecs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Run the Lua channel specs (*_test.lua beside the channels, and in socket subfolders).",
        discussion: """
            Each test runs in memory on the real runtime (no sockets, a manual clock). Prints one line per \
            failing test, then "N passed, N failed"; exits 1 on any failure.
            Example: hello-sockets test channels --filter ping
            """
    )

    @Argument(help: "Folder of channel scripts and their specs.")
    var directory = "./channels"

    @Option(help: "Run only tests whose \"file: name\" contains this text.")
    var filter: String?

    @Option(help: "Output: plain, tap or junit (JUnit XML).")
    var format: LuaSpecRunner.Format = .plain

    @Option(
        help: ArgumentHelp(
            "Keep phx.kv in this Redis (redis://[:password@]host:port[/db]) as a cluster node would, each test with keys of its own, deleted after it.",
            valueName: "URL"))
    var redis: String?

    func validate() throws {
        if let redis {
            do { _ = try RedisConfiguration(url: redis) } catch { throw ValidationError("--redis: \(error)") }
        }
    }

    func run() async throws {
        var runner = LuaSpecRunner(directory: URL(fileURLWithPath: directory), filter: filter)
        runner.redis = try redis.map { try RedisConfiguration(url: $0) }
        let (output, status) = try await runner.report(format: format)
        print(output)
        if status != 0 { throw ExitCode(status) }
    }
}

extension LuaSpecRunner.Format: ExpressibleByArgument {}
