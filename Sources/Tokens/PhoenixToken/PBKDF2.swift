import Crypto

/// PBKDF2 (RFC 8018 §5.2) with HMAC-SHA256 as its pseudo-random function: how Plug.Crypto's
/// KeyGenerator turns `secret_key_base` and a salt into a token key (1000 iterations, 32 bytes).
enum PBKDF2 {
    /// `length` bytes derived from `password` and `salt` in `iterations` rounds (at least 1).
    static func sha256(password: [UInt8], salt: [UInt8], iterations: Int, length: Int) -> [UInt8] {
        // The keyed HMAC is set up once and copied per round: its key schedule is not redone.
        let keyed = HMAC<SHA256>(key: SymmetricKey(data: password))
        var derived: [UInt8] = []
        derived.reserveCapacity(length + SHA256.byteCount)
        var blockIndex: UInt32 = 1
        while derived.count < length {
            var mac = keyed
            mac.update(data: salt)
            mac.update(data: [UInt8(blockIndex >> 24), UInt8(blockIndex >> 16 & 0xFF), UInt8(blockIndex >> 8 & 0xFF), UInt8(blockIndex & 0xFF)])
            var round = Array(mac.finalize())
            var block = round
            for _ in 1..<max(iterations, 1) {
                var next = keyed
                next.update(data: round)
                round = Array(next.finalize())
                for index in block.indices { block[index] ^= round[index] }
            }
            derived += block
            blockIndex += 1
        }
        return Array(derived.prefix(length))
    }
}
