/// The settings table as text: the flag list of `--help`, and the README's section (Markdown).
public enum SettingsHelp {
    /// How the three sources relate, said once above the list.
    public static let sourcesNote = """
        Every flag is also an environment variable, HELLO_SOCKETS_ and the name in capitals with underscores \
        (--max-connections: HELLO_SOCKETS_MAX_CONNECTIONS; lists comma-separated), and a key of the YAML file \
        given with --config FILE or $HELLO_SOCKETS_CONFIG (max_connections: 50000). Flags beat variables, \
        variables beat the file, the file beats the defaults.
        """

    /// The grouped flag list for `--help`, wrapped to `width` columns.
    public static func flagList(_ settings: [Setting] = Setting.all, width: Int = 100) -> String {
        let column = 32
        var lines: [String] = []
        for group in Setting.Group.allCases {
            let members = settings.filter { $0.group == group }
            guard !members.isEmpty else { continue }
            lines.append(group.title.uppercased() + ":")
            for setting in members {
                var text = setting.help + " (default: \(defaultDescription(of: setting))"
                if let legacy = setting.legacyEnvironment { text += "; also $\(legacy)" }
                text += ")"
                if setting.reloadable { text += "\u{00A0}*" }  // no break: the mark stays on its line
                let usage = "  " + usage(of: setting)
                let body = wrap(text, width: width - column)
                if usage.count < column - 1 {
                    lines.append(usage.padding(to: column) + body[0])
                } else {
                    lines.append(usage)
                    lines.append(String(repeating: " ", count: column) + body[0])
                }
                lines += body.dropFirst().map { String(repeating: " ", count: column) + $0 }
            }
            lines.append("")
        }
        lines.append("* applied to a running server by SIGHUP (kill -HUP PID); the others need a restart.")
        return lines.joined(separator: "\n")
    }

    /// The README's configuration tables (between `<!-- settings:begin -->` and `<!-- settings:end -->`).
    public static func markdown(_ settings: [Setting] = Setting.all) -> String {
        var lines: [String] = []
        for group in Setting.Group.allCases {
            let members = settings.filter { $0.group == group }
            guard !members.isEmpty else { continue }
            lines.append("**\(group.title)**")
            lines.append("")
            lines.append("| flag | file key | default | SIGHUP | what |")
            lines.append("|---|---|---|---|---|")
            for setting in members {
                var what = setting.help.replacingOccurrences(of: "|", with: "\\|")
                if let legacy = setting.legacyEnvironment { what += " Also `$\(legacy)`." }
                if setting.isSecret { what += " Secret: warned about on the command line." }
                lines.append(
                    "| `\(usage(of: setting))` | `\(setting.key)` | \(defaultDescription(of: setting)) | "
                        + "\(setting.reloadable ? "reloads" : "restart") | \(what) |")
            }
            lines.append("")
        }
        return lines.joined(separator: "\n")
    }

    /// `--port PORT`, `--[no-]watch`, `--allowed-origin ORIGIN ...`.
    static func usage(of setting: Setting) -> String {
        switch setting.kind {
        case .toggle, .optionalToggle: return "--[no-]\(setting.name)"
        case .list: return "\(setting.flag) \(setting.placeholder) ..."
        case .choice(let values): return "\(setting.flag) \(values.joined(separator: "|"))"
        case .integer, .number, .text: return "\(setting.flag) \(setting.placeholder)"
        }
    }

    /// The default as people read it: `on`, `1048576 (1 MiB)`, `one per core`, `none`.
    public static func defaultDescription(of setting: Setting) -> String {
        if let text = setting.defaultText { return text }
        if case .optionalToggle(let automatic) = setting.kind, setting.defaultValue == nil { return automatic }
        switch setting.defaultValue {
        case nil: return "none"
        case .toggle(let on): return on ? "on" : "off"
        case .list(let values): return values.isEmpty ? "none" : values.joined(separator: ", ")
        case .integer(let value):
            if case .integer(_, let unit) = setting.kind, unit == "bytes", value >= 1 << 20, value % (1 << 20) == 0 {
                return "\(value) (\(value >> 20) MiB)"
            }
            return String(value)
        case .text(let value): return value
        case .number(let value): return SettingValue.number(value).description
        }
    }

    /// `text` cut at spaces into lines of at most `width` characters (a longer word gets a line of its own).
    public static func wrap(_ text: String, width: Int) -> [String] {
        var lines: [String] = []
        var line = ""
        for word in text.split(separator: " ") {
            if !line.isEmpty && line.count + 1 + word.count > width {
                lines.append(line)
                line = ""
            }
            line += (line.isEmpty ? "" : " ") + word
        }
        lines.append(line)
        return lines
    }
}

extension Setting.Group {
    /// The heading of the group in the help and the README.
    public var title: String {
        switch self {
        case .network: return "Network"
        case .channels: return "Channels"
        case .limits: return "Limits"
        case .security: return "Security"
        case .cluster: return "Cluster"
        case .observability: return "Observability"
        }
    }
}

extension String {
    fileprivate func padding(to width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
