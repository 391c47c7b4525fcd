import Foundation
import PhoenixProtocol
import Tokens
import XCTest

/// Against Erlang itself (OTP's term_to_binary, binary_to_term, crypto:pbkdf2_hmac and crypto:mac: the calls
/// Plug.Crypto makes for Phoenix.Token): tokens Erlang signs verify here to the expected JSON, and Erlang
/// verifies ours, reads the terms we meant, and writes them back to our exact bytes.
final class ErlangInteropTests: XCTestCase {
    static let keyBase = String(repeating: "k", count: 64)

    /// The escript prelude: the key, unpadded base64url, and the token layout.
    static let prelude = """
        key() -> crypto:pbkdf2_hmac(sha256, <<"\(keyBase)">>, <<"user socket">>, 1000, 32).
        b64(Bin) ->
            B = binary:replace(binary:replace(base64:encode(Bin), <<"+">>, <<"-">>, [global]), <<"/">>, <<"_">>, [global]),
            binary:replace(B, <<"=">>, <<>>, [global]).
        unb64(Text) ->
            B = binary:replace(binary:replace(Text, <<"-">>, <<"+">>, [global]), <<"_">>, <<"/">>, [global]),
            base64:decode(<<B/binary, (binary:copy(<<"=">>, (4 - byte_size(B) rem 4) rem 4))/binary>>).
        """

    func escript(_ body: String) throws -> String {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("interop-\(UUID().uuidString).erl")
        try ("#!/usr/bin/env escript\n%%! -noshell\n" + Self.prelude + "\n" + body).write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        return String(decoding: try TokenTools.run(["escript", file.path]), as: UTF8.self)
    }

    func testTokensErlangSignsVerifyHere() throws {
        let cases: [(erlang: String, json: JSONValue)] = [
            ("42", .integer(42)),
            ("-7", .integer(-7)),
            ("1795000000000", .integer(1_795_000_000_000)),
            ("-123456789012", .integer(-123_456_789_012)),
            ("123456789012345678901234567890", .double(Double("123456789012345678901234567890")!)),
            ("-36893488147419103233", .double(-36_893_488_147_419_103_232)),  // -(2^65 + 1): rounds to -2^65
            ("1.5", .double(1.5)),
            ("nil", .null),
            ("true", .bool(true)),
            ("admin", .string("admin")),
            ("<<\"ana ✓\"/utf8>>", .string("ana ✓")),
            ("\"abc\"", .array([.integer(97), .integer(98), .integer(99)])),
            ("[]", .array([])),
            ("[a, <<\"b\">>, 3, [4.0]]", .array([.string("a"), .string("b"), .integer(3), .array([.double(4)])])),
            ("{ok, 1}", .array([.string("ok"), .integer(1)])),
            ("#{user_id => 7, <<\"name\">> => <<\"ana\">>}", .object(["user_id": .integer(7), "name": .string("ana")])),
            ("#{<<\"deep\">> => #{list => [nil, false, {}]}}",
             .object(["deep": .object(["list": .array([.null, .bool(false), .array([])])])])),
            ("maps:from_list([{integer_to_binary(N), N} || N <- lists:seq(1, 40)])",  // a large (hash) map
             .object(Dictionary(uniqueKeysWithValues: (1...40).map { ("\($0)", JSONValue.integer(Int64($0))) }))),
        ]
        let output = try escript("""
            main(_) ->
                Now = erlang:system_time(millisecond),
                lists:foreach(fun(Data) ->
                    Text = <<"SFMyNTY.", (b64(term_to_binary({Data, Now, 86400})))/binary>>,
                    io:format("~s.~s~n", [Text, b64(crypto:mac(hmac, sha256, key(), Text))])
                end, [\(cases.map(\.erlang).joined(separator: ",\n        "))]).
            """)
        let tokens = output.split(separator: "\n").map(String.init)
        XCTAssertEqual(tokens.count, cases.count, output)
        let signer = try TokenSigner(secretKeyBase: Self.keyBase)
        for (token, expected) in zip(tokens, cases) {
            XCTAssertEqual(try signer.verify(salt: "user socket", token: token), expected.json, expected.erlang)
        }
        // What Erlang signs for data with no JSON form.
        let refused = try escript("""
            main(_) ->
                Now = erlang:system_time(millisecond),
                lists:foreach(fun(Data) ->
                    Text = <<"SFMyNTY.", (b64(term_to_binary({Data, Now, 86400})))/binary>>,
                    io:format("~s.~s~n", [Text, b64(crypto:mac(hmac, sha256, key(), Text))])
                end, [self(), make_ref(), fun() -> ok end, [1 | 2], <<1:3>>, #{1 => 2}, <<255>>]).
            """)
        for token in refused.split(separator: "\n") {
            XCTAssertThrowsError(try signer.verify(salt: "user socket", token: String(token))) {
                XCTAssertEqual($0 as? TokenSigner.Failure, .invalid)
            }
        }
    }

    func testErlangVerifiesOurTokens() throws {
        let cases: [(json: JSONValue, erlang: String)] = [
            (.integer(42), "42"),
            (.integer(-70_000), "-70000"),
            (.integer(.max), "9223372036854775807"),
            (.integer(.min), "-9223372036854775808"),
            (.double(0.1), "0.1"),
            (.string("ana ✓"), "<<\"ana ✓\"/utf8>>"),
            (.null, "nil"),
            (.bool(false), "false"),
            (.array([.integer(1), .integer(2), .integer(300)]), "[1, 2, 300]"),
            (.array([.integer(1), .integer(2)]), "[1, 2]"),
            (.object(["user_id": .integer(7), "name": .string("ana"), "roles": .array([.string("admin")])]),
             "#{<<\"user_id\">> => 7, <<\"name\">> => <<\"ana\">>, <<\"roles\">> => [<<\"admin\">>]}"),
            (.object([:]), "#{}"),
        ]
        let signer = try TokenSigner(secretKeyBase: Self.keyBase)
        let tokens = try cases.map { try signer.sign(salt: "user socket", data: $0.json) }
        let output = try escript("""
            main(_) ->
                Cases = [\(zip(tokens, cases).map { "{<<\"\($0.0)\">>, \($0.1.erlang)}" }.joined(separator: ",\n        "))],
                lists:foreach(fun({Token, Expected}) ->
                    [Protected, Payload, Mac] = binary:split(Token, <<".">>, [global]),
                    Text = <<Protected/binary, ".", Payload/binary>>,
                    true = crypto:hash_equals(crypto:mac(hmac, sha256, key(), Text), unb64(Mac)),
                    Bytes = unb64(Payload),
                    {Data, Signed, 86400} = binary_to_term(Bytes, [safe]),
                    true = is_integer(Signed),
                    Bytes = term_to_binary({Data, Signed, 86400}, [{minor_version, 2}]),
                    case Data =:= Expected of
                        true -> io:format("ok~n");
                        false -> io:format("~p is not ~p~n", [Data, Expected])
                    end
                end, Cases).
            """)
        XCTAssertEqual(output, String(repeating: "ok\n", count: cases.count))
    }
}
