import Foundation
import Logging
import LuaRuntime
import NIOCore
import PhoenixChannels

/// Hot reload of channel scripts: turns the `DirectoryWatcher`'s batches into registry updates.
///
/// Watches each socket mount's folder (`channels/`, `channels/<socket>/`) and its `lib/` tree.
/// - A changed script is compiled and run in a scratch VM (`ChannelRegistry.update`); on success
///   the registry holds the new version, which every VM instantiates at its next callback for
///   that script (new joins and the next callback of joined channels; `assigns` survive and the
///   new module's `migrate(assigns, old_version)` runs once per channel first). On failure the
///   previous version keeps running and the error (file:line) is logged.
/// - A new file registers its topics (a clash with another script is refused and logged).
/// - A deleted file unregisters its topics at once; then each event loop, on its own thread,
///   closes the script's joined channels with phx_error.
/// - `socket.lua` is read by `connect`, so a change applies to new connections only.
/// - A `lib/` module change reloads the scripts that required it when they loaded (tracked per
///   script, transitively), all or nothing.
final class ChannelReloader: @unchecked Sendable {
    struct Mount {
        var mount: SocketMount
        var registry: ChannelRegistry
        var runtimes: LoopRuntimes
        var directory: String { mount.directory.standardizedFileURL.path }
        var libDirectory: String { directory + "/lib" }
    }

    private let mounts: [Mount]
    private let root: String
    /// The channels folder as messages show it (as given).
    private let displayRoot: String
    private let logger: Logger
    private let hub: ReloadEventHub
    private var watcher: DirectoryWatcher?

    init(mounts: [Mount], channelsDirectory: URL, logger: Logger, hub: ReloadEventHub) {
        self.mounts = mounts
        self.root = channelsDirectory.standardizedFileURL.path
        self.displayRoot = ChannelRegistry.displayPrefix(for: channelsDirectory)
        self.logger = logger
        self.hub = hub
    }

    /// Starts watching; logs and carries on without hot reload when inotify is unavailable.
    func start() {
        guard let watcher = DirectoryWatcher(handler: { [weak self] batch in self?.handle(batch) }) else {
            logger.warning("hot reload off: inotify_init1 failed: \(String(cString: strerror(errno)))")
            return
        }
        self.watcher = watcher
        for mount in mounts {
            if let error = watcher.watch(directory: mount.directory) { logger.warning("hot reload: \(error)") }
            watchTree(mount.libDirectory)
        }
        watcher.start()
        let count = watcher.watchedDirectories.count
        logger.info("hot reload: watching \(count) \(count == 1 ? "folder" : "folders") under \(displayRoot)")
    }

    func stop() {
        watcher?.stop()
        watcher = nil
    }

    private func watchTree(_ directory: String) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else { return }
        if let error = watcher?.watch(directory: directory) { logger.warning("hot reload: \(error)") }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where !name.hasPrefix(".") {
            watchTree(directory + "/" + name)
        }
    }

    // MARK: - One batch (on the watcher thread)

    private enum Work: Hashable {
        case library(mount: Int, name: String)
        case script(mount: Int, name: String, createOnly: Bool)
    }

    func handle(_ batch: DirectoryWatcher.Batch) {
        var work: [Work] = []
        if batch.overflow {
            logger.warning("hot reload: inotify queue overflowed; rescanning every folder")
            work = rescan()
        }
        for change in batch.changes {
            work.append(contentsOf: classify(change))
        }
        var seen: Set<String> = []
        work = work.filter { seen.insert("\($0)").inserted }
        // Modules first (a script edited together with a module it needs), then deletions (a
        // file renamed to another name frees its topic first), then changes and additions.
        let libraries = work.filter { if case .library = $0 { return true } else { return false } }
        let scripts = work.compactMap { item -> (Int, String, Bool)? in
            if case .script(let m, let n, let c) = item { return (m, n, c) } else { return nil }
        }
        let removals = scripts.filter { !fileExists(scriptURL(mounts[$0.0], $0.1)) }
        let updates = scripts.filter { fileExists(scriptURL(mounts[$0.0], $0.1)) }
        for case .library(let m, let name) in libraries { reloadLibrary(mounts[m], name: name, since: batch.firstEvent) }
        for (m, name, _) in removals { remove(mounts[m], name: name, since: batch.firstEvent) }
        for (m, name, createOnly) in updates { reload(mounts[m], name: name, createOnly: createOnly, since: batch.firstEvent) }
    }

    /// What a change means: a script of a mount, a lib module, a new folder to watch, or nothing.
    private func classify(_ change: DirectoryWatcher.Change) -> [Work] {
        let path = change.directory + "/" + change.name
        guard !change.name.hasPrefix(".") else { return [] }
        for (index, mount) in mounts.enumerated() {
            if change.directory == mount.directory {
                if change.isDirectory {
                    if change.name == "lib", change.mask & UInt32(IN_CREATE | IN_MOVED_TO) != 0 {
                        watchTree(path)
                        return libraryFiles(under: path).map { .library(mount: index, name: $0) }
                    }
                    if change.directory == root, change.mask & UInt32(IN_CREATE | IN_MOVED_TO) != 0,
                       !mounts.contains(where: { $0.directory == path }) {
                        let message = "hot reload: new folder \(mount.mount.displayPrefix)/\(change.name): a new socket needs a restart"
                        logger.notice("\(message)")
                        hub.publish(ReloadEvent(
                            kind: .ignored, path: "\(mount.mount.displayPrefix)/\(change.name)", name: change.name,
                            version: nil, topics: [], error: nil, closedChannels: 0, milliseconds: 0, message: message))
                    }
                    return []
                }
                guard change.name.hasSuffix(".lua"), !change.name.hasSuffix("_test.lua") else { return [] }
                return [.script(mount: index, name: String(change.name.dropLast(4)), createOnly: change.isCreateOnly)]
            }
            if change.directory == mount.libDirectory || change.directory.hasPrefix(mount.libDirectory + "/") {
                if change.isDirectory {
                    if change.mask & UInt32(IN_CREATE | IN_MOVED_TO) != 0 {
                        watchTree(path)
                        return libraryFiles(under: path).map { .library(mount: index, name: $0) }
                    }
                    // A module folder went away: its modules too.
                    let prefix = moduleName(for: path, in: mount) + "."
                    return mount.registry.libraryNames.filter { $0.hasPrefix(prefix) }.map { .library(mount: index, name: $0) }
                }
                guard change.name.hasSuffix(".lua") else { return [] }
                if change.isCreateOnly { return [] }  // its IN_CLOSE_WRITE follows
                return [.library(mount: index, name: moduleName(for: String(path.dropLast(4)), in: mount))]
            }
        }
        return []
    }

    /// `util` for `<mount>/lib/util`, `sub.mod` for `<mount>/lib/sub/mod`.
    private func moduleName(for pathWithoutExtension: String, in mount: Mount) -> String {
        String(pathWithoutExtension.dropFirst(mount.libDirectory.count + 1)).replacingOccurrences(of: "/", with: ".")
    }

    private func libraryFiles(under directory: String) -> [String] {
        guard let mount = mounts.first(where: { directory == $0.libDirectory || directory.hasPrefix($0.libDirectory + "/") }),
              let enumerator = FileManager.default.enumerator(atPath: directory) else { return [] }
        return enumerator.compactMap { $0 as? String }.filter { $0.hasSuffix(".lua") }.map {
            moduleName(for: directory + "/" + String($0.dropLast(4)), in: mount)
        }
    }

    /// Everything, for an inotify overflow: every file present, every script and module registered.
    private func rescan() -> [Work] {
        var work: [Work] = []
        for (index, mount) in mounts.enumerated() {
            let files = (try? FileManager.default.contentsOfDirectory(atPath: mount.directory)) ?? []
            let names = Set(files.filter { $0.hasSuffix(".lua") && !$0.hasSuffix("_test.lua") && !$0.hasPrefix(".") }.map { String($0.dropLast(4)) })
                .union(mount.registry.scripts.map(\.name))
                .union(mount.registry.socketScript.map { [$0.name] } ?? [])
            work += names.sorted().map { .script(mount: index, name: $0, createOnly: false) }
            let modules = Set(libraryFiles(under: mount.libDirectory)).union(mount.registry.libraryNames)
            work += modules.sorted().map { .library(mount: index, name: $0) }
        }
        return work
    }

    private func scriptURL(_ mount: Mount, _ name: String) -> URL {
        mount.mount.directory.appendingPathComponent(name + ".lua")
    }

    private func fileExists(_ url: URL) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) && !isDirectory.boolValue
    }

    private func read(_ url: URL) -> String? {
        try? String(contentsOf: url, encoding: .utf8)
    }

    private static func milliseconds(since start: ContinuousClock.Instant) -> Double {
        let (seconds, attoseconds) = (ContinuousClock.now - start).components
        return Double(seconds) * 1000 + Double(attoseconds) / 1e15
    }

    private static func format(_ ms: Double) -> String {
        ms < 10 ? String(format: "%.1f", ms) : String(format: "%.0f", ms)
    }

    private static func topicsText(_ topics: [String]) -> String {
        topics.isEmpty ? "" : (topics.count == 1 ? "topic " : "topics ") + topics.joined(separator: ", ")
    }

    // MARK: - Scripts

    private func reload(_ mount: Mount, name: String, createOnly: Bool, since start: ContinuousClock.Instant) {
        let registry = mount.registry
        let url = scriptURL(mount, name)
        let path = registry.path(of: name)
        guard let text = read(url) else {
            return publishFailure(path: path, name: name, previous: registry.script(named: name), start: start,
                                  error: ScriptError(kind: .load, script: path, message: "\(path): cannot read the file"))
        }
        let previous = registry.script(named: name)
        if previous?.source.text == text { return }  // touched, or several events for one save
        if createOnly && text.isEmpty { return }  // created empty: its content comes with IN_CLOSE_WRITE
        do {
            let script = try registry.update(name: name, text: text)
            let ms = Self.milliseconds(since: start)
            let topics = script.topics.map(\.description)
            let what: String
            if name == ChannelRegistry.socketScriptName {
                what = "\(script.version), applies to new connections"
            } else {
                what = [script.version.description, Self.topicsText(topics)].filter { !$0.isEmpty }.joined(separator: ", ")
            }
            let message = previous == nil
                ? "loaded new \(script.path) (\(what)) in \(Self.format(ms)) ms"
                : "reloaded \(script.path) (\(what)) in \(Self.format(ms)) ms"
            logger.info("\(message)")
            hub.publish(ReloadEvent(
                kind: previous == nil ? .added : .reloaded, path: script.path, name: name, version: script.version,
                topics: topics, error: nil, closedChannels: 0, milliseconds: ms, message: message))
        } catch let error as ScriptError {
            publishFailure(path: path, name: name, previous: previous, start: start, error: error)
        } catch {
            publishFailure(path: path, name: name, previous: previous, start: start,
                           error: ScriptError(kind: .load, script: path, message: "\(path): \(error)"))
        }
    }

    private func publishFailure(path: String, name: String, previous: ChannelScript?, start: ContinuousClock.Instant, error: ScriptError) {
        let keeping = previous.map { "keeping \($0.version)" } ?? "not loaded"
        let message = "reload of \(path) failed (\(keeping)): \(error.message)"
        logger.error("\(message)")
        hub.publish(ReloadEvent(
            kind: .failed, path: path, name: name, version: previous?.version,
            topics: previous?.topics.map(\.description) ?? [], error: error, closedChannels: 0,
            milliseconds: Self.milliseconds(since: start), message: message))
    }

    private func remove(_ mount: Mount, name: String, since start: ContinuousClock.Instant) {
        guard let removed = mount.registry.remove(name: name) else { return }
        var closed = 0
        if name != ChannelRegistry.socketScriptName {
            // Each loop walks its own sockets, on its own thread: no locks on the hot path.
            let registry = mount.registry
            let counts = try? mount.runtimes.onEveryLoop { runtime -> Int in
                guard registry.script(named: name) == nil else { return 0 }  // re-added meanwhile
                let count = runtime.sockets.values.reduce(0) { $0 + $1.closeChannels(ofScript: name) }
                runtime.vm.unload(scriptNamed: name)
                return count
            }.wait()
            closed = counts?.reduce(0, +) ?? 0
        }
        let ms = Self.milliseconds(since: start)
        let topics = removed.topics.map(\.description)
        let what = name == ChannelRegistry.socketScriptName
            ? "new connections are accepted without a connect hook"
            : "\(Self.topicsText(topics)) unregistered, \(closed) joined channel\(closed == 1 ? "" : "s") closed with phx_error"
        let message = "removed \(removed.path) (\(what)) in \(Self.format(ms)) ms"
        logger.info("\(message)")
        hub.publish(ReloadEvent(
            kind: .removed, path: removed.path, name: name, version: nil, topics: topics, error: nil,
            closedChannels: closed, milliseconds: ms, message: message))
    }

    // MARK: - lib/ modules

    private func reloadLibrary(_ mount: Mount, name: String, since start: ContinuousClock.Instant) {
        let registry = mount.registry
        let path = registry.libraryPath(of: name)
        let url = URL(fileURLWithPath: mount.libDirectory + "/" + name.replacingOccurrences(of: ".", with: "/") + ".lua")
        let text = fileExists(url) ? read(url) : nil
        let previous = registry.library(named: name)
        if previous?.text == text { return }
        do {
            let dependents = try registry.updateLibrary(name: name, text: text)
            let ms = Self.milliseconds(since: start)
            let verb = text == nil ? "removed" : (previous == nil ? "loaded new" : "reloaded")
            let names = dependents.map(\.path).joined(separator: ", ")
            let message = "\(verb) \(path) in \(Self.format(ms)) ms; "
                + (dependents.isEmpty ? "no script requires it" : "reloading its dependents: \(names)")
            logger.info("\(message)")
            hub.publish(ReloadEvent(
                kind: .library, path: path, name: name, version: nil, topics: [], error: nil, closedChannels: 0,
                milliseconds: ms, message: message))
            for script in dependents {
                let topics = script.topics.map(\.description)
                let what = [script.version.description, Self.topicsText(topics), "lib \(name) changed"]
                    .filter { !$0.isEmpty }.joined(separator: ", ")
                let line = "reloaded \(script.path) (\(what)) in \(Self.format(ms)) ms"
                logger.info("\(line)")
                hub.publish(ReloadEvent(
                    kind: .reloaded, path: script.path, name: script.name, version: script.version, topics: topics,
                    error: nil, closedChannels: 0, milliseconds: ms, message: line))
            }
        } catch let error as ScriptError {
            let message = "reload of \(path) failed (keeping the previous module and its dependents): \(error.message)"
            logger.error("\(message)")
            hub.publish(ReloadEvent(
                kind: .failed, path: path, name: name, version: nil, topics: [], error: error, closedChannels: 0,
                milliseconds: Self.milliseconds(since: start), message: message))
        } catch {
            logger.error("reload of \(path) failed: \(error)")
        }
    }
}
