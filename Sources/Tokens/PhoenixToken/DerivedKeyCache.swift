import Crypto
import NIOConcurrencyHelpers

/// The key of each salt, derived once and shared by every event loop (Plug.Crypto keeps them in an
/// ETS table): PBKDF2's thousand rounds cost about a millisecond, a lookup a lock and a hash.
final class DerivedKeyCache: Sendable {
    /// Salts kept at most; past it one is forgotten (scripts use a few fixed salts; a salt per user would
    /// only make each verify pay for its derivation again).
    static let capacity = 256

    private let keys = NIOLockedValueBox<[String: SymmetricKey]>([:])

    /// The key for `salt`, from the cache or from `derive` (run outside the lock: two loops asking for a
    /// new salt at once may both derive it, with the same result).
    func key(salt: String, derive: () -> SymmetricKey) -> SymmetricKey {
        if let key = keys.withLockedValue({ $0[salt] }) { return key }
        let key = derive()
        keys.withLockedValue { keys in
            if keys.count >= Self.capacity, let evicted = keys.keys.first { keys.removeValue(forKey: evicted) }
            keys[salt] = key
        }
        return key
    }
}
