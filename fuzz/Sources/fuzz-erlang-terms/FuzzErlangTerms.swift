import Foundation
import FuzzSupport
import PhoenixProtocol
import Tokens

/// A signer with a fixed secret: its PBKDF2 key for the one salt used here is derived once.
let signer = try! TokenSigner(secretKeyBase: String(repeating: "fuzz", count: 16))

/// ErlangTermFormat.decode on arbitrary bytes (a Phoenix.Token's payload): never crashes nor hangs; a decoded
/// term encodes to bytes that decode to the same term and encode again to the same bytes; a term with a JSON
/// form converts back (JSON → term → JSON is the identity) and, signed as a token's data, verifies to it.
/// The same bytes as a token string are refused without a crash.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzErlangTerms(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = fuzzInput(data, size)
    let bytes = Array(input)
    let text = String(decoding: bytes, as: UTF8.self)
    check((try? signer.verify(salt: "fuzz", token: text, maxAge: .infinity)) == nil, "arbitrary text verified", input: input)

    let term: ErlangTerm
    do {
        term = try ErlangTermFormat.decode(bytes)
    } catch {
        return 0
    }
    let encoded = ErlangTermFormat.encode(term)
    let again: ErlangTerm
    do {
        again = try ErlangTermFormat.decode(encoded, limits: .init(maxBytes: .max))
    } catch {
        propertyFailure("an encoded term does not decode: \(error)\nencoded: \(hex(encoded))", input: input)
    }
    check(again == term, "round trip changed the term:\n\(term)\n\(again)", input: input)
    check(ErlangTermFormat.encode(again) == encoded, "encoding is not stable: \(hex(encoded))", input: input)

    guard let json = term.json else { return 0 }
    check(ErlangTerm(json: json).json == json, "JSON → term → JSON changed \(json)", input: input)
    guard encoded.count < 16 << 10 else { return 0 }  // tokens stay well under the decoder's input bound
    do {
        let token = try signer.sign(salt: "fuzz", data: json)
        let verified = try signer.verify(salt: "fuzz", token: token)
        check(verified == json, "a signed token verified to \(verified), not \(json)", input: input)
    } catch {
        propertyFailure("signing or verifying \(json) failed: \(error)", input: input)
    }
    return 0
}
