#!/bin/sh
# examples/ci/gate.sh - a load-test gate for CI (README: "Using pgvolley in
# CI"). Starts a throwaway PostgreSQL, loads setup.sql, runs workload/ with
# its thresholds (the files' -- TARGET: headers and --threshold), writes the
# JSON report, the Markdown table and the Prometheus textfile into $OUT,
# then compares the run with the committed baseline.
#
#   PGVOLLEY        the pgvolley binary (default: pgvolley on PATH)
#   OUT             output directory (default: pgvolley-out)
#   DURATION        seconds of load (default: 20)
#   CONCURRENCY     executions in flight (default: 8)
#   BASELINE        the baseline report (default: examples/ci/baseline.json);
#                   when it does not exist, this run's report becomes it
#   MAX_REGRESSION  percent of change that fails the gate (default: 10)
#
# Exit status: 0 the thresholds held and nothing regressed; 1 a threshold
# failed, an execution failed, or a regression beyond the noise; 2 bad
# input; 3 the server could not start; 4 internal error.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
PGVOLLEY=${PGVOLLEY:-pgvolley}
OUT=${OUT:-pgvolley-out}
DURATION=${DURATION:-20}
CONCURRENCY=${CONCURRENCY:-8}
BASELINE=${BASELINE:-$here/baseline.json}
MAX_REGRESSION=${MAX_REGRESSION:-10}
mkdir -p "$OUT"

# 1. The run, on a throwaway server (PGHOST, PGPORT, ... are set for the
#    command); the thresholds decide its exit status.
run=0
"$PGVOLLEY" ephemeral -- sh -c '
    psql -q -X -v ON_ERROR_STOP=1 -f "$1/setup.sql" || exit 2
    exec "$2" run -q -T "$3" -c "$4" --seed 1 --threshold "error_rate < 0.1%" \
        -f markdown -o "$5/new.json" --prometheus "$5/pgvolley.prom" \
        --timeline "$5/timeline.csv" "$1/workload" > "$5/run.md"
' sh "$here" "$PGVOLLEY" "$DURATION" "$CONCURRENCY" "$OUT" || run=$?
if [ "$run" -gt 1 ]; then
    echo "gate: the run did not complete (exit $run)" >&2
    exit "$run"
fi

# 2. The comparison with the baseline (a Markdown table for the pull
#    request); the first run of a branch records the baseline instead.
cmp=0
if [ -f "$BASELINE" ]; then
    "$PGVOLLEY" compare --max-regression "$MAX_REGRESSION" --format markdown \
        "$BASELINE" "$OUT/new.json" > "$OUT/compare.md" || cmp=$?
    if [ "$cmp" -gt 1 ]; then
        echo "gate: the comparison failed (exit $cmp)" >&2
        exit "$cmp"
    fi
else
    cp "$OUT/new.json" "$BASELINE"
    echo "gate: no baseline yet: this run's report is now $BASELINE (commit it)" >&2
    printf 'No baseline yet: this run is the baseline.\n' > "$OUT/compare.md"
fi

# 3. What a reviewer reads: the run's table and the comparison.
{ cat "$OUT/run.md"; echo; cat "$OUT/compare.md"; } > "$OUT/summary.md"
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
    cat "$OUT/summary.md" >> "$GITHUB_STEP_SUMMARY"
fi
[ "$run" -eq 0 ] && [ "$cmp" -eq 0 ]
