#!/usr/bin/env bash
# Runs every test: the Swift test suites, then the Autobahn|Testsuite conformance groups 1-7 and 10
# against /echo. Set CONFORMANCE=full to run every group (9, 12 and 13 take ~10 more minutes),
# or CONFORMANCE=skip to skip them. Then a 60-second soak test (benchmarks/soak.py; SOAK=skip skips it).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# The Python client examples' tests need the websockets package (PyPI); they are skipped without it.
python3 -c 'import websockets' 2>/dev/null || python3 -m pip install --user --quiet websockets \
    || echo "test.sh: could not install websockets: the Python example tests will be skipped" >&2
# Zero warnings from our own targets: the build log is checked (dependencies may warn).
mkdir -p .build
swift build --build-tests 2>&1 | tee .build/build-tests.log
scripts/check-warnings.sh .build/build-tests.log
# SWIFTNIO_STRICT: SwiftNIO's API-misuse checks (e.g. an EmbeddedEventLoop used from a thread other than its
# own) crash instead of printing an error the run would bury.
SWIFTNIO_STRICT=1 swift test --skip-build
# The Lua channel specs (*_test.lua), with the debug binary built above.
.build/debug/hello-sockets test channels
# The examples' channel specs.
for specs in examples/*/channels; do .build/debug/hello-sockets test "$specs"; done
case "${CONFORMANCE:-quick}" in
    skip) ;;
    full) scripts/autobahn.sh ;;
    # The debug build made above serves the quick groups well enough; no second (release) build.
    *) scripts/autobahn.sh --debug --cases '1.*,2.*,3.*,4.*,5.*,6.*,7.*,10.*' ;;
esac
# Soak: a minute of mixed load on the real server (client churn, checked pings, broadcasts, hot
# reloads, bad clients, RSS and fd checks): benchmarks/soak.py, with Python's websockets (>= 13).
# Reuses a release build newer than every source file, else the debug build made above.
if [ "${SOAK:-quick}" != skip ]; then
    soak_python=python3
    if ! python3 -c 'import websockets.asyncio.client' >/dev/null 2>&1; then
        python3 -m pip install --quiet 'websockets>=13' >/dev/null 2>&1 || true
        if ! python3 -c 'import websockets.asyncio.client' >/dev/null 2>&1; then
            # An externally managed Python (Debian's): a private venv instead.
            soak_venv="${XDG_CACHE_HOME:-$HOME/.cache}/hello-sockets-soak/venv"
            [ -x "$soak_venv/bin/python" ] || python3 -m venv "$soak_venv"
            "$soak_venv/bin/python" -c 'import websockets.asyncio.client' >/dev/null 2>&1 ||
                "$soak_venv/bin/python" -m pip install --quiet 'websockets>=13'
            soak_python="$soak_venv/bin/python"
        fi
    fi
    soak_binary=.build/debug/hello-sockets
    if [ -x .build/release/hello-sockets ] && [ -z "$(find Sources Package.swift -newer .build/release/hello-sockets -print -quit)" ]; then
        soak_binary=.build/release/hello-sockets
    fi
    "$soak_python" benchmarks/soak.py --duration 60 --server-binary "$soak_binary" \
        --clients 8 --reload-interval 15 --bad-interval 25 --sample-interval 5 --warmup 15 \
        --rss-tolerance 0.5 --rss-slack-mb 16 --reply-timeout 20
fi
