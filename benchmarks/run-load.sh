#!/usr/bin/env bash
# Macro benchmarks: the four workloads of the performance issue against a release build, 3 runs each,
# a fresh server per run, medians into benchmarks/RESULTS.md (the "Load" section between its markers;
# the rest of the file is kept). Uses the C-engine load kit at ../shared/tools/load (or $HS_LOAD_KIT);
# without it, says so and exits 0: a clone of the repository doesn't have it.
#
#   benchmarks/run-load.sh                      # everything (~15 min on a 2-core box)
#   benchmarks/run-load.sh throughput16 startup # some workloads
#   RUNS=1 benchmarks/run-load.sh               # quicker, less trustworthy
#   HS_BIN=path/to/hello-sockets benchmarks/run-load.sh   # skip the build
#   RAW_OUT=file benchmarks/run-load.sh         # also append the raw RESULT lines to file (benchmarks/ab.sh reads them)
#
# Workloads: startup connscale throughput16 throughput1 fanout standin
# The server's CPU per unit of work comes from /proc/PID/stat (utime+stime), so it holds on a busy box
# better than rates and latencies do; the load average at start and end is recorded with the results.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
KIT=${HS_LOAD_KIT:-$ROOT/../shared/tools/load}
RUNS=${RUNS:-3}
OUT=${RESULTS:-$ROOT/benchmarks/RESULTS.md}
WORKLOADS=("$@")
[ ${#WORKLOADS[@]} -gt 0 ] || WORKLOADS=(startup connscale throughput16 throughput1 fanout standin)

if [ ! -x "$KIT/run" ]; then
  echo "run-load.sh: load kit not found at $KIT (set HS_LOAD_KIT); skipping the macro benchmarks." >&2
  exit 0
fi

if [ -n "${HS_BIN:-}" ]; then
  BIN=$HS_BIN   # a binary built already (e.g. while another build holds .build)
else
  echo "== building hello-sockets (release)" >&2
  swift build -c release --product hello-sockets >&2
  BIN=$(swift build -c release --show-bin-path)/hello-sockets
fi

TMP=$(mktemp -d)
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

source "$ROOT/benchmarks/lib.sh"  # free_port, cpu_ticks, wait_port
start_server() {  # start_server PORT [FLAGS…]: a fresh server, production-like (no watcher), SERVER_PID set
  local port=$1; shift
  "$BIN" --port "$port" --channels "$ROOT/channels" --no-watch --no-observe --log-level error \
    --max-connections 20000 "$@" >"$TMP/server.log" 2>&1 &
  SERVER_PID=$!
  wait_port "$port" "$SERVER_PID" || { cat "$TMP/server.log" >&2; echo "server did not start" >&2; exit 1; }
}
# The throughput workloads keep 1 or 16 pings in flight per connection: hundreds a second per socket, past the
# default --client-message-rate of 100/s. They measure the server's speed, not its limits: the rate is off.
# (A binary older than the limit has no such flag, and no limit: benchmarks/ab.sh runs those too.)
UNTHROTTLED=()
# (The help is read whole first: `grep -q` on a pipe can close it early, and under pipefail the binary's SIGPIPE
# then read as "no such flag", leaving 2 of 3 runs throttled at 100 messages/s.)
HELP=$("$BIN" --help 2>&1 || true)
if [[ $HELP == *--client-message-rate* ]]; then UNTHROTTLED=(--client-message-rate 0); fi
stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}
url() { echo "ws://127.0.0.1:$1/socket/websocket?vsn=2.0.0"; }

TICKS=$(getconf CLK_TCK)
RAW=$TMP/raw.txt   # lines: workload<TAB>key=value ...
: >"$RAW"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

run_kit() {  # run_kit WORKLOAD PORT ARGS...: runs the kit, appends its RESULT line + server CPU to RAW
  local name=$1 port=$2; shift 2
  local t0 t1 line
  t0=$(cpu_ticks "$SERVER_PID")
  "$KIT/run" "$@" --server-pid "$SERVER_PID" >"$TMP/kit.out" 2>&1 || true
  t1=$(cpu_ticks "$SERVER_PID")
  line=$(grep '^RESULT' "$TMP/kit.out" | tail -1 || true)
  if [ -z "$line" ]; then tail -5 "$TMP/kit.out" >&2; line="RESULT failed"; fi
  echo "  $line" >&2
  printf '%s\t%s server_cpu_s=%s load1=%s\n' "$name" "$line" \
    "$(awk -v a="$t0" -v b="$t1" -v t="$TICKS" 'BEGIN{printf "%.2f", (b-a)/t}')" \
    "$(cut -d' ' -f1 /proc/loadavg)" >>"$RAW"
}

for w in "${WORKLOADS[@]}"; do
  for i in $(seq 1 "$RUNS"); do
    echo "== $w run $i/$RUNS (load $(cut -d' ' -f1 /proc/loadavg))" >&2
    port=$(free_port)
    case $w in
      startup)
        # Launch → first accepted TCP connection (the server binds only after loading every channel script
        # into every loop's VM), polled every 1 ms; plus the server's own CPU time by then (robust to load).
        for _ in 1 2 3; do
          python3 - "$BIN" "$ROOT/channels" "$port" >>"$RAW" <<'STARTUP'
import os, socket, subprocess, sys, time
binary, channels, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
t0 = time.monotonic()
p = subprocess.Popen([binary, "--port", str(port), "--channels", channels, "--no-watch", "--no-observe", "--log-level", "error"],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
while True:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        break
    except OSError:
        if p.poll() is not None: sys.exit("server exited")
        time.sleep(0.001)
ms = (time.monotonic() - t0) * 1000
f = open(f"/proc/{p.pid}/stat").read().rsplit(")", 1)[1].split()
cpu_ms = (int(f[11]) + int(f[12])) * 1000 / os.sysconf("SC_CLK_TCK")
p.terminate(); p.wait()
print(f"startup\tRESULT startup ms={ms:.1f} cpu_ms={cpu_ms:.0f} load1={os.getloadavg()[0]:.2f}")
STARTUP
          port=$(free_port)
        done ;;
      connscale)
        start_server "$port"
        run_kit connscale "$port" connscale -n 19000 --rate 3000 --hold 20 --topic ping --url "$(url "$port")"
        stop_server ;;
      throughput16)
        start_server "$port" "${UNTHROTTLED[@]}"
        run_kit throughput16 "$port" throughput -k 100 -w 16 -t 10 --topic ping --url "$(url "$port")"
        stop_server ;;
      throughput1)
        start_server "$port" "${UNTHROTTLED[@]}"
        run_kit throughput1 "$port" throughput -k 100 -w 1 -t 10 --topic ping --url "$(url "$port")"
        stop_server ;;
      fanout)
        start_server "$port"
        run_kit fanout "$port" fanout -s 10000 -r 20 --topic ping --event bcast --url "$(url "$port")" \
          --trigger-url "http://127.0.0.1:$port/api/broadcast" --trigger-method POST \
          --trigger-body '{{"topic":"{topic}","event":"{event}","payload":{{"seq":{seq}}}}}'
        stop_server ;;
      standin)
        # The kit's stand-in server (Python/picows), same throughput workload, for scale on this box today.
        "$KIT/run" standin --port "$port" --workers 1 >"$TMP/standin.log" 2>&1 &
        SERVER_PID=$!
        wait_port "$port" "$SERVER_PID" || { cat "$TMP/standin.log" >&2; exit 1; }
        sleep 1
        # The stand-in runs as a child of the launcher: measure the process listening on the port.
        spid=$(ss -Htlnp "sport = :$port" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
        saved=$SERVER_PID; SERVER_PID=${spid:-$saved}
        run_kit standin "$port" throughput -k 100 -w 16 -t 10 --topic ping --url "$(url "$port")"
        SERVER_PID=$saved; stop_server ;;
      *) echo "unknown workload $w" >&2; exit 2 ;;
    esac
  done
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
[ -z "${RAW_OUT:-}" ] || cat "$RAW" >>"$RAW_OUT"

python3 - "$RAW" "$OUT" "$LOAD_START" "$LOAD_END" "$RUNS" "$*" <<'PY'
import re, statistics, sys, datetime, os, subprocess
raw, out, load_start, load_end, runs, argv = sys.argv[1:7]
rows = {}
for line in open(raw):
    name, rest = line.rstrip("\n").split("\t", 1)
    rest = re.sub(r"all_received_ms p50=(\S+) p99=(\S+) max=(\S+)", r"all_p50=\1 all_p99=\2 all_max=\3", rest)
    rest = re.sub(r"lat_ms p50=(\S+) p90=(\S+) p99=(\S+) max=(\S+)", r"lat_p50=\1 lat_p90=\2 lat_p99=\3 lat_max=\4", rest)
    rest = re.sub(r"trigger_http_ms p50=(\S+)", r"trigger_p50=\1", rest)
    kv = dict(re.findall(r"(\w+)=([^\s]+)", rest))
    rows.setdefault(name, []).append(kv)

def num(kv, k):
    try:
        v = kv[k].split("/")[0]
        return float(v)
    except (KeyError, ValueError):
        return float("nan")

def med(name, f):
    vals = [f(kv) for kv in rows.get(name, [])]
    vals = [v for v in vals if v == v]
    return statistics.median(vals) if vals else float("nan")

def fmt(v, nd=1):
    return "n/a" if v != v else f"{v:,.{nd}f}"

def usg_per_msg(kv):  # server CPU µs per round trip, from the kit's own measurement window
    return num(kv, "server_cpu_pct") / 100 / num(kv, "msgs_per_s") * 1e6

cores = os.cpu_count()
mem_gib = int(open("/proc/meminfo").read().split()[1]) / 1024 / 1024
cpu_model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
try:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
except OSError:
    commit = "?"

L = []
L.append("<!-- load:begin (written by benchmarks/run-load.sh; edit outside the markers) -->")
L.append("## Load (macro benchmarks)\n")
L.append(f"`benchmarks/run-load.sh {argv}`".replace(" `", "`") + f" at {now}, commit `{commit}`: {cores} cores ({cpu_model}), "
         f"{mem_gib:.1f} GiB RAM; load average (1/5/15 min) {load_start} at start, {load_end} at end "
         f"(the box is shared: rates and latencies are noisy, server CPU per unit of work much less so). "
         f"Release build, fresh server per run (`--no-watch --no-observe`, 2 event loops), C load engine, medians of {runs} runs. "
         f"The throughput runs set `--client-message-rate 0`: their 1 or 16 pings in flight per connection are hundreds "
         f"a second per socket, past the default limit of 100/s (docs/abuse-limits.md).\n")
L.append("| workload | ours: server CPU | ours: rate / latency | Phoenix 1.7.24 | target |")
L.append("|---|---|---|---|---|")
if "startup" in rows:
    L.append(f"| startup (launch → accepting, channels loaded) | {fmt(med('startup', lambda kv: num(kv, 'cpu_ms')), 0)} ms CPU (10 ms ticks) | {fmt(med('startup', lambda kv: num(kv, 'ms')), 1)} ms wall, median of {len(rows['startup'])} | | < 100 ms |")
if "connscale" in rows:
    def us_join(kv): return num(kv, "server_cpu_s") / max(num(kv, "joined"), 1) * 1e6
    L.append(f"| connscale 19,000 joined to `ping` | {fmt(med('connscale', us_join))} µs per connect+join (whole run incl. hold and close) "
             f"| {fmt(med('connscale', lambda kv: num(kv, 'server_kib_per_conn')))} KiB/conn; joined {fmt(med('connscale', lambda kv: num(kv, 'joined')), 0)}; "
             f"connect+join p50 {fmt(med('connscale', lambda kv: num(kv, 'p50')))} / p99 {fmt(med('connscale', lambda kv: num(kv, 'p99')))} ms "
             f"| 27.2 KiB/conn, 307 µs | ≤ 6 KiB/conn, ≤ 60 µs |")
for name, label, phx, target in [
    ("throughput16", "throughput ping, 100 conns × 16 in flight", "19–23 µs/msg, 41k–83k msg/s, p99 44–96 ms", "≤ 5 µs/msg, ≥ 120k msg/s, p99 ≤ 20 ms"),
    ("throughput1", "throughput ping, 100 conns × 1 in flight", "~45 µs/msg, p99 12–13 ms", "≤ 12 µs/msg, p99 ≤ 3 ms"),
    ("standin", "stand-in (kit's Python server), 100 × 16", "", "(~7 µs/msg when measured by the kit)"),
]:
    if name in rows:
        L.append(f"| {label} | {fmt(med(name, usg_per_msg), 2)} µs/msg | {fmt(med(name, lambda kv: num(kv, 'msgs_per_s')), 0)} msg/s, "
                 f"p50 {fmt(med(name, lambda kv: num(kv, 'p50_ms')))} / p99 {fmt(med(name, lambda kv: num(kv, 'p99_ms')))} ms, "
                 f"client CPU {fmt(med(name, lambda kv: num(kv, 'client_cpu_pct')), 0)}% | {phx} | {target} |")
if "fanout" in rows:
    def us_del(kv):
        d = num(kv, "delivered")
        return num(kv, "server_cpu_s") / max(d, 1) * 1e6
    L.append(f"| fan-out to 10,000 subscribers, 20 rounds | {fmt(med('fanout', us_del), 2)} µs per delivery (whole run incl. joins) "
             f"| all received p50 {fmt(med('fanout', lambda kv: num(kv, 'all_p50')))} / p99 {fmt(med('fanout', lambda kv: num(kv, 'all_p99')))} ms; "
             f"delivered {rows['fanout'][0].get('delivered', '?')} | all received p50 141–184 / p99 203–254 ms | p99 ≤ 60 ms |")
L.append("")
L.append("Per run (raw `RESULT` lines of the kit, plus `server_cpu_s` from /proc and the 1-minute load average after the run):\n")
L.append("```")
for line in open(raw):
    L.append(line.rstrip("\n"))
L.append("```")
L.append("<!-- load:end -->")
section = "\n".join(L) + "\n"

text = open(out).read() if os.path.exists(out) else "# Benchmark results\n"
m = re.search(r"<!-- load:begin.*?<!-- load:end -->\n?", text, re.S)
text = text[:m.start()] + section + text[m.end():] if m else text.rstrip("\n") + "\n\n" + section
open(out, "w").write(text)
print(section)
PY
