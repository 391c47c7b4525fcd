#!/usr/bin/env python3
"""handle_in that makes one phx.http.request to a local backend, or one phx.kv.incr, next to a plain ping, in one run.

Starts hello-sockets (HS_BIN, default the release build) with a channel that calls a small asyncio
HTTP backend on loopback, then runs CLIENTS WebSocket clients (Python websockets), each pushing and
waiting for the reply in a loop, for SECONDS per phase: first `ping` (no I/O), then `call` (one HTTP
request per message), then `kv` (one phx.kv.incr: in Redis with --redis URL, else the embedded store), RUNS times
in turn. Prints round trips per second and the server's CPU per round trip (utime+stime of the server process only;
the backend's, Redis' and the clients' CPU are not counted), and the medians.

    HS_BIN=.build/release/hello-sockets python3 benchmarks/http-call.py [--clients 16] [--seconds 10] [--runs 3] \
        [--redis redis://127.0.0.1:6379]
"""
import argparse
import asyncio
import json
import os
import pathlib
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import websockets

CHANNEL = """
local backend = require("backend")
return {
  topic = { "bench", "bench:*" },
  join = function() return phx.ok() end,
  handle_in = function(event, payload, socket)
    if event == "ping" then return phx.ok({ ping = "pong" }) end
    if event == "kv" then
      local n, err = phx.kv.incr("bench:" .. socket.topic)
      if not n then return phx.reply("error", { reason = err }) end
      return phx.ok({ n = n })
    end
    local r, err = phx.http.request{ url = backend.url .. "/answer", timeout_ms = 5000 }
    if not r then return phx.reply("error", { reason = err }) end
    return phx.ok({ status = r.status })
  end,
}
"""

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


async def backend_connection(reader, writer):
    """A minimal keep-alive HTTP/1.1 responder: the cheapest backend Python can be."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if length:
                await reader.readexactly(length)
            writer.write(RESPONSE)
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):  # the run is over
        pass
    finally:
        writer.close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def client(url, event, deadline, counts, index):
    async with websockets.connect(url, max_size=None, compression=None) as ws:
        await ws.send(json.dumps(["1", "1", f"bench:{index}", "phx_join", {}]))
        await ws.recv()
        ref = 1
        while time.monotonic() < deadline:
            ref += 1
            await ws.send(json.dumps(["1", str(ref), f"bench:{index}", event, {}]))
            reply = json.loads(await ws.recv())
            if reply[4]["status"] != "ok":
                raise SystemExit(f"{event}: {reply}")
            counts[0] += 1


async def phase(url, event, clients, seconds, pid):
    counts = [0]
    cpu, start = cpu_seconds(pid), time.monotonic()
    deadline = start + seconds
    await asyncio.gather(*(client(url, event, deadline, counts, i) for i in range(clients)))
    elapsed, used = time.monotonic() - start, cpu_seconds(pid) - cpu
    return counts[0] / elapsed, used / max(counts[0], 1) * 1e6


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--redis", help="keep phx.kv in this Redis (the kv phase then measures a Redis round trip)")
    args = parser.parse_args()
    root = pathlib.Path(__file__).resolve().parent.parent
    binary = os.environ.get("HS_BIN", str(root / ".build/release/hello-sockets"))
    server = await asyncio.start_server(backend_connection, "127.0.0.1", 0)
    backend_port = server.sockets[0].getsockname()[1]
    with tempfile.TemporaryDirectory() as folder:
        channels = pathlib.Path(folder) / "channels"
        (channels / "lib").mkdir(parents=True)
        (channels / "bench.lua").write_text(CHANNEL)
        (channels / "lib/backend.lua").write_text(f'return {{ url = "http://127.0.0.1:{backend_port}" }}')
        port = free_port()
        process = subprocess.Popen(
            [binary, "--port", str(port), "--channels", str(channels), "--threads", str(args.threads), "--no-watch",
             "--no-observe", "--log-level", "error", "--http-allow", f"127.0.0.1:{backend_port}"]
            + (["--redis", args.redis] if args.redis else []))
        try:
            for _ in range(500):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                    break
                except OSError:
                    await asyncio.sleep(0.02)
            url = f"ws://127.0.0.1:{port}/socket/websocket?vsn=2.0.0"
            store = f"phx.kv in Redis {args.redis}" if args.redis else "phx.kv embedded"
            print(f"{binary}, {args.threads} event loops, {args.clients} clients, {args.seconds:g} s per phase, {store}")
            results = {}
            for run in range(args.runs):
                for event in ["ping", "call", "kv"]:
                    rate, cpu = await phase(url, event, args.clients, args.seconds, process.pid)
                    results.setdefault(event, []).append((rate, cpu))
                    print(f"run {run + 1} {event:5} {rate:9.0f} round trips/s   server CPU {cpu:7.1f} µs per round trip")
            print("medians:")
            for event, values in results.items():
                rate = statistics.median(r for r, _ in values)
                cpu = statistics.median(c for _, c in values)
                print(f"{event:5} {rate:9.0f} round trips/s   server CPU {cpu:7.1f} µs per round trip")
        finally:
            process.terminate()
            process.wait(timeout=10)
            server.close()


if __name__ == "__main__":
    asyncio.run(main())
