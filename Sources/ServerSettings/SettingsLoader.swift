import Foundation
import HelloSocketsServer
import Tokens

/// The server's configuration from every source, in this order of precedence: command-line flags, then
/// environment variables (`HELLO_SOCKETS_<NAME>`, then `PORT` and `SECRET_KEY_BASE`), then the config
/// file (`--config FILE` or `$HELLO_SOCKETS_CONFIG`), then the defaults of `ServerConfiguration`.
public struct SettingsLoader: Sendable {
    /// The flags, as given after the command name (`--port 4000 --config deploy.yml`).
    public var arguments: [String]
    public var environment: [String: String]
    public var settings: [Setting]

    /// The variable naming the config file when `--config` is not given.
    public static let configEnvironment = "HELLO_SOCKETS_CONFIG"

    public init(
        arguments: [String], environment: [String: String] = ProcessInfo.processInfo.environment,
        settings: [Setting] = Setting.all
    ) {
        self.arguments = arguments
        self.environment = environment
        self.settings = settings
    }

    /// The merged and checked configuration. Throws every problem found, not just the first.
    public func load() throws -> LoadedSettings {
        let (loaded, problems) = loadReportingProblems()
        guard problems.isEmpty else { throw SettingsError(problems: problems) }
        return loaded
    }

    /// The merged configuration, checked only for what the tools beside the server need (values of the
    /// right type), not for what serving needs (the channels folder, TLS files): `token`, `broadcast`.
    public func loadValues() throws -> LoadedSettings {
        let (loaded, problems) = loadReportingProblems(validating: false)
        guard problems.isEmpty else { throw SettingsError(problems: problems) }
        return loaded
    }

    /// What can be loaded, and every problem found (`hello-sockets check` reports both).
    public func loadReportingProblems(validating: Bool = true) -> (LoadedSettings, [SettingsProblem]) {
        var problems: [SettingsProblem] = []
        let flags = parseFlags(&problems)
        let configFile = flags.configFile ?? environment[Self.configEnvironment].flatMap { $0.isEmpty ? nil : $0 }
        var file = ConfigFile()
        if let configFile {
            file = ConfigFile(path: configFile, settings: settings)
            problems += file.problems
        }
        let variables = parseEnvironment(&problems)

        var loaded = LoadedSettings(configuration: ServerConfiguration(), configFile: configFile)
        for entry in file.entries {
            loaded.set(entry.setting, entry.value, from: .file(path: configFile ?? "", line: entry.line))
        }
        for (setting, value, name) in variables { loaded.set(setting, value, from: .environment(name)) }
        for (setting, value, flag) in flags.values { loaded.set(setting, value, from: .commandLine(flag)) }

        if validating { problems += loaded.validate() }
        loaded.warnings += unknownVariables()
        loaded.warnings += flags.values.compactMap { setting, _, flag in
            guard setting.isSecret else { return nil }
            return "\(flag) on the command line is visible to every user of this machine (ps, /proc): "
                + "set $\(setting.legacyEnvironment ?? setting.environmentName) "
                + "or put \(setting.key) in the config file"
        }
        return (loaded, problems)
    }

    // MARK: - Flags

    private struct Flags {
        var values: [(Setting, SettingValue, String)] = []
        var configFile: String?
    }

    private func parseFlags(_ problems: inout [SettingsProblem]) -> Flags {
        var flags = Flags()
        let byName = Dictionary(uniqueKeysWithValues: settings.map { ($0.name, $0) })
        var lists: [String: [String]] = [:]
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            guard argument.hasPrefix("--"), argument.count > 2 else {
                problems.append(
                    SettingsProblem(
                        source: nil, message: "unexpected argument \"\(argument)\" (flags start with --; see --help)"))
                continue
            }
            let body = argument.dropFirst(2)
            let name = String(body.prefix { $0 != "=" })
            let inline = body.contains("=") ? String(body.drop { $0 != "=" }.dropFirst()) : nil
            // The value: after `=`, else the next argument (unless it is another flag).
            func value() -> String? {
                if let inline { return inline }
                guard index < arguments.count, !arguments[index].hasPrefix("--") else { return nil }
                index += 1
                return arguments[index - 1]
            }
            if name == "config" {
                guard let path = value(), !path.isEmpty else {
                    problems.append(SettingsProblem(source: .commandLine("--config"), message: "needs a value (FILE)"))
                    continue
                }
                flags.configFile = path
                continue
            }
            if let setting = byName[name] {
                switch setting.kind {
                case .toggle, .optionalToggle:
                    guard let inline else {
                        flags.values.append((setting, .toggle(true), "--\(name)"))
                        continue
                    }
                    record(setting, setting.parse(inline), flag: "--\(name)", into: &flags, &problems)
                case .list:
                    guard let text = value() else {
                        problems.append(
                            SettingsProblem(
                                source: .commandLine("--\(name)"), message: "needs a value (\(setting.placeholder))"))
                        continue
                    }
                    if case .failure(let refusal) = setting.parse(text) {
                        problems.append(SettingsProblem(source: .commandLine("--\(name)"), message: refusal.message))
                        continue
                    }
                    lists[name, default: []].append(text)
                    flags.values.removeAll { $0.0.name == name }
                    flags.values.append((setting, .list(lists[name] ?? []), "--\(name)"))
                default:
                    guard let text = value() else {
                        problems.append(
                            SettingsProblem(
                                source: .commandLine("--\(name)"), message: "needs a value (\(setting.placeholder))"))
                        continue
                    }
                    record(setting, setting.parse(text), flag: "--\(name)", into: &flags, &problems)
                }
            } else if name.hasPrefix("no-"), let setting = byName[String(name.dropFirst(3))], inline == nil,
                setting.kind.isToggle
            {
                flags.values.append((setting, .toggle(false), "--\(name)"))
            } else {
                let candidates = settings.map(\.name) + ["config"]
                let hint = closest(to: name, in: candidates).map { " (did you mean --\($0)?)" } ?? ""
                problems.append(SettingsProblem(source: nil, message: "unknown flag --\(name)\(hint); see --help"))
            }
        }
        return flags
    }

    private func record(
        _ setting: Setting, _ result: Result<SettingValue, ValueRefusal>, flag: String,
        into flags: inout Flags, _ problems: inout [SettingsProblem]
    ) {
        switch result {
        case .success(let value): flags.values.append((setting, value, flag))
        case .failure(let refusal):
            problems.append(SettingsProblem(source: .commandLine(flag), message: refusal.message))
        }
    }

    // MARK: - Environment

    private func parseEnvironment(_ problems: inout [SettingsProblem]) -> [(Setting, SettingValue, String)] {
        var values: [(Setting, SettingValue, String)] = []
        for setting in settings {
            // An empty variable counts as unset, as shells make it easy to export one by accident.
            let names = [setting.environmentName] + (setting.legacyEnvironment.map { [$0] } ?? [])
            guard let name = names.first(where: { !(environment[$0] ?? "").isEmpty }), let text = environment[name]
            else {
                continue
            }
            switch setting.parse(text, splitLists: true) {
            case .success(let value): values.append((setting, value, name))
            case .failure(let refusal):
                problems.append(SettingsProblem(source: .environment(name), message: refusal.message))
            }
        }
        return values
    }

    /// `HELLO_SOCKETS_*` variables that are no setting: warned about (the environment is shared with other
    /// programs, so not an error), with the likely intended name.
    private func unknownVariables() -> [String] {
        let known = Set(settings.map(\.environmentName) + [Self.configEnvironment])
        return environment.keys.filter { $0.hasPrefix("HELLO_SOCKETS_") && !known.contains($0) }.sorted().map { name in
            let hint = closest(to: name, in: Array(known)).map { " (did you mean \($0)?)" } ?? ""
            return "\(name) is not a setting\(hint); it is ignored"
        }
    }
}

/// A configuration and where each of its settings came from.
public struct LoadedSettings: Sendable {
    public var configuration: ServerConfiguration
    /// The config file read, as given.
    public var configFile: String?
    /// Where each setting given explicitly came from, by setting name; absent ones are defaults.
    public var sources: [String: SettingSource] = [:]
    /// Things worth saying that don't stop the server (a secret on the command line, an unknown variable).
    public var warnings: [String] = []

    init(configuration: ServerConfiguration, configFile: String?) {
        self.configuration = configuration
        self.configFile = configFile
    }

    mutating func set(_ setting: Setting, _ value: SettingValue, from source: SettingSource) {
        setting.write(&configuration, value)
        sources[setting.name] = source
    }

    /// Where `setting`'s value came from.
    public func source(of setting: Setting) -> SettingSource { sources[setting.name] ?? .defaultValue }

    /// The signer for `phx.token`: from `secret-key-base`, nil when none was given.
    public func tokenSigner() throws -> TokenSigner? {
        try configuration.secretKeyBase.map { try TokenSigner(secretKeyBase: $0) }
    }

    /// The rules that involve the file system or several settings, each problem attributed to its source.
    func validate() -> [SettingsProblem] {
        var problems: [SettingsProblem] = []
        func problem(_ name: String, _ message: String) {
            let setting = Setting.all.first { $0.name == name }
            let source = sources[name]
            let key: String? = if case .file? = source { setting?.key } else { nil }
            problems.append(SettingsProblem(source: source ?? .commandLine("--\(name)"), key: key, message: message))
        }
        let fm = FileManager.default
        func isFolder(_ path: String) -> Bool {
            var isDirectory: ObjCBool = false
            return fm.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
        }
        let configuration = configuration
        if configuration.host.isEmpty { problem("host", "expected an address, got nothing") }
        if !isFolder(configuration.channelsDirectory) {
            let advice =
                sources["channels"] == nil
                ? " (serve runs the channel scripts of ./channels: start it in a folder that has one, "
                    + "or pass --channels DIR)"
                : ""
            problem("channels", "no folder at \(configuration.channelsDirectory)\(advice)")
        }
        if let folder = configuration.publicDirectory, !isFolder(folder) { problem("public", "no folder at \(folder)") }
        switch (configuration.tlsCertificatePath, configuration.tlsKeyPath) {
        case (.some, nil): problem("tls-cert", "needs tls-key too (the certificate's private key)")
        case (nil, .some): problem("tls-key", "needs tls-cert too (the certificate it belongs to)")
        default: break
        }
        for (name, path) in [("tls-cert", configuration.tlsCertificatePath), ("tls-key", configuration.tlsKeyPath)] {
            if let path, !fm.isReadableFile(atPath: path) { problem(name, "cannot read \(path)") }
        }
        if let token = configuration.apiToken, token.count < 16 {
            problem("api-token", "expected at least 16 characters, got \(token.count)")
        }
        if let secret = configuration.secretKeyBase, secret.utf8.count < TokenSigner.minimumSecretLength {
            problem(
                "secret-key-base",
                "expected at least \(TokenSigner.minimumSecretLength) bytes, got "
                    + "\(secret.utf8.count) (make one with: openssl rand -base64 48)")
        }
        if let secret = configuration.jwtSecret, secret.utf8.count < JWTVerifier.minimumSecretLength {
            problem("jwt-secret", "expected at least \(JWTVerifier.minimumSecretLength) bytes (RFC 7518 §3.2), got \(secret.utf8.count)")
        }
        if let path = configuration.jwtJWKSPath, !fm.isReadableFile(atPath: path) { problem("jwt-jwks", "cannot read \(path)") }
        for origin in configuration.allowedOrigins {
            do { _ = try OriginCheck(allowedOrigins: [origin]) } catch { problem("allowed-origin", "\(error)") }
        }
        return problems
    }
}
