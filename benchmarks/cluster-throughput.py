#!/usr/bin/env python3
"""Broadcasts per second one Redis carries between three nodes (issue 14).

Starts a redis-server and three hello-sockets nodes on it (HS_BIN, default the release build). One WebSocket
client on node 1 asks a channel to publish MESSAGES broadcasts (in bursts of BURST per push, the reply coming once
the burst is published); nodes 2 and 3 have no subscribers, so what is measured is the carriage alone: the time
until both have received every message, read from their `hellosockets_cluster_messages_received_total`. Prints,
per run, broadcasts per second, the CPU per broadcast of the publishing node, of each receiving node and of
redis-server (utime+stime from /proc), and then the medians.

    HS_BIN=.build/release/hello-sockets python3 benchmarks/cluster-throughput.py [--messages 50000] \\
        [--burst 500] [--payload 100] [--runs 3]
"""
import argparse
import asyncio
import json
import os
import pathlib
import re
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request

import websockets

CHANNEL = """
return {
  topic = "bench:*",
  join = function() return phx.ok() end,
  handle_in = function(event, payload, socket)
    local pad = string.rep("x", payload.pad)
    -- broadcast_from: the publishing client is subscribed too, but only the other nodes are measured.
    for i = 1, payload.n do phx.broadcast_from(socket, "m", { i = payload.first + i, pad = pad }) end
    return phx.ok()
  end,
}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, process, what):
    for _ in range(1000):
        if process.poll() is not None:
            raise SystemExit(f"{what} exited")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return
        except OSError:
            time.sleep(0.02)
    raise SystemExit(f"{what} did not start on {port}")


def cpu_seconds(pid):
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def received(port):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    match = re.search(r"^hellosockets_cluster_messages_received_total (\d+)", text, re.M)
    return int(match.group(1)) if match else 0


async def run_once(node_ports, pids, redis_pid, args, first):
    before = [received(p) for p in node_ports[1:]]
    cpu_before = [cpu_seconds(p) for p in pids] + [cpu_seconds(redis_pid)]
    url = f"ws://127.0.0.1:{node_ports[0]}/socket/websocket?vsn=2.0.0"
    async with websockets.connect(url, max_size=None, compression=None) as ws:
        await ws.send(json.dumps(["1", "1", "bench:t", "phx_join", {}]))
        await ws.recv()
        start = time.monotonic()
        sent, ref = 0, 1
        while sent < args.messages:
            n = min(args.burst, args.messages - sent)
            ref += 1
            await ws.send(json.dumps(["1", str(ref), "bench:t", "burst", {"n": n, "first": first + sent, "pad": args.payload}]))
            while True:  # the reply (anything else would be a surprise, skipped)
                reply = json.loads(await ws.recv())
                if reply[3] == "phx_reply":
                    break
            sent += n
    deadline = time.monotonic() + 120
    while True:
        now = [received(p) for p in node_ports[1:]]
        # Each node also receives heartbeats: count until every broadcast is in.
        if all(n - b >= args.messages for n, b in zip(now, before)):
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"not every broadcast arrived: {[n - b for n, b in zip(now, before)]} of {args.messages}")
        await asyncio.sleep(0.005)
    elapsed = time.monotonic() - start
    cpu_after = [cpu_seconds(p) for p in pids] + [cpu_seconds(redis_pid)]
    per = [(a - b) / args.messages * 1e6 for a, b in zip(cpu_after, cpu_before)]
    return args.messages / elapsed, per


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50000)
    parser.add_argument("--burst", type=int, default=500)
    parser.add_argument("--payload", type=int, default=100, help="bytes of padding in each broadcast's payload")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="event loops per node")
    args = parser.parse_args()
    root = pathlib.Path(__file__).resolve().parent.parent
    binary = os.environ.get("HS_BIN", str(root / ".build/release/hello-sockets"))
    redis_binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    processes = []
    with tempfile.TemporaryDirectory() as folder:
        channels = pathlib.Path(folder) / "channels"
        channels.mkdir()
        (channels / "bench.lua").write_text(CHANNEL)
        redis_port = free_port()
        redis = subprocess.Popen([redis_binary, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                                  "--appendonly", "no", "--dir", folder], stdout=subprocess.DEVNULL)
        processes.append(redis)
        try:
            wait_port(redis_port, redis, "redis-server")
            node_ports = [free_port() for _ in range(3)]
            for i, port in enumerate(node_ports):
                node = subprocess.Popen(
                    [binary, "--port", str(port), "--channels", str(channels), "--threads", str(args.threads),
                     "--no-watch", "--no-observe", "--log-level", "error", "--client-message-rate", "0",
                     "--redis", f"redis://127.0.0.1:{redis_port}", "--node-name", f"bench{i + 1}"])
                processes.append(node)
                wait_port(port, node, f"node {i + 1}")
            time.sleep(2)  # the nodes hear each other's heartbeats
            load = os.getloadavg()[0]
            print(f"{binary}: 3 nodes ({args.threads} loop each) on one redis-server, {args.messages} broadcasts of "
                  f"{args.payload}-byte padding published on node 1 in bursts of {args.burst}; load {load:.2f}")
            results = []
            for run in range(args.runs):
                rate, per = await run_once(node_ports, [p.pid for p in processes[1:]], redis.pid, args,
                                           run * args.messages)
                results.append((rate, per))
                print(f"run {run + 1}: {rate:9.0f} broadcasts/s   CPU µs per broadcast: publisher {per[0]:.1f}, "
                      f"receivers {per[1]:.1f} and {per[2]:.1f}, redis-server {per[3]:.1f}")
            median = lambda values: statistics.median(values)
            print(f"median: {median([r for r, _ in results]):9.0f} broadcasts/s   CPU µs per broadcast: publisher "
                  f"{median([p[0] for _, p in results]):.1f}, receivers {median([p[1] for _, p in results]):.1f} and "
                  f"{median([p[2] for _, p in results]):.1f}, redis-server {median([p[3] for _, p in results]):.1f}; "
                  f"load {os.getloadavg()[0]:.2f} at the end")
        finally:
            for process in reversed(processes):
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()


if __name__ == "__main__":
    asyncio.run(main())
