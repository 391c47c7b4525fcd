import Tokens

/// Resource limits for one `LuaVM`, and the keys its token functions use.
///
/// The instruction budget applies to each callback separately (one `join`, one `handle_in`…)
/// and counts Lua VM instructions plus string-pattern matching steps. The memory cap applies to
/// the whole VM, i.e. to every channel living on one event loop.
public struct LuaLimits: Sendable, Equatable {
    /// Instructions one callback may run before it is stopped. Default 10 000 000.
    public var instructionBudget: Int
    /// Bytes the whole VM may allocate while script code runs. Default 64 MiB.
    public var memoryLimit: Int
    /// How deep a table may nest when converted to JSON. Default 64.
    public var maxValueDepth: Int
    /// Pushes, broadcasts and late replies one callback may send. Default 10 000: enough for any real
    /// fan-out, while a broadcast storm (a loop of `phx.broadcast`) fails fast instead of queueing
    /// millions of frames.
    public var maxSendsPerCallback: Int
    /// Signs and verifies `phx.token` tokens. Default: `$SECRET_KEY_BASE`, else a random secret for
    /// this process (the server sets it from `--secret-key-base`).
    public var tokenSigner: TokenSigner = .processDefault
    /// Verifies `phx.jwt.verify` tokens. Default: no keys, every token is "unknown key" (the server sets
    /// it from `--jwt-secret` / `--jwt-jwks`).
    public var jwtVerifier: JWTVerifier = .unconfigured

    /// Limits with the given values (defaults as documented on each property).
    public init(
        instructionBudget: Int = 10_000_000,
        memoryLimit: Int = 64 << 20,
        maxValueDepth: Int = 64,
        maxSendsPerCallback: Int = 10_000
    ) {
        self.instructionBudget = instructionBudget
        self.memoryLimit = memoryLimit
        self.maxValueDepth = maxValueDepth
        self.maxSendsPerCallback = maxSendsPerCallback
    }

    /// The memory limit as people read it: "64 MiB", or bytes when not a whole number of MiB.
    var memoryLimitDescription: String {
        memoryLimit % (1 << 20) == 0 ? "\(memoryLimit >> 20) MiB" : "\(memoryLimit) bytes"
    }
}
