#!/usr/bin/env bash
# Runs every test: the Swift test suites, then the Autobahn|Testsuite conformance groups 1-7 and 10
# against /echo. Set CONFORMANCE=full to run every group (9, 12 and 13 take ~10 more minutes),
# or CONFORMANCE=skip to run only the Swift tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build --build-tests
swift test --skip-build
# The Lua channel specs (*_test.lua), with the debug binary built above.
.build/debug/hello-sockets test channels
case "${CONFORMANCE:-quick}" in
    skip) ;;
    full) scripts/autobahn.sh ;;
    # The debug build made above serves the quick groups well enough; no second (release) build.
    *) scripts/autobahn.sh --debug --cases '1.*,2.*,3.*,4.*,5.*,6.*,7.*,10.*' ;;
esac
