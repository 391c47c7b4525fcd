#if canImport(Glibc)
import Glibc
#endif
import Foundation
import NIOConcurrencyHelpers

/// Watches directories with inotify on a dedicated thread and hands over debounced batches of
/// changed names. Directories, not files, are watched: editors save by writing a temp file and
/// renaming it over the original, which a watch on the file itself would lose.
///
/// Events: IN_CLOSE_WRITE (written in place), IN_MOVED_TO (renamed in: the editor's save),
/// IN_CREATE (new file or folder), IN_DELETE and IN_MOVED_FROM (gone). A batch is handed over
/// once no event arrived for `debounce` (or at most `maxDelay` after its first event), so the
/// several events of one save make one reload.
final class DirectoryWatcher: @unchecked Sendable {
    /// What happened to one name in a watched directory during a batch (masks OR-ed).
    struct Change: Hashable {
        var directory: String
        var name: String
        var mask: UInt32

        var isDirectory: Bool { mask & UInt32(IN_ISDIR) != 0 }
        /// Only IN_CREATE was seen: the content may still be on its way (an IN_CLOSE_WRITE follows).
        var isCreateOnly: Bool {
            mask & UInt32(IN_CREATE | IN_CLOSE_WRITE | IN_MOVED_TO) == UInt32(IN_CREATE)
        }
    }

    /// Changes seen together; `firstEvent` is when the first of them arrived (reload latency is
    /// counted from there). `overflow`: the kernel dropped events, rescan everything.
    struct Batch {
        var changes: [Change]
        var firstEvent: ContinuousClock.Instant
        var overflow: Bool
    }

    static let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_DELETE_SELF)
        | UInt32(IN_ONLYDIR)

    private let inotify: Int32
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let debounce: Duration
    private let maxDelay: Duration
    private let handler: (Batch) -> Void
    private let directories = NIOLockedValueBox<[Int32: String]>([:])
    private var thread: Thread?
    private let finished = DispatchSemaphore(value: 0)

    /// Nil when inotify is unavailable (e.g. the per-user instance limit); `errno` says why.
    init?(debounce: Duration = .milliseconds(5), maxDelay: Duration = .milliseconds(100), handler: @escaping (Batch) -> Void) {
        let fd = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
        guard fd >= 0 else { return nil }
        var pipeFDs: [Int32] = [-1, -1]
        guard pipe(&pipeFDs) == 0 else {
            close(fd)
            return nil
        }
        self.inotify = fd
        self.wakeRead = pipeFDs[0]
        self.wakeWrite = pipeFDs[1]
        self.debounce = debounce
        self.maxDelay = maxDelay
        self.handler = handler
    }

    deinit {
        close(inotify)
        close(wakeRead)
        close(wakeWrite)
    }

    /// Adds a watch on `path` (a directory). Thread-safe. Returns an error text on failure.
    @discardableResult
    func watch(directory path: String) -> String? {
        let wd = inotify_add_watch(inotify, path, Self.mask)
        guard wd >= 0 else { return "cannot watch \(path): \(String(cString: strerror(errno)))" }
        directories.withLockedValue { $0[wd] = path }
        return nil
    }

    /// The directories being watched.
    var watchedDirectories: [String] { directories.withLockedValue { Array($0.values) }.sorted() }

    func start() {
        let thread = Thread { [self] in
            run()
            finished.signal()
        }
        thread.name = "hello-sockets.watch"
        self.thread = thread
        thread.start()
    }

    /// Stops the thread and waits (up to `timeout`) for it to finish the batch it may be handling,
    /// so the handler is not running once this returns. Not to be called from the handler.
    func stop(timeout: DispatchTimeInterval = .seconds(5)) {
        guard thread != nil else { return }
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
        _ = finished.wait(timeout: .now() + timeout)
        thread = nil
    }

    // MARK: - The watcher thread

    private func run() {
        var pending: [String: Change] = [:]  // by directory/name
        var first: ContinuousClock.Instant?
        var last: ContinuousClock.Instant?
        var overflow = false
        let clock = ContinuousClock()
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            var timeout: Int32 = -1
            if let first, let last {
                let due = min(last + debounce, first + maxDelay)
                let remaining = clock.now.duration(to: due)
                let (seconds, attoseconds) = remaining.components
                timeout = remaining <= .zero ? 0 : Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1)
            }
            var fds = [pollfd(fd: inotify, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
            let ready = poll(&fds, 2, timeout)
            if ready < 0 && errno != EINTR { return }
            if fds[1].revents != 0 { return }
            if fds[0].revents != 0 {
                let now = clock.now
                while true {
                    let count = buffer.withUnsafeMutableBytes { read(inotify, $0.baseAddress, $0.count) }
                    guard count > 0 else { break }
                    parse(buffer, count: count, into: &pending, overflow: &overflow)
                }
                if !pending.isEmpty || overflow {
                    if first == nil { first = now }
                    last = now
                }
            }
            if let firstEvent = first, let lastEvent = last {
                let now = clock.now
                if now >= lastEvent + debounce || now >= firstEvent + maxDelay {
                    let batch = Batch(
                        changes: pending.values.sorted { ($0.directory, $0.name) < ($1.directory, $1.name) },
                        firstEvent: firstEvent, overflow: overflow)
                    pending = [:]
                    overflow = false
                    first = nil
                    last = nil
                    handler(batch)
                }
            }
        }
    }

    private func parse(_ buffer: [UInt8], count: Int, into pending: inout [String: Change], overflow: inout Bool) {
        var offset = 0
        let headerSize = 16  // int wd; uint32 mask, cookie, len; then len bytes of name
        while offset + headerSize <= count {
            func field(_ at: Int) -> UInt32 {
                UInt32(buffer[offset + at]) | UInt32(buffer[offset + at + 1]) << 8
                    | UInt32(buffer[offset + at + 2]) << 16 | UInt32(buffer[offset + at + 3]) << 24
            }
            let wd = Int32(bitPattern: field(0))
            let mask = field(4)
            let length = Int(field(12))
            let nameBytes = buffer[(offset + headerSize)..<min(count, offset + headerSize + length)].prefix { $0 != 0 }
            let name = String(decoding: nameBytes, as: UTF8.self)
            offset += headerSize + length
            if mask & UInt32(IN_Q_OVERFLOW) != 0 {
                overflow = true
                continue
            }
            if mask & UInt32(IN_IGNORED) != 0 {
                _ = directories.withLockedValue { $0.removeValue(forKey: wd) }  // the folder is gone
                continue
            }
            guard !name.isEmpty, let directory = directories.withLockedValue({ $0[wd] }) else { continue }
            let key = directory + "/" + name
            pending[key, default: Change(directory: directory, name: name, mask: 0)].mask |= mask
        }
    }
}
