#!/usr/bin/env bash
# Server CPU time (user + sys of the simile-server process, from /proc) per request, for two builds A and B
# alternating: less disturbed by other load on a shared machine than throughput or latency (it still includes
# gRPC's own threads). Usage: bench/server_cpu_per_request.sh <build-A> <build-B> <requests> <rounds> <simile-bench flags...>
# e.g. bench/server_cpu_per_request.sh build-baseline build-release 150 3 --q=1 --n=10000 --dim=768 --concurrency=4
set -euo pipefail
A=$1; B=$2; n=$3; rounds=$4; shift 4; flags="$*"
dir=$(mktemp -d)
for w in A B; do
  b=${!w}
  "$b/server/simile-server" --grpc_address=127.0.0.1:0 --metrics_address=127.0.0.1:0 --port_file="$dir/$w.port" --log_level=warning >/dev/null 2>&1 &
  echo $! > $dir/$w.pid
done
trap 'kill $(cat $dir/A.pid) $(cat $dir/B.pid) 2>/dev/null; rm -rf $dir' EXIT
for _ in $(seq 1 200); do [[ -s $dir/A.port && -s $dir/B.port ]] && break; sleep 0.05; done
tick=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15}' /proc/$1/stat; }
for ((r=1;r<=rounds;r++)); do
  for w in A B; do
    pid=$(cat $dir/$w.pid)
    $B/client/simile-bench --address=127.0.0.1:$(cat $dir/$w.port) $flags --requests=5 --warmup=0s --duration=60s >/dev/null 2>&1
    c0=$(cpu $pid)
    $B/client/simile-bench --address=127.0.0.1:$(cat $dir/$w.port) $flags --requests=$n --warmup=0s --duration=300s >/dev/null 2>&1
    c1=$(cpu $pid)
    echo "$r $w $(echo "scale=1; ($c1-$c0)*1000000/$tick/$n" | bc) us_cpu_per_request"
  done
done
