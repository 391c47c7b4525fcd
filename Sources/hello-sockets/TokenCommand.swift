import Foundation
import ArgumentParser
import LuaRuntime
import PhoenixProtocol
import ServerSettings

/// `hello-sockets token sign SALT JSON` / `token verify SALT TOKEN`: Phoenix.Token from the command line,
/// with the server's secret (`--secret-key-base` or `$SECRET_KEY_BASE`).
struct Token: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sign or verify phx.token tokens with the server's secret.",
        subcommands: [Sign.self, Verify.self]
    )

    struct Secret: ParsableArguments {
        @Option(
            help: "The server's secret (default: as the server finds it: environment, then config file)."
        )
        var secretKeyBase: String?

        @Option(help: "The server's config file, for its secret_key_base.")
        var config: String?

        /// The secret as the server would find it: this flag, the environment, the config file.
        func signer() throws -> TokenSigner {
            var flags = config.map { ["--config", $0] } ?? []
            if let secretKeyBase { flags += ["--secret-key-base", secretKeyBase] }
            guard let signer = try SettingsLoader(arguments: flags).loadValues().tokenSigner() else {
                throw ValidationError(
                    "no secret: set SECRET_KEY_BASE (or secret_key_base in --config FILE), as for the server.")
            }
            return signer
        }
    }

    struct Sign: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a token for SALT carrying DATA (any JSON value).",
            discussion: "Example: SECRET_KEY_BASE=... hello-sockets token sign 'salt identifier' 1"
        )
        @Argument(help: "The salt, e.g. \"salt identifier\" (the book's AuthSocket).")
        var salt: String
        @Argument(help: "The data, as JSON: 1, \"alice\", {\"id\":1}.")
        var data: String
        @OptionGroup var secret: Secret

        func run() throws {
            let value: JSONValue
            do { value = try JSONParser().parse(data) } catch { throw ValidationError("DATA is not JSON: \(error)") }
            print(try secret.signer().sign(salt: salt, data: value))
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a token's data as JSON, or its failure (missing, invalid, expired).")
        @Argument(help: "The salt it was signed with.")
        var salt: String
        @Argument(help: "The token.")
        var token: String
        @Option(help: "Largest accepted age in seconds.")
        var maxAge: Double = TokenSigner.defaultMaxAge
        @OptionGroup var secret: Secret

        func run() throws {
            do {
                print(
                    try JSONWriter.encodeToString(try secret.signer().verify(salt: salt, token: token, maxAge: maxAge)))
            } catch let failure as TokenSigner.Failure {
                print(failure.rawValue)
                throw ExitCode.failure
            }
        }
    }
}
