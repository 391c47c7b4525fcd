#!/usr/bin/env python3
"""Hot reload latency: time from a channel script's rename into place to the new code answering.

Starts the server on a copy of a tiny channels folder, joins `bench`, then N times: writes a new
version of channels/bench.lua to a temp file, renames it over the original (what editors do), and
pushes "version" until the reply carries the new number. Prints each latency and the median, and
with --results appends them, with the command that produced them, to benchmarks/RESULTS.md.

    benchmarks/reload-latency.py [--edits 20] [--binary .build/release/hello-sockets] [--results]

Standard library only (a minimal RFC 6455 client below).
"""
import argparse, threading, base64, os, shutil, socket, statistics, struct, subprocess, sys, tempfile, time, json, re

SCRIPT = """local channel = {{ topic = "bench" }}
function channel.join(topic, payload, socket) return phx.ok() end
function channel.handle_in(event, payload, socket)
  return phx.reply("ok", {{ version = {n} }})
end
return channel
"""


class Client:
    def __init__(self, port, path="/socket/websocket?vsn=2.0.0"):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self.buf += self.sock.recv(4096)
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise RuntimeError(head.decode())

    def send(self, text):
        data = text.encode()
        mask = os.urandom(4)
        header = bytes([0x81])
        n = len(data)
        header += bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n)
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk

    def recv(self):
        self._need(2)
        n = self.buf[1] & 0x7F
        off = 2
        if n == 126:
            self._need(4); n = struct.unpack(">H", self.buf[2:4])[0]; off = 4
        elif n == 127:
            self._need(10); n = struct.unpack(">Q", self.buf[2:10])[0]; off = 10
        self._need(off + n)
        payload, self.buf = self.buf[off:off + n], self.buf[off + n:]
        return payload.decode()


def main():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser()
    ap.add_argument("--edits", type=int, default=20)
    ap.add_argument("--binary", default=os.path.join(repo, ".build/release/hello-sockets"))
    ap.add_argument("--results", action="store_true", help="append to benchmarks/RESULTS.md")
    args = ap.parse_args()

    folder = tempfile.mkdtemp(prefix="reload-bench-")
    channels = os.path.join(folder, "channels")
    os.mkdir(channels)
    target = os.path.join(channels, "bench.lua")
    with open(target, "w") as f:
        f.write(SCRIPT.format(n=0))
    server = subprocess.Popen([args.binary, "--port", "0", "--channels", channels, "--threads", "2"],
                              stderr=subprocess.PIPE, text=True)
    try:
        port = None
        log = []
        while port is None:
            line = server.stderr.readline()
            if not line:
                raise RuntimeError("server exited:\n" + "".join(log))
            log.append(line)
            m = re.search(r"listening on http://[^:]+:(\d+)", line)
            if m:
                port = int(m.group(1))
        threading.Thread(target=lambda: log.extend(iter(server.stderr.readline, "")), daemon=True).start()
        client = Client(port)
        client.send('["1","1","bench","phx_join",{}]')
        client.recv()
        ref = 1
        latencies = []
        for n in range(1, args.edits + 1):
            tmp = os.path.join(channels, ".bench.lua.tmp")
            with open(tmp, "w") as f:
                f.write(SCRIPT.format(n=n))
            start = time.perf_counter()
            os.rename(tmp, target)
            while True:
                ref += 1
                client.send(f'["1","{ref}","bench","version",{{}}]')
                reply = json.loads(client.recv())
                if reply[4]["response"].get("version") == n:
                    break
            latencies.append((time.perf_counter() - start) * 1000)
            time.sleep(0.05)  # let the next edit be a separate save
        reloads = [l.strip() for l in log if "reloaded" in l]
        if reloads:
            print("last server log line:", reloads[-1])
        median = statistics.median(latencies)
        print("latencies (ms):", " ".join(f"{x:.1f}" for x in latencies))
        print(f"median {median:.1f} ms, min {min(latencies):.1f}, max {max(latencies):.1f} over {len(latencies)} edits")
        if args.results:
            command = "benchmarks/reload-latency.py " + " ".join(sys.argv[1:])
            path = os.path.join(repo, "benchmarks", "RESULTS.md")
            new = not os.path.exists(path)
            with open(path, "a") as f:
                if new:
                    f.write("# Benchmark results\n\n## Hot reload latency\n\n"
                            "Time from renaming an edited `channels/bench.lua` into place to the first reply from the new\n"
                            "code (the client pushes until the reply carries the new version). Target: < 50 ms.\n"
                            "Setup: `swift build -c release --product hello-sockets` first; the server runs with 2 event loops on\n"
                            "the shared 2-core dev machine. About 5 ms of each number is the watcher's debounce window.\n\n"
                            "| date | command | edits | median | min | max |\n|---|---|---|---|---|---|\n")
                f.write(f"| {time.strftime('%Y-%m-%d %H:%M')} | `{command}` | {len(latencies)} | "
                        f"{median:.1f} ms | {min(latencies):.1f} ms | {max(latencies):.1f} ms |\n")
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
