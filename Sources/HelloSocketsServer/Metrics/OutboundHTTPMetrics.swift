import LuaRuntime
import PhoenixChannels
import NIOCore

extension Scheduled: ScriptCancellable {}

extension LoopMetrics {
    /// Counts one finished `phx.http.request` (`/metrics`).
    func record(_ call: HTTPCallRecord) {
        httpRequests &+= 1
        if case .failure = call.outcome { httpErrors &+= 1 }
        httpTime.record(nanoseconds: Int64(clamping: call.durationNanoseconds))
    }
}

extension HTTPCallRecord {
    /// `http GET http://127.0.0.1:4100/x → 200 in 3.2 ms (channels/room.lua:12, room:lobby)`, for `--trace`.
    var traceLine: String {
        let result: String
        switch outcome {
        case .success(let status): result = "\(status)"
        case .failure(let error): result = error.reason
        }
        let milliseconds = Double(durationNanoseconds / 1_000) / 1_000
        return "http \(method) \(url) → \(result) in \(milliseconds) ms (\(site)\(topic.map { ", \($0)" } ?? ""))"
    }
}
