#!/usr/bin/env bash
# Starts the example's backend (backend.py, port 4100) and the server with its channels, allowed to
# call the backend. Ctrl-C stops both. Then open a client, e.g.:
#   python3 -m websockets 'ws://127.0.0.1:4000/socket/websocket?vsn=2.0.0'
#   > ["1","1","room:lobby","phx_join",{"user":"ada"}]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
python3 "$here/backend.py" --port 4100 &
backend=$!
trap 'kill $backend 2>/dev/null' EXIT
server="$root/.build/debug/hello-sockets"
[ -x "$server" ] || (cd "$root" && swift build --product hello-sockets)
"$server" --channels "$here/channels" --http-allow 127.0.0.1:4100 --trace "$@"
