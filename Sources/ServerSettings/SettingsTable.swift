import HelloSocketsServer
import Logging
import LuaRuntime
import PhoenixChannels
import RedisClient
import WebSocketTransport

// The one list of the server's settings. `--help`, the README's flag table (`scripts/settings-table.sh`),
// the environment variables, the config file keys, `hello-sockets check` and SIGHUP reloads all come from it.
//
// To add a flag: add its field to `ServerConfiguration` (the field's default is the flag's default), then one
// entry below in the right group. The name gives `--name`, `HELLO_SOCKETS_NAME` and the key `name` (dashes
// become underscores). Mark it `secret: true` if it must not show in `ps` or in `check`'s output, and
// `reloadable: true` only if the server reads the field anew for each connection (`HelloSocketsServer.reload`),
// so a SIGHUP really applies it. Then run `scripts/settings-table.sh --write` to refresh the README.

extension Setting {
    /// Every server setting, in the order `--help` lists them within their group.
    public static let all: [Setting] = [
        // MARK: network
        .text("host", .network, \.host, placeholder: "ADDRESS", help: "Address to listen on."),
        .integer(
            "port", .network, \.port, range: 0...65_535, unit: "", placeholder: "PORT",
            help: "Port to listen on (0: any free port).", legacyEnvironment: "PORT"
        ),
        .integer(
            "threads", .network, \.eventLoopCount, range: 1...1_024, unit: "",
            help: "Event loop threads.", defaultText: "one per core"
        ),
        Setting(
            "deflate", .network, .toggle, placeholder: "",
            help: "Offer permessage-deflate compression to clients that ask for it.",
            read: { .toggle($0.webSocket.deflate != nil) },
            write: { configuration, value in
                if case .toggle(let on) = value {
                    configuration.webSocket.deflate = on ? PerMessageDeflate.Policy() : nil
                }
            },
            copy: { $0.webSocket.deflate = $1.webSocket.deflate }
        ),
        .optionalText(
            "public", .network, \.publicDirectory, placeholder: "DIR",
            help: "Serve this folder's .html, .js, .css, .png, .svg and .json files for GET paths no route claims.",
            defaultText: "none"
        ),

        // MARK: channels
        .text(
            "channels", .channels, \.channelsDirectory, placeholder: "DIR", help: "Folder of channel scripts (*.lua)."),
        .toggle(
            "watch", .channels, \.watchChannels,
            help: "Hot reload: watch the channels folder and load edited scripts."),
        .integer(
            "presence-batch-ms", .channels, \.presenceBatchMilliseconds, range: 0...60_000, unit: "ms",
            help: "Merge a topic's presence diffs within this many milliseconds into one (0: a diff per change, as Phoenix)."
        ),
        .toggle(
            "longpoll", .network, \.longPoll,
            help: "Serve Phoenix's LongPoll transport at <socket>/longpoll beside each WebSocket."),

        // MARK: limits
        .integer(
            "max-connections", .limits, \.maxConnections, range: 1...10_000_000, unit: "connections",
            help: "Open WebSockets and LongPoll sessions at most; more are refused with 503.", reloadable: true
        ),
        .integer(
            "max-message-size", .limits, \.webSocket.maxMessageSize, range: 125...(1 << 30), unit: "bytes",
            placeholder: "BYTES",
            help: "Largest WebSocket message, after reassembly and decompression; larger ones close with 1009.",
            reloadable: true
        ),
        .integer(
            "max-outbound-buffer", .limits, \.webSocket.maxPendingOutbound, range: 1...(1 << 34), unit: "bytes",
            placeholder: "BYTES",
            help: "Bytes queued for a client that is not reading before it is closed with 1008.", reloadable: true
        ),
        .integer(
            "max-channels", .limits, \.maxChannelsPerSocket, range: 1...1_000_000, unit: "channels",
            help: "Channels one socket may have joined at once; more get \"too many channels joined\"."
        ),
        .seconds(
            "idle-timeout", .limits, \.webSocket.idleTimeout,
            help: "Seconds without any frame from a client before it is closed with 1000.", reloadable: true
        ),
        .seconds(
            "handshake-timeout", .limits, \.handshakeTimeout,
            help: "Seconds a client has to send a whole HTTP request (slowloris guard; keep-alive idle too).",
            reloadable: true
        ),
        .seconds(
            "shutdown-timeout", .limits, \.shutdownTimeout,
            help: "Seconds a graceful shutdown (SIGINT, SIGTERM) waits for clients before dropping them.",
            reloadable: true
        ),
        .integer(
            "lua-instruction-budget", .limits, \.lua.instructionBudget, range: 1_000...Int(Int32.max),
            unit: "instructions",
            help: "Lua instructions one channel callback may run before it is stopped (the channel crashes)."
        ),
        .scaled(
            "lua-memory-mb", .limits, \.lua.memoryLimit, by: 1 << 20, range: 1...65_536, unit: "MiB",
            help: "Memory, in MiB, each event loop's Lua VM may use."
        ),
        .fractionalSeconds(
            "lua-callback-timeout", .limits, \.luaCallbackTimeout, range: 0.001...3_600,
            help: "Seconds one channel callback may take, its waits for phx.http/phx.kv included (the channel crashes past it)."
        ),
        .integer(
            "http-max-response", .limits, \.httpMaxResponseBytes, range: 1...(1 << 30), unit: "bytes",
            placeholder: "BYTES", help: "Largest response body phx.http.request accepts (larger: nil, \"too large\")."
        ),
        .integer(
            "http-max-concurrent", .limits, \.httpMaxConcurrentPerLoop, range: 1...100_000, unit: "requests",
            help: "phx.http.request calls one event loop may have in flight (more: nil, \"too many requests\")."
        ),
        .scaled(
            "kv-max-mb", .limits, \.kvMaxBytes, by: 1 << 20, range: 1...65_536, unit: "MiB",
            help: "Size cap, in MiB, of the embedded phx.kv store (past it, set/incr/push fail with \"full\")."
        ),
        // Abuse limits: each socket's message and join rates (docs/abuse-limits.md).
        .number(
            "client-message-rate", .limits, \.socketLimits.messageRate, range: 0...1_000_000, unit: "messages a second",
            help: "Messages a second one Phoenix socket may send, heartbeats included; past it the server stops "
                + "reading it until it slows down (0: no limit)."
        ),
        .integer(
            "client-message-burst", .limits, \.socketLimits.messageBurst, range: 1...1_000_000, unit: "messages",
            help: "Messages a socket may send back to back before --client-message-rate applies."
        ),
        .fractionalSeconds(
            "client-throttle-grace", .limits, \.socketLimits.throttleGrace, range: 0...86_400,
            help: "Seconds a socket may stay over --client-message-rate without a break before it is closed with "
                + "1008 (0: never)."
        ),
        .number(
            "join-rate", .limits, \.socketLimits.joinRate, range: 0...1_000_000, unit: "joins a second",
            help: "Joins a second one socket may make; more are answered {\"reason\":\"rate limited\"} (0: no limit)."
        ),
        .integer(
            "join-burst", .limits, \.socketLimits.joinBurst, range: 1...1_000_000, unit: "joins",
            help: "Joins a socket may make back to back before --join-rate applies."
        ),
        // Per client address.
        .integer(
            "max-connections-per-ip", .limits, \.addressLimits.maxConnectionsPerAddress, range: 0...10_000_000,
            unit: "connections",
            help: "Open WebSockets one client address (IPv6: its /64) may hold; more get 429 (0: no limit; "
                + "e.g. 200 on a public site)."
        ),
        .number(
            "connect-rate-per-ip", .limits, \.addressLimits.connectRatePerAddress, range: 0...1_000_000,
            unit: "connections a second",
            help: "New WebSockets a second from one client address (burst: the same number); more get 429 with "
                + "Retry-After (0: no limit)."
        ),

        // MARK: security
        .optionalToggle(
            "check-origin", .security, \.checkOrigin, automatic: "on unless --host is loopback",
            help: "Refuse (403) WebSocket upgrades whose Origin does not match the Host header or --allowed-origin.",
            reloadable: true
        ),
        .list(
            "allowed-origin", .security, \.allowedOrigins, placeholder: "ORIGIN",
            help: "An origin the origin check accepts instead of the Host's (repeatable): https://example.com, "
                + "//example.com (any scheme), //*.example.com (and subdomains).",
            reloadable: true
        ),
        Setting(
            "http-allow", .security, .list, placeholder: "HOST[:PORT]",
            help: "A host (and port) phx.http.request may call (repeatable): api.internal, 127.0.0.1:4100, [::1]:8080.",
            defaultText: "none",
            check: { value in
                guard case .list(let items) = value else { return nil }
                return items.first { HTTPPolicy.Destination($0) == nil }.map {
                    "\"\($0)\" is not HOST or HOST:PORT (e.g. api.internal, 127.0.0.1:4100)"
                }
            },
            read: { .list($0.httpAllow.map(\.description)) },
            write: { configuration, value in
                if case .list(let items) = value { configuration.httpAllow = items.compactMap(HTTPPolicy.Destination.init) }
            },
            copy: { $0.httpAllow = $1.httpAllow }
        ),
        Setting(
            "trusted-proxy", .security, .list, placeholder: "CIDR",
            help: "A proxy (10.0.0.0/8, 127.0.0.1; repeatable) whose X-Forwarded-For, else Forwarded, names the "
                + "client for the per-address limits and the loopback rule; from other peers they are ignored.",
            reloadable: true, defaultText: "none",
            check: { value in
                guard case .list(let items) = value else { return nil }
                for item in items {
                    do { _ = try AddressRange(parsing: item) } catch { return "\(error)" }
                }
                return nil
            },
            read: { .list($0.addressLimits.trustedProxies.map(\.description)) },
            write: { configuration, value in
                if case .list(let items) = value {
                    configuration.addressLimits.trustedProxies = items.compactMap { try? AddressRange(parsing: $0) }
                }
            },
            copy: { $0.addressLimits.trustedProxies = $1.addressLimits.trustedProxies }
        ),
        .optionalText(
            "tls-cert", .security, \.tlsCertificatePath, placeholder: "FILE",
            help: "PEM certificate (chain, leaf first): serve https:// and wss:// (with --tls-key).",
            defaultText: "none"
        ),
        .optionalText(
            "tls-key", .security, \.tlsKeyPath, placeholder: "FILE", help: "PEM private key of --tls-cert.",
            defaultText: "none"),
        .optionalText(
            "secret-key-base", .security, \.secretKeyBase, placeholder: "SECRET",
            help: "Secret for phx.token, at least 32 bytes (openssl rand -base64 48).", secret: true,
            legacyEnvironment: "SECRET_KEY_BASE", defaultText: "random at each start"
        ),
        .optionalText(
            "jwt-secret", .security, \.jwtSecret, placeholder: "SECRET",
            help: "HMAC secret for JWTs in phx.jwt.verify: HS256 from 32 bytes, HS384/HS512 from 48/64.",
            secret: true, legacyEnvironment: "JWT_SECRET", defaultText: "none"
        ),
        .optionalText(
            "jwt-jwks", .security, \.jwtJWKSPath, placeholder: "FILE",
            help: "JWKS file of public keys for RS256/ES256 JWTs in phx.jwt.verify, picked by kid (re-read when it changes).",
            defaultText: "none"
        ),
        .optionalText(
            "api-token", .security, \.apiToken, placeholder: "TOKEN",
            help:
                "Token (16+ characters) that opens POST /api/broadcast, /metrics and /observe to non-loopback clients.",
            secret: true, defaultText: "loopback clients only"
        ),

        // MARK: cluster
        Setting(
            "redis", .cluster, .text, placeholder: "URL",
            help: "redis://[:password@]host:port[/db]: join the cluster of every node using this Redis "
                + "(broadcasts reach them all); keep phx.kv there.",
            secret: true, defaultText: "none (one node, phx.kv in process)",
            check: { value in
                guard case .text(let url) = value else { return nil }
                do {
                    _ = try RedisConfiguration(url: url)
                    return nil
                } catch {
                    return "\(error)"
                }
            },
            read: { $0.redis.map { .text($0.url) } },
            write: { configuration, value in
                if case .text(let url) = value { configuration.redis = try? RedisConfiguration(url: url) }
            },
            copy: { $0.redis = $1.redis }
        ),
        Setting(
            "cluster", .cluster, .text, placeholder: "NAME",
            help: "Name of the cluster on that Redis (letters, digits, - and _): several clusters can share one Redis.",
            check: { value in
                guard case .text(let name) = value else { return nil }
                return ServerConfiguration.isValidClusterName(name)
                    ? nil : "\"\(name)\" is not 1 to 64 letters, digits, - or _"
            },
            read: { .text($0.clusterName) },
            write: { configuration, value in if case .text(let name) = value { configuration.clusterName = name } },
            copy: { $0.clusterName = $1.clusterName }
        ),
        Setting(
            "node-name", .cluster, .text, placeholder: "NAME",
            help: "This node's name in the cluster (letters, digits, ., - and _).",
            defaultText: "host name + 6 random characters, new at each start",
            check: { value in
                guard case .text(let name) = value else { return nil }
                return ServerConfiguration.isValidNodeName(name)
                    ? nil : "\"\(name)\" is not 1 to 64 letters, digits, ., - or _"
            },
            read: { $0.nodeName.map(SettingValue.text) },
            write: { configuration, value in if case .text(let name) = value { configuration.nodeName = name } },
            copy: { $0.nodeName = $1.nodeName }
        ),
        .fractionalSeconds(
            "node-down-after", .cluster, \.nodeDownAfter, range: 0.5...3_600,
            help: "A node silent this long is declared down by the others."),
        .fractionalSeconds(
            "heartbeat-interval", .cluster, \.heartbeatInterval, range: 0.05...600,
            help: "How often each node says it is alive (keep it well under --node-down-after)."),

        // MARK: observability
        .choice(
            "log-level", .observability, \.logLevel, placeholder: "LEVEL", help: "Least severe log messages shown.",
            reloadable: true
        ),
        .optionalToggle(
            "observe", .observability, \.observe, automatic: "on when --host is loopback",
            help: "Serve the observer feed /observe (every connection's handshake and frames)."
        ),
        .toggle(
            "trace", .observability, \.trace,
            help: "Print every WebSocket frame to stderr, wscat-style (c12 > … / c12 < …)."),
    ]
}
