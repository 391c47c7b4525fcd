#!/usr/bin/env python3
"""LongPoll against WebSocket on one server: CPU per round trip and memory per idle client.

  benchmarks/longpoll-load.py                                  # builds the release server first
  benchmarks/longpoll-load.py --server-binary .build/release/hello-sockets --clients 50 --seconds 10 --runs 3

Round trips: K clients of each transport keep one `ping` push in flight each (push, wait for the reply, push
again) for `--seconds`, on the same fresh server per run, WebSocket and LongPoll phases alternating first.
A LongPoll round trip is what phoenix.js does: a POST carrying the push (application/x-ndjson) while a GET is
held, answered with the reply; each client keeps two keep-alive HTTP connections (poll and post), as a browser.
The server's CPU comes from /proc/PID/stat (utime+stime) over the measured window only, so it holds on a busy
box better than rates do. Memory: a fresh server per transport, `--idle` clients joined to `ping` and then idle
(a LongPoll client idles with one GET held on its one connection), RSS growth over the baseline per client.
Prints the medians and the conditions (load average, cores) as a Markdown table.

Needs Python 3.10+ and `websockets` (python3 -m pip install websockets). Every loop is bounded in time.
"""
import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import websockets

ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14 and 15)


def rss_bytes(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


class Server:
    def __init__(self, binary):
        self.port = free_port()
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--channels", str(ROOT / "channels"), "--no-watch", "--no-observe",
             "--log-level", "error", "--max-connections", "20000",
             # Each client pushes as fast as its round trips allow, over the default 100 messages a second:
             # the rate limit would measure itself (as in run-load.sh's throughput workloads).
             "--client-message-rate", "0"],
            stdout=self.log, stderr=self.log)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.02)
        self.log.seek(0)
        raise RuntimeError(f"server did not start: {self.log.read().decode()}")

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()


class HTTPConnection:
    """A minimal HTTP/1.1 keep-alive client: one request at a time, bodies by Content-Length."""

    @classmethod
    async def open(cls, port):
        self = cls()
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        return self

    async def request(self, method, path, body=b"", content_type=None):
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        if content_type:
            head += f"Content-Type: {content_type}\r\n"
        if body or method == "POST":
            head += f"Content-Length: {len(body)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + body)
        status_line = await self.reader.readline()
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        data = await self.reader.readexactly(length)
        return int(status_line.split()[1]), data

    def close(self):
        self.writer.close()


JOIN = '["1","1","ping","phx_join",{}]'


class LongPollClient:
    PATH = "/socket/longpoll?vsn=2.0.0"

    @classmethod
    async def open(cls, port, connections=2):
        """`connections=1`: polls and posts take turns on one connection (an idle client's setup)."""
        self = cls()
        self.poller = await HTTPConnection.open(port)
        self.poster = await HTTPConnection.open(port) if connections == 2 else self.poller
        _, body = await self.poller.request("GET", self.PATH)
        opened = json.loads(body)
        assert opened["status"] == 410, opened
        self.uri = f"{self.PATH}&token={opened['token']}"
        self.ref = 1
        await self.post(JOIN)
        await self.next_messages()
        return self

    async def post(self, frame):
        _, body = await self.poster.request("POST", self.uri, frame.encode(), "application/x-ndjson")
        assert json.loads(body)["status"] == 200, body

    async def next_messages(self):
        while True:
            _, body = await self.poller.request("GET", self.uri)
            answer = json.loads(body)
            if answer["status"] == 200:
                return answer["messages"]
            assert answer["status"] == 204, answer

    async def round_trip(self):
        self.ref += 1
        ref = str(self.ref)
        poll = asyncio.ensure_future(self.next_messages())  # held while the push goes out
        await self.post(f'["1","{ref}","ping","ping",{{}}]')
        messages = await poll
        assert any(f'"{ref}","ping","phx_reply"' in m for m in messages), messages

    def close(self):
        self.poller.close()
        if self.poster is not self.poller:
            self.poster.close()


class WebSocketClient:
    @classmethod
    async def open(cls, port, connections=1):
        self = cls()
        self.ws = await websockets.connect(f"ws://127.0.0.1:{port}/socket/websocket?vsn=2.0.0", compression=None)
        await self.ws.send(JOIN)
        await self.ws.recv()
        self.ref = 1
        return self

    async def round_trip(self):
        self.ref += 1
        ref = str(self.ref)
        await self.ws.send(f'["1","{ref}","ping","ping",{{}}]')
        reply = await self.ws.recv()
        assert f'"{ref}","ping","phx_reply"' in reply, reply

    def close(self):
        asyncio.ensure_future(self.ws.close())


async def measure_round_trips(server, kind, clients, seconds):
    """Server CPU µs per round trip and round trips per second, K clients each with one push in flight."""
    cls = WebSocketClient if kind == "websocket" else LongPollClient
    opened = await asyncio.gather(*(cls.open(server.port) for _ in range(clients)))
    counts = [0] * clients
    measuring = False

    async def drive(index, client, until):
        while time.monotonic() < until:
            await client.round_trip()
            if measuring:
                counts[index] += 1

    warm_until = time.monotonic() + 1
    await asyncio.gather(*(drive(i, c, warm_until) for i, c in enumerate(opened)))
    measuring = True
    cpu_start, wall_start = cpu_seconds(server.process.pid), time.monotonic()
    await asyncio.gather(*(drive(i, c, wall_start + seconds) for i, c in enumerate(opened)))
    cpu, wall = cpu_seconds(server.process.pid) - cpu_start, time.monotonic() - wall_start
    for client in opened:
        client.close()
    total = sum(counts)
    return cpu / total * 1e6, total / wall


async def measure_idle(binary, kind, count):
    """RSS growth per idle client (joined to `ping`), on a fresh server."""
    server = Server(binary)
    try:
        cls = WebSocketClient if kind == "websocket" else LongPollClient
        warm = await cls.open(server.port, connections=1)  # one-off allocations stay out of the figure
        await asyncio.sleep(1)
        baseline = rss_bytes(server.process.pid)
        clients, holds = [], []

        async def idle_client():
            client = await cls.open(server.port, connections=1)
            clients.append(client)
            # An idle LongPoll client holds a GET, as phoenix.js does (on its one connection: a browser's idle
            # POST connection is closed by the server's keep-alive timeout).
            if kind == "longpoll":
                holds.append(asyncio.ensure_future(client.poller.request("GET", client.uri)))

        for start in range(0, count, 100):
            await asyncio.gather(*(idle_client() for _ in range(min(100, count - start))))
        await asyncio.sleep(2)
        grown = rss_bytes(server.process.pid) - baseline
        for hold in holds:
            hold.cancel()
        for client in clients + [warm]:
            client.close()
        return grown / count / 1024
    finally:
        server.stop()


def loadavg():
    return Path("/proc/loadavg").read_text().split()[0]


async def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server-binary", help="a built hello-sockets (default: build the release one)")
    parser.add_argument("--clients", type=int, default=50, help="clients per transport, one push in flight each")
    parser.add_argument("--seconds", type=float, default=10, help="measured seconds per phase")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--idle", type=int, default=2000, help="idle clients for the memory figure")
    args = parser.parse_args()
    binary = args.server_binary
    if not binary:
        subprocess.run(["swift", "build", "-c", "release", "--product", "hello-sockets"], cwd=ROOT, check=True)
        binary = str(ROOT / ".build/release/hello-sockets")

    load_start = loadavg()
    cpu = {"websocket": [], "longpoll": []}
    rate = {"websocket": [], "longpoll": []}
    for run in range(args.runs):
        server = Server(binary)
        try:
            order = ["websocket", "longpoll"] if run % 2 == 0 else ["longpoll", "websocket"]
            for kind in order:
                us, per_second = await measure_round_trips(server, kind, args.clients, args.seconds)
                cpu[kind].append(us)
                rate[kind].append(per_second)
                print(f"run {run + 1} {kind}: {us:.1f} µs server CPU per round trip, {per_second:.0f} round trips/s",
                      file=sys.stderr)
        finally:
            server.stop()
    memory = {}
    for kind in ["websocket", "longpoll"]:
        memory[kind] = await measure_idle(binary, kind, args.idle)
        print(f"idle {kind}: {memory[kind]:.1f} KiB per client", file=sys.stderr)

    ws, lp = statistics.median(cpu["websocket"]), statistics.median(cpu["longpoll"])
    print(f"\nLongPoll vs WebSocket, {args.clients} clients × 1 push in flight, {args.seconds:g} s × {args.runs} runs "
          f"(medians); idle memory with {args.idle} clients. {os.cpu_count()} cores, load average {load_start} → "
          f"{loadavg()}.\n")
    print("| | WebSocket | LongPoll | ratio | aim |")
    print("|---|---|---|---|---|")
    print(f"| server CPU per round trip | {ws:.1f} µs | {lp:.1f} µs | {lp / ws:.2f}× | ≤ 3× |")
    print(f"| round trips per second | {statistics.median(rate['websocket']):.0f} | "
          f"{statistics.median(rate['longpoll']):.0f} | | |")
    print(f"| memory per idle client | {memory['websocket']:.1f} KiB | {memory['longpoll']:.1f} KiB | "
          f"{memory['longpoll'] / memory['websocket']:.2f}× | ≤ 2× |")
    print(f"\nruns: WebSocket µs {', '.join(f'{v:.1f}' for v in cpu['websocket'])}; "
          f"LongPoll µs {', '.join(f'{v:.1f}' for v in cpu['longpoll'])}")


if __name__ == "__main__":
    asyncio.run(main())
