#!/usr/bin/env bash
# End-to-end throughput and latency of simile against the transport floor (a do-nothing server receiving the
# same requests), measured by the same load generator, alternating runs so that both see the same machine.
# Prints one JSON line per run and a ratio table last.
# Usage: bench/e2e_vs_floor.sh <build-dir> [seconds-per-run=8] [rounds=2]
set -euo pipefail
build=${1:?usage: bench/e2e_vs_floor.sh <build-dir> [seconds] [rounds]}
seconds=${2:-8}
rounds=${3:-2}
dir=$(mktemp -d)
trap 'kill $simile_pid $floor_pid 2>/dev/null || true; rm -rf "$dir"' EXIT
"$build/server/simile-server" --grpc_address=127.0.0.1:0 --metrics_address=127.0.0.1:0 \
  --port_file="$dir/simile.port" --log_level=warning \
  2>"$dir/simile.log" &
simile_pid=$!
"$build/bench/simile-transport-floor" --grpc_address=127.0.0.1:0 --port_file="$dir/floor.port" 2>"$dir/floor.log" &
floor_pid=$!
for _ in $(seq 1 200); do [[ -s $dir/simile.port && -s $dir/floor.port ]] && break; sleep 0.05; done
simile="127.0.0.1:$(cat "$dir/simile.port")"
floor="127.0.0.1:$(cat "$dir/floor.port")"

# name|simile-bench flags
scenarios=(
  "throughput_1x10000x768_c4|--q=1 --n=10000 --dim=768 --concurrency=4"
  "latency_1x64x768_c1|--q=1 --n=64 --dim=768 --concurrency=1"
)
echo "# $(date -u +%FT%TZ) commit $(git -C "$(dirname "$0")" rev-parse --short HEAD) on $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
for ((round = 1; round <= rounds; round++)); do
  for s in "${scenarios[@]}"; do
    name=${s%%|*}
    flags=${s#*|}
    for target in simile floor; do
      address=$simile
      [[ $target == floor ]] && address=$floor
      # shellcheck disable=SC2086
      line=$("$build/client/simile-bench" --address="$address" $flags --duration="${seconds}s" --warmup=1s --json \
        2>/dev/null)
      echo "{\"scenario\":\"$name\",\"server\":\"$target\",\"round\":$round,${line:1}" | tee -a "$dir/results.jsonl"
    done
  done
done
/usr/bin/python3 - "$dir/results.jsonl" <<'PY'
import json, sys, collections
runs = collections.defaultdict(lambda: collections.defaultdict(list))
for line in open(sys.argv[1]):
    r = json.loads(line)
    runs[r["scenario"]][r["server"]].append(r)
print(f"\n{'scenario':32} {'simile qps':>11} {'floor qps':>11} {'qps ratio':>10} {'simile p50 us':>14} {'floor p50 us':>13} {'p50 ratio':>10}")
for name, by in runs.items():
    s_qps = sum(r["qps"] for r in by["simile"]) / len(by["simile"])
    f_qps = sum(r["qps"] for r in by["floor"]) / len(by["floor"])
    s_p50 = sum(r["p50_us"] for r in by["simile"]) / len(by["simile"])
    f_p50 = sum(r["p50_us"] for r in by["floor"]) / len(by["floor"])
    print(f"{name:32} {s_qps:11.1f} {f_qps:11.1f} {s_qps / f_qps:10.3f} {s_p50:14.0f} {f_p50:13.0f} {s_p50 / f_p50:10.3f}")
PY
