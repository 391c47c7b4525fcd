import Foundation
import LuaRuntime

/// Where a Phoenix socket is served and which scripts it runs.
///
/// The channels folder itself is the socket at `/socket`; each subfolder holding scripts is
/// another socket named after it (`channels/auth_socket/` serves `/auth_socket/websocket`), with
/// its own `socket.lua` connect rule and its own set of channels, as the book's endpoint has
/// `/socket`, `/auth_socket` and `/stats_socket`. `lib/` holds modules for `require`, not a socket.
public struct SocketMount: Equatable {
    public init(path: String, directory: URL, displayPrefix: String) {
        self.path = path
        self.directory = directory
        self.displayPrefix = displayPrefix
    }

    /// The mount path, e.g. `/socket`; the WebSocket is served at `<path>/websocket`.
    public var path: String
    public var directory: URL
    /// How script paths read in logs and errors, e.g. `channels/auth_socket`.
    public var displayPrefix: String

    public static func discover(in directory: URL) throws -> [SocketMount] {
        let prefix = ChannelRegistry.displayPrefix(for: directory)
        var mounts = [SocketMount(path: "/socket", directory: directory, displayPrefix: prefix)]
        let fm = FileManager.default
        for name in try fm.contentsOfDirectory(atPath: directory.path).sorted()
        where name != "lib" && !name.hasPrefix(".") && name != "socket" {
            let folder = directory.appendingPathComponent(name)
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: folder.path, isDirectory: &isDirectory), isDirectory.boolValue else { continue }
            let scripts = (try? fm.contentsOfDirectory(atPath: folder.path))?.filter { $0.hasSuffix(".lua") } ?? []
            guard !scripts.isEmpty else { continue }
            mounts.append(SocketMount(path: "/\(name)", directory: folder, displayPrefix: "\(prefix)/\(name)"))
        }
        return mounts
    }
}
