#!/usr/bin/env bash
# SIGHUP reloads the configuration file of a running simile-server: a valid file takes effect for new requests,
# an invalid one is rejected and the old configuration keeps serving; SIGTERM then exits 0.
# Usage: tests/e2e/sighup_reload_test.sh <simile-server> <simile CLI>
set -euo pipefail
server=$1
cli=$2
dir=$(mktemp -d)
trap 'kill -9 "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
echo 'limits { max_dim: 8 }' >"$dir/config.pbtxt"
"$server" --grpc_address=127.0.0.1:0 --metrics_address=127.0.0.1:0 --port_file="$dir/port" --worker_threads=1 \
  --config="$dir/config.pbtxt" \
  2>"$dir/server.log" &
pid=$!
for _ in $(seq 1 200); do [[ -s $dir/port ]] && break; sleep 0.05; done
address="127.0.0.1:$(cat "$dir/port")"

fail() { echo "FAIL: $*" >&2; cat "$dir/server.log" >&2; exit 1; }
wait_for_log() {  # wait_for_log PATTERN COUNT: until the log has COUNT lines matching PATTERN.
  for _ in $(seq 1 100); do
    (($(grep -c "$1" "$dir/server.log" || true) >= $2)) && return 0
    sleep 0.05
  done
  fail "no '$1' in the log"
}

"$cli" cosine --address="$address" --dim=16 --n=10 2>"$dir/err" && fail "dim 16 accepted under max_dim 8"
grep -q "RESOURCE_EXHAUSTED" "$dir/err" || fail "expected RESOURCE_EXHAUSTED, got: $(cat "$dir/err")"

echo 'limits { max_dim: 32 }' >"$dir/config.pbtxt"
kill -HUP "$pid"
wait_for_log '"event":"config_reloaded"' 1
"$cli" cosine --address="$address" --dim=16 --n=10 --check >/dev/null || fail "dim 16 refused after the reload"

echo 'limits { max_dim: 0 }' >"$dir/config.pbtxt"
kill -HUP "$pid"
wait_for_log '"event":"config_reload_rejected"' 1
"$cli" cosine --address="$address" --dim=16 --n=10 --check >/dev/null || fail "the old configuration stopped serving"

kill -TERM "$pid"
wait "$pid" || fail "simile-server exited $? after SIGTERM"
echo "ok: SIGHUP applied a valid file, rejected an invalid one, SIGTERM exited 0"
