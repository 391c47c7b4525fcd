#!/usr/bin/env python3
"""A stand-in for your application's backend: it mints the tokens a web page would be given to open a socket.

Two kinds, both with the standard library only:

    # Phoenix.Token, as `Phoenix.Token.sign(MyAppWeb.Endpoint, "user socket", 42)` would:
    python3 backend.py phoenix --secret-key-base "$SECRET_KEY_BASE" --salt 'user socket' 42

    # A JWT (HS256), as any JWT library would:
    python3 backend.py jwt --secret "$JWT_SECRET" --sub 42 --iss example-backend --aud hello-sockets --ttl 3600

Each prints one token. HelloSockets verifies the first with phx.token.verify (same secret_key_base) and the
second with phx.jwt.verify (same --jwt-secret); examples/backend_tokens/channels/socket.lua does both.

The Phoenix format (Plug.Crypto.sign) spelled out, so it can be written in any language:

    key     = PBKDF2-HMAC-SHA256(secret_key_base, salt, 1000 iterations, 32 bytes)
    payload = term_to_binary({data, signed_at_ms, max_age_s})      # Erlang's external term format
    text    = "SFMyNTY." + base64url(payload)                       # unpadded; "SFMyNTY" is base64("HS256")
    token   = text + "." + base64url(HMAC-SHA256(key, text))
"""
import argparse
import base64
import hashlib
import hmac
import json
import struct
import sys
import time


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


# --- Erlang's external term format, for JSON values (what term_to_binary writes for them) -------------------

def term(value):
    """The encoding of one JSON value as the term a Phoenix app would hold for it (without the version byte)."""
    if value is None or isinstance(value, bool):
        name = {None: b"nil", True: b"true", False: b"false"}[value]
        return b"w" + bytes([len(name)]) + name                      # SMALL_ATOM_UTF8_EXT
    if isinstance(value, int):
        if 0 <= value <= 255:
            return b"a" + bytes([value])                             # SMALL_INTEGER_EXT
        if -2**31 <= value < 2**31:
            return b"b" + struct.pack(">i", value)                   # INTEGER_EXT
        digits = abs(value).to_bytes((abs(value).bit_length() + 7) // 8, "little")
        return b"n" + bytes([len(digits), 1 if value < 0 else 0]) + digits   # SMALL_BIG_EXT
    if isinstance(value, float):
        return b"F" + struct.pack(">d", value)                       # NEW_FLOAT_EXT
    if isinstance(value, str):
        data = value.encode("utf-8")
        return b"m" + struct.pack(">I", len(data)) + data            # BINARY_EXT: an Elixir string
    if isinstance(value, list):
        if not value:
            return b"j"                                              # NIL_EXT: []
        if len(value) < 65536 and all(type(v) is int and 0 <= v <= 255 for v in value):
            return b"k" + struct.pack(">H", len(value)) + bytes(value)   # STRING_EXT: a list of bytes
        return b"l" + struct.pack(">I", len(value)) + b"".join(term(v) for v in value) + b"j"  # LIST_EXT
    if isinstance(value, dict):
        # MAP_EXT; a small map's keys in Erlang's order, which for binaries is byte order.
        keys = sorted(value, key=lambda k: k.encode("utf-8"))
        return b"t" + struct.pack(">I", len(keys)) + b"".join(term(k) + term(value[k]) for k in keys)
    raise TypeError(f"cannot sign {value!r}")


def phoenix_token(secret_key_base, salt, data, signed_at=None, max_age=86400):
    key = hashlib.pbkdf2_hmac("sha256", secret_key_base.encode(), salt.encode(), 1000, 32)
    signed_at_ms = int((time.time() if signed_at is None else signed_at) * 1000)
    payload = b"\x83" + b"h\x03" + term(data) + term(signed_at_ms) + term(max_age)   # {data, signed_at, max_age}
    text = "SFMyNTY." + b64url(payload)
    return text + "." + b64url(hmac.new(key, text.encode(), hashlib.sha256).digest())


# --- JWT (RFC 7519) with HMAC ----------------------------------------------------------------------------------

def jwt(secret, claims, alg="HS256", header_extra=None):
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    header = {"alg": alg, "typ": "JWT", **(header_extra or {})}
    text = b64url(json.dumps(header, separators=(",", ":")).encode()) + "." + \
        b64url(json.dumps(claims, separators=(",", ":")).encode())
    return text + "." + b64url(hmac.new(secret.encode(), text.encode(), digest).digest())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    kinds = parser.add_subparsers(dest="kind", required=True)

    phoenix = kinds.add_parser("phoenix", help="a Phoenix.Token")
    phoenix.add_argument("--secret-key-base", required=True, help="the secret_key_base HelloSockets shares")
    phoenix.add_argument("--salt", default="user socket")
    phoenix.add_argument("--signed-at", type=float, help="seconds since 1970 (default: now)")
    phoenix.add_argument("--max-age", type=int, default=86400, help="seconds, carried in the token")
    phoenix.add_argument("data", help="the data, as JSON: 42, \"ana\", {\"user_id\": 7}")

    web = kinds.add_parser("jwt", help="a JWT signed with HMAC")
    web.add_argument("--secret", required=True, help="the secret HelloSockets has as --jwt-secret")
    web.add_argument("--alg", default="HS256", choices=["HS256", "HS384", "HS512"])
    web.add_argument("--sub", required=True, help="the user the token is for")
    web.add_argument("--iss", help="issuer claim")
    web.add_argument("--aud", help="audience claim")
    web.add_argument("--ttl", type=float, default=3600, help="seconds until exp (negative: already expired)")
    web.add_argument("--nbf", type=float, help="not-before, in seconds from now")
    web.add_argument("--claims", default="{}", help="more claims, as a JSON object")
    web.add_argument("--header", default="{}", help="more header fields, as a JSON object (e.g. {\"kid\":\"k1\"})")

    args = parser.parse_args()
    if args.kind == "phoenix":
        print(phoenix_token(args.secret_key_base, args.salt, json.loads(args.data), args.signed_at, args.max_age))
    else:
        now = int(time.time())
        claims = {"sub": args.sub, "iat": now, "exp": now + int(args.ttl), **json.loads(args.claims)}
        if args.iss is not None:
            claims["iss"] = args.iss
        if args.aud is not None:
            claims["aud"] = args.aud
        if args.nbf is not None:
            claims["nbf"] = now + int(args.nbf)
        print(jwt(args.secret, claims, args.alg, json.loads(args.header)))


if __name__ == "__main__":
    sys.exit(main())
