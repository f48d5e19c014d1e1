#!/usr/bin/env bash
# run.sh BUILD_DIR TARGET SECONDS - runs the libFuzzer target BUILD_DIR/fuzz_TARGET
# for SECONDS, from the committed seeds (tests/fuzz/corpus/TARGET/) and what
# earlier runs found (BUILD_DIR/corpus/TARGET/, where new inputs go; the
# committed seeds are never written). Prints one line; on a crash, leak,
# timeout or broken contract, the log's tail and the reproducer's path, and
# fails.
set -uo pipefail

build=$1 target=$2 seconds=$3
src=$(cd "$(dirname "$0")/../.." && pwd)
bin=$build/fuzz_$target
seeds=$src/tests/fuzz/corpus/$target
work=$build/corpus/$target
art=$build/artifacts/$target
log=$build/logs/$target.log
mkdir -p "$work" "$art" "$(dirname "$log")"

# Per-input limit: a hang is a failure too (mcp waits for its answers).
timeout_s=10
[ "$target" = mcp ] && timeout_s=30
# Contracts abort(); ASan/UBSan findings too. No core files.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:disable_coredump=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

start=$(date +%s)
"$bin" -max_total_time="$seconds" -timeout="$timeout_s" -rss_limit_mb=2048 \
    -max_len=8192 -print_final_stats=1 -artifact_prefix="$art/" \
    "$work" "$seeds" >"$log" 2>&1
rc=$?
elapsed=$(($(date +%s) - start))
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
if [ $rc -eq 0 ]; then
    echo "fuzz $target: ok, ${runs:-?} inputs in ${elapsed}s (corpus $(ls "$work" | wc -l) + $(ls "$seeds" | wc -l) seeds)"
    exit 0
fi
repro=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
echo "fuzz $target: FAILED (exit $rc) after ${elapsed}s; last lines of $log:" >&2
tail -n 40 "$log" >&2
if [ -n "$repro" ]; then
    echo "fuzz $target: reproducer: $repro" >&2
    echo "fuzz $target: rerun with: $bin $repro" >&2
fi
exit 1
