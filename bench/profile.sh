#!/usr/bin/env bash
# make profile: pgvolley's and pgbench's client cost per point lookup, under
# callgrind and strace and timed, on one throwaway server. Not a test.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
pgvolley=$(realpath "${1:-$here/../build/pgvolley}")
exec "$pgvolley" ephemeral -- /usr/bin/python3 "$here/profile.py" "$pgvolley" "${@:2}"
