import ArgumentParser
import Foundation
import HelloSocketsServer
import ServerSettings

/// `hello-sockets check [--config FILE] [FLAGS]`: `nginx -t` for HelloSockets.
struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the configuration and every channel script, serve nothing: exit 0 if serve would start.",
        discussion: """
            Loads the settings as serve does (flags, environment, config file), compiles and loads every \
            channel script in a scratch VM and checks topic claims, loads the TLS files, then prints what \
            it would serve: sockets and their topics, the settings that differ from the defaults (secrets \
            redacted) and where each came from. With any problem it lists every one and exits 1.
            """
    )

    @Argument(parsing: .allUnrecognized, help: ArgumentHelp(visibility: .private))
    var flags: [String] = []

    func run() async throws {
        let (settings, settingsProblems) = SettingsLoader(arguments: flags).loadReportingProblems()
        var problems = settingsProblems.map(\.description)
        let configuration = settings.configuration
        var lines: [String] = []

        let scheme = configuration.tlsCertificatePath == nil ? "http" : "https"
        lines.append(
            "listening: \(scheme)://\(configuration.host):\(configuration.port), "
                + "\(configuration.eventLoopCount) threads"
        )
        lines.append(
            "configuration: " + (settings.configFile.map { "\($0), " } ?? "")
                + "environment and flags over the defaults")

        // A missing folder is already a settings problem.
        var isFolder: ObjCBool = false
        let channels =
            FileManager.default.fileExists(atPath: configuration.channelsDirectory, isDirectory: &isFolder)
                && isFolder.boolValue
            ? ChannelsReport(channelsDirectory: configuration.channelsDirectory, limits: configuration.lua) : nil
        problems += channels?.problems ?? []
        lines.append("sockets:")
        for socket in channels?.sockets ?? [] {
            let rule = socket.hasConnectRule ? " (connect: socket.lua)" : ""
            lines.append("  \(socket.path)/websocket\(rule)")
            for script in socket.scripts {
                lines.append("    \(script.path): \(script.topics.joined(separator: ", "))")
            }
        }

        // Unreadable or unpaired files are already settings problems; here the PEM contents are checked.
        if let certificate = configuration.tlsCertificatePath, let key = configuration.tlsKeyPath,
            FileManager.default.isReadableFile(atPath: certificate), FileManager.default.isReadableFile(atPath: key)
        {
            do {
                _ = try HelloSocketsServer.makeTLSContext(configuration)
                lines.append("tls: \(certificate) with \(key): loaded")
            } catch {
                problems.append("tls: \(certificate) with \(key): \(error)")
            }
        }

        let changed = Setting.all.filter { $0.value(in: configuration) != $0.defaultValue }
        lines.append(changed.isEmpty ? "settings: all defaults" : "settings that differ from the defaults:")
        let width = (changed.map(\.key.count).max() ?? 0) + 2
        for setting in changed {
            let value =
                setting.value(in: configuration).map { setting.isSecret ? "[redacted]" : $0.description } ?? "(unset)"
            lines.append(
                "  " + setting.key.padding(toLength: width, withPad: " ", startingAt: 0) + value
                    + "   (\(settings.source(of: setting)))")
        }
        for warning in settings.warnings { lines.append("warning: \(warning)") }

        print(lines.joined(separator: "\n"))
        if problems.isEmpty {
            print("ok: hello-sockets would start with this configuration")
            return
        }
        print("problems:")
        for problem in problems { print("  \(problem)") }
        print("\(problems.count) \(problems.count == 1 ? "problem" : "problems"): hello-sockets would not start")
        throw ExitCode.failure
    }
}
