import Foundation
import PhoenixProtocol
import Tokens
import XCTest

/// Outside programs that make tokens at test time: the example's Python backend stand-in (Phoenix.Token,
/// HS256 with the standard library's hmac) and the openssl command line (RSA and P-256 keys, RS256 and
/// ES256 signatures).
enum TokenTools {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let backend = root.appendingPathComponent("examples/backend_tokens/backend.py").path

    struct Failed: Error, CustomStringConvertible {
        let command: [String]
        let output: String
        var description: String { "\(command.joined(separator: " ")) failed: \(output)" }
    }

    /// Runs a program found on PATH with `input` on stdin; its stdout (stderr goes into the error).
    @discardableResult
    static func run(_ arguments: [String], input: [UInt8] = []) throws -> [UInt8] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        stdin.fileHandleForWriting.write(Data(input))
        try stdin.fileHandleForWriting.close()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        let errors = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failed(command: arguments, output: String(decoding: errors, as: UTF8.self))
        }
        return Array(output)
    }

    /// `backend.py ARGUMENTS`: one token.
    static func python(_ arguments: [String]) throws -> String {
        String(decoding: try run(["python3", backend] + arguments), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A key pair made by openssl in `directory`, with its public half as a JWK.
    struct Key {
        let alg: String
        let pem: String
        let jwk: [String: JSONValue]

        /// A JWT signed by `openssl dgst -sha256 -sign` (ES256: the DER signature turned into r || s).
        func sign(_ claims: JSONValue, header: [String: JSONValue] = [:]) throws -> String {
            var fields = header
            fields["alg"] = fields["alg"] ?? .string(alg)
            let input = Base64URL.encode(try JSONWriter.encode(.object(fields))) + "." + Base64URL.encode(try JSONWriter.encode(claims))
            var signature = try run(["openssl", "dgst", "-sha256", "-sign", pem], input: Array(input.utf8))
            if alg == "ES256" { signature = try rawECDSA(der: signature) }
            return input + "." + Base64URL.encode(signature)
        }
    }

    static func rsaKey(in directory: URL, kid: String?) throws -> Key {
        let pem = directory.appendingPathComponent("rsa-\(UUID().uuidString).pem").path
        try run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", pem])
        let modulus = String(decoding: try run(["openssl", "rsa", "-in", pem, "-noout", "-modulus"]), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "Modulus=", with: "")
        let text = String(decoding: try run(["openssl", "rsa", "-in", pem, "-noout", "-text"]), as: UTF8.self)
        let exponentLine = try XCTUnwrap(text.split(separator: "\n").first { $0.hasPrefix("publicExponent:") })
        let exponent = try XCTUnwrap(UInt64(exponentLine.split(separator: " ")[1]))
        var jwk: [String: JSONValue] = [
            "kty": .string("RSA"), "alg": .string("RS256"), "use": .string("sig"),
            "n": .string(Base64URL.encode(bytes(hex: modulus))),
            "e": .string(Base64URL.encode(bigEndian(exponent))),
        ]
        if let kid { jwk["kid"] = .string(kid) }
        return Key(alg: "RS256", pem: pem, jwk: jwk)
    }

    static func ecKey(in directory: URL, kid: String?) throws -> Key {
        let pem = directory.appendingPathComponent("ec-\(UUID().uuidString).pem").path
        try run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", pem])
        let der = try run(["openssl", "pkey", "-in", pem, "-pubout", "-outform", "DER"])
        let point = der.suffix(65)  // SubjectPublicKeyInfo ends with the uncompressed point 04 || X || Y
        XCTAssertEqual(point.first, 4)
        var jwk: [String: JSONValue] = [
            "kty": .string("EC"), "crv": .string("P-256"), "alg": .string("ES256"),
            "x": .string(Base64URL.encode(point.dropFirst().prefix(32))),
            "y": .string(Base64URL.encode(point.suffix(32))),
        ]
        if let kid { jwk["kid"] = .string(kid) }
        return Key(alg: "ES256", pem: pem, jwk: jwk)
    }

    /// A JWKS document of these keys' public halves.
    static func jwks(_ keys: [Key], extra: [JSONValue] = []) throws -> Data {
        Data(try JSONWriter.encode(.object(["keys": .array(keys.map { .object($0.jwk) } + extra)])))
    }

    /// ECDSA-Sig-Value (SEQUENCE { INTEGER r, INTEGER s }) as JWS wants it: r and s, 32 bytes each.
    static func rawECDSA(der: [UInt8]) throws -> [UInt8] {
        var index = 2  // SEQUENCE, length (< 128 for P-256)
        var raw: [UInt8] = []
        for _ in 0..<2 {
            guard index + 2 <= der.count, der[index] == 0x02 else { throw Failed(command: ["DER"], output: "\(der)") }
            let length = Int(der[index + 1])
            var integer = Array(der[(index + 2)..<(index + 2 + length)])
            while integer.count > 32, integer.first == 0 { integer.removeFirst() }
            raw += [UInt8](repeating: 0, count: 32 - integer.count) + integer
            index += 2 + length
        }
        return raw
    }

    static func bytes(hex: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            bytes.append(UInt8(hex[index..<next], radix: 16) ?? 0)
            index = next
        }
        return bytes
    }

    static func bigEndian(_ value: UInt64) -> [UInt8] {
        var bytes: [UInt8] = []
        var rest = value
        while rest > 0 {
            bytes.insert(UInt8(rest & 0xFF), at: 0)
            rest >>= 8
        }
        return bytes
    }
}
