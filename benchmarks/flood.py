#!/usr/bin/env python3
"""Flood benchmark: what a flooding client costs the clients next to it, with and without the message rate.

Starts hello-sockets (release build by default) on a free loopback port, one event loop (`--threads 1`: the
flooder and the bystander share it, the worst case for the bystander), and runs four phases, each against a
fresh server:

  alone      a bystander pings `ping` one at a time, --ping-rate a second (under the 100/s limit), for
             --duration seconds: its round-trip times without a flood;
  flood      the same bystander while a flooder pushes `ping` to its own channel as fast as the server takes
             them (--window pushes kept unanswered at all times: more would only wait in TCP buffers) for
             --duration seconds, with the default limits and a grace longer than the flood; then every push
             must get its reply, in order;
  unlimited  the same flood with --client-message-rate 0 (no limit), for comparison;
  grace      the flood with the default limits, grace included: the server must close the flooder with 1008.

Clients run in their own processes (Python `websockets`), so the bystander's timings don't wait on the
flooder's. The server's CPU time per phase comes from /proc. The box may be shared: the load average is
recorded with the results. Every loop is bounded in count and time; only 127.0.0.1 is contacted.

    python3 -m pip install websockets
    swift build -c release --product hello-sockets
    benchmarks/flood.py                               # ~3 min; prints the table
    benchmarks/flood.py --report benchmarks/RESULTS.md  # and writes it between the flood markers
"""
from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WS_PATH = "/socket/websocket?vsn=2.0.0"


# ----------------------------------------------------------------------------------------------
# Client roles (each runs in a process of its own: `flood.py --role …`)


async def join(ws, topic: str) -> None:
    await ws.send(json.dumps(["1", "1", topic, "phx_join", {}]))
    reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
    if reply[4]["status"] != "ok":
        raise SystemExit(f"join {topic} refused: {reply}")


async def bystander(url: str, seconds: float, ping_rate: float) -> dict:
    """Pings one at a time on a fixed schedule; round-trip times in ms."""
    from websockets.asyncio.client import connect
    rtts: list[float] = []
    async with connect(url, max_size=None) as ws:
        await join(ws, "ping")
        interval = 1 / ping_rate
        start = time.monotonic()
        ref = 1
        for _ in range(int(seconds * ping_rate) + 1):
            ref += 1
            sent = time.monotonic()
            await ws.send(f'["1","{ref}","ping","ping",{{}}]')
            while True:  # only replies come on this channel
                reply = await asyncio.wait_for(ws.recv(), 30)
                if f'"{ref}"' in reply:
                    break
            rtts.append((time.monotonic() - sent) * 1000)
            next_at = start + (ref - 1) * interval
            if time.monotonic() - start > seconds:
                break
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    rtts.sort()
    return {
        "pings": len(rtts),
        "p50_ms": rtts[len(rtts) // 2],
        "p99_ms": rtts[min(len(rtts) - 1, int(len(rtts) * 0.99))],
        "max_ms": rtts[-1],
    }


async def flooder(url: str, seconds: float, window: int, drain: float) -> dict:
    """Pushes as fast as replies come back (`window` unanswered), for `seconds`; then waits for the rest."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed
    result = {"sent": 0, "replies": 0, "in_order": True, "close_code": None, "close_reason": None,
              "closed_after_s": None, "replies_per_s": 0.0}
    arrivals: list[float] = []
    async with connect(url, max_size=None, max_queue=None) as ws:
        await join(ws, "ping:flood")
        start = time.monotonic()
        room = asyncio.Semaphore(window)
        stop_sending = asyncio.Event()

        async def send() -> None:
            ref = 1
            while not stop_sending.is_set() and time.monotonic() - start < seconds:
                await room.acquire()
                ref += 1
                await ws.send(f'["1","{ref}","ping:flood","ping",{{}}]')
                result["sent"] += 1

        async def receive() -> None:
            expected = 2
            try:
                while True:
                    reply = await ws.recv()
                    ref = reply.split('"', 4)[3]  # ["1","<ref>",…: no JSON parsing at flood rates
                    if ref != str(expected):
                        result["in_order"] = False
                    expected += 1
                    result["replies"] += 1
                    arrivals.append(time.monotonic() - start)
                    room.release()
                    if result["replies"] == result["sent"] and (stop_sending.is_set() or time.monotonic() - start >= seconds):
                        return
            except ConnectionClosed as closed:
                result["close_code"] = closed.rcvd.code if closed.rcvd else None
                result["close_reason"] = closed.rcvd.reason if closed.rcvd else None
                result["closed_after_s"] = round(time.monotonic() - start, 2)
                stop_sending.set()
                room.release()  # a sender waiting for room sees the stop

        receiver = asyncio.create_task(receive())
        sender = asyncio.create_task(send())
        try:
            await asyncio.wait_for(asyncio.shield(sender), seconds + 5)
        except (asyncio.TimeoutError, ConnectionClosed):
            stop_sending.set()
        try:
            await asyncio.wait_for(receiver, drain)
        except asyncio.TimeoutError:
            pass
        sender.cancel()
    # The steady rate: replies between 5 s in and the end of the flood (the burst excluded).
    steady = [t for t in arrivals if 5 <= t <= seconds]
    if len(steady) > 1:
        result["replies_per_s"] = round(len(steady) / (seconds - 5), 1)
    result["unanswered"] = result["sent"] - result["replies"]
    return result


def run_role(args) -> None:
    if args.role == "bystander":
        out = asyncio.run(bystander(args.url, args.duration, args.ping_rate))
    else:
        out = asyncio.run(flooder(args.url, args.duration, args.window, args.drain))
    print("RESULT " + json.dumps(out), flush=True)


# ----------------------------------------------------------------------------------------------
# The server and the phases


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Server:
    def __init__(self, binary: str, flags: list[str], workdir: str, name: str) -> None:
        self.port = free_port()
        self.log_path = os.path.join(workdir, f"server-{name}.log")
        self.cmd = [binary, "--port", str(self.port), "--channels", os.path.join(REPO, "channels"), "--no-watch",
                    "--no-observe", "--log-level", "info", "--threads", "1", *flags]
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=open(self.log_path, "w"))
        for _ in range(1000):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.proc.poll() is not None:
                    raise SystemExit(f"server exited: {open(self.log_path).read()}")
                time.sleep(0.01)
        self.cpu0 = cpu_seconds(self.proc.pid)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{WS_PATH}"

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid) - self.cpu0

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return open(self.log_path).read()


def client(args, role: str, url: str, extra: list[str] | None = None) -> subprocess.Popen:
    cmd = [sys.executable, os.path.abspath(__file__), "--role", role, "--url", url, "--duration", str(args.duration),
           "--ping-rate", str(args.ping_rate), "--window", str(args.window), "--drain", str(args.drain), *(extra or [])]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def collect(proc: subprocess.Popen, timeout: float) -> dict:
    out, err = proc.communicate(timeout=timeout)
    line = next((l for l in out.splitlines() if l.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"client failed:\n{out}\n{err}")
    return json.loads(line[len("RESULT "):])


def phase(args, name: str, flags: list[str], with_bystander: bool, with_flooder: bool, workdir: str) -> dict:
    print(f"== {name}: server {' '.join(flags) or '(defaults)'} (load {os.getloadavg()[0]:.2f})", file=sys.stderr, flush=True)
    server = Server(args.server_binary, flags, workdir, name)
    try:
        procs = {}
        if with_flooder:
            procs["flooder"] = client(args, "flooder", server.url)
            time.sleep(1)  # the flood is under way before the bystander starts measuring
        if with_bystander:
            procs["bystander"] = client(args, "bystander", server.url)
        results = {role: collect(p, args.duration + args.drain + 60) for role, p in procs.items()}
        results["server_cpu_s"] = round(server.cpu(), 2)
        results["load1"] = round(os.getloadavg()[0], 2)
    finally:
        log = server.stop()
    results["log_rate_lines"] = sum(1 for l in log.splitlines() if "over the message rate" in l)
    print(f"   {json.dumps(results)}", file=sys.stderr, flush=True)
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=30, help="seconds of flood (and of bystander pings)")
    ap.add_argument("--ping-rate", type=float, default=50, help="bystander pings a second")
    ap.add_argument("--window", type=int, default=1000, help="pushes the flooder keeps unanswered")
    ap.add_argument("--drain", type=float, default=30, help="seconds the flooder waits for its last replies")
    ap.add_argument("--server-binary", default=os.path.join(REPO, ".build", "release", "hello-sockets"))
    ap.add_argument("--report", help="write the results into this Markdown file, between the flood markers")
    ap.add_argument("--role", choices=["bystander", "flooder"], help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.role:
        return run_role(args)
    if not os.access(args.server_binary, os.X_OK):
        raise SystemExit(f"no server binary at {args.server_binary}: swift build -c release --product hello-sockets")

    load_start = " ".join(f"{x:.2f}" for x in os.getloadavg())
    # The flood outlasts the default 10 s grace: that phase runs with a longer one (the grace has its own phase).
    grace = str(int(args.duration + args.drain + 30))
    with tempfile.TemporaryDirectory() as workdir:
        alone = phase(args, "alone", [], True, False, workdir)
        flood = phase(args, "flood", ["--client-throttle-grace", grace], True, True, workdir)
        unlimited = phase(args, "unlimited", ["--client-message-rate", "0"], True, True, workdir)
        saved = args.duration
        args.duration = max(args.duration, 20)
        closing = phase(args, "grace", [], False, True, workdir)
        args.duration = saved
    load_end = " ".join(f"{x:.2f}" for x in os.getloadavg())

    f, u, c = flood["flooder"], unlimited["flooder"], closing["flooder"]
    checks = [
        ("flooder held to the rate (≤ 100/s + 5%)", f["replies_per_s"] <= 105),
        ("every push answered, in order", f["unanswered"] == 0 and f["in_order"] and f["close_code"] is None),
        ("flooder past the grace closed with 1008", c["close_code"] == 1008),
        ("bystander p99 within 2× of its figure alone", flood["bystander"]["p99_ms"] <= 2 * alone["bystander"]["p99_ms"]),
    ]
    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO).stdout.strip()
    cpu_model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")

    def by(p):
        b = p["bystander"]
        return f"{b['p50_ms']:.2f} / {b['p99_ms']:.2f} / {b['max_ms']:.1f} ms ({b['pings']} pings)"

    L = ["<!-- flood:begin (written by benchmarks/flood.py; edit outside the markers) -->", "## Flood (abuse limits)\n",
         f"`benchmarks/flood.py --duration {args.duration:g}` at {now}, commit `{commit}`: {os.cpu_count()} cores ({cpu_model}); "
         f"load average (1/5/15 min) {load_start} at start, {load_end} at end (the box is shared with other builds: "
         f"latencies are noisy). Release build, one event loop (`--threads 1`: flooder and bystander share it), "
         f"a fresh server per phase; the bystander pings `ping` {args.ping_rate:g} times a second, one at a time; the "
         f"flooder pushes `ping` as fast as the server takes them, {args.window} unanswered, for {args.duration:g} s.\n",
         "| phase | bystander ping p50 / p99 / max | flooder | server CPU |", "|---|---|---|---|",
         f"| alone (default limits) | {by(alone)} | — | {alone['server_cpu_s']} s |",
         f"| flood, default limits (grace {grace} s) | {by(flood)} | {f['replies_per_s']} replies/s steady; {f['sent']} pushes, "
         f"{f['replies']} replies, in order: {f['in_order']}, unanswered: {f['unanswered']} | {flood['server_cpu_s']} s |",
         f"| flood, `--client-message-rate 0` | {by(unlimited)} | {u['replies_per_s']} replies/s steady; {u['sent']} pushes | "
         f"{unlimited['server_cpu_s']} s |",
         f"| flood, default limits and grace | — | closed with {c['close_code']} after {c['closed_after_s']} s "
         f"(\"{c['close_reason']}\"), {c['replies']} replies | {closing['server_cpu_s']} s |",
         "",
         "Checks: " + "; ".join(f"{name}: {'yes' if ok else 'NO'}" for name, ok in checks) + ".",
         f"The server logged the flooder {flood['log_rate_lines']} time(s) in the {args.duration:g} s flood (once a minute).",
         "<!-- flood:end -->"]
    section = "\n".join(L) + "\n"
    print(section)
    if args.report:
        text = open(args.report).read() if os.path.exists(args.report) else "# Benchmark results\n"
        m = re.search(r"<!-- flood:begin.*?<!-- flood:end -->\n?", text, re.S)
        text = text[:m.start()] + section + text[m.end():] if m else text.rstrip("\n") + "\n\n" + section
        open(args.report, "w").write(text)
    passed = sum(1 for _, ok in checks if ok)
    print(f"{passed} passed, {len(checks) - passed} failed")
    sys.exit(0 if passed == len(checks) else 1)


if __name__ == "__main__":
    main()
