#!/usr/bin/env bash
# scripts/autobahn.sh - RFC 6455 conformance check of HelloSockets with the
# Autobahn|Testsuite fuzzing client (wstest 25.10.1).
#
# Usage:
#   scripts/autobahn.sh [--cases LIST] [--exclude LIST] [--url URL] [--out DIR]
#                       [--timeout SEC] [--debug] [--install-only] [-h|--help]
#
#   --cases LIST    comma-separated case patterns to run (default '*' = all 517)
#                   e.g. '1.*,2.*,3.*,4.*,5.*,6.*,7.*,10.*' or '12.1.*,13.1.*'
#   --exclude LIST  comma-separated case patterns to skip, e.g. '9.*,12.*,13.*'
#   --url URL       test an already running echo endpoint, e.g.
#                   ws://127.0.0.1:4000/echo (loopback only). Without --url the
#                   script builds the server (swift build -c release --product
#                   hello-sockets), starts it on a free 127.0.0.1 port with
#                   --channels ./channels, tests ws://127.0.0.1:PORT/echo and
#                   stops it on exit.
#   --debug         build and run the debug server instead (ignored with --url)
#   --out DIR       spec, logs and report (DIR/report/index.html, index.json);
#                   default ./autobahn-report (git-ignored)
#   --timeout SEC   kill wstest after SEC seconds (default 1800; the full suite
#                   takes ~10 min, most of it in the compression groups 12/13)
#   --install-only  install the suite and exit
#
# Environment: AUTOBAHN_HOME (install cache, see below); AUTOBAHN_SERVER_BIN
# (run this server binary instead of building one; same arguments).
#
# Examples:
#   scripts/autobahn.sh --exclude '9.*,12.*,13.*'      # quick, ~20 s of cases
#   scripts/autobahn.sh --url ws://127.0.0.1:4000/echo --cases '12.1.*,13.1.*'
#
# Output: a table per case group (1..13) of OK / NON-STRICT / INFORMATIONAL /
# UNIMPLEMENTED / FAILED / MISSING, every non-OK case with its behaviour and the
# report's reason, and as last line "N passed, N failed", where
# passed = OK + NON-STRICT + INFORMATIONAL and
# failed = FAILED + UNIMPLEMENTED + MISSING (selected but absent from the
# report, which happens when the server dies mid-run).
#
# Exit status: 0 nothing failed; 1 some case failed; 2 usage error or
# non-loopback URL; 3 install/build/start error, or wstest wrote no report.
#
# Install (first run only, ~1 min, cached in $AUTOBAHN_HOME, default
# ~/.cache/hello-sockets-autobahn; delete that folder to reinstall):
# wstest is Python 2.7 code and Debian 12 ships no Python 2.7. We fetch
# CPython 2.7 .debs from Debian 11 (bullseye) with a *private* apt
# configuration (its own sources list, lists and cache under $AUTOBAHN_HOME;
# the system's apt state is untouched, no root needed, no system `apt-get
# update` needed), unpack them with dpkg-deb -x, make a 2.7 virtualenv and
# pip-install a pinned dependency set from PyPI. Host needs: bash, apt-get,
# dpkg-deb, python3 (3.11 tested) with venv, timeout, and ideally gcc (builds
# wsaccel; without it the install still works, 9.* just runs slower).
# Only Debian's archive and PyPI are contacted.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
AUTOBAHN_HOME="${AUTOBAHN_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/hello-sockets-autobahn}"
WSTEST_VERSION=25.10.1

CASES='*' EXCLUDE='' URL='' OUT="./autobahn-report" TIMEOUT=1800 CONFIG=release INSTALL_ONLY=0

die() { echo "autobahn.sh: $1" >&2; exit "${2:-3}"; }
log() { echo "autobahn.sh: $*" >&2; }
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --cases)   CASES="${2:?--cases needs a value}"; shift ;;
    --exclude) EXCLUDE="${2:?--exclude needs a value}"; shift ;;
    --url)     URL="${2:?--url needs a value}"; shift ;;
    --out)     OUT="${2:?--out needs a value}"; shift ;;
    --timeout) TIMEOUT="${2:?--timeout needs a value}"; shift ;;
    --debug)   CONFIG=debug ;;
    --install-only) INSTALL_ONLY=1 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" 2 ;;
  esac
  shift
done
case "$TIMEOUT" in ''|*[!0-9]*) die "--timeout needs whole seconds" 2 ;; esac

# Loopback only: the fuzzer sends malformed traffic and 16 MiB messages.
# Prints "HOST PORT", or nothing when the URL is not a loopback ws:// URL.
loopback_hostport() {
  python3 - "$1" <<'EOF'
import ipaddress, sys, urllib.parse as up
u = up.urlsplit(sys.argv[1])
try:
    port = u.port or (443 if u.scheme == "wss" else 80)
    host = u.hostname or ""
    ok = u.scheme in ("ws", "wss") and (host == "localhost" or ipaddress.ip_address(host).is_loopback)
except ValueError:
    ok = False
if ok:
    print(host, port)
EOF
}
if [ -n "$URL" ]; then      # checked before anything is installed or written
  [ -n "$(loopback_hostport "$URL")" ] \
    || die "refusing '$URL': only ws:// URLs on 127.0.0.0/8, localhost or [::1] are allowed" 2
fi

# ---------------------------------------------------------------- install ---
PYROOT="$AUTOBAHN_HOME/py27"          # unpacked Debian 11 python2.7 tree
VENV="$AUTOBAHN_HOME/venv"            # 2.7 virtualenv holding wstest
STAMP="$AUTOBAHN_HOME/installed-$WSTEST_VERSION"

# Run a program of the 2.7 venv. LD_LIBRARY_PATH is set for that process only
# (libssl1.1/libffi7 from bullseye live in $PYROOT), never for the script.
# (bullseye is not merged-/usr: some of its libraries sit in /lib.)
py27() { LD_LIBRARY_PATH="$PYROOT/usr/lib/x86_64-linux-gnu:$PYROOT/lib/x86_64-linux-gnu" "$@"; }

install_suite() {
  [ -f "$STAMP" ] && return 0               # idempotent: reuse the cache
  [ "$(uname -m)" = x86_64 ] || die "install supports x86_64 only (amd64 .debs)"
  local t
  for t in apt-get dpkg-deb python3 timeout; do
    command -v "$t" >/dev/null || die "install needs '$t'"
  done
  log "installing Autobahn|Testsuite $WSTEST_VERSION into $AUTOBAHN_HOME (first run only)"
  rm -rf "$PYROOT" "$VENV" "$AUTOBAHN_HOME/apt" "$AUTOBAHN_HOME/bootstrap"

  # 1. Private apt setup pointing at bullseye. APT_CONFIG is read before any
  #    other apt configuration, and since it moves Dir::Etc, the system's
  #    sources and apt.conf.d are not read at all.
  local A="$AUTOBAHN_HOME/apt"
  mkdir -p "$A"/etc/{apt.conf.d,preferences.d,sources.list.d} "$A"/lists/partial \
           "$A"/cache/archives/partial "$A"/debs
  : > "$A/status"
  cat > "$A/etc/sources.list" <<'EOF'
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bullseye main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security bullseye-security main
EOF
  cat > "$A/apt.conf" <<EOF
Dir::Etc "$A/etc";
Dir::State::Lists "$A/lists";
Dir::State::status "$A/status";
Dir::Cache "$A/cache";
APT::Architecture "amd64";
Acquire::Languages "none";
// running as root, apt would hand downloads to the _apt user, who cannot
// write into this folder
APT::Sandbox::User "root";
// the archive may be served from a dated snapshot: signatures are still
// checked, only the Valid-Until freshness check is off
Acquire::Check-Valid-Until "false";
Acquire::Check-Date "false";
EOF
  # 2. Python 2.7 itself, its headers (wsaccel is a C extension), and the two
  #    libraries Debian 12 no longer has. Other libraries it links to are
  #    taken from bullseye only when the host lacks them (slim images).
  local pkgs="python2.7 python2.7-minimal libpython2.7 libpython2.7-minimal
              libpython2.7-stdlib python2.7-dev libpython2.7-dev libssl1.1 libffi7"
  local so pkg have; have="$(ldconfig -p 2>/dev/null || true)"
  for so_pkg in libbz2.so.1.0:libbz2-1.0 libcrypt.so.1:libcrypt1 libdb-5.3.so:libdb5.3 \
      libexpat.so.1:libexpat1 libncursesw.so.6:libncursesw6 libnsl.so.2:libnsl2 \
      libreadline.so.8:libreadline8 libsqlite3.so.0:libsqlite3-0 libtinfo.so.6:libtinfo6 \
      libtirpc.so.3:libtirpc3 libz.so.1:zlib1g; do
    so="${so_pkg%%:*}" pkg="${so_pkg#*:}"
    grep -q "^[[:space:]]*$so " <<<"$have" || pkgs="$pkgs $pkg"
  done
  export APT_CONFIG="$A/apt.conf"
  apt-get -q update >"$A/update.log" 2>&1 \
    || { tail -20 "$A/update.log" >&2; die "apt-get update of the private bullseye lists failed"; }
  # shellcheck disable=SC2086
  (cd "$A/debs" && apt-get -q download $pkgs) >"$A/download.log" 2>&1 \
    || { tail -20 "$A/download.log" >&2; die "apt-get download failed"; }
  unset APT_CONFIG
  mkdir -p "$PYROOT"
  for t in "$A"/debs/*.deb; do dpkg-deb -x "$t" "$PYROOT"; done
  py27 "$PYROOT/usr/bin/python2.7" -c 'import ssl, zlib, ctypes, hashlib' \
    || die "the unpacked python2.7 does not work"

  # 3. virtualenv 20.21.x is the last release able to create 2.7 envs (it
  #    seeds pip 20.3.4 / setuptools 44 for them). It runs from a throwaway
  #    python3 venv so nothing lands in the host's python3.
  python3 -m venv "$AUTOBAHN_HOME/bootstrap" || die "python3 -m venv failed (install python3-venv)"
  "$AUTOBAHN_HOME/bootstrap/bin/pip" install -q --disable-pip-version-check virtualenv==20.21.1 \
    || die "pip install virtualenv failed"
  py27 "$AUTOBAHN_HOME/bootstrap/bin/virtualenv" -q --no-periodic-update \
    --app-data "$AUTOBAHN_HOME/bootstrap/appdata" -p "$PYROOT/usr/bin/python2.7" "$VENV" \
    || die "virtualenv for python2.7 failed"

  # 4. Pinned dependencies. The autobahntestsuite sdist has no requirements
  #    metadata, so pip would install it with no dependencies at all; these are
  #    its intended deps (autobahn 0.10.9, Twisted 19.10, ...) plus everything
  #    they pull in, at the last versions that still support Python 2.7.
  cat > "$AUTOBAHN_HOME/requirements.txt" <<'EOF'
setuptools==44.0.0
attrs==21.4.0
autobahn[twisted,accelerate]==0.10.9
Automat==22.10.0
cffi==1.15.1
constantly==15.1.0
cryptography==3.3.2
enum34==1.1.10
hyperlink==21.0.0
idna==2.10
incremental==16.10.1
ipaddress==1.0.23
Jinja2==2.11.3
klein==17.10.0
linecache2==1.0.0
MarkupSafe==1.1.1
pyasn1==0.5.1
pyasn1-modules==0.3.0
pycparser==2.21
PyHamcrest==1.10.1
pyOpenSSL==19.1.0
service-identity==18.1.0
six==1.16.0
traceback2==1.4.0
Twisted==19.10.0
txaio==2.1.0
typing==3.10.0.0
ujson==2.0.3
unittest2==1.1.0
Werkzeug==1.0.1
wsaccel==0.6.6
zope.interface==4.6.0
EOF
  if ! command -v gcc >/dev/null && ! command -v cc >/dev/null; then
    log "no C compiler: installing without wsaccel/ujson (9.* will be slower)"
    sed -i -e 's/\[twisted,accelerate\]/[twisted]/' -e '/^wsaccel==/d' -e '/^ujson==/d' \
      "$AUTOBAHN_HOME/requirements.txt"
  fi
  # Python.h/pyconfig.h are in the unpacked tree, not in /usr/include.
  CPATH="$PYROOT/usr/include/python2.7:$PYROOT/usr/include${CPATH:+:$CPATH}" \
  PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONWARNINGS=ignore \
    py27 "$VENV/bin/pip" install -q --no-cache-dir -r "$AUTOBAHN_HOME/requirements.txt" \
      "autobahntestsuite==$WSTEST_VERSION" >"$AUTOBAHN_HOME/pip.log" 2>&1 \
    || { tail -30 "$AUTOBAHN_HOME/pip.log" >&2; die "pip install into the 2.7 venv failed"; }
  py27 "$VENV/bin/wstest" -a >/dev/null 2>&1 || die "wstest does not start"
  rm -rf "$A" "$AUTOBAHN_HOME/bootstrap"   # only needed to install
  py27 "$VENV/bin/pip" freeze --disable-pip-version-check 2>/dev/null > "$STAMP"
  log "installed: $(py27 "$VENV/bin/wstest" -a 2>/dev/null | tr '\n' ' ')"
}

T0=$(date +%s)
install_suite
[ "$INSTALL_ONLY" = 1 ] && { echo "wstest ready in $AUTOBAHN_HOME ($(( $(date +%s) - T0 ))s)"; exit 0; }

# ------------------------------------------------------------ the target ---
SERVER_PID=''
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM          # so that the EXIT trap runs on Ctrl-C too

port_open() { python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$1" 2>/dev/null; }

mkdir -p "$OUT" && OUT="$(cd "$OUT" && pwd)"

if [ -z "$URL" ]; then
  if [ -n "${AUTOBAHN_SERVER_BIN:-}" ]; then   # prebuilt server (e.g. CI already built it)
    BIN="$AUTOBAHN_SERVER_BIN"
  else
    command -v swift >/dev/null || die "swift not on PATH (or pass --url)"
    log "building hello-sockets ($CONFIG)"
    (cd "$REPO" && swift build -c "$CONFIG" --product hello-sockets) >"$OUT/build.log" 2>&1 \
      || { tail -30 "$OUT/build.log" >&2; die "swift build failed (log: $OUT/build.log)"; }
    BIN="$(cd "$REPO" && swift build -c "$CONFIG" --show-bin-path)/hello-sockets"
  fi
  [ -x "$BIN" ] || die "no server binary at $BIN"
  # A free port chosen by the kernel; the tiny race until the server binds it
  # is acceptable for a local test run.
  PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  # cd to the repo so that ./channels resolves whatever the caller's cwd is.
  # Group 9 sends messages of up to 16 MiB: raise the 1 MiB default message limit for it.
  (cd "$REPO" && exec "$BIN" --channels ./channels --host 127.0.0.1 --port "$PORT" --max-message-size 67108864) \
    >"$OUT/server.log" 2>&1 &
  SERVER_PID=$!
  for i in $(seq 300); do                  # wait at most ~30 s
    port_open "$PORT" && break
    kill -0 "$SERVER_PID" 2>/dev/null \
      || { tail -20 "$OUT/server.log" >&2; die "server exited before listening (log: $OUT/server.log)"; }
    [ "$i" = 300 ] && die "server not listening on 127.0.0.1:$PORT after 30 s"
    sleep 0.1
  done
  URL="ws://127.0.0.1:$PORT/echo"
  log "server pid $SERVER_PID listening on $URL (log: $OUT/server.log)"
fi
read -r HOST PORT <<<"$(loopback_hostport "$URL")"
python3 -c 'import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 3).close()' "$HOST" "$PORT" 2>/dev/null \
  || die "nothing listening at $HOST:$PORT"


# ---------------------------------------------------------------- the run ---
REPORT="$OUT/report"
rm -rf "$REPORT"
python3 - "$URL" "$REPORT" "$CASES" "$EXCLUDE" > "$OUT/fuzzingclient.json" <<'EOF'
import json, sys
url, outdir, cases, excl = sys.argv[1:]
lst = lambda s: [x.strip() for x in s.split(",") if x.strip()]
json.dump({"outdir": outdir, "servers": [{"agent": "hello-sockets", "url": url}],
           "cases": lst(cases) or ["*"], "exclude-cases": lst(excl),
           "exclude-agent-cases": {}}, sys.stdout, indent=2)
EOF
# Expand the patterns with the suite's own matcher, so that the summary can
# tell which selected cases never made it into the report.
(cd "$OUT" && py27 "$VENV/bin/python" - > "$OUT/expected-cases.json" <<'EOF'
import json
from autobahntestsuite import case
from autobahntestsuite.caseset import CaseSet
cs = CaseSet(case.CaseSetname, case.CaseBasename, case.Cases, case.CaseCategories, case.CaseSubCategories)
print(json.dumps(cs.parseSpecCases(json.load(open("fuzzingclient.json")))))
EOF
) || die "could not expand the case patterns" 2
[ "$(cat "$OUT/expected-cases.json")" != "[]" ] || die "no case matches --cases '$CASES' minus --exclude '$EXCLUDE'" 2

log "wstest fuzzingclient -> $URL, cases '$CASES', excluded '${EXCLUDE:-none}', timeout ${TIMEOUT}s (log: $OUT/wstest.log)"
T1=$(date +%s)
RC=0
(cd "$OUT" && py27 timeout -k 10 "$TIMEOUT" "$VENV/bin/wstest" -m fuzzingclient -s fuzzingclient.json) \
  >"$OUT/wstest.log" 2>&1 || RC=$?
log "wstest took $(( $(date +%s) - T1 ))s"
case "$RC" in
  0) ;;
  124|137) log "wstest stopped by the ${TIMEOUT}s timeout; it writes its report only at the end, so every case counts as missing"
           # an empty report: the summary then fails every selected case
           [ -f "$REPORT/index.json" ] || { mkdir -p "$REPORT" && echo '{}' > "$REPORT/index.json"; } ;;
  *) log "wstest exited with status $RC (see $OUT/wstest.log)" ;;
esac
[ -f "$REPORT/index.json" ] || { tail -20 "$OUT/wstest.log" >&2; die "wstest wrote no report"; }
if [ -n "$SERVER_PID" ] && ! kill -0 "$SERVER_PID" 2>/dev/null; then
  log "the server died during the run (log: $OUT/server.log)"
fi

RC=0
python3 "$REPO/scripts/autobahn_summary.py" "$REPORT" "$OUT/expected-cases.json" || RC=$?
[ "$RC" -le 1 ] || die "summary failed"
exit "$RC"
