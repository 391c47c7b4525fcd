#!/usr/bin/env bash
# Quick start: builds (release) and serves http://localhost:4000 with the channels in ./channels.
# Extra arguments go to hello-sockets (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release --product hello-sockets
exec .build/release/hello-sockets --channels ./channels "$@"
