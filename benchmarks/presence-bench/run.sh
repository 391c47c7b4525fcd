#!/usr/bin/env bash
# The presence benchmark (issue 12): N clients join room:bench at RATE joins/s against a fresh release
# server running benchmarks/presence-bench/channels (the Phoenix guide's RoomChannel), each client keeping its
# member list as phoenix.js does; batching off and at 50 ms. The server's CPU per join comes from
# /proc/PID/stat, so it holds on a busy box better than the times do. Medians of RUNS runs go into
# benchmarks/RESULTS.md, between the "presence" markers (the rest of the file is kept).
#
#   benchmarks/presence-bench/run.sh                          # N = 500 and 5000, batching 0 and 50 ms, 3 runs each
#   CONFIGS="500:0:100 500:50:100" RUNS=1 benchmarks/presence-bench/run.sh   # N:batch_ms:joins_per_s[:runs]
#   HS_BIN=path/to/hello-sockets BENCH_BIN=path/to/presence-bench benchmarks/presence-bench/run.sh   # no builds
#
# N = 5000 without batching joins at 10/s, once, by default: every join then costs a diff to every member, and
# at 100/s the deliveries (~2.5 s of CPU per second) outrun two cores; the broadcast backlog then delays the
# server's reads past the 60 s idle timeout and it closes everyone. The CPU per join is what compares.
#
# The client alone works against any Phoenix-protocol server (see presence-bench --help).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
CONFIGS=${CONFIGS:-"500:0:100 500:50:100 5000:0:10:1 5000:50:100"}
RUNS=${RUNS:-3}
THREADS=${THREADS:-2}
OUT=${RESULTS:-$ROOT/benchmarks/RESULTS.md}

if [ -z "${HS_BIN:-}" ]; then
  swift build -c release --product hello-sockets >&2
  HS_BIN=$(swift build -c release --show-bin-path)/hello-sockets
fi
if [ -z "${BENCH_BIN:-}" ]; then
  (cd benchmarks/presence-bench && swift build -c release >&2)
  BENCH_BIN=$(cd benchmarks/presence-bench && swift build -c release --show-bin-path)/presence-bench
fi

TMP=$(mktemp -d)
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

source "$ROOT/benchmarks/lib.sh"  # free_port, wait_port

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
: >"$TMP/raw.txt"
for config in $CONFIGS; do
  IFS=: read -r n batch rate runs <<<"$config"
  for run in $(seq 1 "${runs:-$RUNS}"); do
    port=$(free_port)
    "$HS_BIN" --port "$port" --channels "$ROOT/benchmarks/presence-bench/channels" --no-watch --no-observe \
      --log-level error --threads "$THREADS" --presence-batch-ms "$batch" --max-connections 20000 \
      >"$TMP/server.log" 2>&1 &
    SERVER_PID=$!
    wait_port "$port" "$SERVER_PID" || { cat "$TMP/server.log" >&2; exit 1; }
    timeout=$(( n / rate + 600 ))
    line=$("$BENCH_BIN" --url "ws://127.0.0.1:$port/socket/websocket?vsn=2.0.0" --clients "$n" --rate "$rate" \
      --server-pid "$SERVER_PID" --timeout "$timeout" | grep '^RESULT' || true)  # exits 1 when it did not converge
    [ -n "$line" ] || line="RESULT presence failed"
    echo "N=$n batch=$batch rate=$rate run=$run $line" >&2
    echo "$n $batch $line" >>"$TMP/raw.txt"
    kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
  done
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$TMP/raw.txt" "$OUT" "$LOAD_START" "$LOAD_END" "$RUNS" "$THREADS" <<'PY'
import statistics, sys, re, datetime
raw, out, load_start, load_end, runs, threads = sys.argv[1:]
rows = {}
for line in open(raw):
    n, batch, rest = line.split(" ", 2)
    fields = dict(re.findall(r"(\w+)=(\S+)", rest))
    rows.setdefault((int(n), int(batch)), []).append(fields)
def med(values):
    values = [float(v) for v in values if v is not None]
    return statistics.median(values) if values else float("nan")
table = ["| N | batching | joins/s | server CPU per join (ms) | per join per member (µs) | frames sent | diffs | time to converge (s) | after the last join (s) | client CPU (s) | converged runs |",
         "|---|---|---|---|---|---|---|---|---|---|---|"]
for (n, batch), runs_ in sorted(rows.items()):
    ok = [r for r in runs_ if r.get("converged") == "true"]
    use = ok or runs_
    ms = med([r.get("server_ms_per_join") for r in use])
    table.append("| {} | {} | {} | {:.3f} | {:.2f} | {:.0f} | {:.0f} | {:.1f} | {:.2f} | {:.1f} | {}/{} |".format(
        n, "off" if batch == 0 else f"{batch} ms", use[0].get("rate", "?").rstrip("0").rstrip("."), ms, ms * 1000 / n,
        med([r.get("frames") for r in use]),
        med([r.get("diffs") for r in use]), med([r.get("converge_s") for r in use]),
        med([r.get("after_last_join_s") for r in use]), med([r.get("client_cpu_s") for r in use]), len(ok), len(runs_)))
stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
section = "\n".join([
    "<!-- presence:start -->",
    "## Presence: joins into one room (issue 12)",
    "",
    f"`benchmarks/presence-bench/run.sh` ({stamp}; RUNS={runs} (the last column says how many runs a row has), server --threads {threads}; medians; "
    f"load average {load_start} at start, {load_end} at end). Each client joins `room:bench` with "
    "`{\"user\": \"u<i>\"}` and keeps its list as phoenix.js does; \"time to converge\" runs from the first join "
    "until every client's list holds all N. Server CPU is utime+stime from /proc between the first join and "
    "convergence.",
    "",
    *table,
    "<!-- presence:end -->",
])
text = open(out).read() if __import__("os").path.exists(out) else ""
if "<!-- presence:start -->" in text:
    text = re.sub(r"<!-- presence:start -->.*?<!-- presence:end -->", lambda _: section, text, flags=re.S)
else:
    text = text.rstrip("\n") + "\n\n" + section + "\n"
open(out, "w").write(text)
print(section)
PY
