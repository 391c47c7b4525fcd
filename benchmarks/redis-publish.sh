#!/usr/bin/env bash
# Publishes/s through one Redis with HelloSockets' Redis client, next to redis-benchmark (C, hiredis) on the same
# server. Starts its own redis-server on a free 127.0.0.1 port (no persistence) and stops it at the end.
#
#   benchmarks/redis-publish.sh                 # the default grid below
#   MESSAGES=500000 benchmarks/redis-publish.sh
set -euo pipefail
cd "$(dirname "$0")"
MESSAGES=${MESSAGES:-200000}
command -v redis-server >/dev/null || { echo "redis-server missing: run scripts/install-deps.sh" >&2; exit 1; }
swift build -c release --product redis-publish >&2
binary=$(swift build -c release --show-bin-path)/redis-publish

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
dir=$(mktemp -d)
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" --loglevel warning &
redis_pid=$!
trap 'kill $redis_pid 2>/dev/null; wait $redis_pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done

echo "redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/') on 127.0.0.1:$port, $(nproc) cores"
for subscribers in 0 1 3; do
    for window in 1 100 1000; do
        messages=$MESSAGES
        [ "$window" = 1 ] && messages=$((MESSAGES / 10))
        "$binary" --url "redis://127.0.0.1:$port" --messages "$messages" --window "$window" --payload 64 \
            --subscribers "$subscribers" --server-pid "$redis_pid" --server-pid "$redis_pid"
    done
done
echo "redis-benchmark (C), 1 connection, no subscriber, 64-byte payload:"
for pipeline in 1 100 1000; do
    n=$MESSAGES
    [ "$pipeline" = 1 ] && n=$((MESSAGES / 10))
    printf '  -P %-4s ' "$pipeline"
    redis-benchmark -p "$port" -c 1 -P "$pipeline" -n "$n" -q PUBLISH bench:c "$(printf 'x%.0s' $(seq 64))" | tr '\r' '\n' | grep -v '^$' | tail -1
done
