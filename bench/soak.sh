#!/usr/bin/env bash
# Bounded soak test: runs simile-server under a mixed load (several simile-bench processes with different
# shapes, encodings and top_k, plus a stream of invalid requests) in phases, and after each phase, with the
# load stopped, samples the server's resident memory and open file descriptors. In-flight requests hold tens
# of MiB each, so RSS under load says little; the RSS the server settles back to says whether it leaks.
# The first half of the phases is warm-up (glibc's per-thread malloc arenas and gRPC's buffers reach their
# working size there, in steps of up to 64 MiB); the test fails if the settled RSS still grows over the second
# half (last phase vs the middle one) by more than 10% (and 16 MiB), or if file descriptors or threads grew.
# Only loopback; stops by itself.
# Usage: bench/soak.sh <build-dir> [phases=6] [seconds-per-phase=30] [out.tsv]
set -euo pipefail
build=${1:?usage: bench/soak.sh <build-dir> [phases] [seconds-per-phase] [out.tsv]}
phases=${2:-6}
seconds=${3:-30}
out=${4:-$(mktemp)}
dir=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" "$server" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
"$build/server/simile-server" --grpc_address=127.0.0.1:0 --metrics_address=127.0.0.1:0 --port_file="$dir/port" \
  --log_level=warning \
  2>"$dir/server.log" &
server=$!
for _ in $(seq 1 200); do [[ -s $dir/port ]] && break; sleep 0.05; done
address="127.0.0.1:$(cat "$dir/port")"

sample() {  # sample PHASE REQUESTS: one settled row.
  sleep 3  # Let the last responses drain.
  local rss fds threads
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$server/status")
  threads=$(awk '/^Threads/ {print $2}' "/proc/$server/status")
  fds=$(ls "/proc/$server/fd" | wc -l)
  printf '%d\t%d\t%d\t%d\t%d\n' "$1" "$2" "$rss" "$fds" "$threads" | tee -a "$out"
}

printf 'phase\trequests_ok\trss_kib\tfds\tthreads\n' | tee "$out"
total=0
for ((phase = 1; phase <= phases; phase++)); do
  bench="$build/client/simile-bench --address=$address --duration=${seconds}s --warmup=0s --json"
  pids=()
  $bench --q=1 --n=10000 --dim=768 --concurrency=2 >"$dir/b1" 2>/dev/null & pids+=($!)
  $bench --q=16 --n=2000 --dim=256 --top_k=10 --encoding=values >"$dir/b2" 2>/dev/null & pids+=($!)
  $bench --q=1 --n=64 --dim=128 --concurrency=2 --channels=2 >"$dir/b3" 2>/dev/null & pids+=($!)
  ( end=$((SECONDS + seconds)); while ((SECONDS < end)); do  # invalid requests must fail cleanly, not leak
      "$build/client/simile" cosine --address="$address" --n=5 --top_k=9 >/dev/null 2>&1 || true
      sleep 0.2
    done ) & pids+=($!)
  for p in "${pids[@]}"; do wait "$p" || true; done
  ok=$(cat "$dir"/b? | /usr/bin/python3 -c 'import json,sys; print(sum(json.loads(l)["ok"] for l in sys.stdin))')
  total=$((total + ok))
  sample "$phase" "$total"
done
/usr/bin/python3 - "$out" <<'PY'
import sys
rows = [list(map(int, l.split())) for l in open(sys.argv[1]).read().splitlines()[1:]]
first, last = rows[(len(rows) - 1) // 2], rows[-1]  # The middle phase, after warm-up, and the last.
growth = last[2] - first[2]
print(f"settled RSS KiB, phase {first[0]} -> {last[0]}: {first[2]} -> {last[2]} ({growth:+d} KiB) over "
      f"{last[1] - first[1]} more requests; fds {first[3]} -> {last[3]}; threads {first[4]} -> {last[4]}")
ok = (growth <= max(first[2] * 0.10, 16384)) and last[3] <= first[3] and last[4] <= first[4]
print("soak: PASS" if ok else "soak: FAIL (growth)")
sys.exit(0 if ok else 1)
PY
