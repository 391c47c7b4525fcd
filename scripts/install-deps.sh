#!/usr/bin/env bash
# Installs the system packages the build needs (Debian/Ubuntu), only when they are missing:
# pkg-config and liblua5.4-dev (SwiftPM finds Lua through pkg-config), python3-venv (conformance), openssl (the
# JWT tests make RS256/ES256 keys and signatures with it), erlang-base and erlang-crypto (the Phoenix.Token tests
# check our tokens against Erlang's own term_to_binary/binary_to_term and crypto, ~10 MB), redis-server (the
# Redis tests start their own on free ports), nginx (the cluster example's front; its test starts its own).
# With --browser also chromium (~430 MB), for the start page's browser test (it is skipped without it).
set -euo pipefail
missing=()
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
pkg-config --exists lua5.4 2>/dev/null || missing+=(liblua5.4-dev)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v escript >/dev/null 2>&1 || missing+=(erlang-base)
{ command -v erl >/dev/null 2>&1 && erl -noshell -eval 'halt(case code:which(crypto) of non_existing -> 1; _ -> 0 end)'; } \
    >/dev/null 2>&1 || missing+=(erlang-crypto)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
if [ "${1:-}" = "--browser" ]; then
    command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || missing+=(chromium)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${missing[@]}" >/dev/null
# Debian's packages may start a system Redis on 6379 and an nginx on 80; nothing here uses them (tests and examples
# start their own, on their own ports).
for service in redis-server nginx; do
    if [[ " ${missing[*]} " == *" $service "* ]]; then
        $sudo systemctl disable --now "$service" >/dev/null 2>&1 || $sudo service "$service" stop >/dev/null 2>&1 || true
    fi
done
