#!/usr/bin/env bash
# The service on a GPU, end to end (run by bench/gpu/run.sh; builds nothing): starts BIN/simile-server on
# 127.0.0.1:0, requires the "simile.v1.Gpu" health to be SERVING, runs `simile cosine --placement=gpu --check`
# (the CLI compares with its own float64 reference) over full-score and top-k shapes, prints the server's
# status, stops the server with SIGTERM and requires a clean exit. Exit status 0 only if every step passed.
#
# Usage: bench/gpu/service_check.sh BIN   (BIN holds simile-server and simile)
set -u
bin=$1
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
"$bin/simile-server" --grpc_address=127.0.0.1:0 --port_file="$work/port" --log_level=info \
  --max_receive_message_bytes=1000000000 2>"$work/server.log" &
pid=$!
for _ in $(seq 1 300); do
  [ -s "$work/port" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if [ ! -s "$work/port" ]; then
  echo "FAIL  the server did not start"
  cat "$work/server.log"
  exit 1
fi
address=127.0.0.1:$(cat "$work/port")
failures=0
step() {  # step NAME ARGS...: runs simile ARGS, requires exit 0.
  local name=$1
  shift
  if "$bin/simile" "$@" --address="$address" >"$work/out" 2>&1; then
    echo "ok    $name: $(tail -n1 "$work/out" | cut -c1-150)"
  else
    failures=$((failures + 1))
    echo "FAIL  $name"
    sed 's/^/      /' "$work/out"
  fi
}
step "gpu health is SERVING" health --service=simile.v1.Gpu
for shape in "1 100000 768" "4 50000 768" "64 20000 128" "1 1000 3"; do
  read -r q n dim <<<"$shape"
  step "placement=gpu Q=$q N=$n dim=$dim" cosine --placement=gpu --q="$q" --n="$n" --dim="$dim" --check
  step "placement=gpu top_k=10 Q=$q N=$n dim=$dim" cosine --placement=gpu --q="$q" --n="$n" --dim="$dim" \
    --top_k=10 --check
done
step "placement=auto Q=16 N=100000 dim=768 top_k=100" cosine --q=16 --n=100000 --dim=768 --top_k=100 --check
step "status" status
cat "$work/out"
kill -TERM "$pid"
if wait "$pid"; then echo "ok    server exited cleanly"; else failures=$((failures + 1)); echo "FAIL  server exit"; fi
pid=
echo "--- server log"
cat "$work/server.log"
echo "service_check: $failures failure(s)"
[ "$failures" -eq 0 ]
