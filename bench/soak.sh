#!/usr/bin/env bash
# Bounded soak test: runs simile-server under a mixed load (several simile-bench processes with different
# shapes, encodings and top_k, plus a stream of invalid requests) for a fixed time, samples the server's RSS
# and open file descriptors every few seconds, and fails if either grows: the mean of the last quarter of the
# samples must stay within 10% (RSS) and +8 (fds) of the mean of the second quarter (the first quarter is
# warm-up: allocator pools and gRPC's connections settle there). Only loopback; stops by itself.
# Usage: bench/soak.sh <build-dir> [minutes=3] [out.tsv]
set -euo pipefail
build=${1:?usage: bench/soak.sh <build-dir> [minutes] [out.tsv]}
minutes=${2:-3}
out=${3:-$(mktemp)}
dir=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" "$server" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
"$build/server/simile-server" --grpc_address=127.0.0.1:0 --port_file="$dir/port" --log_level=warning \
  2>"$dir/server.log" &
server=$!
for _ in $(seq 1 200); do [[ -s $dir/port ]] && break; sleep 0.05; done
address="127.0.0.1:$(cat "$dir/port")"
seconds=$((minutes * 60))
bench="$build/client/simile-bench --address=$address --duration=${seconds}s --warmup=0s"
$bench --q=1 --n=20000 --dim=768 --concurrency=2 >"$dir/b1" 2>&1 & pids+=($!)
$bench --q=16 --n=2000 --dim=256 --top_k=10 --encoding=values >"$dir/b2" 2>&1 & pids+=($!)
$bench --q=1 --n=64 --dim=128 --concurrency=2 --channels=2 >"$dir/b3" 2>&1 & pids+=($!)
( end=$((SECONDS + seconds)); while ((SECONDS < end)); do  # invalid requests: must fail cleanly, not leak
    "$build/client/simile" cosine --address="$address" --n=5 --top_k=9 >/dev/null 2>&1 || true
    sleep 0.2
  done ) & pids+=($!)

printf 'seconds\trss_kib\tfds\tthreads\n' >"$out"
start=$SECONDS
while ((SECONDS - start < seconds)); do
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$server/status")
  threads=$(awk '/^Threads/ {print $2}' "/proc/$server/status")
  fds=$(ls "/proc/$server/fd" | wc -l)
  printf '%d\t%d\t%d\t%d\n' $((SECONDS - start)) "$rss" "$fds" "$threads" >>"$out"
  sleep 5
done
for p in "${pids[@]}"; do wait "$p" || true; done
echo "load generators:"; grep -h "throughput\|requests" "$dir"/b? | sed 's/^/  /'
/usr/bin/python3 - "$out" <<'PY'
import sys
rows = [list(map(int, l.split())) for l in open(sys.argv[1]).read().splitlines()[1:]]
q = max(1, len(rows) // 4)
second, last = rows[q:2 * q], rows[-q:]
mean = lambda xs, i: sum(r[i] for r in xs) / len(xs)
rss2, rss4, fd2, fd4 = mean(second, 1), mean(last, 1), mean(second, 2), mean(last, 2)
print(f"samples {len(rows)}; RSS KiB {rss2:.0f} -> {rss4:.0f} ({rss4 / rss2 - 1:+.1%}); fds {fd2:.1f} -> {fd4:.1f}")
ok = rss4 <= rss2 * 1.10 and fd4 <= fd2 + 8
print("soak: PASS" if ok else "soak: FAIL (growth)")
sys.exit(0 if ok else 1)
PY
