#!/usr/bin/env bash
# Fan-out across nodes (issue 14): SUBS subscribers on node B of a 3-node cluster on one redis-server, each
# broadcast published on node A (POST /api/broadcast), next to the same fan-out on a lone node (subscribers and
# trigger on it), alternated, RUNS times each, fresh processes per run. Release build; the load kit
# (../shared/tools/load or $HS_LOAD_KIT, its C engine) holds the subscribers and measures; without it, says so
# and exits 0.
#
#   benchmarks/cluster-fanout.sh                       # SUBS=10000 ROUNDS=20 RUNS=3
#   SUBS=5000 RUNS=1 benchmarks/cluster-fanout.sh
#   HS_BIN=path/to/hello-sockets benchmarks/cluster-fanout.sh   # skip the build
#
# Prints one line per run: the kit's RESULT (latency from the HTTP trigger to each subscriber, all-received per
# round, server CPU per delivery over the PIDs given: the lone node, or all three nodes) and redis-server's CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
KIT=${HS_LOAD_KIT:-$ROOT/../shared/tools/load}
SUBS=${SUBS:-10000}
ROUNDS=${ROUNDS:-20}
RUNS=${RUNS:-3}

if [ ! -x "$KIT/run" ]; then
  echo "cluster-fanout.sh: load kit not found at $KIT (set HS_LOAD_KIT); skipping." >&2
  exit 0
fi
command -v redis-server >/dev/null || { echo "redis-server missing: run scripts/install-deps.sh" >&2; exit 1; }
if [ -n "${HS_BIN:-}" ]; then
  BIN=$HS_BIN
else
  swift build -c release --product hello-sockets >&2
  BIN=$(swift build -c release --show-bin-path)/hello-sockets
fi

TMP=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT

source "$ROOT/benchmarks/lib.sh"  # free_port, cpu_ticks, wait_port
TICKS=$(getconf CLK_TCK)
LAST_PID=""
start_node() {  # start_node PORT [FLAGS…]: sets LAST_PID
  local port=$1; shift
  "$BIN" --port "$port" --channels "$ROOT/channels" --no-watch --no-observe --log-level error \
    --max-connections 20000 --client-message-rate 0 "$@" >>"$TMP/nodes.log" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
  wait_port "$port" "$LAST_PID" || { cat "$TMP/nodes.log" >&2; echo "node did not start" >&2; exit 1; }
}
stop_all() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  PIDS=()
}
url() { echo "ws://127.0.0.1:$1/socket/websocket?vsn=2.0.0"; }
fanout() {  # fanout LABEL SUB_PORT TRIGGER_PORT SERVER_PIDS REDIS_PID
  local label=$1 sub=$2 trigger=$3 pids=$4 redis=$5 r0=0 r1=0 line
  [ -n "$redis" ] && r0=$(cpu_ticks "$redis")
  "$KIT/run" fanout -s "$SUBS" -r "$ROUNDS" --topic ping --event bcast --url "$(url "$sub")" \
    --trigger-url "http://127.0.0.1:$trigger/api/broadcast" --trigger-method POST \
    --trigger-body '{{"topic":"{topic}","event":"{event}","payload":{{"seq":{seq}}}}}' \
    --server-pid "$pids" >"$TMP/kit.out" 2>&1 || true
  [ -n "$redis" ] && r1=$(cpu_ticks "$redis")
  line=$(grep '^RESULT' "$TMP/kit.out" | tail -1 || true)
  [ -n "$line" ] || { tail -5 "$TMP/kit.out" >&2; line="RESULT failed"; }
  printf '%-8s %s redis_cpu_s=%s load1=%s\n' "$label" "$line" \
    "$(awk -v a="$r0" -v b="$r1" -v t="$TICKS" 'BEGIN{printf "%.2f", (b-a)/t}')" "$(cut -d' ' -f1 /proc/loadavg)"
}

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$TMP" --loglevel warning \
  >"$TMP/redis.log" 2>&1 &
REDIS_PID=$!
trap 'cleanup; kill $REDIS_PID 2>/dev/null; wait $REDIS_PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$redis_port") 2>/dev/null && break; sleep 0.05; done

echo "# cluster-fanout subs=$SUBS rounds=$ROUNDS runs=$RUNS cores=$(nproc) load=$(cut -d' ' -f1-3 /proc/loadavg)"
for run in $(seq 1 "$RUNS"); do
  port=$(free_port)
  start_node "$port"
  fanout single "$port" "$port" "$LAST_PID" ""
  stop_all

  ports=() pids=()
  for name in a b c; do
    port=$(free_port)
    start_node "$port" --redis "redis://127.0.0.1:$redis_port" --cluster "bench$run" --node-name "$name"
    ports+=("$port") pids+=("$LAST_PID")
  done
  for _ in $(seq 100); do
    curl -s "http://127.0.0.1:${ports[0]}/api/cluster" | grep -q '"nodes_up":3' && break
    sleep 0.1
  done
  fanout cluster "${ports[1]}" "${ports[0]}" "$(IFS=,; echo "${pids[*]}")" "$REDIS_PID"
  stop_all
done
