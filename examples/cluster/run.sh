#!/usr/bin/env bash
# Three HelloSockets nodes on one Redis behind nginx, as a real deployment runs them, on one machine:
#
#   browser ──▶ nginx :4000 (round robin, WebSocket upgrade and LongPoll proxied)
#                 ├──▶ node web1 :4001 ─┐
#                 ├──▶ node web2 :4002 ─┼──▶ redis-server :6390 (PubSub between nodes, Presence, phx.kv)
#                 └──▶ node web3 :4003 ─┘
#
# Each serves the chat example. Open http://127.0.0.1:4000/chat.html in two browsers: each page lands on some
# node (the page shows which), and they chat and see each other's presence all the same. Ctrl-C stops everything.
#
# Needs redis-server and nginx (Debian: apt-get install redis-server nginx; scripts/install-deps.sh installs both).
# Ports: FRONT_PORT (4000), NODE_PORTS ("4001 4002 4003"), REDIS_PORT (6390). Extra arguments go to every node.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
front_port="${FRONT_PORT:-4000}"
read -r -a node_ports <<< "${NODE_PORTS:-4001 4002 4003}"
redis_port="${REDIS_PORT:-6390}"
server="${HELLO_SOCKETS_BIN:-$root/.build/debug/hello-sockets}"
[ -x "$server" ] || (cd "$root" && swift build --product hello-sockets)
for tool in redis-server nginx; do
    command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || {
        echo "run.sh: $tool is not installed (Debian: apt-get install redis-server nginx)" >&2
        exit 1
    }
done
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"

work="$(mktemp -d "${TMPDIR:-/tmp}/hello-sockets-cluster.XXXXXX")"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for_port() {  # PORT WHAT: waits up to 15 s for something to listen on 127.0.0.1:PORT
    for _ in $(seq 1 300); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "run.sh: $2 did not start on port $1 (logs in $work)" >&2
    exit 1
}

redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" \
    --loglevel warning > "$work/redis.log" 2>&1 &
pids+=($!)
wait_for_port "$redis_port" redis-server

upstreams=""
for i in "${!node_ports[@]}"; do
    port="${node_ports[$i]}"
    name="web$((i + 1))"
    "$server" --port "$port" --channels "$root/examples/chat/channels" --public "$root/examples/chat/public" \
        --redis "redis://127.0.0.1:$redis_port" --node-name "$name" "$@" > "$work/$name.log" 2>&1 &
    pids+=($!)
    upstreams+="        server 127.0.0.1:$port;"$'\n'
done
for i in "${!node_ports[@]}"; do wait_for_port "${node_ports[$i]}" "node web$((i + 1))"; done

# Round robin with no stickiness: a LongPoll session's requests may reach any node, which forwards them to the
# node that holds the session.
cat > "$work/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $work/body;
    proxy_temp_path $work/proxy;
    fastcgi_temp_path $work/fastcgi;
    uwsgi_temp_path $work/uwsgi;
    scgi_temp_path $work/scgi;
    upstream hello_sockets {
$upstreams    }
    map \$http_upgrade \$connection_upgrade {
        default upgrade;
        ''      close;
    }
    server {
        listen 127.0.0.1:$front_port;
        location / {
            proxy_pass http://hello_sockets;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection \$connection_upgrade;
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_read_timeout 120s;
            proxy_buffering off;
        }
    }
}
EOF
"$nginx_bin" -c "$work/nginx.conf" -p "$work" 2> "$work/nginx-start.log" &
pids+=($!)
wait_for_port "$front_port" nginx

echo "cluster up: http://127.0.0.1:$front_port/chat.html (nginx) → nodes on ${node_ports[*]}, Redis on $redis_port"
echo "logs in $work; Ctrl-C stops everything"
wait -n "${pids[@]}" || true
echo "run.sh: a process of the cluster exited; stopping the rest (logs were in $work)" >&2
