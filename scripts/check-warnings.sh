#!/usr/bin/env bash
# Usage: scripts/check-warnings.sh BUILD_LOG
# Fails (exit 1, listing them) when a `swift build` log holds a warning from our own code: a compiler
# diagnostic on a file under Sources/, Tests/ or Plugins/, or in Package.swift, or a SwiftPM warning that names
# such a file (e.g. "found N file(s) which are unhandled"). Warnings from dependencies (.build/checkouts/) pass:
# -warnings-as-errors would fail on code we cannot change. scripts/test.sh runs it on its build log.
# Only files compiled in that build can warn: a clean build (as CI's) checks them all.
set -euo pipefail
log="${1:?usage: scripts/check-warnings.sh BUILD_LOG}"
root="$(cd "$(dirname "$0")/.." && pwd -P)"

ours="$(awk -v root="$root/" '
    function ours(line) {
        return index(line, root "Sources/") || index(line, root "Tests/") || index(line, root "Plugins/") \
            || index(line, root "Package.swift") || line ~ /^(\.\/)?(Sources|Tests|Plugins)\// \
            || line ~ /^(\.\/)?Package\.swift:/
    }
    # A warning line, then (for SwiftPM warnings) the indented lines that name its files.
    /warning:/ { pending = ours($0) ? "" : $0; if (ours($0)) print; next }
    /^[[:space:]]/ && pending != "" { if (ours($0)) { print pending; pending = "" } next }
    { pending = "" }
' "$log" | sort -u)"

if [ -n "$ours" ]; then
    echo "check-warnings: our own targets must build without warnings; $(printf '%s\n' "$ours" | wc -l) found:" >&2
    printf '%s\n' "$ours" >&2
    exit 1
fi
