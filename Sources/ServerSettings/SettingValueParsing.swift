import Foundation

/// Turning text (a flag's argument, an environment variable, a YAML scalar) into a setting's value.
extension Setting {
    /// What a value of this setting must look like, for error messages: "a whole number of bytes from 125 to …".
    public var expectation: String {
        switch kind {
        case .integer(let range, let unit):
            let what = unit.isEmpty ? "a whole number" : "a whole number of \(unit)"
            return "\(what) from \(range.lowerBound) to \(range.upperBound)"
        case .number(let range, let unit):
            let what = unit.isEmpty ? "a number" : "a number of \(unit)"
            return "\(what) from \(SettingValue.number(range.lowerBound)) to \(SettingValue.number(range.upperBound))"
        case .text: return "a text value"
        case .choice(let values): return "one of " + values.joined(separator: ", ")
        case .toggle, .optionalToggle: return "true or false"
        case .list: return "a list of texts"
        }
    }

    /// Parses one textual value; a list setting gets one element (or, with `splitLists`, comma-separated ones).
    /// Fails with the problem's message ("expected …, got …").
    func parse(_ text: String, splitLists: Bool = false) -> Result<SettingValue, ValueRefusal> {
        parseShape(text, splitLists: splitLists).flatMap(checked)
    }

    /// The value, or its refusal by the setting's own check.
    func checked(_ value: SettingValue) -> Result<SettingValue, ValueRefusal> {
        check(value).map { .failure(ValueRefusal($0)) } ?? .success(value)
    }

    private func parseShape(_ text: String, splitLists: Bool) -> Result<SettingValue, ValueRefusal> {
        let refusal = Result<SettingValue, ValueRefusal>.failure(
            ValueRefusal("expected \(expectation), got \"\(text)\""))
        switch kind {
        case .integer(let range, _):
            // Underscores group digits as in Swift and YAML: 1_048_576.
            let digits = text.replacingOccurrences(of: "_", with: "")
            guard let value = Int(digits), !digits.isEmpty, !text.hasPrefix("_") else { return refusal }
            return range.contains(value) ? .success(.integer(value)) : refusal
        case .number(let range, _):
            guard let value = Double(text), value.isFinite, range.contains(value) else { return refusal }
            return .success(.number(value))
        case .text:
            return text.isEmpty ? .failure(ValueRefusal("expected \(expectation), got nothing")) : .success(.text(text))
        case .choice(let values):
            return values.contains(text) ? .success(.text(text)) : refusal
        case .toggle, .optionalToggle:
            switch text.lowercased() {
            case "true", "1", "on", "yes": return .success(.toggle(true))
            case "false", "0", "off", "no": return .success(.toggle(false))
            default: return refusal
            }
        case .list:
            guard splitLists else { return .success(.list([text])) }
            let items = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter {
                !$0.isEmpty
            }
            return .success(.list(items))
        }
    }
}

/// Why a value was refused: "expected …, got …".
struct ValueRefusal: Error {
    var message: String

    init(_ message: String) { self.message = message }
}

/// The closest of `candidates` to `word`, if it is close enough to be a likely typo ("did you mean …?").
func closest(to word: String, in candidates: [String]) -> String? {
    let scored = candidates.map { ($0, editDistance(word, $0)) }.min { $0.1 < $1.1 }
    guard let (candidate, distance) = scored, distance <= max(2, word.count / 3) else { return nil }
    return candidate
}

/// Levenshtein distance.
private func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    var previous = Array(0...b.count)
    for i in 1...max(a.count, 1) where !a.isEmpty {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in stride(from: 1, through: b.count, by: 1) {
            current[j] = Swift.min(
                previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return a.isEmpty ? b.count : previous[b.count]
}
