import NIOCore

/// Builds raw client frames byte by byte, so tests can send what a well-behaved client never would.
public enum FrameBytes {
    public static func client(
        opcode: UInt8,
        _ payload: [UInt8],
        fin: Bool = true,
        rsv: UInt8 = 0,
        masked: Bool = true,
        mask: [UInt8] = [0x37, 0xFA, 0x21, 0x3D]
    ) -> [UInt8] {
        var bytes: [UInt8] = [(fin ? 0x80 : 0) | (rsv << 4) | opcode]
        let maskBit: UInt8 = masked ? 0x80 : 0
        switch payload.count {
        case 0..<126: bytes.append(maskBit | UInt8(payload.count))
        case 126...0xFFFF:
            bytes.append(maskBit | 126)
            bytes += [UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        default:
            bytes.append(maskBit | 127)
            bytes += (0..<8).reversed().map { UInt8(truncatingIfNeeded: payload.count >> ($0 * 8)) }
        }
        if masked {
            bytes += mask
            let start = bytes.count
            bytes += payload
            // In place over raw memory: debug builds are slow per byte, and flood tests mask megabytes.
            bytes.withUnsafeMutableBytes { out in
                for i in 0..<payload.count { out[start + i] ^= mask[i & 3] }
            }
        } else {
            bytes += payload
        }
        return bytes
    }

    public static func text(_ string: String, fin: Bool = true) -> [UInt8] { client(opcode: 1, Array(string.utf8), fin: fin) }

    public static func close(code: UInt16?, reason: String = "") -> [UInt8] {
        var payload: [UInt8] = []
        if let code { payload = [UInt8(code >> 8), UInt8(code & 0xFF)] + Array(reason.utf8) }
        return client(opcode: 8, payload)
    }
}

/// A server frame parsed from the bytes the connection wrote.
public struct ServerFrame: Equatable {
    public var fin: Bool
    public var rsv1: Bool
    public var opcode: UInt8
    public var payload: [UInt8]

    public init(fin: Bool, rsv1: Bool, opcode: UInt8, payload: [UInt8]) {
        self.fin = fin
        self.rsv1 = rsv1
        self.opcode = opcode
        self.payload = payload
    }

    public var closeCode: UInt16? {
        guard opcode == 8, payload.count >= 2 else { return nil }
        return UInt16(payload[0]) << 8 | UInt16(payload[1])
    }

    public var text: String { String(decoding: payload, as: UTF8.self) }

    /// Parses every complete frame in `bytes` (server frames are never masked).
    public static func parseAll(_ bytes: [UInt8]) -> [ServerFrame] {
        var rest = bytes[...]
        var frames: [ServerFrame] = []
        while let frame = parse(&rest) { frames.append(frame) }
        return frames
    }

    /// Parses the first frame of `bytes` and drops its bytes, or returns nil when it is incomplete.
    public static func parse(_ bytes: inout ArraySlice<UInt8>) -> ServerFrame? {
        let i = bytes.startIndex
        guard bytes.count >= 2 else { return nil }
        var length = Int(bytes[i + 1] & 0x7F)
        var header = 2
        if length == 126 {
            guard bytes.count >= 4 else { return nil }
            length = Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
            header = 4
        } else if length == 127 {
            guard bytes.count >= 10 else { return nil }
            length = (0..<8).reduce(0) { $0 << 8 | Int(bytes[i + 2 + $1]) }
            header = 10
        }
        guard bytes.count >= header + length else { return nil }
        let frame = ServerFrame(
            fin: bytes[i] & 0x80 != 0,
            rsv1: bytes[i] & 0x40 != 0,
            opcode: bytes[i] & 0x0F,
            payload: Array(bytes[(i + header)..<(i + header + length)])
        )
        bytes = bytes.dropFirst(header + length)
        return frame
    }
}
