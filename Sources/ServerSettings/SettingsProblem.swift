/// Where a setting's value came from.
public enum SettingSource: Sendable, Equatable, CustomStringConvertible {
    case defaultValue
    /// The config file, at this line.
    case file(path: String, line: Int)
    /// This environment variable.
    case environment(String)
    /// This flag on the command line.
    case commandLine(String)

    public var description: String {
        switch self {
        case .defaultValue: return "default"
        case .file(let path, let line): return "\(path):\(line)"
        case .environment(let name): return "$\(name)"
        case .commandLine(let flag): return flag
        }
    }
}

/// One thing wrong with the configuration, saying where: `deploy.yml:12: max_connections: expected …`,
/// `HELLO_SOCKETS_PORT: expected …`, `--port: expected …`.
public struct SettingsProblem: Sendable, Equatable, CustomStringConvertible {
    /// Where the offending value was given; nil when it is about no single value.
    public var source: SettingSource?
    /// The key, for file problems (`max_connections`); flags and variables name themselves.
    public var key: String?
    public var message: String

    public init(source: SettingSource?, key: String? = nil, message: String) {
        self.source = source
        self.key = key
        self.message = message
    }

    public var description: String {
        switch source {
        case .file(let path, let line):
            return key.map { "\(path):\(line): \($0): \(message)" } ?? "\(path):\(line): \(message)"
        case .environment(let name): return "\(name): \(message)"
        case .commandLine(let flag): return "\(flag): \(message)"
        case .defaultValue, nil: return message
        }
    }
}

/// Every problem found while loading the configuration (all of them, not just the first).
public struct SettingsError: Error, Sendable, CustomStringConvertible {
    public var problems: [SettingsProblem]

    public var description: String { problems.map(\.description).joined(separator: "\n") }
}
