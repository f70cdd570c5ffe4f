#!/usr/bin/env bash
# A/B of two simile builds end to end, each against the transport floor, side by side in one run: both servers
# and the floor run at once, and every round runs each scenario on A, B and the floor in turn, so that all three
# see the same machine. The ratios are taken per round (to the floor of the same round), then their median:
# on these shared, noisy VMs a single run of bench/e2e_vs_floor.sh moved by +-0.15 between calls.
# Usage: bench/e2e_ab.sh <build-dir-A> <build-dir-B> [seconds-per-run=3] [rounds=8]
# (the load generator and the floor come from B; each build dir needs server/simile-server).
set -euo pipefail
a=${1:?usage: bench/e2e_ab.sh <build-dir-A> <build-dir-B> [seconds] [rounds]}
b=${2:?usage: bench/e2e_ab.sh <build-dir-A> <build-dir-B> [seconds] [rounds]}
seconds=${3:-3}
rounds=${4:-8}
dir=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$dir"' EXIT
# stdout goes to /dev/null: a background job must not hold the caller's pipe open.
"$a/server/simile-server" --grpc_address=127.0.0.1:0 --metrics_address=127.0.0.1:0 --port_file="$dir/A.port" \
  --log_level=warning >/dev/null 2>"$dir/A.log" &
pids+=($!)
"$b/server/simile-server" --grpc_address=127.0.0.1:0 --metrics_address=127.0.0.1:0 --port_file="$dir/B.port" \
  --log_level=warning >/dev/null 2>"$dir/B.log" &
pids+=($!)
"$b/bench/simile-transport-floor" --grpc_address=127.0.0.1:0 --port_file="$dir/floor.port" >/dev/null \
  2>"$dir/floor.log" &
pids+=($!)
for _ in $(seq 1 200); do [[ -s $dir/A.port && -s $dir/B.port && -s $dir/floor.port ]] && break; sleep 0.05; done

# The scenarios of bench/e2e_vs_floor.sh.
scenarios=(
  "throughput_1x10000x768_c4|--q=1 --n=10000 --dim=768 --concurrency=4"
  "latency_1x64x768_c1|--q=1 --n=64 --dim=768 --concurrency=1"
)
echo "# $(date -u +%FT%TZ) A=$a B=$b on $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
for ((round = 1; round <= rounds; round++)); do
  for s in "${scenarios[@]}"; do
    name=${s%%|*}
    flags=${s#*|}
    for target in A B floor; do
      # shellcheck disable=SC2086
      line=$("$b/client/simile-bench" --address="127.0.0.1:$(cat "$dir/$target.port")" $flags \
        --duration="${seconds}s" --warmup=1s --json 2>/dev/null)
      echo "{\"scenario\":\"$name\",\"server\":\"$target\",\"round\":$round,${line:1}" | tee -a "$dir/results.jsonl"
    done
  done
done
/usr/bin/python3 - "$dir/results.jsonl" <<'PY'
import collections, json, statistics, sys
rounds = collections.defaultdict(lambda: collections.defaultdict(dict))
for line in open(sys.argv[1]):
    r = json.loads(line)
    rounds[r["scenario"]][r["round"]][r["server"]] = r
print(f"\n{'scenario':28} {'A qps/floor':>12} {'B qps/floor':>12} {'A p50/floor':>12} {'B p50/floor':>12}   (medians over rounds)")
for name, by_round in rounds.items():
    med = lambda who, key: statistics.median(r[who][key] / r["floor"][key] for r in by_round.values())
    print(f"{name:28} {med('A', 'qps'):12.3f} {med('B', 'qps'):12.3f} {med('A', 'p50_us'):12.3f} {med('B', 'p50_us'):12.3f}")
PY
