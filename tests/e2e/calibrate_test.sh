#!/usr/bin/env bash
# simile-calibrate end to end on a tiny ladder: it writes a CSV, a PNG and a hardware profile, and simile-server
# starts with that profile (--hardware_profile) and shuts down cleanly.
# Usage: tests/e2e/calibrate_test.sh <simile-calibrate> <simile-server>
# Exits 77 (ctest: skipped) only when python3-matplotlib is missing (the plot).
set -euo pipefail
calibrate=$1
server=$2
dir=$(mktemp -d)
server_pid=""
trap '[[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null; rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

plot=(--plot="$dir/calibration.png")
if ! /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
  echo "SKIP: python3-matplotlib is not installed (the plot)"; exit 77
fi
"$calibrate" --profile="$dir/profile.pbtxt" --csv="$dir/calibration.csv" "${plot[@]}" --min_targets=256 \
  --max_targets=2048 --repetitions=2 2>"$dir/calibrate.log" || { cat "$dir/calibrate.log"; fail "simile-calibrate"; }

# 2 operations x 4 sizes on the CPU (a GPU adds as many again), plus the header.
rows=$(($(wc -l <"$dir/calibration.csv") - 1))
((rows >= 8)) || fail "expected >= 8 measurements, got $rows"
head -1 "$dir/calibration.csv" | grep -q '^backend,operation,queries,targets,dim,median_seconds' || fail "CSV header"
grep -q '^cpu,one_query,1,2048,768,' "$dir/calibration.csv" || fail "no cpu one_query point at N=2048"
[[ $(head -c 8 "$dir/calibration.png" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] || fail "not a PNG"
grep -q '^# simile hardware profile' "$dir/profile.pbtxt" || fail "profile header"

"$server" --hardware_profile="$dir/profile.pbtxt" --grpc_address=127.0.0.1:0 --metrics_address= \
  --port_file="$dir/port" 2>"$dir/server.log" &
server_pid=$!
for _ in $(seq 1 200); do [[ -s $dir/port ]] && break; sleep 0.05; done
[[ -s $dir/port ]] || { cat "$dir/server.log"; fail "the server did not start with the profile"; }
grep -q '"hardware_profile":"'"$dir"'/profile.pbtxt"' "$dir/server.log" || fail "server_started does not name the profile"
kill -TERM "$server_pid"
wait "$server_pid" || fail "the server exited with $?"
server_pid=""
echo "ok: simile-calibrate wrote $rows measurements, a PNG and a profile that simile-server loads"
