#!/usr/bin/env bash
# End-to-end test of the `simile` CLI against a running simile server.
#
#   tests/client/cli_e2e_test.sh HOST:PORT BUILD_DIR
#
# Runs `BUILD_DIR/client/simile` against the server at HOST:PORT: health; cosine with --check over random
# shapes (dims 1, 3, 768, 4099; one target; a request over 4 MiB) in both encodings, full matrix and top-k;
# .npy files in (float32 and float64) and out, checked with numpy when /usr/bin/python3 has it; and the
# error paths (top_k > N is INVALID_ARGUMENT; PLACEMENT_GPU either runs or is FAILED_PRECONDITION).
# Prints one line per case and exits non-zero if any case failed.
set -u

if [[ $# -ne 2 ]]; then
  echo "usage: $0 HOST:PORT BUILD_DIR" >&2
  exit 2
fi
address=$1
simile=$2/client/simile
if [[ ! -x $simile ]]; then
  echo "FAIL: $simile is missing: build the 'simile' target first" >&2
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
cases=0

# expect_ok NAME ARGS...: the command must exit 0.
expect_ok() {
  local name=$1
  shift
  cases=$((cases + 1))
  "$simile" "$@" --address="$address" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  if [[ $rc -eq 0 ]]; then
    echo "ok    $name"
  else
    failures=$((failures + 1))
    echo "FAIL  $name: simile $* exited $rc"
    sed 's/^/      /' "$tmp/out" "$tmp/err"
  fi
}

# expect_error NAME CODE ARGS...: the command must exit 1 with the status code name CODE on stderr.
expect_error() {
  local name=$1 code=$2
  shift 2
  cases=$((cases + 1))
  "$simile" "$@" --address="$address" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  if [[ $rc -eq 1 ]] && grep -q ": $code: " "$tmp/err"; then
    echo "ok    $name ($(head -c 120 "$tmp/err"))"
  else
    failures=$((failures + 1))
    echo "FAIL  $name: expected exit 1 with $code, got exit $rc"
    sed 's/^/      /' "$tmp/out" "$tmp/err"
  fi
}

expect_ok "health is SERVING" health

for encoding in raw values; do
  for shape in "1 1 1" "3 17 3" "4 1000 768" "2 50 4099" "5 1 64"; do
    read -r q n dim <<<"$shape"
    expect_ok "cosine $encoding Q=$q N=$n dim=$dim" cosine --encoding=$encoding --q=$q --n=$n --dim=$dim \
      --seed=$((q + n + dim)) --check
  done
  for shape in "5 300 64 10" "3 40 8 1" "2 7 3 7"; do
    read -r q n dim k <<<"$shape"
    expect_ok "cosine $encoding top_k=$k Q=$q N=$n dim=$dim" cosine --encoding=$encoding --q=$q --n=$n \
      --dim=$dim --top_k=$k --check
  done
done
expect_ok "cosine raw request over 4 MiB (8 x 2000 x 768)" cosine --q=8 --n=2000 --dim=768 --check
expect_ok "cosine placement=cpu" cosine --placement=cpu --q=2 --n=100 --dim=32 --check

# PLACEMENT_GPU: runs on a GPU server, FAILED_PRECONDITION on one without a GPU; never anything else.
cases=$((cases + 1))
"$simile" cosine --address="$address" --placement=gpu --q=2 --n=100 --dim=32 --check >"$tmp/out" 2>"$tmp/err"
rc=$?
if [[ $rc -eq 0 ]] || { [[ $rc -eq 1 ]] && grep -q ": FAILED_PRECONDITION: " "$tmp/err"; }; then
  echo "ok    cosine placement=gpu (exit $rc)"
else
  failures=$((failures + 1))
  echo "FAIL  cosine placement=gpu: exit $rc"
  sed 's/^/      /' "$tmp/out" "$tmp/err"
fi

expect_error "top_k larger than N is INVALID_ARGUMENT" INVALID_ARGUMENT cosine --q=1 --n=5 --dim=4 --top_k=6

# .npy files in and out, checked independently with numpy where it is installed.
if /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
  /usr/bin/python3 - "$tmp" <<'PY'
import sys, numpy as np
rng = np.random.default_rng(3)
np.save(f"{sys.argv[1]}/q.npy", rng.standard_normal((3, 96)))                      # float64: converted
np.save(f"{sys.argv[1]}/t.npy", rng.standard_normal((250, 96)).astype(np.float32))  # float32
PY
  expect_ok "cosine .npy in, scores out" cosine --queries="$tmp/q.npy" --targets="$tmp/t.npy" \
    --out="$tmp/scores.npy" --check
  expect_ok "cosine .npy in, top-k out" cosine --queries="$tmp/q.npy" --targets="$tmp/t.npy" --top_k=5 \
    --encoding=values --out="$tmp/top.npy" --out_indices="$tmp/top_idx.npy" --check
  cases=$((cases + 1))
  if /usr/bin/python3 - "$tmp" <<'PY'; then
import sys, numpy as np
d = sys.argv[1]
q = np.load(f"{d}/q.npy").astype(np.float32).astype(np.float64)
t = np.load(f"{d}/t.npy").astype(np.float64)
ref = (q / np.linalg.norm(q, axis=1, keepdims=True)) @ (t / np.linalg.norm(t, axis=1, keepdims=True)).T
s = np.load(f"{d}/scores.npy")
assert s.dtype == np.float32 and s.shape == (3, 250), (s.dtype, s.shape)
assert np.abs(s - ref).max() <= 1e-5, np.abs(s - ref).max()
top, idx = np.load(f"{d}/top.npy"), np.load(f"{d}/top_idx.npy")
assert top.dtype == np.float32 and idx.dtype == np.int64 and top.shape == idx.shape == (3, 5)
assert np.abs(top - np.take_along_axis(ref, idx, axis=1)).max() <= 1e-5
assert (np.sort(ref, axis=1)[:, ::-1][:, :5] - top).max() <= 1e-5
PY
    echo "ok    numpy agrees with the .npy outputs"
  else
    failures=$((failures + 1))
    echo "FAIL  numpy disagrees with the .npy outputs"
  fi
else
  echo "skip  .npy cases: /usr/bin/python3 has no numpy"
fi

# Target sets: upload once (random rows from a seed, so --check can recompute them), query many times.
if "$simile" sets list --address="$address" >/dev/null 2>"$tmp/err" || ! grep -q UNIMPLEMENTED "$tmp/err"; then
  expect_ok "sets upload (3000 x 48, in chunks of 500)" sets upload cli-docs --n=3000 --dim=48 --seed=70 --chunk_rows=500
  expect_ok "sets list" sets list
  expect_ok "cosine on the set, full scores, checked" cosine --target_set=cli-docs --q=3 --n=3000 --dim=48 --seed=70 --check
  expect_ok "cosine on the set, top_k=7, checked" cosine --target_set=cli-docs --q=2 --n=3000 --dim=48 --seed=70 \
    --top_k=7 --check
  expect_error "sets upload of a taken name is ALREADY_EXISTS" ALREADY_EXISTS sets upload cli-docs --n=10 --dim=48
  expect_error "sets upload of a bad name is INVALID_ARGUMENT" INVALID_ARGUMENT sets upload "bad name" --n=10 --dim=48
  expect_ok "sets upload --append (version 2)" sets upload cli-docs --append --n=100 --dim=48 --seed=71
  cases=$((cases + 1))
  if "$simile" sets describe cli-docs --address="$address" >"$tmp/out" 2>&1 && grep -q "version 2, 3100 rows" "$tmp/out"; then
    echo "ok    sets describe shows version 2 with 3100 rows"
  else
    failures=$((failures + 1))
    echo "FAIL  sets describe"
    cat "$tmp/out"
  fi
  expect_ok "sets delete" sets delete cli-docs
  expect_error "sets describe after delete is NOT_FOUND" NOT_FOUND sets describe cli-docs
  expect_error "cosine on a deleted set is NOT_FOUND" NOT_FOUND cosine --target_set=cli-docs --q=1 --dim=48
else
  echo "skip  sets: this server has no simile.v1.TargetSets (a test double)"
fi

# status: GetStatus as JSON, counting the decisions made above.
cases=$((cases + 1))
if "$simile" status --address="$address" >"$tmp/status.json" 2>"$tmp/status.err" &&
  grep -q '"config_version": "1"' "$tmp/status.json" && grep -q '"rule": "' "$tmp/status.json"; then
  echo "ok    status prints the server's status as JSON"
elif grep -q UNIMPLEMENTED "$tmp/status.err"; then
  echo "skip  status: this server has no simile.v1.Admin (a test double)"
else
  failures=$((failures + 1))
  echo "FAIL  status"
  cat "$tmp/status.json" "$tmp/status.err"
fi

echo "$((cases - failures)) of $cases cases passed"
[[ $failures -eq 0 ]]
