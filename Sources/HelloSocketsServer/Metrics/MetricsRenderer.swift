import Cluster
import Foundation
import PhoenixChannels

/// Renders gathered metrics in the Prometheus text exposition format (version 0.0.4).
enum MetricsRenderer {
    struct ServerFigures {
        var webSocketConnections: Int
        var longPollSessions: Int
        var longPollEnds: [LongPollEnd: Int]
        var queuedOutboundBytes: Int
        /// Upgrades answered 429, by the limit they ran into.
        var tooManyRequests: [AddressLimiter.Reason: Int]
        var reloads: Int
        var reloadFailures: Int
        var uptimeSeconds: Double
    }

    /// Appends metrics in the text format.
    private struct Writer {
        var out = ""

        mutating func metric(_ name: String, _ type: String, _ help: String, _ samples: [(labels: String, value: String)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for s in samples { out += s.labels.isEmpty ? "\(name) \(s.value)\n" : "\(name){\(s.labels)} \(s.value)\n" }
        }

        mutating func one(_ name: String, _ type: String, _ help: String, _ value: Int) {
            metric(name, type, help, [("", "\(value)")])
        }

        mutating func histogram(_ name: String, _ help: String, _ h: LoopHistogram) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) histogram\n"
            var cumulative = 0
            for (i, bound) in h.bounds.enumerated() {
                cumulative += h.counts[i]
                out += "\(name)_bucket{le=\"\(MetricsRenderer.seconds(bound))\"} \(cumulative)\n"
            }
            cumulative += h.counts[h.bounds.count]
            out += "\(name)_bucket{le=\"+Inf\"} \(cumulative)\n"
            out += "\(name)_sum \(MetricsRenderer.seconds(h.sumNanoseconds))\n\(name)_count \(cumulative)\n"
        }
    }

    /// The cluster's figures (`--redis`), from the node's status.
    static func render(cluster status: ClusterNode.Status) -> String {
        var w = Writer()
        let c = status.counters
        w.one("hellosockets_cluster_nodes_up", "gauge", "Nodes of the cluster up, this one included.", status.nodesUp)
        w.one("hellosockets_cluster_nodes_down", "gauge", "Nodes heard from before, silent past --node-down-after.",
              status.nodes.count + 1 - status.nodesUp)
        w.metric("hellosockets_cluster_redis_connected", "gauge", "Whether each Redis connection is up (1) or not (0).", [
            ("connection=\"publisher\"", status.publisherConnected ? "1" : "0"),
            ("connection=\"subscriber\"", status.subscriberConnected ? "1" : "0"),
        ])
        w.one("hellosockets_cluster_messages_published_total", "counter", "Messages this node published to the cluster.",
              c.published)
        w.one("hellosockets_cluster_publish_failed_total", "counter",
              "Messages this node could not publish (Redis away, or the connection lost with them in flight).",
              c.publishFailed)
        w.one("hellosockets_cluster_messages_received_total", "counter",
              "Broadcasts from other nodes delivered to this node's subscribers.", c.received)
        w.metric("hellosockets_cluster_messages_lost_total", "counter",
                 "Messages from other nodes that never arrived here (gaps in their sequence numbers), by channel.",
                 ClusterNode.ChannelKind.allCases.map { ("channel=\"\($0.rawValue)\"", "\(c.lost[$0] ?? 0)") })
        w.metric("hellosockets_cluster_messages_dropped_total", "counter",
                 "Messages from other nodes not used, by reason (version, malformed, kind).",
                 ["version", "malformed", "kind"].map { ("reason=\"\($0)\"", "\(c.dropped[$0] ?? 0)") })
        w.histogram("hellosockets_cluster_lag_seconds",
                    "From publishing a broadcast to receiving it back from Redis: the leg every node pays.", c.lag)
        return w.out
    }

    /// LongPoll requests forwarded between nodes (`--redis`).
    static func render(longPollForwarding c: LongPollForwarder.Counters) -> String {
        var w = Writer()
        w.metric("hellosockets_longpoll_forwarded_total", "counter", """
            LongPoll requests whose session is on another node, forwarded there, by outcome (answered; no_session: \
            that node unknown, down or without the session; owner_down: it went down while the request waited; \
            timeout, unsent, full: answered 410; client_left: a poll withdrawn, its client gone).
            """, LongPollForwarder.outcomes.map { ("outcome=\"\($0)\"", "\(c.forwarded[$0] ?? 0)") })
        w.one("hellosockets_longpoll_forwards_pending", "gauge", "Forwarded LongPoll requests waiting for their answer.",
              c.pending)
        w.one("hellosockets_longpoll_forwards_served_total", "counter",
              "LongPoll requests other nodes forwarded here, answered.", c.served)
        w.histogram("hellosockets_longpoll_forwarded_send_seconds",
                    "Round trip of a forwarded POST: from publishing it to the owner's answer.", c.sendRoundTrip)
        return w.out
    }

    static func render(_ m: LoopMetrics, server: ServerFigures) -> String {
        var w = Writer()
        func metric(_ name: String, _ type: String, _ help: String, _ samples: [(labels: String, value: String)]) {
            w.metric(name, type, help, samples)
        }
        func one(_ name: String, _ type: String, _ help: String, _ value: Int) { w.one(name, type, help, value) }
        func histogram(_ name: String, _ help: String, _ h: LoopHistogram) { w.histogram(name, help, h) }
        one("hellosockets_websocket_connections", "gauge", "Open WebSocket connections (all endpoints).", server.webSocketConnections)
        one("hellosockets_longpoll_sessions", "gauge", "Open LongPoll sessions (all socket mounts).",
            server.longPollSessions)
        metric("hellosockets_longpoll_sessions_ended_total", "counter",
               "LongPoll sessions ended, by reason (timeout: not polled for 1.5 windows; "
                   + "overflow: past --max-outbound-buffer; rate_limited: over --client-message-rate past the grace).",
               LongPollEnd.allCases.map { ("reason=\"\($0.rawValue)\"", "\(server.longPollEnds[$0] ?? 0)") })
        metric("hellosockets_channels_joined", "gauge", "Joined channels by the topic pattern of their script.",
               m.joinedByPattern.sorted { $0.key < $1.key }.map { ("pattern=\"\(escape($0.key))\"", "\($0.value)") })
        one("hellosockets_messages_in_total", "counter", "Phoenix messages received from clients.", m.messagesIn)
        one("hellosockets_messages_out_total", "counter", "Phoenix frames sent to clients (replies, pushes, broadcasts).", m.messagesOut)
        one("hellosockets_bytes_in_total", "counter", "Payload bytes of the Phoenix messages received.", m.bytesIn)
        one("hellosockets_bytes_out_total", "counter", "Payload bytes of the Phoenix frames sent.", m.bytesOut)
        metric("hellosockets_replies_total", "counter", "phx_reply frames sent, by status.",
               [("status=\"ok\"", "\(m.repliesOK)"), ("status=\"error\"", "\(m.repliesError)"), ("status=\"other\"", "\(m.repliesOther)")])
        histogram("hellosockets_lua_callback_seconds", "Time in Lua channel callbacks (join, handle_in).", m.callbackTime)
        one("hellosockets_broadcasts_total", "counter", "Broadcasts fanned out (counted once per event loop).", m.broadcasts)
        one("hellosockets_broadcast_deliveries_total", "counter", "Broadcast deliveries to subscribers.", m.broadcastDeliveries)
        histogram("hellosockets_broadcast_fanout_seconds", "One event loop's fan-out of one broadcast to its subscribers.", m.fanoutTime)
        metric("hellosockets_websocket_closes_total", "counter", "Phoenix socket closes by WebSocket close code (none: no close frame).",
               m.closesByCode.sorted { $0.key < $1.key }.map { ("code=\"\($0.key)\"", "\($0.value)") })
        one("hellosockets_outbound_queued_bytes", "gauge", "Bytes queued for sending to open connections, not yet taken by the kernel.",
            server.queuedOutboundBytes)
        one("hellosockets_outbound_queue_peak_bytes", "gauge",
            "Largest outbound queue of a closed Phoenix socket that went past --max-outbound-buffer (0: none did).",
            m.peakQueuedBytesPastMark)
        one("hellosockets_throttled_sockets", "gauge",
            "Phoenix sockets not being read now because they are over --client-message-rate.", m.throttledSockets)
        metric("hellosockets_throttle_seconds_total", "counter",
               "Seconds Phoenix sockets spent unread for being over the message rate.",
               [("", seconds(m.throttledNanoseconds))])
        one("hellosockets_rate_limit_closes_total", "counter",
            "Phoenix sockets closed (1008) for staying over the message rate past --client-throttle-grace.",
            m.rateLimitCloses)
        one("hellosockets_joins_rate_limited_total", "counter", "Joins answered rate limited (--join-rate).",
            m.joinsRateLimited)
        metric("hellosockets_http_429_total", "counter", "WebSocket upgrades refused with 429, by reason.",
               AddressLimiter.Reason.allCases.map {
                   ("reason=\"\($0.rawValue)\"", "\(server.tooManyRequests[$0] ?? 0)")
               })
        one("hellosockets_script_errors_total", "counter", "Channel script crashes (join, callbacks, timers).", m.scriptErrors)
        one("hellosockets_http_requests_total", "counter", "phx.http.request calls finished (answered or failed).", m.httpRequests)
        one("hellosockets_http_errors_total", "counter", "phx.http.request calls that failed (not allowed, refused, timeout…).",
            m.httpErrors)
        histogram("hellosockets_http_request_seconds", "phx.http.request time, from the call to the answer.", m.httpTime)
        metric("hellosockets_reloads_total", "counter", "Hot reloads of channel scripts, by result.",
               [("result=\"ok\"", "\(server.reloads)"), ("result=\"failed\"", "\(server.reloadFailures)")])
        metric("hellosockets_uptime_seconds", "gauge", "Seconds since the server started.", [("", "\(server.uptimeSeconds)")])
        return w.out
    }

    private static func seconds(_ nanoseconds: Int64) -> String { "\(Double(nanoseconds) / 1e9)" }

    private static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }
}
