#!/usr/bin/env bash
# A live scrape of a running simile-server passes `promtool check metrics` (format and naming lint), and the
# HTTP endpoint answers /healthz, /readyz, /status (JSON with the expected fields) and / while it serves.
# Usage: tests/e2e/metrics_promtool_test.sh <simile-server> <simile CLI>
# Exits 77 (ctest: skipped) only when promtool is not installed (Debian package `prometheus`).
set -euo pipefail
server=$1
cli=$2
promtool=$(command -v promtool || true)
if [[ -z $promtool ]]; then
  echo "SKIP: promtool not found (install the Debian package 'prometheus')"
  exit 77
fi
dir=$(mktemp -d)
pid=
trap '[[ -n $pid ]] && kill -9 "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; cat "$dir/server.log" >&2; exit 1; }

"$server" --grpc_address=127.0.0.1:0 --metrics_address=127.0.0.1:0 --port_file="$dir/port" \
  --metrics_port_file="$dir/metrics_port" --worker_threads=2 2>"$dir/server.log" &
pid=$!
for _ in $(seq 1 200); do [[ -s $dir/port ]] && break; sleep 0.05; done
[[ -s $dir/port ]] || fail "no port after 10 s"
address="127.0.0.1:$(cat "$dir/port")"
http="http://127.0.0.1:$(cat "$dir/metrics_port")"

# Load: successes of both operations, top-k, and errors, so that many series have non-zero values.
"$cli" cosine --address="$address" --q=1 --n=2000 --dim=64 >/dev/null || fail "cosine q=1"
"$cli" cosine --address="$address" --q=8 --n=500 --dim=32 --top_k=3 >/dev/null || fail "cosine q=8"
"$cli" cosine --address="$address" --q=2 --n=100 --dim=16 --placement=cpu >/dev/null || fail "cosine cpu"
"$cli" cosine --address="$address" --n=4 --top_k=5 2>/dev/null && fail "top_k > n accepted"
"$cli" cosine --address="$address" --n=1 --dim=70000 2>/dev/null && fail "dim 70000 accepted"

curl -fsS "$http/metrics" >"$dir/metrics.txt" || fail "GET /metrics"
lint=$("$promtool" check metrics <"$dir/metrics.txt" 2>&1) || fail "promtool check metrics: $lint"
[[ -z $lint ]] || fail "promtool check metrics reported: $lint"
grep -q '^simile_requests_total{method="Cosine",code="OK"} 3$' "$dir/metrics.txt" || fail "OK count"
grep -q '^simile_requests_total{method="Cosine",code="INVALID_ARGUMENT"} 1$' "$dir/metrics.txt" ||
  fail "INVALID_ARGUMENT count"
grep -q '^simile_requests_total{method="Cosine",code="RESOURCE_EXHAUSTED"} 1$' "$dir/metrics.txt" ||
  fail "RESOURCE_EXHAUSTED count"
grep -q '^process_cpu_seconds_total ' "$dir/metrics.txt" || fail "no process metrics"

[[ $(curl -s -o /dev/null -w '%{http_code}' "$http/healthz") == 200 ]] || fail "/healthz"
[[ $(curl -s -o /dev/null -w '%{http_code}' "$http/readyz") == 200 ]] || fail "/readyz"
[[ $(curl -s -o /dev/null -w '%{http_code}' "$http/no-such-page") == 404 ]] || fail "404"
curl -fsS "$http/" | grep -q 'Circuit breaker' || fail "status page"
curl -fsS "$http/status" >"$dir/status.json" || fail "GET /status"
/usr/bin/python3 - "$dir/status.json" <<'PY' || fail "/status JSON"
import json, sys
s = json.load(open(sys.argv[1]))
for key in ("version", "commit", "config_version", "uptime_seconds", "in_flight_requests", "gpu",
            "circuit_breaker", "operations", "counts"):
    assert key in s, key
assert s["circuit_breaker"]["state"] in ("closed", "open", "half_open"), s["circuit_breaker"]
assert sum(int(d["count"]) for d in s["counts"]["decisions"]) == 3, s["counts"]
PY

kill -TERM "$pid"
wait "$pid" || fail "simile-server exited $? after SIGTERM"
pid=
echo "ok: promtool check metrics is clean on a live scrape; /healthz, /readyz, /status and / answer"
