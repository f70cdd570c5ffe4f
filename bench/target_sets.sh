#!/usr/bin/env bash
# One query against a resident target set versus the same query with its targets inline, through gRPC, on one
# server, alternating the two so that both see the same machine. Prints one JSON line per run (simile-bench
# --json) and a table last.
# Usage: bench/target_sets.sh <build-dir | bin-dir> [seconds-per-run=6]
#   (a bin-dir holds simile-server and simile-bench side by side, as .devbundle/bin does on the GPU machine)
#   N = 10^4 and 10^5 (x 768): set and inline; N = 10^6: set only (an inline request would be 3 GB, over
#   protobuf's 2 GiB message limit).
set -euo pipefail
build=${1:?usage: bench/target_sets.sh <build-dir> [seconds]}
seconds=${2:-6}
dir=$(mktemp -d)
trap 'kill $server_pid 2>/dev/null || true; rm -rf "$dir"' EXIT
server_bin=$build/server/simile-server
bench_bin=$build/client/simile-bench
[ -x "$build/simile-server" ] && server_bin=$build/simile-server && bench_bin=$build/simile-bench
"$server_bin" --grpc_address=127.0.0.1:0 --metrics_address= --port_file="$dir/port" \
  --max_receive_message_bytes=$((400 * 1024 * 1024)) --log_level=warning 2>"$dir/server.log" &
server_pid=$!
for _ in $(seq 1 200); do [[ -s $dir/port ]] && break; sleep 0.05; done
address="127.0.0.1:$(cat "$dir/port")"

run() {  # run NAME N [extra simile-bench flags]: prints the JSON line, keeps it for the table
  local name=$1 n=$2
  shift 2
  "$bench_bin" --address="$address" --concurrency=1 --q=1 --n="$n" --dim=768 \
    --duration="${seconds}s" --warmup=1s --json "$@" | tee "$dir/$name.json"
}
for n in 10000 100000; do
  run "set-$n" "$n" --target_set="bench-$n"
  run "inline-$n" "$n"
  run "set2-$n" "$n" --target_set="bench-$n"
done
run "set-1000000" 1000000 --target_set=bench-1000000

/usr/bin/python3 - "$dir" <<'PY'
import json, sys, os
d = sys.argv[1]
def load(name):
    with open(os.path.join(d, name + ".json")) as f:
        return json.loads(f.read().strip().splitlines()[-1])
print()
print("| N x 768, Q = 1, concurrency 1 | set p50 us | inline p50 us | inline / set p50 | set req/s | inline req/s |")
print("| --- | --- | --- | --- | --- | --- |")
for n in (10000, 100000):
    s1, s2, i = load(f"set-{n}"), load(f"set2-{n}"), load(f"inline-{n}")
    s_p50 = (s1["p50_us"] + s2["p50_us"]) / 2
    s_qps = (s1["qps"] + s2["qps"]) / 2
    print(f"| {n} | {s_p50:.0f} | {i['p50_us']:.0f} | {i['p50_us'] / s_p50:.1f} | {s_qps:.1f} | {i['qps']:.1f} |")
s = load("set-1000000")
print(f"| 1000000 | {s['p50_us']:.0f} | (3 GB: over protobuf's limit) | | {s['qps']:.1f} | |")
PY
