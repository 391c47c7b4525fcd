import ArgumentParser
import Foundation
import ServerSettings

/// `hello-sockets`: serves by default (`serve`), and holds the tools beside the server.
@main
struct HelloSockets: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hello-sockets",
        abstract: "A Phoenix Channels server over WebSockets, with channels written in Lua.",
        version: "hello-sockets \(BuildInfo.version) (commit \(BuildInfo.commit))",
        subcommands: [Serve.self, Check.self, TestSpecs.self, Broadcast.self, Token.self, SettingsTable.self],
        defaultSubcommand: Serve.self
    )

    /// `serve` and `check` take the settings table's flags, which ArgumentParser does not know one by one:
    /// their help comes from `ServerHelp`, everything else goes through ArgumentParser as usual.
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if let help = ServerHelp.text(for: arguments) {
            print(help)
            return
        }
        do {
            var command = try parseAsRoot(arguments)
            if var command = command as? AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}

/// `hello-sockets settings-table`: the README's configuration section, generated from the settings table
/// (`scripts/settings-table.sh` checks or rewrites the README with it).
struct SettingsTable: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "settings-table",
        abstract: "Print the README's table of settings (Markdown).",
        shouldDisplay: false
    )

    func run() {
        print(SettingsHelp.markdown(), terminator: "")
    }
}

/// The help of `serve` and `check`: usage, the commands, and the settings table's flags by group.
enum ServerHelp {
    /// The help to print for these arguments, or nil when they are not asking for it.
    static func text(for arguments: [String]) -> String? {
        let first = arguments.first
        if first == "help" {
            switch arguments.dropFirst().first {
            case nil, "serve": return serve
            case "check": return check
            default: return nil  // ArgumentParser's help of that command
            }
        }
        guard arguments.contains(where: { $0 == "--help" || $0 == "-h" }) else { return nil }
        if first == nil || first == "serve" || first?.hasPrefix("-") == true { return serve }
        return first == "check" ? check : nil
    }

    static var serve: String {
        """
        hello-sockets \(BuildInfo.version) (commit \(BuildInfo.commit)): \(HelloSockets.configuration.abstract)

        USAGE: hello-sockets [serve] [--config FILE] [FLAGS]

        Serves http://HOST:PORT/ (the start page), /socket/websocket (the Phoenix socket, vsn=2.0.0 or 1.0.0;
        each subfolder of the channels folder is another socket at /<subfolder>) and /echo (a raw echo
        WebSocket). Example: hello-sockets --channels examples/chat/channels --public examples/chat/public

        COMMANDS:
        \(commands)

        \(common)
        """
    }

    static var check: String {
        """
        USAGE: hello-sockets check [--config FILE] [FLAGS]

        \(Check.configuration.abstract)
        \(Check.configuration.discussion)

        \(common)
        """
    }

    private static var commands: String {
        let entries: [(String, ParsableCommand.Type)] = [
            ("serve (default)", Serve.self), ("check", Check.self), ("test", TestSpecs.self),
            ("broadcast", Broadcast.self), ("token", Token.self),
        ]
        return entries.map { name, command in
            "  " + name.padding(toLength: 18, withPad: " ", startingAt: 0) + command.configuration.abstract
        }.joined(separator: "\n") + "\n  (hello-sockets help COMMAND, or COMMAND --help, tells more)"
    }

    private static var common: String {
        """
        \(SettingsHelp.wrap(SettingsHelp.sourcesNote, width: 100).joined(separator: "\n"))

        GENERAL:
          --config FILE                 YAML file of settings (default: $\(SettingsLoader.configEnvironment), else none)
          --version                     Print the version and the git commit it was built from.
          -h, --help                    This help.

        \(SettingsHelp.flagList())
        """
    }
}
