#!/usr/bin/env python3
"""The cost of LongPoll forwarding: a round trip on the node holding the session against one through another node.

  benchmarks/longpoll-forward.py --server-binary .build/debug/hello-sockets --round-trips 300 --runs 3

Starts its own redis-server and two nodes (A and B) on free ports, opens a LongPoll session on A and joins the
`ping` channel, then measures round trips as a LongPoll client makes them one after the other: a POST carrying a
`ping` push (answered once the push is handled), then a GET that returns the queued reply. "local" sends both to A;
"forwarded" sends both to B, which forwards them to A through Redis and relays the answers. Phases alternate, each
on its own keep-alive HTTP connection. Prints the median and p99 per phase and run, and the conditions, as Markdown.
Every loop is bounded in count and time. Needs only Python 3.
"""
import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECRET = "longpoll-forward-benchmark-secret-" * 2


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, what, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{what} did not listen on port {port} within {seconds} s")


def request(conn, method, path, body=None):
    headers = {"Content-Type": "application/x-ndjson"} if body is not None else {}
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    return json.loads(response.read())


def cluster_up(port, nodes):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/api/cluster")
        return json.loads(conn.getresponse().read()).get("nodes_up") == nodes
    finally:
        conn.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server-binary", default=str(ROOT / ".build/debug/hello-sockets"))
    parser.add_argument("--round-trips", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="lp-forward-")
    processes = []
    try:
        redis_port = free_port()
        processes.append(subprocess.Popen(
            ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", work], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_for_port(redis_port, "redis-server")
        ports = [free_port(), free_port()]
        for index, port in enumerate(ports):
            processes.append(subprocess.Popen(
                [args.server_binary, "--port", str(port), "--no-watch", "--channels", str(ROOT / "channels"),
                 "--redis", f"redis://127.0.0.1:{redis_port}", "--node-name", f"bench{index}",
                 "--client-message-rate", "0", "--threads", "2", "--log-level", "warning"],
                env={**os.environ, "SECRET_KEY_BASE": SECRET}, stderr=open(f"{work}/node{index}.log", "w")))
        for port in ports:
            wait_for_port(port, "hello-sockets")
        deadline = time.monotonic() + 15
        while not all(cluster_up(port, 2) for port in ports):
            if time.monotonic() > deadline:
                sys.exit("the two nodes did not see each other within 15 s")
            time.sleep(0.1)

        connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=20) for port in ports]
        path = "/socket/longpoll?vsn=2.0.0"
        token = request(connections[0], "GET", path)["token"]
        session = f"{path}&token={token}"
        request(connections[0], "POST", session, '["1","1","ping","phx_join",{}]')
        assert request(connections[0], "GET", session)["status"] == 200

        ref = 1

        def round_trips(conn, count):
            nonlocal ref
            times = []
            deadline = time.monotonic() + 120
            for _ in range(count):
                if time.monotonic() > deadline:
                    break
                ref += 1
                start = time.perf_counter()
                posted = request(conn, "POST", session, f'["1","{ref}","ping","ping",{{}}]')
                polled = request(conn, "GET", session)
                times.append(time.perf_counter() - start)
                if posted["status"] != 200 or polled["status"] != 200 or f'"{ref}"' not in polled["messages"][0]:
                    sys.exit(f"unexpected answers: {posted} {polled}")
            return times

        round_trips(connections[1], 20)  # warm-up, both nodes
        round_trips(connections[0], 20)
        rows = []
        for run in range(args.runs):
            order = [("local", connections[0]), ("forwarded", connections[1])]
            if run % 2:
                order.reverse()
            for phase, conn in order:
                times = sorted(round_trips(conn, args.round_trips))
                rows.append((run + 1, phase, statistics.median(times) * 1e3, times[int(len(times) * 0.99) - 1] * 1e3))

        print(f"binary: {args.server_binary}; load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} cores; "
              f"{args.round_trips} round trips (POST ping + GET reply) per phase")
        print("| run | phase | median ms | p99 ms |\n|---|---|---|---|")
        for run, phase, median, p99 in rows:
            print(f"| {run} | {phase} | {median:.2f} | {p99:.2f} |")
        for phase in ("local", "forwarded"):
            medians = [median for _, p, median, _ in rows if p == phase]
            print(f"{phase}: median of run medians {statistics.median(medians):.2f} ms")
    finally:
        for process in reversed(processes):
            process.kill()
            process.wait()


if __name__ == "__main__":
    main()
