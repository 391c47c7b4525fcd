import Foundation
import LuaRuntime
import PhoenixChannels

/// What a channels folder would serve, and everything wrong with it, without starting anything:
/// `hello-sockets check`. Each script is compiled and run once in a scratch VM, as at startup.
public struct ChannelsReport: Sendable {
    /// One socket mount (`/socket`, `/auth_socket`) and the topics its scripts claim.
    public struct Socket: Sendable {
        public var path: String
        /// `channels/ping.lua` → `ping, ping:*`, in file order.
        public var scripts: [(path: String, topics: [String])]
        /// Whether the folder has a `socket.lua` connect rule.
        public var hasConnectRule: Bool
    }

    public var sockets: [Socket] = []
    /// Each script that does not load (with file and line) and each topic claimed twice.
    public var problems: [String] = []

    public init(channelsDirectory: String, limits: LuaLimits = LuaLimits()) {
        let mounts: [SocketMount]
        do {
            mounts = try SocketMount.discover(in: URL(fileURLWithPath: channelsDirectory))
        } catch {
            problems.append("\(channelsDirectory): cannot list the folder: \(error.localizedDescription)")
            return
        }
        for mount in mounts {
            let errors = ChannelRegistry.problems(
                in: mount.directory, displayPrefix: mount.displayPrefix, limits: limits)
            problems += errors.map { "\($0)" }
            guard errors.isEmpty,
                let registry = try? ChannelRegistry(
                    directory: mount.directory, displayPrefix: mount.displayPrefix, limits: limits)
            else { continue }
            sockets.append(
                Socket(
                    path: mount.path,
                    scripts: registry.scripts.map { ($0.path, $0.topics.map(\.description)) },
                    hasConnectRule: registry.socketScript != nil))
        }
    }
}
