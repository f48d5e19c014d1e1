#!/usr/bin/env bash
# Installs the Debian packages pgvolley needs to build, test, demo and bench
# (clang and libclang-rt-dev: the libFuzzer targets of tests/fuzz/; prometheus:
# its promtool checks the Prometheus text format of --prometheus and /metrics;
# chromium: tests/browser/ opens the --html pages in it, headless).
# As root, missing packages are installed with apt-get; otherwise the exact
# command to run is printed and the script fails.
set -euo pipefail

pkgs=(
    build-essential cmake pkg-config clang-format valgrind strace
    clang libclang-rt-dev
    libpq-dev libpg-query-dev libprotobuf-c-dev libuv1-dev libjansson-dev
    libmicrohttpd-dev libinih-dev libsqlite3-dev libcmocka-dev
    postgresql postgresql-contrib pgbouncer python3 prometheus
    python3-asyncpg python3-sqlalchemy python3-sqlalchemy-ext python3-greenlet
    chromium
)

missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
# Node.js and npm (for the MCP SDK end-to-end test) may come from elsewhere
# than Debian's packages; only install Debian's when the commands are absent.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "pgvolley: missing Debian packages: ${missing[*]}" >&2
    echo "pgvolley: run: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi

echo "pgvolley: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; then
    apt-get update >/dev/null
    apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's postgresql package creates and starts a default cluster; pgvolley
# never uses it (it starts its own throwaway servers), so leave it alone.
