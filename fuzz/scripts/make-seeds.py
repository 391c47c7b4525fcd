#!/usr/bin/env python3
"""Writes the seed corpus (fuzz/corpus/<target>/) from real examples: handshakes, client frames (masked,
fragmented, compressed), the JSON of Tests/HelloSocketsServerTests/Transcripts/, V2 binary pushes."""
import glob, hashlib, os, zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(os.path.dirname(HERE), "corpus")

def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
        f.write(data)

# --- fuzz-http-upgrade
KEY = "dGhlIHNhbXBsZSBub25jZQ=="
def req(lines, method="GET", path="/socket/websocket?vsn=2.0.0", version="HTTP/1.1"):
    return f"{method} {path} {version}\r\n" + "".join(l + "\r\n" for l in lines) + "\r\n"
base = ["Host: localhost:4000", "Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {KEY}", "Sec-WebSocket-Version: 13"]
put("fuzz-http-upgrade", req(base))
put("fuzz-http-upgrade", req(base + ["Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"]))
put("fuzz-http-upgrade", req(base + ["Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10; client_max_window_bits=12, permessage-deflate"]))
put("fuzz-http-upgrade", req(base + ["Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=\"9\""]))
put("fuzz-http-upgrade", req(base + ["Sec-WebSocket-Extensions: x-webkit-deflate-frame", "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=8"]))
put("fuzz-http-upgrade", req(["Host: a", "Upgrade: WebSocket", "Connection: keep-alive, Upgrade", f"Sec-WebSocket-Key:  {KEY} ", "Sec-WebSocket-Version: 13", "Origin: http://localhost"]))
put("fuzz-http-upgrade", req(base[:-1] + ["Sec-WebSocket-Version: 8"]))
put("fuzz-http-upgrade", req(base[:-1] + ["Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8"]))
put("fuzz-http-upgrade", req(base[:3] + ["Sec-WebSocket-Key: short", "Sec-WebSocket-Version: 13"]))
put("fuzz-http-upgrade", req(base, method="POST"))
put("fuzz-http-upgrade", req(base, version="HTTP/1.0"))
put("fuzz-http-upgrade", req(["Host: a"], path="/"))
put("fuzz-http-upgrade", req(base) + req(base + ["Sec-WebSocket-Extensions: permessage-deflate"]))
put("fuzz-http-upgrade", req(base) + "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58")

# --- fuzz-ws-frames: [options, read size] + client frames
def frame(opcode, payload, fin=True, rsv=0, mask=b"\x37\xfa\x21\x3d", masked=True):
    b = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    n = len(payload)
    m = 0x80 if masked else 0
    if n < 126: b += bytes([m | n])
    elif n <= 0xFFFF: b += bytes([m | 126]) + n.to_bytes(2, "big")
    else: b += bytes([m | 127]) + n.to_bytes(8, "big")
    if masked:
        b += mask + bytes(p ^ mask[i % 4] for i, p in enumerate(payload))
    else:
        b += payload
    return b
def deflate(data):
    c = zlib.compressobj(wbits=-15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]
def ws(options, readsize, *frames):
    put("fuzz-ws-frames", bytes([options, readsize]) + b"".join(frames))
hello = '["1","1","ping","phx_join",{}]'.encode()
ws(0, 0, frame(1, b"Hello"))
ws(0, 3, frame(1, hello), frame(9, b"ping!"), frame(8, (1000).to_bytes(2, "big") + b"bye"))
ws(0, 0, frame(1, "h\u00e9l".encode()[:2], fin=False), frame(0, "h\u00e9l".encode()[2:], fin=False), frame(9, b""), frame(0, b"lo"))
ws(0, 0, frame(2, bytes(range(256))), frame(2, b"x" * 70000))
ws(4, 0, frame(1, b"a" * 2000))
ws(0, 0, frame(1, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited"))
ws(0, 0, frame(8, b"\x03\xe8\xff"))
ws(0, 0, frame(8, (1005).to_bytes(2, "big")))
ws(0, 0, frame(8, b"\x03"))
ws(0, 0, frame(1, b"unmasked", masked=False))
ws(0, 0, frame(1, b"rsv", rsv=2))
ws(0, 0, frame(0xB, b""))
ws(0, 0, frame(9, b"x" * 126))
ws(1, 0, frame(1, deflate(hello), rsv=4))
ws(9, 5, frame(1, deflate(b"Hello" * 100), rsv=4), frame(1, deflate(b"Hello again" * 30), rsv=4))
ws(3, 0, frame(2, deflate(bytes(range(256)) * 4)[:40], rsv=4, fin=False), frame(0, deflate(bytes(range(256)) * 4)[40:]))
ws(5, 0, frame(1, deflate(b"a" * 100000), rsv=4))
ws(1, 0, frame(1, b"\xff\xff\xff", rsv=4))
ws(0, 0, frame(1, hello, rsv=4))
ws(1, 0, frame(1, deflate("é".encode() * 200), rsv=4), frame(8, b""))

# --- JSON from the transcripts
jsons = []
for path in sorted(glob.glob(os.path.join(ROOT, "Tests/HelloSocketsServerTests/Transcripts/*.txt"))):
    for line in open(path, encoding="utf-8"):
        if line.startswith("send ") or line.startswith("recv "):
            jsons.append(line[5:].rstrip("\n"))
extra = ['{"a":[1,2.5,-0.0,1e300,1.0e-7,12345678901234567890],"b":null,"c":true,"d":false}',
         '"\\u00e9\\ud83d\\ude00\\n\\t\\"\\\\\\/\\b\\f\\r\\u0001"', '[[[[[[[[[[]]]]]]]]]]', '{"":{},"x":[]}',
         '-9223372036854775808', '9223372036854775808', '0.1', '1E+2', ' [ 1 , "é" ] ', '"\x7f"', '{"k":"v","k":"w"}']
for j in jsons + extra:
    put("fuzz-json", j)
    put("fuzz-lua-values", j)
    put("fuzz-phoenix", b"\x00" + j.encode())
    put("fuzz-phoenix", b"\x01" + j.encode())
put("fuzz-lua-values", '{"deep":' + "[" * 70 + "]" * 70 + "}")
put("fuzz-lua-values", '{"n":[null,1,2.0,"three",{"four":[]}],"s":"nul\\u0000byte"}')

# --- V2 binary pushes (client layout)
def push(jr, ref, topic, event, data):
    fields = [x.encode() for x in (jr, ref, topic, event)]
    return bytes([0] + [len(f) for f in fields]) + b"".join(fields) + data
put("fuzz-phoenix", b"\x02" + push("1", "2", "room:lobby", "file", b"\x00\x01\x02\xff"))
put("fuzz-phoenix", b"\x02" + push("", "", "ping", "binary", b""))
put("fuzz-phoenix", b"\x02" + push("12", "345", "t\u00e9", "e" * 255, bytes(range(256))))
put("fuzz-phoenix", b"\x02" + bytes([1, 1, 1, 1, 1]) + b"abcd")
put("fuzz-phoenix", b"\x02" + bytes([0, 9, 9, 9, 9]))

# --- fuzz-erlang-terms: Phoenix.Token payloads (term_to_binary({data, signed_at_ms, max_age})), spelled by the
# example backend's encoder, and the shapes the decoder must read or refuse
import base64, importlib.util, json as jsonlib
spec = importlib.util.spec_from_file_location("backend", os.path.join(ROOT, "examples/backend_tokens/backend.py"))
backend = importlib.util.module_from_spec(spec)
spec.loader.exec_module(backend)
for token in ["SFMyNTY.g2gDYSpuBgAAXlbuoQFiAAFRgA.W6L3um0B-XdARtGQWnQLTv1I99rZ35L1nxzjW1L0czg",
              "SFMyNTY.g2gDdAAAAAJtAAAABG5hbWVtAAAAA2FuYW0AAAAHdXNlcl9pZGEHbgYAAF5W7qEBYgABUYA.ixvHooI1ksi_iOJMix0eVoq3fbk6ZiKnaZd2BEbDmbo",
              "SFMyNTY.g2gDbQAAAAN1LTluBgAAXlbuoQFiAAAOEA.n-0NSZsv0ahHhm3hjC328m3ELI3c4HElTI_NAO97lCA"]:
    payload = token.split(".")[1]
    put("fuzz-erlang-terms", base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
for value in [None, True, -1, 300, 2**40, -2**70, 1.5, "ana ✓", [], [1, 2, 3], [1, "a", None], {"user_id": 7, "roles": ["a"]},
              {"deep": [[[{"x": [0.25]}]]]}]:
    put("fuzz-erlang-terms", b"\x83" + backend.term(value))
for shape in ["83 64 00 04 74 72 75 65", "83 73 03 6e 69 6c", "83 76 00 02 6f 6b", "83 69 00 00 00 01 61 07",
              "83 6f 00 00 00 02 00 01 01", "83 63" + " 31 2e 35" + " 00" * 27, "83 6c 00 00 00 01 61 01 61 02",
              "83 58 77 01 61 00 00 00 01 00 00 00 00 00 00 00 00", "83 68 02 74 00 00 00 01 61 01 61 02 6a",
              "83 74 00 00 00 02 77 04 64 61 74 61 61 01 77 06 73 69 67 6e 65 64 61 02"]:
    put("fuzz-erlang-terms", bytes(int(x, 16) for x in shape.split()))

# --- fuzz-resp: [options (0x80: tight bounds; low 6 bits: read size - 1)] + a server's reply stream
def resp(options, *replies):
    put("fuzz-resp", bytes([options]) + b"".join(r.encode() if isinstance(r, str) else r for r in replies))
def bulk(b):
    b = b.encode() if isinstance(b, str) else b
    return b"$%d\r\n%s\r\n" % (len(b), b)
def arr(*items):
    return b"*%d\r\n" % len(items) + b"".join(i.encode() if isinstance(i, str) else i for i in items)
resp(0, "+OK\r\n", "-ERR unknown command 'FOO'\r\n", ":42\r\n", ":-9223372036854775808\r\n", bulk("hello"), "$-1\r\n")
resp(2, arr(bulk("a"), arr(":1\r\n", arr()), "$-1\r\n"), "*-1\r\n", arr(bulk(b"\x00\r\n\xff")))
resp(0, arr(bulk("subscribe"), bulk("news"), ":1\r\n"), arr(bulk("message"), bulk("news"), bulk(b"\x00\x01payload")),
     arr(bulk("pmessage"), bulk("n*"), bulk("news"), bulk("x")), arr(bulk("pong"), bulk("")))
resp(6, "_\r\n#t\r\n,3.25\r\n,-inf\r\n,nan\r\n(-123456789012345678901234567890\r\n%1\r\n+k\r\n~2\r\n:1\r\n:2\r\n",
     ">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\np\r\n", "=8\r\ntxt:text\r\n", "!12\r\nERR blob\r\nx!\r\n", "|1\r\n+ttl\r\n:3\r\n:5\r\n")
resp(0x80, bulk("x" * 65), "*9\r\n", "+" + "y" * 40 + "\r\n")
resp(0x81, "*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n")
resp(0x83, arr(bulk("z" * 60), bulk("z" * 60), bulk("z" * 60), bulk("z" * 60), bulk("z" * 60)))
resp(0, "$5\r\nhelloXX", ":12a\r\n")
resp(1, "*2\r\n$3\r\nfoo\r\n")
