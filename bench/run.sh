#!/usr/bin/env bash
# make bench: pgvolley and pgbench side by side, on one throwaway server, in
# one run on this machine. Not a test: it prints figures and asserts nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
pgvolley=$(realpath "${1:-$here/../build/pgvolley}")
exec "$pgvolley" ephemeral -- /usr/bin/python3 "$here/bench.py" "$pgvolley" "${@:2}"
