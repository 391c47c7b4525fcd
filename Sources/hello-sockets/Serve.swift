import ArgumentParser
import Foundation
import HelloSocketsServer
import Logging
import LuaRuntime
import ServerSettings
import ServiceLifecycle
import UnixSignals

/// `hello-sockets [serve] [--config FILE] [FLAGS]`: run the server.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the channels over WebSockets (the flags: hello-sockets --help)."
    )

    /// Every flag, parsed by `SettingsLoader` from the settings table (ArgumentParser doesn't know them).
    @Argument(parsing: .allUnrecognized, help: ArgumentHelp(visibility: .private))
    var flags: [String] = []

    func run() async throws {
        let loader = SettingsLoader(arguments: flags)
        let settings = try Self.load(loader)
        // Before anything else, so a taken port is the first and only thing said.
        try await ListenError.probe(host: settings.configuration.host, port: settings.configuration.port)

        LiveLevelLogHandler.level.withLockedValue { $0 = settings.configuration.logLevel }
        LoggingSystem.bootstrap { LiveLevelLogHandler(label: $0) }
        let logger = Logger(label: "hello-sockets")
        for warning in settings.warnings { logger.warning("\(warning)") }
        var configuration = settings.configuration
        if let signer = try settings.tokenSigner() {
            configuration.lua.tokenSigner = signer
        } else {
            configuration.lua.tokenSigner = .random()
            logger.warning(
                "no secret_key_base ($SECRET_KEY_BASE): phx.token uses a random secret, tokens die with the process"
            )
            if configuration.redis != nil {
                logger.warning("""
                    --redis without a shared secret_key_base: other nodes cannot verify this node's LongPoll tokens, \
                    so LongPoll clients need sticky sessions
                    """)
            }
        }
        if let file = settings.configFile { logger.info("configuration: \(file)") }
        let server = HelloSocketsServer(configuration: configuration, logger: logger)
        // Trapped now (signal(SIGHUP, SIG_IGN) plus a dispatch source), not when the group gets to it: a
        // SIGHUP sent as soon as the server listens must reload, not kill the process.
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        // The group traps SIGTERM/SIGINT before it starts the service, so a signal that arrives as soon as
        // the port accepts (a benchmark stopping a server right after it came up) is not lost.
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: HelloSocketsService(server: server, logger: logger)),
                    .init(
                        service: ReloadOnHangup(server: server, loader: loader, hangups: hangups, logger: logger),
                        successTerminationBehavior: .gracefullyShutdownGroup),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            ))
        try await group.run()
    }

    /// The settings, or every problem with them on stderr and exit status 1.
    static func load(_ loader: SettingsLoader) throws -> LoadedSettings {
        do {
            return try loader.load()
        } catch let error as SettingsError {
            for problem in error.problems { FileHandle.standardError.write(Data("Error: \(problem)\n".utf8)) }
            FileHandle.standardError.write(
                Data(
                    "Usage: hello-sockets [serve] [--config FILE] [FLAGS] (hello-sockets --help lists the flags)\n".utf8
                ))
            throw ExitCode.failure
        }
    }
}

/// On SIGHUP: reads the configuration again (the same flags and environment, the file anew) and applies
/// what can change while serving (limits, log level, allowed origins); says which changes need a restart.
struct ReloadOnHangup: Service {
    let server: HelloSocketsServer
    let loader: SettingsLoader
    let hangups: UnixSignalsSequence
    let logger: Logger

    func run() async throws {
        for await _ in hangups.cancelOnGracefulShutdown() {
            reload()
        }
    }

    func reload() {
        let loaded: LoadedSettings
        do {
            loaded = try loader.load()
        } catch {
            logger.error("SIGHUP: the configuration has problems, keeping the running one:\n\(error)")
            return
        }
        let reload = SettingsReload(running: server.configuration, reloaded: loaded.configuration)
        server.reload(reload.configuration)
        LiveLevelLogHandler.level.withLockedValue { $0 = reload.configuration.logLevel }
        let from = loaded.configFile.map { " (\($0))" } ?? ""
        if reload.applied.isEmpty {
            logger.notice("SIGHUP: configuration reloaded\(from): nothing to change")
        } else {
            logger.notice(
                "SIGHUP: configuration reloaded\(from): \(reload.applied.map(\.description).joined(separator: ", "))")
        }
        for change in reload.needRestart {
            logger.warning("SIGHUP: \(change) needs a restart; still running with the old value")
        }
    }
}
