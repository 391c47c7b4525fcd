import HelloSocketsServer

/// A configuration reloaded while the server runs (SIGHUP): the reloadable settings that changed are
/// applied, the others keep their running value and are reported as needing a restart.
public struct SettingsReload: Sendable {
    /// One setting whose value differs between the running and the reloaded configuration.
    public struct Change: Sendable, CustomStringConvertible {
        public var setting: Setting
        public var old: SettingValue?
        public var new: SettingValue?

        /// `max_connections 2 -> 1` (secrets as `[redacted]`).
        public var description: String {
            func show(_ value: SettingValue?) -> String {
                guard let value else { return SettingsHelp.defaultDescription(of: setting) }
                return setting.isSecret ? "[redacted]" : value.description
            }
            return "\(setting.key) \(show(old)) -> \(show(new))"
        }
    }

    /// The configuration to run with: the running one plus the reloadable changes.
    public var configuration: ServerConfiguration
    /// Changes now in force.
    public var applied: [Change] = []
    /// Changes that need a restart (the running value stays).
    public var needRestart: [Change] = []

    public init(running: ServerConfiguration, reloaded: ServerConfiguration, settings: [Setting] = Setting.all) {
        configuration = running
        for setting in settings {
            let old = setting.value(in: running), new = setting.value(in: reloaded)
            guard old != new else { continue }
            let change = Change(setting: setting, old: old, new: new)
            if setting.reloadable {
                setting.copy(&configuration, reloaded)
                applied.append(change)
            } else {
                needRestart.append(change)
            }
        }
    }
}
