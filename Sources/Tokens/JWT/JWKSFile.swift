import Foundation
import NIOConcurrencyHelpers

/// A JWKS document on disk (`--jwt-jwks FILE`) whose public keys verify JWTs. The server calls
/// `reloadIfChanged()` when the file's folder changes; a reload that fails keeps the keys in use, as a
/// channel script that fails to reload keeps its previous version.
public final class JWKSFile: Sendable {
    /// What one read found.
    public struct Report: Sendable {
        /// Keys now in use.
        public var keyCount: Int
        /// One note per key left out, and why.
        public var skipped: [String]
    }

    private struct State {
        /// The number of the read the keys came from: a slow reload never replaces a newer one.
        var read = 0
        /// The bytes the keys came from.
        var contents: Data?
        var keys: [JWTKey] = []
    }

    /// The file's path, as given.
    public let path: String
    private let state = NIOLockedValueBox(State())
    private let reads = NIOLockedValueBox(0)

    private init(path: String) {
        self.path = path
    }

    /// Reads the file at `path`; throws when it cannot be read, is not a JWKS or has no usable key.
    public static func load(path: String) async throws -> (file: JWKSFile, report: Report) {
        let file = JWKSFile(path: path)
        let contents = try file.contents()
        return (file, try await file.use(contents, read: file.nextRead()))
    }

    /// Reads the file again and, when its bytes changed, uses its keys from now on and returns what it
    /// found; nil when unchanged. Throws (keeping the keys in use) when it cannot be read, is not a JWKS
    /// or has no usable key.
    public func reloadIfChanged() async throws -> Report? {
        let read = nextRead()
        let contents = try contents()
        guard state.withLockedValue({ $0.contents }) != contents else { return nil }
        return try await use(contents, read: read)
    }

    /// The keys in use.
    var keys: [JWTKey] {
        state.withLockedValue { $0.keys }
    }

    private func nextRead() -> Int {
        reads.withLockedValue { count in
            count += 1
            return count
        }
    }

    private func contents() throws -> Data {
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw JWTConfigurationError.unreadable(path: path, reason: (error as NSError).localizedDescription)
        }
    }

    private func use(_ contents: Data, read: Int) async throws -> Report {
        let (keys, skipped) = try await JWTKeys.jwks(json: Array(contents), path: path)
        guard !keys.isEmpty else { throw JWTConfigurationError.noUsableKey(path: path, skipped: skipped) }
        state.withLockedValue { state in
            if read > state.read { state = State(read: read, contents: contents, keys: keys) }
        }
        return Report(keyCount: keys.count, skipped: skipped)
    }
}
