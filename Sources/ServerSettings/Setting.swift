import HelloSocketsServer
import NIOCore

/// One server setting: the flag `--NAME`, the environment variable `HELLO_SOCKETS_NAME` and the config
/// file key `name` (dashes as underscores), with its type, help, default and whether SIGHUP reloads it.
///
/// A setting reads and writes one field of `ServerConfiguration`; its default is that field in
/// `ServerConfiguration()`, so the help never states a default the server doesn't have.
public struct Setting: @unchecked Sendable {  // unchecked: the closures only capture key paths, which are immutable
    /// Where `--help` and the README list a setting.
    public enum Group: String, CaseIterable, Sendable {
        case network, channels, limits, security, cluster, observability
    }

    /// The shape of a value and how it is spelled on the command line, in the environment and in the file.
    public enum Kind: Sendable, Equatable {
        /// A whole number in `range`, counted in `unit` ("bytes", "seconds"…).
        case integer(range: ClosedRange<Int>, unit: String)
        /// A number in `range`, fractions allowed (`0.5` seconds), counted in `unit`.
        case number(range: ClosedRange<Double>, unit: String)
        /// Free text (an address, a path, a token).
        case text
        /// One of `values`.
        case choice([String])
        /// On or off: `--NAME` / `--no-NAME`, `true` / `false`.
        case toggle
        /// On, off, or unset (the server decides, as described by `automatic`).
        case optionalToggle(automatic: String)
        /// A list of texts: a repeatable flag, a YAML sequence, a comma-separated variable.
        case list

        /// Whether it is spelled `--NAME` / `--no-NAME` on the command line.
        public var isToggle: Bool {
            switch self {
            case .toggle, .optionalToggle: return true
            default: return false
            }
        }
    }

    /// `max-connections`: the flag without its dashes.
    public let name: String
    public let group: Group
    public let kind: Kind
    /// What the value is, in the help: `N`, `BYTES`, `DIR`…
    public let placeholder: String
    public let help: String
    /// Shown as `[redacted]` by `check`, and warned about when given on the command line (visible in `ps`).
    public let isSecret: Bool
    /// Applied by SIGHUP to a running server; the others need a restart.
    public let reloadable: Bool
    /// An older variable that also sets it, below `HELLO_SOCKETS_NAME` (`PORT`, `SECRET_KEY_BASE`).
    public let legacyEnvironment: String?
    /// How the default reads in the help when the value itself says too little ("one per core").
    public let defaultText: String?
    /// What is wrong with a value of the right shape (`--http-allow http://x/y`), from any source; nil: fine.
    let check: (SettingValue) -> String?
    let read: (ServerConfiguration) -> SettingValue?
    let write: (inout ServerConfiguration, SettingValue) -> Void
    /// Copies the field from another configuration (unset included).
    let copy: (inout ServerConfiguration, ServerConfiguration) -> Void

    /// The config file key: `max_connections`.
    public var key: String { name.replacingOccurrences(of: "-", with: "_") }
    /// The environment variable: `HELLO_SOCKETS_MAX_CONNECTIONS`.
    public var environmentName: String { "HELLO_SOCKETS_" + key.uppercased() }
    /// The flag: `--max-connections`.
    public var flag: String { "--" + name }

    /// The value in `configuration` (nil: unset, the server decides).
    public func value(in configuration: ServerConfiguration) -> SettingValue? { read(configuration) }

    /// The value in a default `ServerConfiguration`.
    public var defaultValue: SettingValue? { read(ServerConfiguration()) }
}

/// A setting's value, of the shape its `Setting.Kind` says.
public enum SettingValue: Sendable, Equatable, CustomStringConvertible {
    case integer(Int)
    case number(Double)
    case text(String)
    case toggle(Bool)
    case list([String])

    public var description: String {
        switch self {
        case .integer(let value): return String(value)
        case .number(let value): return value == value.rounded() ? String(Int(value)) : String(value)
        case .text(let value): return value
        case .toggle(let value): return value ? "true" : "false"
        case .list(let values): return values.isEmpty ? "(none)" : values.joined(separator: ", ")
        }
    }
}

// MARK: - Building settings from ServerConfiguration fields

extension Setting {
    init(
        _ name: String, _ group: Group, _ kind: Kind, placeholder: String, help: String, secret: Bool = false,
        reloadable: Bool = false, legacyEnvironment: String? = nil, defaultText: String? = nil,
        check: @escaping (SettingValue) -> String? = { _ in nil },
        read: @escaping (ServerConfiguration) -> SettingValue?,
        write: @escaping (inout ServerConfiguration, SettingValue) -> Void,
        copy: @escaping (inout ServerConfiguration, ServerConfiguration) -> Void
    ) {
        self.name = name
        self.group = group
        self.kind = kind
        self.placeholder = placeholder
        self.help = help
        self.isSecret = secret
        self.reloadable = reloadable
        self.legacyEnvironment = legacyEnvironment
        self.defaultText = defaultText
        self.check = check
        self.read = read
        self.write = write
        self.copy = copy
    }

    /// A whole number stored as is.
    static func integer(
        _ name: String, _ group: Group, _ field: WritableKeyPath<ServerConfiguration, Int>, range: ClosedRange<Int>,
        unit: String, placeholder: String = "N", help: String, reloadable: Bool = false,
        legacyEnvironment: String? = nil, defaultText: String? = nil
    ) -> Setting {
        Setting(
            name, group, .integer(range: range, unit: unit), placeholder: placeholder, help: help,
            reloadable: reloadable, legacyEnvironment: legacyEnvironment, defaultText: defaultText,
            read: { .integer($0[keyPath: field]) },
            write: { if case .integer(let value) = $1 { $0[keyPath: field] = value } },
            copy: { $0[keyPath: field] = $1[keyPath: field] }
        )
    }

    /// A whole number of `unitSize` bytes (`--lua-memory-mb`), stored in bytes.
    static func scaled(
        _ name: String, _ group: Group, _ field: WritableKeyPath<ServerConfiguration, Int>, by unitSize: Int,
        range: ClosedRange<Int>, unit: String, help: String, reloadable: Bool = false
    ) -> Setting {
        Setting(
            name, group, .integer(range: range, unit: unit), placeholder: "N", help: help, reloadable: reloadable,
            read: { .integer($0[keyPath: field] / unitSize) },
            write: { if case .integer(let value) = $1 { $0[keyPath: field] = value * unitSize } },
            copy: { $0[keyPath: field] = $1[keyPath: field] }
        )
    }

    /// A whole number of seconds, stored as a `TimeAmount`.
    static func seconds(
        _ name: String, _ group: Group, _ field: WritableKeyPath<ServerConfiguration, TimeAmount>,
        range: ClosedRange<Int> = 1...86_400, help: String, reloadable: Bool = false
    ) -> Setting {
        Setting(
            name, group, .integer(range: range, unit: "seconds"), placeholder: "SECONDS", help: help,
            reloadable: reloadable,
            read: { .integer(Int($0[keyPath: field].nanoseconds / 1_000_000_000)) },
            write: { if case .integer(let value) = $1 { $0[keyPath: field] = .seconds(Int64(value)) } },
            copy: { $0[keyPath: field] = $1[keyPath: field] }
        )
    }

    /// A number with fractions (`0.5` a second), stored as is.
    static func number(
        _ name: String, _ group: Group, _ field: WritableKeyPath<ServerConfiguration, Double>,
        range: ClosedRange<Double>, unit: String, help: String, reloadable: Bool = false
    ) -> Setting {
        Setting(
            name, group, .number(range: range, unit: unit), placeholder: "N", help: help, reloadable: reloadable,
            read: { .number($0[keyPath: field]) },
            write: { if case .number(let value) = $1 { $0[keyPath: field] = value } },
            copy: { $0[keyPath: field] = $1[keyPath: field] }
        )
    }

    /// A number of seconds with fractions (`0.5`), stored as a `TimeAmount`.
    static func fractionalSeconds(
        _ name: String, _ group: Group, _ field: WritableKeyPath<ServerConfiguration, TimeAmount>,
        range: ClosedRange<Double>, help: String, reloadable: Bool = false
    ) -> Setting {
        Setting(
            name, group, .number(range: range, unit: "seconds"), placeholder: "SECONDS", help: help,
            reloadable: reloadable,
            read: { .number(Double($0[keyPath: field].nanoseconds) / 1e9) },
            write: { if case .number(let value) = $1 { $0[keyPath: field] = .nanoseconds(Int64(value * 1e9)) } },
            copy: { $0[keyPath: field] = $1[keyPath: field] }
        )
    }

    /// Text that is always set.
    static func text(
        _ name: String, _ group: Group, _ field: WritableKeyPath<ServerConfiguration, String>, placeholder: String,
        help: String, reloadable: Bool = false
    ) -> Setting {
        Setting(
            name, group, .text, placeholder: placeholder, help: help, reloadable: reloadable,
            read: { .text($0[keyPath: field]) },
            write: { if case .text(let value) = $1 { $0[keyPath: field] = value } },
            copy: { $0[keyPath: field] = $1[keyPath: field] }
        )
    }

    /// Text that may be unset.
    static func optionalText(
        _ name: String, _ group: Group, _ field: WritableKeyPath<ServerConfiguration, String?>, placeholder: String,
        help: String, secret: Bool = false, reloadable: Bool = false, legacyEnvironment: String? = nil,
        defaultText: String? = nil
    ) -> Setting {
        Setting(
            name, group, .text, placeholder: placeholder, help: help, secret: secret, reloadable: reloadable,
            legacyEnvironment: legacyEnvironment, defaultText: defaultText,
            read: { $0[keyPath: field].map(SettingValue.text) },
            write: { if case .text(let value) = $1 { $0[keyPath: field] = value } },
            copy: { $0[keyPath: field] = $1[keyPath: field] }
        )
    }

    /// On or off.
    static func toggle(
        _ name: String, _ group: Group, _ field: WritableKeyPath<ServerConfiguration, Bool>, help: String,
        reloadable: Bool = false
    ) -> Setting {
        Setting(
            name, group, .toggle, placeholder: "", help: help, reloadable: reloadable,
            read: { .toggle($0[keyPath: field]) },
            write: { if case .toggle(let value) = $1 { $0[keyPath: field] = value } },
            copy: { $0[keyPath: field] = $1[keyPath: field] }
        )
    }

    /// On, off, or decided by the server (`automatic` says how).
    static func optionalToggle(
        _ name: String, _ group: Group, _ field: WritableKeyPath<ServerConfiguration, Bool?>, automatic: String,
        help: String, reloadable: Bool = false
    ) -> Setting {
        Setting(
            name, group, .optionalToggle(automatic: automatic), placeholder: "", help: help, reloadable: reloadable,
            read: { $0[keyPath: field].map(SettingValue.toggle) },
            write: { if case .toggle(let value) = $1 { $0[keyPath: field] = value } },
            copy: { $0[keyPath: field] = $1[keyPath: field] }
        )
    }

    /// A list of texts.
    static func list(
        _ name: String, _ group: Group, _ field: WritableKeyPath<ServerConfiguration, [String]>, placeholder: String,
        help: String, reloadable: Bool = false
    ) -> Setting {
        Setting(
            name, group, .list, placeholder: placeholder, help: help, reloadable: reloadable,
            read: { .list($0[keyPath: field]) },
            write: { if case .list(let values) = $1 { $0[keyPath: field] = values } },
            copy: { $0[keyPath: field] = $1[keyPath: field] }
        )
    }

    /// One of a few words (the cases of `Value`).
    static func choice<Value: RawRepresentable & CaseIterable>(
        _ name: String, _ group: Group, _ field: WritableKeyPath<ServerConfiguration, Value>, placeholder: String,
        help: String, reloadable: Bool = false
    ) -> Setting where Value.RawValue == String {
        Setting(
            name, group, .choice(Value.allCases.map(\.rawValue)), placeholder: placeholder, help: help,
            reloadable: reloadable,
            read: { .text($0[keyPath: field].rawValue) },
            write: {
                if case .text(let value) = $1, let choice = Value(rawValue: value) { $0[keyPath: field] = choice }
            },
            copy: { $0[keyPath: field] = $1[keyPath: field] }
        )
    }
}
