import Foundation
import Yams

/// A YAML config file (`--config FILE`): a flat mapping of setting keys to values.
///
/// ```yaml
/// host: 0.0.0.0
/// max_connections: 50000
/// allowed_origin: [https://example.com]
/// ```
///
/// Values are read by the type each key's setting expects, not by YAML's guesses: `host: 0.0.0.0` is text,
/// `api_token: 1234567890123456` is text, and `max_connections: "many"` is an error naming the line.
struct ConfigFile {
    /// One value given in the file.
    struct Entry {
        var setting: Setting
        var value: SettingValue
        var line: Int
    }

    var entries: [Entry] = []
    var problems: [SettingsProblem] = []

    /// No file: no values.
    init() {}

    /// Reads and checks the file at `path` (as given, for messages) against `settings`.
    init(path: String, settings: [Setting]) {
        do {
            self.init(text: try String(contentsOfFile: path, encoding: .utf8), path: path, settings: settings)
        } catch {
            self.init()
            problems.append(
                SettingsProblem(source: nil, message: "\(path): cannot read the config file (\(Self.reason(error)))"))
        }
    }

    init(text: String, path: String, settings: [Setting]) {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            problems.append(Self.syntaxProblem(error, path: path))
            return
        }
        guard let root else { return }  // an empty file (or only comments) sets nothing
        guard let mapping = root.mapping else {
            problems.append(
                SettingsProblem(
                    source: .file(path: path, line: root.mark?.line ?? 1),
                    message: "expected a mapping of settings (key: value), got \(Self.shape(of: root))"))
            return
        }
        let byKey = Dictionary(uniqueKeysWithValues: settings.map { ($0.key, $0) })
        for (keyNode, valueNode) in mapping {
            let line = keyNode.mark?.line ?? 1
            guard let key = keyNode.scalar?.string else {
                problems.append(
                    SettingsProblem(source: .file(path: path, line: line), message: "a key must be a plain word"))
                continue
            }
            guard let setting = byKey[key] else {
                let hint =
                    closest(to: key.replacingOccurrences(of: "-", with: "_"), in: settings.map(\.key))
                    .map { " (did you mean \($0)?)" } ?? ""
                problems.append(
                    SettingsProblem(
                        source: .file(path: path, line: line), key: key, message: "unknown key\(hint)"))
                continue
            }
            let valueLine = valueNode.mark?.line ?? line
            switch Self.value(of: valueNode, for: setting) {
            case .success(let value):
                entries.append(Entry(setting: setting, value: value, line: valueLine))
            case .failure(let refusal):
                problems.append(
                    SettingsProblem(source: .file(path: path, line: valueLine), key: key, message: refusal.message))
            }
        }
    }

    /// The value of one key, read as its setting expects.
    private static func value(of node: Node, for setting: Setting) -> Result<SettingValue, ValueRefusal> {
        let refusal = Result<SettingValue, ValueRefusal>.failure(
            ValueRefusal("expected \(setting.expectation), got \(shape(of: node))"))
        if case .list = setting.kind {
            if let scalar = node.scalar { return setting.parse(scalar.string) }
            guard let sequence = node.sequence else { return refusal }
            var items: [String] = []
            for item in sequence {
                guard let scalar = item.scalar, !scalar.string.isEmpty else { return refusal }
                items.append(scalar.string)
            }
            return setting.checked(.list(items))
        }
        guard let scalar = node.scalar, !(scalar.string.isEmpty && scalar.style == .plain) else { return refusal }
        // A quoted "100" is text: only plain scalars are numbers or booleans, as YAML itself reads them.
        switch setting.kind {
        case .integer, .number, .toggle, .optionalToggle:
            guard scalar.style == .plain else { return refusal }
        case .text, .choice, .list:
            break
        }
        return setting.parse(scalar.string).mapError { _ in
            ValueRefusal("expected \(setting.expectation), got \(shape(of: node))")
        }
    }

    /// How a node reads in an error message: `"many"`, `a list`, `a mapping`, `nothing`.
    private static func shape(of node: Node) -> String {
        switch node {
        case .scalar(let scalar):
            if scalar.string.isEmpty && scalar.style == .plain { return "nothing" }
            return scalar.style == .plain ? scalar.string : "\"\(scalar.string)\" (quoted text)"
        case .sequence: return "a list"
        case .mapping: return "a mapping"
        case .alias: return "an alias"
        }
    }

    private static func syntaxProblem(_ error: Error, path: String) -> SettingsProblem {
        switch error {
        case YamlError.scanner(let context, let problem, let mark, _),
            YamlError.parser(let context, let problem, let mark, _),
            YamlError.composer(let context, let problem, let mark, _):
            let around = context.map { " (\($0.text))" } ?? ""
            return SettingsProblem(
                source: .file(path: path, line: mark.line), message: "YAML syntax: \(problem)\(around)")
        case YamlError.duplicatedKeysInMapping(let duplicates, let context):
            return SettingsProblem(
                source: .file(path: path, line: context.mark.line),
                message: "key given twice: \(duplicates.joined(separator: ", "))")
        default:
            return SettingsProblem(source: nil, message: "\(path): not YAML: \(error)")
        }
    }

    private static func reason(_ error: Error) -> String {
        let code = (error as NSError).code
        if code == NSFileReadNoSuchFileError { return "no such file" }
        if code == NSFileReadNoPermissionError { return "permission denied" }
        return (error as NSError).localizedDescription
    }
}
