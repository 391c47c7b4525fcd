#!/usr/bin/env bash
# Runs every test: the Swift test suites, then the Autobahn|Testsuite conformance groups 1-7 and 10
# against /echo. Set CONFORMANCE=full to run every group (9, 12 and 13 take ~10 more minutes),
# or CONFORMANCE=skip to run only the Swift tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# The Python client examples' tests need the websockets package (PyPI); they are skipped without it.
python3 -c 'import websockets' 2>/dev/null || python3 -m pip install --user --quiet websockets \
    || echo "test.sh: could not install websockets: the Python example tests will be skipped" >&2
swift build --build-tests
swift test --skip-build
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
