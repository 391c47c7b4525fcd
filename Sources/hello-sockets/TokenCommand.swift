import Foundation
import ArgumentParser
import PhoenixProtocol
import HelloSocketsServer
import ServerSettings
import Tokens

/// `hello-sockets token sign SALT JSON` / `token verify SALT TOKEN` / `token verify --jwt TOKEN`:
/// Phoenix.Token and JWTs from the command line, with the server's secrets.
struct Token: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sign or verify Phoenix.Token tokens, or verify a JWT, with the server's secrets.",
        discussion: """
            The secrets are found as the server finds them: the flags --secret-key-base, --jwt-secret and \
            --jwt-jwks FILE, else the environment ($SECRET_KEY_BASE, $JWT_SECRET, HELLO_SOCKETS_*), else the \
            config file (--config FILE or $HELLO_SOCKETS_CONFIG).
            """,
        subcommands: [Sign.self, Verify.self]
    )

    /// The server's secrets, from the same sources and with the same precedence as `serve`.
    struct ServerSecrets: ParsableArguments {
        @Option(help: "The server's phx.token secret.")
        var secretKeyBase: String?
        @Option(help: "The server's JWT HMAC secret.")
        var jwtSecret: String?
        @Option(name: .customLong("jwt-jwks"), help: "The server's JWKS file.")
        var jwtJWKS: String?
        @Option(help: "The server's config file.")
        var config: String?

        /// The settings these flags, the environment and the config file give.
        func load() throws -> ServerConfiguration {
            var flags = config.map { ["--config", $0] } ?? []
            for (flag, value) in [
                ("--secret-key-base", secretKeyBase), ("--jwt-secret", jwtSecret), ("--jwt-jwks", jwtJWKS),
            ] {
                if let value { flags += [flag, value] }
            }
            return try SettingsLoader(arguments: flags).loadValues().configuration
        }

        /// The Phoenix.Token signer; a usage error without a secret.
        func signer() throws -> TokenSigner {
            guard let secret = try load().secretKeyBase else {
                throw ValidationError("no secret: set SECRET_KEY_BASE (or secret_key_base in --config FILE), as for the server.")
            }
            return try TokenSigner(secretKeyBase: secret)
        }
    }

    struct Sign: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a token for SALT carrying DATA (any JSON value), as Phoenix.Token.sign would.",
            discussion: "Example: SECRET_KEY_BASE=... hello-sockets token sign 'salt identifier' 1"
        )
        @Argument(help: "The salt, e.g. \"salt identifier\" (the book's AuthSocket).")
        var salt: String
        @Argument(help: "The data, as JSON: 1, \"alice\", {\"id\":1}.")
        var data: String
        @Option(help: "Max age carried in the token, in seconds (verifiers that pass none use it; infinity: none).")
        var maxAge: Double = TokenSigner.defaultMaxAge
        @Option(help: "Signing time, in seconds since 1970 (default: now).")
        var signedAt: Double?
        @OptionGroup var secrets: ServerSecrets

        func validate() throws {
            guard maxAge >= 0 else { throw ValidationError("--max-age must be a number of seconds >= 0 (or infinity).") }
            if let signedAt, !signedAt.isFinite { throw ValidationError("--signed-at must be seconds since 1970.") }
        }

        func run() throws {
            let value: JSONValue
            do { value = try JSONParser().parse(data) } catch { throw ValidationError("DATA is not JSON: \(error)") }
            let time = signedAt.map { Date(timeIntervalSince1970: $0) } ?? Date()
            print(try secrets.signer().sign(salt: salt, data: value, signedAt: time, maxAge: maxAge))
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a token's data (or a JWT's claims) as one line of JSON, or why it is refused (exit 1).",
            discussion: """
                Phoenix.Token: hello-sockets token verify SALT TOKEN (reasons: missing, invalid, expired).
                JWT: hello-sockets token verify --jwt TOKEN --jwt-secret S | --jwt-jwks FILE (reasons: malformed, \
                unknown key, bad signature, expired, not yet valid, claim iss, claim aud).
                """
        )
        @Argument(help: "The salt it was signed with (Phoenix.Token).")
        var salt: String?
        @Argument(help: "The token (Phoenix.Token).")
        var token: String?
        @Option(help: "Largest accepted age in seconds (default: the token's own, one day unless its signer said otherwise; infinity: any).")
        var maxAge: Double?
        @Option(name: .customLong("jwt"), help: "Verify this JWT instead (with --jwt-secret or --jwt-jwks).")
        var jwt: String?
        @Option(help: "JWT: the issuer required in iss.")
        var iss: String?
        @Option(help: "JWT: the audience required in aud.")
        var aud: String?
        @Option(help: "JWT: seconds of clock skew allowed on exp and nbf.")
        var leeway: Double = 0
        @OptionGroup var secrets: ServerSecrets

        func validate() throws {
            if jwt != nil {
                guard salt == nil, token == nil else { throw ValidationError("--jwt TOKEN takes no SALT or TOKEN argument.") }
                let server = try secrets.load()
                guard server.jwtSecret != nil || server.jwtJWKSPath != nil else {
                    throw ValidationError("no JWT key: pass --jwt-secret (or set JWT_SECRET) or --jwt-jwks FILE.")
                }
                guard leeway >= 0 else { throw ValidationError("--leeway must be seconds >= 0.") }
            } else {
                guard salt != nil, token != nil else { throw ValidationError("give SALT and TOKEN, or --jwt TOKEN.") }
                if let maxAge, !(maxAge >= 0) { throw ValidationError("--max-age must be seconds >= 0 (or infinity).") }
            }
        }

        func run() async throws {
            let data: JSONValue
            do {
                if let jwt {
                    let server = try secrets.load()
                    let (verifier, _) = try await JWTVerifier.make(secret: server.jwtSecret, jwksPath: server.jwtJWKSPath)
                    data = try verifier.verify(jwt, options: JWTVerifier.Options(issuer: iss, audience: aud, leeway: leeway))
                } else {
                    data = try secrets.signer().verify(salt: salt ?? "", token: token, maxAge: maxAge)
                }
            } catch let failure as TokenSigner.Failure {
                print(failure.rawValue)
                throw ExitCode.failure
            } catch let failure as JWTVerifier.Failure {
                print(failure.rawValue)
                throw ExitCode.failure
            }
            print(try JSONWriter.encodeToString(data))
        }
    }
}
