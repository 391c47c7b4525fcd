#!/usr/bin/env bash
# Installs hello-sockets: a release build, copied to PREFIX/bin (default /usr/local), with whatever the
# binary needs beside it (SwiftPM resource bundles, if the build has any).
#
# Usage: scripts/install.sh [--debug] [--no-build] [PREFIX]
#
#   PREFIX      where to install: PREFIX/bin/hello-sockets (default /usr/local; ~/.local needs no root)
#   --debug     install the debug build instead of the release one
#   --no-build  install what is already built (CI, tests), without running swift build
#
# Installs the system packages the build needs first (scripts/install-deps.sh). At run time the binary
# needs Debian's liblua5.4 (installed with liblua5.4-dev). Then, from any folder:
#   hello-sockets --version     hello-sockets --help     hello-sockets --channels DIR
set -euo pipefail
configuration=release
build=1
prefix=/usr/local
while [ $# -gt 0 ]; do
    case "$1" in
        --debug) configuration=debug ;;
        --no-build) build=0 ;;
        -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
        -*) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) prefix=$1 ;;
    esac
    shift
done
cd "$(dirname "$0")/.."
if [ "$build" = 1 ]; then
    scripts/install-deps.sh
    swift build -c "$configuration" --product hello-sockets
fi
bin_path=.build/$configuration     # SwiftPM's link to the bin path of the host triple
[ -x "$bin_path/hello-sockets" ] || { echo "install.sh: no $bin_path/hello-sockets (build it, or drop --no-build)" >&2; exit 1; }
mkdir -p "$prefix/bin"
install -m 0755 "$bin_path/hello-sockets" "$prefix/bin/hello-sockets"
# Resource bundles sit beside the binary, where Bundle.module looks for them.
for bundle in "$bin_path"/*.resources; do
    [ -e "$bundle" ] || continue
    rm -rf "$prefix/bin/$(basename "$bundle")"
    cp -R "$bundle" "$prefix/bin/"
done
echo "installed $("$prefix/bin/hello-sockets" --version) as $prefix/bin/hello-sockets"
case ":$PATH:" in
    *":$prefix/bin:"*) ;;
    *) echo "note: $prefix/bin is not on your PATH; add it: export PATH=\"$prefix/bin:\$PATH\"" ;;
esac
