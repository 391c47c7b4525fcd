#!/usr/bin/env python3
"""Soak test: the real server under a mixed load for --duration seconds, then a verdict.

Starts hello-sockets (release build by default) on a free loopback port with a temporary copy of
./channels, and runs, all at once:

- a pool of Phoenix clients (vsn=2.0.0, half of them with permessage-deflate) that connect, join and
  leave `ping`, `ping:roomN`, `wild:A:2A` and `dupe`, join a topic twice (the old join gets
  phx_close), get refused (`wild:1:3`), send heartbeats and pipelined pings whose replies are
  checked (every push must get its reply, with the right payload), then close and start over;
- broadcasts through `POST /api/broadcast` every few seconds to `ping` (request_ping, intercepted
  into send_ping pushes), `wild:7:14` (news) and `dupe` (number, deduplicated a second later); a
  few listeners stay joined all the run and must receive every one of them;
- a hot reload every --reload-interval seconds: channels/ping.lua in the temporary copy is rewritten
  (temp file + rename, as editors do) with a new version constant, and a client checks that the new
  code answers (`soak_version` → the new number) within a deadline;
- bad clients each --bad-interval seconds: bad JSON (expects close 1007), an oversized message
  (expects 1009), a slowloris handshake (expects the server to hang up after --handshake-timeout), a
  subscriber that never reads while its topic is flooded (expects the server to drop it, 1008);
- the server's RSS (/proc/PID/status VmRSS) and open file descriptors every --sample-interval s.

At the end: RSS samples and whether RSS is flat after the warm-up (max of the last third of the
samples within a tolerance of the max of the first third), lost replies (must be 0), unexpected
closes (must be 0; the bad clients' expected closes are counted apart), reloads applied, messages
sent, file descriptors back to the baseline, and a clean exit on SIGTERM. The last line is
`N passed, N failed`; the exit status is 1 if any check failed.

Every loop is bounded in count and in time; only 127.0.0.1 is contacted; the server is killed at
the end, on Ctrl-C and on SIGTERM.

    python3 -m pip install websockets
    swift build -c release --product hello-sockets
    benchmarks/soak.py --duration 1800 [--report benchmarks/SOAK.md]
    benchmarks/soak.py --duration 60 --server-binary .build/debug/hello-sockets   # scripts/test.sh: this, shorter intervals
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

try:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed, InvalidHandshake
except ImportError:  # pragma: no cover
    sys.exit("soak.py needs the websockets package (>= 13): python3 -m pip install websockets")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WS_PATH = "/socket/websocket?vsn=2.0.0"
LISTENER_TOPICS = ("ping", "wild:7:14", "dupe")
FLOOD_TOPIC = "wild:5:10"  # only the non-reading client joins it
RESERVED_WILD = (5, 7)  # churning clients stay off the listeners' and the flood's topics
JOIN = object()  # send(): the message's join_ref is its own ref
RELOAD_MARK = "function channel.handle_in(event, payload, socket)\n"


# ----------------------------------------------------------------------------------------------
# Counters


class Stats:
    def __init__(self) -> None:
        self.sent = 0  # WebSocket messages sent by all clients
        self.received = 0
        self.pushes = 0  # pushes that expect a reply
        self.replies_ok = 0
        self.lost_replies = 0
        self.wrong_replies: list[str] = []
        self.late_replies = 0  # a reply to no pending ref (after its timeout, or never asked)
        self.unexpected_closes: list[str] = []
        self.unexpected_events: list[str] = []  # phx_error, an unannounced phx_close
        self.missing_phx_close = 0
        self.connect_failures: list[str] = []
        self.connections = 0
        self.joins = 0
        self.leaves = 0
        self.duplicate_joins = 0
        self.refused_joins = 0
        self.broadcasts_posted = 0
        self.broadcast_failures: list[str] = []
        self.reloads_written = 0
        self.reloads_applied = 0
        self.reload_ms: list[float] = []
        self.reload_failures: list[str] = []
        self.expected_closes: dict[str, int] = {}
        self.bad_client_failures: list[str] = []
        self.slowloris_s: list[float] = []  # seconds until the server hung up on a slowloris client
        self.rss: list[tuple[float, int, int]] = []  # (seconds since start, VmRSS KiB, open fds)

    def expect_close(self, kind: str) -> None:
        self.expected_closes[kind] = self.expected_closes.get(kind, 0) + 1


def note(text: str) -> None:
    print(text, flush=True)


def bounded_append(items: list, item, limit: int = 50) -> None:
    """Failure lists keep the first few descriptions; their length still counts every one."""
    if len(items) < limit:
        items.append(item)
    else:
        items.append("…")
        del items[limit:-1]


# ----------------------------------------------------------------------------------------------
# The server


def _server_preexec() -> None:
    """In the server's process before exec: its own session (Ctrl-C in the terminal reaches us and we stop
    it), and SIGKILL if we die without stopping it (PR_SET_PDEATHSIG), so no server outlives a soak."""
    os.setsid()
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Server:
    def __init__(self, args, workdir: str) -> None:
        self.args = args
        self.channels = os.path.join(workdir, "channels")
        self.log_path = os.path.join(workdir, "server.log")
        self.proc: subprocess.Popen | None = None
        self.port = 0

    def prepare_channels(self) -> None:
        shutil.copytree(self.args.channels, self.channels,
                        ignore=shutil.ignore_patterns("*_test.lua", ".*"))
        self.write_ping(0)

    def ping_source(self, version: int) -> str:
        with open(os.path.join(self.args.channels, "ping.lua")) as f:
            original = f.read()
        if RELOAD_MARK not in original:
            raise SystemExit("channels/ping.lua has no `function channel.handle_in(event, payload, socket)`")
        clause = (f"  -- soak.py: a harmless addition that tells which version answers\n"
                  f"  if event == \"soak_version\" then return phx.ok({{ soak_version = SOAK_VERSION }}) end\n")
        return (f"-- soak.py reload {version}\nlocal SOAK_VERSION = {version}\n"
                + original.replace(RELOAD_MARK, RELOAD_MARK + clause, 1))

    def write_ping(self, version: int) -> None:
        """Writes a temp file and renames it over ping.lua, as editors save."""
        target = os.path.join(self.channels, "ping.lua")
        tmp = os.path.join(self.channels, ".ping.lua.soak-tmp")
        with open(tmp, "w") as f:
            f.write(self.ping_source(version))
        os.rename(tmp, target)

    def start(self) -> None:
        cmd = [self.args.server_binary, "--host", "127.0.0.1", "--port", "0", "--channels", self.channels,
               "--handshake-timeout", str(self.args.handshake_timeout),
               "--max-outbound-buffer", str(self.args.max_outbound_buffer),
               "--shutdown-timeout", "5", "--log-level", "info"]
        note("server: " + " ".join(cmd))
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
                                     preexec_fn=_server_preexec)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log_text()[-3000:]}")
            m = re.search(r"listening on http://[^\s:]+:(\d+)", self.log_text())
            if m:
                self.port = int(m.group(1))
                return
            time.sleep(0.05)
        raise RuntimeError("server did not report its port within 60 s:\n" + self.log_text()[-3000:])

    def log_text(self) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log_size(self) -> int:
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    def log_since(self, offset: int) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rss_kib(self) -> int:
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:  # it died: the exit check reports it
            pass
        return 0

    def fds(self) -> int:
        try:
            return len(os.listdir(f"/proc/{self.proc.pid}/fd"))
        except OSError:
            return -1

    def stop(self) -> int | None:
        """SIGTERM (graceful), then SIGKILL after 15 s. Returns the exit status, None if it had to be killed."""
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.terminate()
        try:
            return self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            return None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass


# ----------------------------------------------------------------------------------------------
# A Phoenix V2 client on websockets


class ClientGone(Exception):
    pass


class PhxClient:
    def __init__(self, soak: "Soak", name: str, deflate: bool = True) -> None:
        self.soak = soak
        self.stats = soak.stats
        self.name = name
        self.deflate = deflate
        self.ws = None
        self.ref = 0
        self.pending: dict[str, asyncio.Future] = {}
        self.close_waiters: dict[tuple[str, str], asyncio.Future] = {}
        self.closing = False
        self.reader: asyncio.Task | None = None

    async def open(self) -> bool:
        url = f"ws://127.0.0.1:{self.soak.server.port}{WS_PATH}"
        try:
            self.ws = await connect(url, ping_interval=None, open_timeout=self.soak.args.reply_timeout,
                                    close_timeout=5, max_size=4 << 20,
                                    compression="deflate" if self.deflate else None)
        except (OSError, InvalidHandshake, asyncio.TimeoutError) as e:
            bounded_append(self.stats.connect_failures, f"{self.name}: {type(e).__name__}: {e}")
            return False
        self.stats.connections += 1
        self.closing = False
        self.reader = asyncio.create_task(self._read())
        return True

    async def close(self) -> None:
        self.closing = True
        if self.ws is not None:
            try:
                await asyncio.wait_for(self.ws.close(), 10)
            except (asyncio.TimeoutError, ConnectionClosed, OSError):
                pass
        if self.reader is not None:
            try:
                await asyncio.wait_for(self.reader, 10)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                self.reader.cancel()
            self.reader = None

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                self.stats.received += 1
                if isinstance(raw, bytes):
                    raw = raw.decode()
                join_ref, ref, topic, event, payload = json.loads(raw)
                if event == "phx_reply":
                    fut = self.pending.pop(ref, None)
                    if fut is None:
                        self.stats.late_replies += 1
                    elif not fut.done():
                        fut.set_result((join_ref, topic, payload))
                elif event == "phx_close":
                    fut = self.close_waiters.pop((topic, join_ref), None)
                    if fut is None:
                        bounded_append(self.stats.unexpected_events, f"{self.name}: phx_close {topic} {join_ref}")
                    elif not fut.done():
                        fut.set_result(True)
                elif event == "phx_error":
                    bounded_append(self.stats.unexpected_events, f"{self.name}: phx_error on {topic}")
                else:
                    self.on_push(topic, event, payload)
        except ConnectionClosed:
            pass
        except Exception as e:  # a malformed message: report it, don't hide it
            bounded_append(self.stats.wrong_replies, f"{self.name}: bad message: {type(e).__name__}: {e}")
        finally:
            if not self.closing:
                code = self.ws.close_code
                reason = self.ws.close_reason
                bounded_append(self.stats.unexpected_closes,
                               f"{self.name}: closed by the server: {code} {reason!r} at "
                               f"{time.monotonic() - self.soak.t0:.0f}s")
            for fut in list(self.pending.values()) + list(self.close_waiters.values()):
                if not fut.done():
                    fut.set_exception(ClientGone())
            self.pending.clear()
            self.close_waiters.clear()

    def on_push(self, topic: str, event: str, payload) -> None:
        pass

    async def send(self, join_ref, topic: str, event: str, payload) -> tuple[str, asyncio.Future]:
        self.ref += 1
        ref = str(self.ref)
        if join_ref is JOIN:
            join_ref = ref
        fut = asyncio.get_running_loop().create_future()
        self.pending[ref] = fut
        self.stats.sent += 1
        self.stats.pushes += 1
        try:
            await self.ws.send(json.dumps([join_ref, ref, topic, event, payload]))
        except ConnectionClosed:
            pass  # the reader reports the close and fails the future
        return ref, fut

    async def await_reply(self, ref: str, fut: asyncio.Future, what: str):
        try:
            result = await asyncio.wait_for(asyncio.shield(fut), self.soak.args.reply_timeout)
        except asyncio.TimeoutError:
            self.pending.pop(ref, None)
            self.stats.lost_replies += 1
            bounded_append(self.stats.wrong_replies, f"{self.name}: no reply to {what} (ref {ref}) in "
                           f"{self.soak.args.reply_timeout}s")
            return None
        except ClientGone:
            self.stats.lost_replies += 1
            return None
        self.stats.replies_ok += 1
        return result

    async def call(self, join_ref, topic, event, payload, expect_status="ok", expect_response=None):
        ref, fut = await self.send(join_ref, topic, event, payload)
        return await self.check(ref, fut, topic, event, expect_status, expect_response)

    async def check(self, ref, fut, topic, event, expect_status="ok", expect_response=None):
        result = await self.await_reply(ref, fut, f"{event} on {topic}")
        if result is None:
            return None
        _, reply_topic, payload = result
        ok = (reply_topic == topic and payload.get("status") == expect_status
              and (expect_response is None or payload.get("response") == expect_response))
        if not ok:
            bounded_append(self.stats.wrong_replies,
                           f"{self.name}: {event} on {topic}: expected {expect_status} {expect_response}, got {payload}")
            return None
        return payload

    async def join(self, topic: str, expect_status="ok") -> str | None:
        ref, fut = await self.send(JOIN, topic, "phx_join", {})  # join_ref = the join's own ref, as phoenix.js
        payload = await self.check(ref, fut, topic, "phx_join", expect_status, {})
        return ref if payload is not None else None

    async def heartbeat(self) -> None:
        await self.call(None, "phoenix", "heartbeat", {}, "ok", {})


class Listener(PhxClient):
    """Stays joined to the broadcast topics all the run and records what arrives."""

    def __init__(self, soak, name, deflate) -> None:
        super().__init__(soak, name, deflate)
        self.got: dict[str, set] = {t: set() for t in LISTENER_TOPICS}

    def on_push(self, topic, event, payload) -> None:
        if topic == "ping" and event == "send_ping":
            self.got["ping"].add(payload.get("seq"))
        elif topic == "wild:7:14" and event == "news":
            self.got["wild:7:14"].add(payload.get("seq"))
        elif topic == "dupe" and event == "number":
            self.got["dupe"].add(payload.get("value"))


# ----------------------------------------------------------------------------------------------
# Raw sockets for the misbehaving clients


def ws_frame(opcode: int, data: bytes) -> bytes:
    mask = os.urandom(4)
    n = len(data)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data)) if n < 4096 else _mask_big(data, mask)
    return head + mask + masked


def _mask_big(data: bytes, mask: bytes) -> bytes:
    full = (mask * (len(data) // 4 + 1))[: len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(full, "big")).to_bytes(len(data), "big")


def upgrade_request(port: int) -> bytes:
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    return (f"GET {WS_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()


def find_close_code(buf: bytes) -> int | None:
    """Walks server frames (unmasked) in buf and returns the close frame's code, if one is complete."""
    i = 0
    while i + 2 <= len(buf):
        opcode = buf[i] & 0x0F
        n = buf[i + 1] & 0x7F
        off = 2
        if n == 126:
            if i + 4 > len(buf):
                return None
            n = struct.unpack("!H", buf[i + 2:i + 4])[0]
            off = 4
        elif n == 127:
            if i + 10 > len(buf):
                return None
            n = struct.unpack("!Q", buf[i + 2:i + 10])[0]
            off = 10
        if i + off + n > len(buf):
            return None
        if opcode == 0x8:
            body = buf[i + off:i + off + n]
            return struct.unpack("!H", body[:2])[0] if len(body) >= 2 else 1005
        i += off + n
    return None


# ----------------------------------------------------------------------------------------------
# The soak


class Soak:
    def __init__(self, args) -> None:
        self.args = args
        self.stats = Stats()
        self.rng = random.Random(args.seed)
        self.workdir = tempfile.mkdtemp(prefix="hello-sockets-soak-")
        self.server = Server(args, self.workdir)
        self.t0 = time.monotonic()
        self.deadline = self.t0 + args.duration
        self.listeners: list[Listener] = []
        self.bcast_seqs: list[int] = []
        self.checks: list[tuple[bool, str]] = []
        self.fd_baseline = 0
        self.exit_status: int | None = None

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    # -- the pool ---------------------------------------------------------------------------------

    async def churner(self, index: int) -> None:
        rng = random.Random(self.rng.random())
        sessions = 0
        max_sessions = int(self.args.duration) + 10  # a session lasts well over a second: a loose bound
        while self.left() > 2 and sessions < max_sessions:
            sessions += 1
            client = PhxClient(self, f"client{index}.{sessions}", deflate=index % 2 == 0)
            if not await client.open():
                await asyncio.sleep(1)
                continue
            try:
                await self.session(client, rng)
            finally:
                await client.close()

    async def session(self, c: PhxClient, rng: random.Random) -> None:
        joined: dict[str, str] = {}  # topic -> join_ref
        ops = rng.randint(10, 80)
        for _ in range(ops):
            if self.left() < 2 or c.ws.close_code is not None:
                return
            r = rng.random()
            if not joined or (r < 0.14 and len(joined) < 6):
                topic = self.random_topic(rng)
                if topic in joined:
                    continue
                ref = await c.join(topic)
                if ref is not None:
                    joined[topic] = ref
                    self.stats.joins += 1
            elif r < 0.22:
                topic = rng.choice(list(joined))
                join_ref = joined.pop(topic)
                waiter = asyncio.get_running_loop().create_future()
                c.close_waiters[(topic, join_ref)] = waiter
                if await c.call(join_ref, topic, "phx_leave", {}, "ok", {}) is not None:
                    self.stats.leaves += 1
                await self.await_phx_close(c, topic, join_ref, waiter)
            elif r < 0.27:
                topic = rng.choice(list(joined))
                old = joined[topic]
                waiter = asyncio.get_running_loop().create_future()
                c.close_waiters[(topic, old)] = waiter
                ref = await c.join(topic)
                if ref is not None:
                    joined[topic] = ref
                    self.stats.duplicate_joins += 1
                await self.await_phx_close(c, topic, old, waiter)
            elif r < 0.30:
                if await c.join(f"wild:{rng.randint(1, 99)}:1", expect_status="error") is None:
                    pass
                else:
                    self.stats.refused_joins += 1
            elif r < 0.34:
                await c.heartbeat()
            else:
                pingable = [t for t in joined if t != "dupe"]
                if not pingable:
                    continue
                burst = []
                for _ in range(rng.randint(1, 5)):
                    topic = rng.choice(pingable)
                    event, payload, expected = self.random_ping(topic, rng)
                    ref, fut = await c.send(joined[topic], topic, event, payload)
                    burst.append((ref, fut, topic, event, expected))
                for ref, fut, topic, event, expected in burst:
                    await c.check(ref, fut, topic, event, "ok", expected)
            await asyncio.sleep(rng.uniform(0, self.args.think_ms / 1000))

    async def await_phx_close(self, c: PhxClient, topic, join_ref, waiter) -> None:
        try:
            await asyncio.wait_for(waiter, self.args.reply_timeout)
        except asyncio.TimeoutError:
            c.close_waiters.pop((topic, join_ref), None)
            self.stats.missing_phx_close += 1
        except ClientGone:
            pass

    def random_topic(self, rng: random.Random) -> str:
        r = rng.random()
        if r < 0.3:
            return "ping"
        if r < 0.55:
            return f"ping:room{rng.randint(0, 9)}"
        if r < 0.85:
            a = rng.randint(-50, 50)
            while a in RESERVED_WILD:
                a = rng.randint(-50, 50)
            return f"wild:{a}:{2 * a}"
        return "dupe"

    def random_ping(self, topic: str, rng: random.Random):
        if topic.startswith("wild:"):
            return "ping", {}, {"ping": "pong"}
        r = rng.random()
        if r < 0.4:
            return "ping", {}, {"ping": "pong"}
        if r < 0.6:
            phrase = f"hi-{rng.randint(0, 10**6)}"
            return "ping", {"ack_phrase": phrase}, {"ping": phrase}
        if r < 0.8:
            phrase = f"w{rng.randint(0, 999)}"
            return f"ping:{phrase}", {}, {"ping": phrase}
        payload = {"n": rng.randint(0, 10**6), "s": "x" * rng.randint(0, 200)}
        return "param_ping", payload, payload

    # -- listeners and broadcasts -------------------------------------------------------------------

    async def start_listeners(self) -> None:
        for i in range(self.args.listeners):
            listener = Listener(self, f"listener{i}", deflate=i % 2 == 0)
            if not await listener.open():
                raise RuntimeError("a listener could not connect")
            for topic in LISTENER_TOPICS:
                if await listener.join(topic) is None:
                    raise RuntimeError(f"a listener could not join {topic}")
            self.listeners.append(listener)

    async def keep_alive(self, client: PhxClient) -> None:
        """Phoenix heartbeats every 15 s (the server's idle timeout is 60 s), as phoenix.js sends them."""
        for _ in range(int(self.args.duration / 15) + 2):
            await self.sleep_until(min(self.deadline, time.monotonic() + 15))
            if self.left() <= 0:
                return
            await client.heartbeat()

    async def broadcaster(self) -> None:
        seq = 0
        for _ in range(int(self.args.duration / self.args.broadcast_interval) + 1):
            await self.sleep_until(min(self.deadline, time.monotonic() + self.args.broadcast_interval))
            if self.left() < 3:
                return
            seq += 1
            ok = True
            for topic, event, payload in (("ping", "request_ping", {"seq": seq}),
                                          ("wild:7:14", "news", {"seq": seq}),
                                          ("dupe", "number", {"number": seq})):
                status = await self.post_broadcast(topic, event, payload)
                ok = ok and status == 200
                if status != 200:
                    bounded_append(self.stats.broadcast_failures, f"POST /api/broadcast {topic} {event}: {status}")
            if ok:
                self.bcast_seqs.append(seq)

    async def post_broadcast(self, topic: str, event: str, payload) -> int | str:
        body = json.dumps({"topic": topic, "event": event, "payload": payload}).encode()
        self.stats.broadcasts_posted += 1
        writer = None
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", self.server.port), self.args.reply_timeout)
            writer.write(b"POST /api/broadcast HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self.args.reply_timeout)
            status = int(head.split(b" ", 2)[1])
            m = re.search(rb"(?i)content-length:\s*(\d+)", head)
            if m:
                await asyncio.wait_for(reader.readexactly(int(m.group(1))), self.args.reply_timeout)
            return status
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError, IndexError) as e:
            return f"{type(e).__name__}: {e}"
        finally:
            if writer is not None:
                writer.close()

    # -- hot reload ---------------------------------------------------------------------------------

    async def reloader(self, checker: PhxClient, join_ref: str) -> None:
        version = 0
        for _ in range(int(self.args.duration / self.args.reload_interval) + 1):
            await self.sleep_until(min(self.deadline, time.monotonic() + self.args.reload_interval))
            if self.left() < 5:
                return
            version += 1
            start = time.monotonic()
            await asyncio.to_thread(self.server.write_ping, version)
            self.stats.reloads_written += 1
            applied = False
            for _ in range(2000):  # bounded: 2000 pushes or 15 s, whichever ends first
                payload = await checker.call(join_ref, "ping", "soak_version", {}, "ok")
                if payload is None:
                    break
                if payload["response"].get("soak_version") == version:
                    applied = True
                    break
                if time.monotonic() - start > 15:
                    break
                await asyncio.sleep(0.005)
            if applied:
                self.stats.reloads_applied += 1
                self.stats.reload_ms.append((time.monotonic() - start) * 1000)
            else:
                bounded_append(self.stats.reload_failures, f"version {version} did not answer within 15 s")

    # -- bad clients ------------------------------------------------------------------------------

    async def bad_clients(self) -> None:
        await self.sleep_until(min(self.deadline, self.t0 + 3))
        for _ in range(int(self.args.duration / self.args.bad_interval) + 1):
            round_start = time.monotonic()
            if self.left() < self.args.handshake_timeout + 12:
                return
            results = await asyncio.gather(self.bad_json(), self.oversized(), self.slowloris(), self.non_reader(),
                                           return_exceptions=True)
            for kind, result in zip(("bad JSON", "oversized", "slowloris", "non-reader"), results):
                if isinstance(result, BaseException):
                    bounded_append(self.stats.bad_client_failures, f"{kind}: {type(result).__name__}: {result}")
                elif result is not True:
                    bounded_append(self.stats.bad_client_failures, f"{kind}: {result}")
            await self.sleep_until(min(self.deadline, round_start + self.args.bad_interval))

    async def expect_ws_close(self, ws, code: int, kind: str):
        try:
            await asyncio.wait_for(ws.wait_closed(), 10)
        except asyncio.TimeoutError:
            return f"not closed within 10 s (expected {code})"
        if ws.close_code != code:
            return f"closed with {ws.close_code} {ws.close_reason!r}, expected {code}"
        self.stats.expect_close(f"{code} ({kind})")
        return True

    async def bad_json(self):
        url = f"ws://127.0.0.1:{self.server.port}{WS_PATH}"
        async with connect(url, ping_interval=None, open_timeout=10, close_timeout=5) as ws:
            await ws.send('["1","1","ping","phx_join",{}]')
            await asyncio.wait_for(ws.recv(), 10)
            await ws.send('["1","2","ping","ping",{not json')
            self.stats.sent += 2
            return await self.expect_ws_close(ws, 1007, "bad JSON")

    async def oversized(self):
        url = f"ws://127.0.0.1:{self.server.port}{WS_PATH}"
        async with connect(url, ping_interval=None, open_timeout=10, close_timeout=5, compression=None) as ws:
            big = json.dumps(["1", "1", "ping", "param_ping", {"pad": "x" * self.args.max_message_size}])
            try:
                await ws.send(big)
                self.stats.sent += 1
            except ConnectionClosed:
                pass
            return await self.expect_ws_close(ws, 1009, "oversized")

    async def slowloris(self):
        """Sends an upgrade request one byte a second; the server must hang up after --handshake-timeout."""
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", self.server.port), 10)
        request = upgrade_request(self.server.port)[:-2]  # never finishes the header block
        start = time.monotonic()
        limit = self.args.handshake_timeout + 10
        try:
            for i in range(min(len(request), limit + 1)):
                try:
                    writer.write(request[i:i + 1])
                    await writer.drain()
                except (ConnectionError, OSError):
                    break
                try:
                    data = await asyncio.wait_for(reader.read(4096), 1)
                    if data == b"" or data:
                        break  # EOF, or a response (408/400) before the close
                except asyncio.TimeoutError:
                    pass
                except (ConnectionError, OSError):
                    break
            try:
                while await asyncio.wait_for(reader.read(4096), max(0.1, limit - (time.monotonic() - start))):
                    pass
            except (asyncio.TimeoutError, ConnectionError, OSError):
                pass
            took = time.monotonic() - start
            if not reader.at_eof() and took >= limit:
                return f"still open after {took:.0f} s (handshake timeout {self.args.handshake_timeout} s)"
            self.stats.slowloris_s.append(took)
            self.stats.expect_close("hang-up (slowloris)")
            return True
        finally:
            writer.close()

    async def non_reader(self):
        """Joins FLOOD_TOPIC with a tiny receive buffer and never reads; the topic is flooded until the
        server gives up on it (close 1008, logged "client is not reading")."""
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        try:
            await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", self.server.port)), 10)
            await loop.sock_sendall(sock, upgrade_request(self.server.port))
            buf = b""
            for _ in range(100):
                if b"\r\n\r\n" in buf:
                    break
                chunk = await asyncio.wait_for(loop.sock_recv(sock, 4096), 10)
                if not chunk:
                    return "closed during the handshake"
                buf += chunk
            head, buf = buf.split(b"\r\n\r\n", 1)
            if b" 101 " not in head.split(b"\r\n")[0]:
                return f"handshake refused: {head[:80]!r}"
            await loop.sock_sendall(sock, ws_frame(0x1, json.dumps(["1", "1", FLOOD_TOPIC, "phx_join", {}]).encode()))
            self.stats.sent += 1
            await asyncio.sleep(0.3)  # let the join land before flooding
            mark = self.server.log_size()
            log_says_dropped = lambda: "client is not reading" in self.server.log_since(mark)
            pad = "y" * 32768
            dropped = False
            flood_bound = max(64, 12 * self.args.max_outbound_buffer // len(pad))
            for i in range(flood_bound):
                status = await self.post_broadcast(FLOOD_TOPIC, "flood", {"i": i, "pad": pad})
                if status != 200:
                    return f"flood broadcast {i}: {status}"
                if i % 8 == 7 and log_says_dropped():
                    dropped = True
                    break
            for _ in range(50):
                if dropped:
                    break
                await asyncio.sleep(0.1)
                dropped = log_says_dropped()
            if not dropped:
                return f"not dropped after {flood_bound} broadcasts of 32 KiB (--max-outbound-buffer {self.args.max_outbound_buffer})"
            # Now read: what is left must end with close 1008 or the TCP close.
            got = 0
            end = time.monotonic() + 15
            while time.monotonic() < end and got < 64 << 20:
                try:
                    chunk = await asyncio.wait_for(loop.sock_recv(sock, 1 << 16), max(0.1, end - time.monotonic()))
                except (ConnectionError, OSError):
                    break
                except asyncio.TimeoutError:
                    return "dropped in the log, but the connection stayed open 15 s"
                if not chunk:
                    break
                got += len(chunk)
                buf += chunk
            code = find_close_code(buf)
            if code not in (None, 1008):
                return f"closed with {code}, expected 1008"
            # The close frame is queued behind what the client never read: it may be dropped with the TCP close.
            self.stats.expect_close("1008 (non-reader)" if code == 1008 else "1008 in the log, TCP close (non-reader)")
            return True
        finally:
            sock.close()

    # -- sampling -----------------------------------------------------------------------------------

    async def sampler(self) -> None:
        for _ in range(int(self.args.duration / self.args.sample_interval) + 2):
            if not self.server.alive():
                return
            t = self.elapsed()
            rss, fds = self.server.rss_kib(), self.server.fds()
            self.stats.rss.append((t, rss, fds))
            s = self.stats
            note(f"[{t:6.0f}s] rss {rss / 1024:6.1f} MiB  fds {fds:4d}  conns {s.connections}  sent {s.sent}  "
                 f"replies {s.replies_ok}  lost {s.lost_replies}  unexpected closes {len(s.unexpected_closes)}  "
                 f"reloads {s.reloads_applied}/{s.reloads_written}  broadcasts {len(self.bcast_seqs)}  "
                 f"bad-client closes {sum(s.expected_closes.values())}")
            if self.left() <= 0:
                return
            await self.sleep_until(min(self.deadline, time.monotonic() + self.args.sample_interval))

    async def sleep_until(self, when: float) -> None:
        delay = when - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    # -- the run --------------------------------------------------------------------------------------

    async def run(self) -> None:
        self.server.prepare_channels()
        self.server.start()
        note(f"server pid {self.server.proc.pid} on 127.0.0.1:{self.server.port}, channels {self.server.channels}")
        self.t0 = time.monotonic()
        self.deadline = self.t0 + self.args.duration
        await asyncio.sleep(0.5)
        self.fd_baseline = self.server.fds()
        await self.start_listeners()
        checker = PhxClient(self, "reload-checker")
        if not await checker.open():
            raise RuntimeError("the reload checker could not connect")
        checker_ref = await checker.join("ping")
        if checker_ref is None:
            raise RuntimeError("the reload checker could not join ping")
        if await checker.call(checker_ref, "ping", "soak_version", {}, "ok", {"soak_version": 0}) is None:
            raise RuntimeError("version 0 of ping.lua does not answer soak_version")
        tasks = [asyncio.create_task(self.churner(i)) for i in range(self.args.clients)]
        tasks += [asyncio.create_task(self.keep_alive(c)) for c in self.listeners + [checker]]
        tasks += [asyncio.create_task(self.broadcaster()), asyncio.create_task(self.reloader(checker, checker_ref)),
                  asyncio.create_task(self.bad_clients()), asyncio.create_task(self.sampler())]
        done, pending = await asyncio.wait(tasks, timeout=self.args.duration + 90)
        for task in pending:
            task.cancel()
        for task in done:
            if task.exception() is not None:
                bounded_append(self.stats.bad_client_failures, f"task failed: {task.exception()!r}")
        if pending:
            bounded_append(self.stats.bad_client_failures, f"{len(pending)} tasks still running 90 s after the end")
        await asyncio.sleep(2.5)  # the dupe channel pushes its buffer a second after a broadcast
        self.check_broadcasts()
        for c in self.listeners + [checker]:
            await c.close()
        # Every connection is closed: the server's descriptors must come back to where they started.
        fds = self.server.fds()
        for _ in range(100):
            if fds <= self.fd_baseline + 2:
                break
            await asyncio.sleep(0.1)
            fds = self.server.fds()
        self.fd_end = fds
        t = self.elapsed()
        self.stats.rss.append((t, self.server.rss_kib(), fds))

    def check_broadcasts(self) -> None:
        self.missing_broadcasts = []
        want = set(self.bcast_seqs)
        for listener in self.listeners:
            for topic in LISTENER_TOPICS:
                missing = want - listener.got[topic]
                if missing:
                    self.missing_broadcasts.append(f"{listener.name} missed {len(missing)} on {topic}: "
                                                   f"{sorted(missing)[:10]}")

    # -- the verdict ----------------------------------------------------------------------------------

    def check(self, ok: bool, text: str) -> None:
        self.checks.append((ok, text))
        note(("PASS  " if ok else "FAIL  ") + text)

    def rss_verdict(self):
        warm = [(t, rss) for t, rss, _ in self.stats.rss[:-1] if t >= self.args.warmup]
        if len(warm) < 3:
            return None, f"only {len(warm)} RSS samples after a {self.args.warmup:.0f} s warm-up"
        third = max(1, len(warm) // 3)
        first = max(r for _, r in warm[:third])
        last = max(r for _, r in warm[-third:])
        limit = first * (1 + self.args.rss_tolerance) + self.args.rss_slack_mb * 1024
        text = (f"RSS flat after a {self.args.warmup:.0f} s warm-up: last-third max {last / 1024:.1f} MiB vs "
                f"first-third max {first / 1024:.1f} MiB (limit {limit / 1024:.1f} MiB: "
                f"+{self.args.rss_tolerance:.0%} +{self.args.rss_slack_mb} MiB; {len(warm)} samples)")
        return last <= limit, text

    def verdict(self, exit_status) -> None:
        s = self.stats
        note("")
        note("== soak results ==")
        note("RSS samples (s: MiB, fds): " + "  ".join(f"{t:.0f}: {r / 1024:.1f}, {f}" for t, r, f in s.rss))
        note(f"connections {s.connections}, joins {s.joins}, leaves {s.leaves}, duplicate joins {s.duplicate_joins}, "
             f"refused joins {s.refused_joins}")
        note(f"messages sent {s.sent} ({s.pushes} expecting a reply), received {s.received}, replies {s.replies_ok}, "
             f"late replies {s.late_replies}")
        note(f"broadcast rounds {len(self.bcast_seqs)} ({s.broadcasts_posted} POSTs incl. the flood), "
             f"reloads {s.reloads_applied}/{s.reloads_written}"
             + (f", reload latency median {sorted(s.reload_ms)[len(s.reload_ms) // 2]:.1f} ms" if s.reload_ms else ""))
        note("expected closes of bad clients: " + (", ".join(f"{k}: {v}" for k, v in sorted(s.expected_closes.items()))
                                                  or "none"))
        if s.slowloris_s:
            note(f"slowloris hang-up after {min(s.slowloris_s):.1f}-{max(s.slowloris_s):.1f} s "
                 f"(--handshake-timeout {self.args.handshake_timeout})")
        for label, items in (("unexpected closes", s.unexpected_closes), ("wrong or missing replies", s.wrong_replies),
                             ("unexpected events", s.unexpected_events), ("connect failures", s.connect_failures),
                             ("broadcast failures", s.broadcast_failures), ("missing broadcasts", self.missing_broadcasts),
                             ("reload failures", s.reload_failures), ("bad-client failures", s.bad_client_failures)):
            for item in items[:10]:
                note(f"  {label}: {item}")
        errors = [l for l in self.server.log_text().splitlines() if re.match(r"\S+ (error|critical) ", l)]
        for line in errors[:10]:
            note(f"  server log: {line}")

        self.check(s.lost_replies == 0, f"lost replies: {s.lost_replies} of {s.pushes} pushes")
        wrong = len(s.wrong_replies)
        self.check(not s.wrong_replies, f"wrong or missing replies: {wrong}")
        self.check(not s.unexpected_closes, f"unexpected closes: {len(s.unexpected_closes)} "
                   f"(expected closes of bad clients: {sum(s.expected_closes.values())})")
        self.check(not s.unexpected_events and s.missing_phx_close == 0,
                   f"unexpected phx_error/phx_close: {len(s.unexpected_events)}, missing phx_close: {s.missing_phx_close}")
        self.check(not s.connect_failures, f"connect failures: {len(s.connect_failures)} of {s.connections + len(s.connect_failures)}")
        self.check(len(self.bcast_seqs) > 0 and not s.broadcast_failures and not self.missing_broadcasts,
                   f"broadcasts: {len(self.bcast_seqs)} rounds to {len(LISTENER_TOPICS)} topics, "
                   f"{len(s.broadcast_failures)} failed POSTs, {len(self.missing_broadcasts)} listener/topic gaps")
        due = self.args.duration > self.args.reload_interval + 5
        self.check((s.reloads_written > 0 or not due) and s.reloads_applied == s.reloads_written,
                   f"hot reloads applied: {s.reloads_applied} of {s.reloads_written}")
        kinds = {k[k.rindex("(") + 1:-1] for k in s.expected_closes}
        self.check(not s.bad_client_failures and kinds >= {"bad JSON", "oversized", "slowloris", "non-reader"},
                   f"bad clients closed as expected: {sum(s.expected_closes.values())}, failures {len(s.bad_client_failures)}")
        ok, text = self.rss_verdict()
        self.check(bool(ok), text)
        self.check(self.fd_end <= self.fd_baseline + 2,
                   f"file descriptors back to the baseline: {self.fd_end} at the end vs {self.fd_baseline} at the start")
        self.check(not errors, f"server log lines at error/critical: {len(errors)}")
        self.check(exit_status == 0, f"server exited cleanly on SIGTERM (status {exit_status})")
        passed = sum(1 for ok, _ in self.checks if ok)
        failed = len(self.checks) - passed
        note(f"{passed} passed, {failed} failed")

    def report(self, path: str) -> None:
        s = self.stats
        rows = s.rss
        mibs = [r / 1024 for _, r, _ in rows]
        lo, hi = min(mibs), max(mibs)
        bars = "▁▂▃▄▅▆▇█"
        spark = "".join(bars[min(7, int((m - lo) / (hi - lo) * 8)) if hi > lo else 0] for m in mibs)
        cpu = "?"
        try:
            with open("/proc/cpuinfo") as f:
                cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
        except (OSError, StopIteration):
            pass
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / (1 << 30)
        passed = sum(1 for ok, _ in self.checks if ok)
        lines = [
            "# Soak test results", "",
            f"- Command: `{' '.join(['benchmarks/soak.py'] + sys.argv[1:])}`",
            f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
            f"- Machine: {platform.system()} {platform.release()}, {os.cpu_count()} cores ({cpu}), {mem:.0f} GiB; "
            f"shared with other builds. Python {platform.python_version()}.",
            f"- Server: `{os.path.relpath(self.args.server_binary, REPO)}` (one event loop per core), "
            f"{self.args.clients} churning clients, {self.args.listeners} listeners, think time ≤ {self.args.think_ms} ms",
            "", "## Verdict", "",
        ] + [f"- {'PASS' if ok else '**FAIL**'} {text}" for ok, text in self.checks] + [
            "", f"{passed} passed, {len(self.checks) - passed} failed", "",
            "## Totals", "",
            "| what | count |", "|---|---|",
            f"| connections opened (churning + listeners + checker) | {s.connections} |",
            f"| messages sent by clients | {s.sent} |",
            f"| messages expecting a reply / replies received (each one checked) | {s.pushes} / {s.replies_ok} |",
            f"| lost replies | {s.lost_replies} |",
            f"| unexpected closes | {len(s.unexpected_closes)} |",
            f"| joins / leaves / duplicate joins / refused joins | {s.joins} / {s.leaves} / {s.duplicate_joins} / {s.refused_joins} |",
            f"| broadcast rounds (3 topics each) received by every listener | {len(self.bcast_seqs)} |",
            f"| hot reloads applied / written | {s.reloads_applied} / {s.reloads_written} |",
            f"| reload latency (rename → new code answers), median / max | "
            + (f"{sorted(s.reload_ms)[len(s.reload_ms) // 2]:.1f} / {max(s.reload_ms):.1f} ms |" if s.reload_ms else "– |"),
            "| expected closes of bad clients | " + (", ".join(f"{k}: {v}" for k, v in sorted(s.expected_closes.items())) or "none") + " |",
            "", "## Server RSS", "",
            f"`{spark}` ({lo:.1f}–{hi:.1f} MiB, one character per sample, every {self.args.sample_interval:.0f} s)", "",
        ] + rss_table(rows, 60 if self.args.duration >= 600 else self.args.sample_interval) + [""]
        with open(path, "w") as f:
            f.write("\n".join(lines))
        note(f"report written to {path}")


def rss_table(rows, bucket: float) -> list[str]:
    """Markdown rows of (t, VmRSS KiB, fds) samples, grouped in buckets of `bucket` seconds."""
    groups: dict[int, list] = {}
    for t, r, f in rows:
        groups.setdefault(int(t // bucket), []).append((t, r, f))
    lines = ["| t (s) | samples | VmRSS min–max (MiB) | open fds min–max |", "|---|---|---|---|"]
    for _, g in sorted(groups.items()):
        rss = [r / 1024 for _, r, _ in g]
        fds = [f for _, _, f in g]
        lines.append(f"| {g[0][0]:.0f}–{g[-1][0]:.0f} | {len(g)} | {min(rss):.1f}–{max(rss):.1f} | {min(fds)}–{max(fds)} |")
    return lines


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--duration", type=float, default=300, help="seconds of load")
    ap.add_argument("--server-binary", default=None,
                    help="the server to run (default: build and run .build/release/hello-sockets)")
    ap.add_argument("--channels", default=os.path.join(REPO, "channels"), help="channels folder to copy")
    ap.add_argument("--clients", type=int, default=16, help="churning clients")
    ap.add_argument("--listeners", type=int, default=2, help="clients joined to the broadcast topics all the run")
    ap.add_argument("--think-ms", type=float, default=40, help="longest pause between a client's operations")
    ap.add_argument("--broadcast-interval", type=float, default=2.0)
    ap.add_argument("--reload-interval", type=float, default=60.0)
    ap.add_argument("--bad-interval", type=float, default=30.0, help="seconds between rounds of bad clients")
    ap.add_argument("--sample-interval", type=float, default=10.0, help="seconds between RSS samples")
    ap.add_argument("--warmup", type=float, default=None,
                    help="seconds of RSS samples ignored (default: a fifth of the run, at most 300)")
    ap.add_argument("--rss-tolerance", type=float, default=0.10, help="allowed growth of the last third, a fraction")
    ap.add_argument("--rss-slack-mb", type=float, default=4.0, help="allowed growth on top of the fraction, MiB")
    ap.add_argument("--reply-timeout", type=float, default=10.0, help="seconds before a reply counts as lost")
    ap.add_argument("--handshake-timeout", type=int, default=5, help="the server's --handshake-timeout")
    ap.add_argument("--max-outbound-buffer", type=int, default=1 << 20, help="the server's --max-outbound-buffer")
    ap.add_argument("--max-message-size", type=int, default=1 << 20, help="the server's limit (its default)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--report", help="write a Markdown report (e.g. benchmarks/SOAK.md)")
    args = ap.parse_args(argv)
    if args.duration < 30:
        ap.error("--duration must be at least 30 s (a round of bad clients takes ~20 s)")
    if args.warmup is None:
        args.warmup = min(300.0, args.duration / 5)
    return args


def main() -> int:
    args = parse_args()
    if args.server_binary is None:
        note("building: swift build -c release --product hello-sockets")
        subprocess.run(["swift", "build", "-c", "release", "--product", "hello-sockets"], cwd=REPO, check=True)
        args.server_binary = os.path.join(REPO, ".build", "release", "hello-sockets")
    args.server_binary = os.path.abspath(args.server_binary)
    if not os.access(args.server_binary, os.X_OK):
        sys.exit(f"no server binary at {args.server_binary}")
    soak = Soak(args)

    def on_signal(signum, frame):  # Ctrl-C or SIGTERM: the finally below kills the server
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)  # also when started in the background with SIGINT ignored
    status = None
    try:
        asyncio.run(asyncio.wait_for(soak.run(), args.duration + 240))
        alive = soak.server.alive()
        status = soak.server.stop()
        if not alive:
            note(f"the server died during the run (status {status}); last log lines:\n"
                 + "\n".join(soak.server.log_text().splitlines()[-20:]))
            status = "died"
    except KeyboardInterrupt:
        note("interrupted: killing the server")
        soak.server.kill()
        return 130
    except Exception as e:
        note(f"soak aborted: {type(e).__name__}: {e}")
        note("last server log lines:\n" + "\n".join(soak.server.log_text().splitlines()[-20:]))
        soak.server.kill()
        note("0 passed, 1 failed")
        return 1
    finally:
        soak.server.kill()
        if os.environ.get("SOAK_KEEP_LOG"):
            shutil.copy(soak.server.log_path, os.environ["SOAK_KEEP_LOG"])
        shutil.rmtree(soak.workdir, ignore_errors=True)
    soak.verdict(status)
    if args.report:
        soak.report(args.report)
    return 0 if all(ok for ok, _ in soak.checks) else 1


if __name__ == "__main__":
    sys.exit(main())
