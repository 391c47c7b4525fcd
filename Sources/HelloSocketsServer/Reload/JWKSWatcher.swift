import Foundation
import Logging
import Tokens

/// Re-reads the JWKS file of `--jwt-jwks` when it changes, as channel scripts are: its folder is watched
/// with inotify (a folder, not the file: editors and secret mounts replace files by renaming), and every
/// batch of changes there makes the file be read again; new bytes swap its keys in, a bad file keeps the
/// previous keys and logs why.
final class JWKSWatcher: Sendable {
    private let file: JWKSFile
    private let logger: Logger
    private let watcher: DirectoryWatcher?

    init(file: JWKSFile, logger: Logger) {
        self.file = file
        self.logger = logger
        self.watcher = DirectoryWatcher { [file, logger] _ in
            Task {
                do {
                    guard let report = try await file.reloadIfChanged() else { return }
                    logger.info("reloaded \(file.path): \(report.keyCount) public key(s) for phx.jwt.verify")
                    for note in report.skipped { logger.warning("\(file.path): skipped \(note)") }
                } catch {
                    logger.error("reload of \(file.path) failed (keeping the previous keys): \(error)")
                }
            }
        }
    }

    func start() {
        guard let watcher else {
            return logger.warning("\(file.path) will not be re-read on change: inotify is unavailable")
        }
        let folder = URL(fileURLWithPath: file.path).deletingLastPathComponent().path
        if let error = watcher.watch(directory: folder) { return logger.warning("\(file.path) will not be re-read on change: \(error)") }
        watcher.start()
    }

    func stop() {
        watcher?.stop()
    }
}
