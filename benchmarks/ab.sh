#!/usr/bin/env bash
# A/B in one session (the performance issue's rule: the box's speed drifts by ±50 % between hours): the release
# builds of two commits run the same load-kit workloads (benchmarks/run-load.sh, one run each), alternated
# ALTERNATIONS times, and the per-unit figures are reported as medians side by side.
#
#   benchmarks/ab.sh [BASE [HEAD]]        # default BASE b385ba7 (the start of performance round 3), HEAD HEAD
#   ALTERNATIONS=3 WORKLOADS="throughput16 throughput1 fanout connscale" benchmarks/ab.sh
#
# Each commit is exported (git archive) and built once into .build-ab/<commit>/ (kept: a rerun reuses it). Both run
# the channels of this checkout, so the workload is the same. Prints a markdown table for benchmarks/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BASE=$(git rev-parse --short "${1:-b385ba7}")
HEAD_REV=$(git rev-parse --short "${2:-HEAD}")
ALTERNATIONS=${ALTERNATIONS:-3}
read -r -a WORKLOADS <<< "${WORKLOADS:-throughput16 throughput1 fanout connscale}"

binary() {  # binary COMMIT: builds it once, prints the binary's path
  local dir=$ROOT/.build-ab/$1
  if [ ! -x "$dir/bin/hello-sockets" ]; then
    rm -rf "$dir/src" && mkdir -p "$dir/src" "$dir/bin"
    git archive "$1" | tar -x -C "$dir/src"
    (cd "$dir/src" && swift build -c release --product hello-sockets --scratch-path "$dir/build") >&2
    cp "$dir/build/release/hello-sockets" "$dir/bin/"
  fi
  echo "$dir/bin/hello-sockets"
}
BASE_BIN=$(binary "$BASE")
HEAD_BIN=$(binary "$HEAD_REV")

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
for i in $(seq 1 "$ALTERNATIONS"); do
  for label in base head; do
    bin=$BASE_BIN; [ $label = head ] && bin=$HEAD_BIN
    echo "== alternation $i/$ALTERNATIONS: $label (load $(cut -d' ' -f1 /proc/loadavg))" >&2
    HS_BIN=$bin RUNS=1 RESULTS=$TMP/summary.md RAW_OUT=$TMP/$label.raw benchmarks/run-load.sh "${WORKLOADS[@]}" >&2
  done
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$TMP" "$BASE" "$HEAD_REV" "$ALTERNATIONS" "$LOAD_START" "$LOAD_END" "${WORKLOADS[*]}" <<'PY'
import re, statistics, sys
tmp, base, head, alternations, load_start, load_end, workloads = sys.argv[1:8]

def rows(label):
    out = {}
    for line in open(f"{tmp}/{label}.raw"):
        name, rest = line.rstrip("\n").split("\t", 1)
        rest = re.sub(r"all_received_ms p50=(\S+) p99=(\S+) max=(\S+)", r"all_p50=\1 all_p99=\2 all_max=\3", rest)
        rest = re.sub(r"lat_ms p50=(\S+) p90=(\S+) p99=(\S+) max=(\S+)", r"lat_p50=\1 lat_p90=\2 lat_p99=\3 lat_max=\4", rest)
        out.setdefault(name, []).append(dict(re.findall(r"(\w+)=([^\s]+)", rest)))
    return out

def num(kv, key):
    try:
        return float(kv[key].split("/")[0])
    except (KeyError, ValueError):
        return float("nan")

# Per-unit figures first (they decide), then rates and latencies.
METRICS = {
    "throughput16": [("server CPU µs per ping", lambda kv: num(kv, "server_cpu_pct") / 100 / num(kv, "msgs_per_s") * 1e6),
                     ("pings/s", lambda kv: num(kv, "msgs_per_s")), ("p99 ms", lambda kv: num(kv, "p99_ms"))],
    "throughput1": [("server CPU µs per ping", lambda kv: num(kv, "server_cpu_pct") / 100 / num(kv, "msgs_per_s") * 1e6),
                    ("pings/s", lambda kv: num(kv, "msgs_per_s")), ("p99 ms", lambda kv: num(kv, "p99_ms"))],
    "fanout": [("server CPU µs per delivery", lambda kv: num(kv, "server_us_per_delivery")),
               ("all received p50 ms", lambda kv: num(kv, "all_p50")), ("all received p99 ms", lambda kv: num(kv, "all_p99"))],
    "connscale": [("server CPU µs per connect+join", lambda kv: num(kv, "server_cpu_s") / num(kv, "joined") * 1e6),
                  ("KiB per joined connection", lambda kv: num(kv, "server_kib_per_conn")),
                  ("connect+join p99 ms", lambda kv: num(kv, "p99"))],
}

def median(values):
    values = [v for v in values if v == v]
    return statistics.median(values) if values else float("nan")

def fmt(v):
    return "n/a" if v != v else (f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.2f}")

b, h = rows("base"), rows("head")
print(f"A/B `benchmarks/ab.sh {base} {head}` ({alternations} alternations, one run of each workload per binary per "
      f"alternation; load average {load_start} at start, {load_end} at end). Medians; the runs in brackets.\n")
print(f"| workload | figure | {base} (start of round) | {head} | ratio |")
print("|---|---|---|---|---|")
for workload in workloads.split():
    for title, f in METRICS.get(workload, []):
        bv = [f(kv) for kv in b.get(workload, [])]
        hv = [f(kv) for kv in h.get(workload, [])]
        bm, hm = median(bv), median(hv)
        ratio = hm / bm if bm == bm and hm == hm and bm else float("nan")
        print(f"| {workload} | {title} | **{fmt(bm)}** ({', '.join(fmt(v) for v in bv)}) | "
              f"**{fmt(hm)}** ({', '.join(fmt(v) for v in hv)}) | {fmt(ratio)} |")
PY
