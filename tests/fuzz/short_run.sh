#!/usr/bin/env bash
# Runs the request fuzzer for a bounded time from the seed corpus (new inputs go to a temporary directory, never
# into the repository). Fails on any crash, sanitizer report, timeout or allocation above the limit.
# Usage: tests/fuzz/short_run.sh <fuzzer> <seed-corpus-dir> <seconds>
set -euo pipefail
fuzzer=$1
seeds=$(cd "$2" && pwd)
seconds=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"  # Crash reproducers (crash-*, leak-*) land here and are printed by libFuzzer.
# -malloc_limit_mb: no single allocation beyond what a payload under the fuzzer's size cap can justify.
"$fuzzer" -max_total_time="$seconds" -max_len=65536 -malloc_limit_mb=256 -rss_limit_mb=1024 -timeout=10 \
  -print_final_stats=1 "$work" "$seeds"
