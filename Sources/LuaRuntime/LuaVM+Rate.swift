import CLua
import CLuaShim
import Dispatch
import RateLimiting

/// The native behind `phx.rate`: token buckets a channel keeps by key, on its host's clock.
extension LuaVM {
    /// `phx.rate(socket, key, per_second, burst)`: takes a token from the channel's bucket named `key`
    /// (made full at first use, burst defaulting to the rate); true when there was one.
    func rate() -> Int32 {
        guard let id = channel(forSocketAt: 1), let state = channels[id] else {
            return fail("bad argument #1 to 'rate' (socket expected, got \(describe(at: 1)))")
        }
        guard let key = string(at: 2) else {
            return fail("bad argument #2 to 'rate' (string key expected, got \(describe(at: 2)))")
        }
        guard lua_type(L, 3) == LUA_TNUMBER, hs_tonumber(L, 3) > 0, hs_tonumber(L, 3).isFinite else {
            return fail("bad argument #3 to 'rate' (per_second expected: a number > 0)")
        }
        let perSecond = hs_tonumber(L, 3)
        var burst = max(1, perSecond.rounded(.up))
        if lua_type(L, 4) == LUA_TNUMBER {
            burst = hs_tonumber(L, 4)
            guard burst >= 1, burst.isFinite else {
                return fail("bad argument #4 to 'rate' (burst expected: a number >= 1)")
            }
        } else if lua_type(L, 4) > LUA_TNIL {
            return fail("bad argument #4 to 'rate' (burst: number expected, got \(describe(at: 4)))")
        }
        let now = state.host?.monotonicNanoseconds ?? DispatchTime.now().uptimeNanoseconds
        var bucket: TokenBucket
        if let existing = state.rateBuckets[key] {
            bucket = existing
            if bucket.ratePerSecond != perSecond || bucket.burst != burst {
                bucket.reconfigure(ratePerSecond: perSecond, burst: burst, now: now)
            }
        } else {
            if state.rateBuckets.count >= Self.maxRateKeysPerChannel {
                // A full bucket is the same as a new one: forget those before refusing a new key.
                channels[id]?.rateBuckets = state.rateBuckets.filter { _, bucket in
                    var bucket = bucket
                    bucket.refill(now: now)
                    return !bucket.isFull
                }
                guard (channels[id]?.rateBuckets.count ?? 0) < Self.maxRateKeysPerChannel else {
                    return fail("too many phx.rate keys in use on one channel (at most \(Self.maxRateKeysPerChannel))")
                }
            }
            bucket = TokenBucket(ratePerSecond: perSecond, burst: burst, now: now)
        }
        let allowed = bucket.take(now: now)
        channels[id]?.rateBuckets[key] = bucket
        lua_pushboolean(L, allowed ? 1 : 0)
        return 1
    }

    /// Distinct `phx.rate` keys one channel may hold (each a few bytes outside the VM's memory cap).
    static let maxRateKeysPerChannel = 256
}
