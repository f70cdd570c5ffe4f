#!/usr/bin/env bash
# End-to-end test of the Python example client (client/python/simile_client.py) against a running server.
#
#   tests/client/python_client_test.sh HOST:PORT BUILD_DIR
#
# Uses /usr/bin/python3 (Debian's python3-grpcio and python3-numpy) and the stubs the build generated in
# BUILD_DIR/python. Runs the script with --check over random shapes in both encodings, full matrix and top-k;
# uses the module as a library; and checks that a bad request (top_k > N) fails with INVALID_ARGUMENT.
# Prints one line per case and exits non-zero if any case failed.
set -u

if [[ $# -ne 2 ]]; then
  echo "usage: $0 HOST:PORT BUILD_DIR" >&2
  exit 2
fi
address=$1
stubs=$2/python
source_dir=${SIMILE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
client=$source_dir/client/python/simile_client.py
python=/usr/bin/python3
if [[ ! -f $stubs/simile/v1/similarity_pb2.py ]]; then
  echo "FAIL: no Python stubs in $stubs: build the 'simile_python_stubs' target first" >&2
  exit 1
fi
if ! $python -c 'import grpc, numpy' 2>/dev/null; then
  echo "FAIL: $python cannot import grpc and numpy: install python3-grpcio python3-numpy" >&2
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
cases=0

# run NAME EXPECTED_RC GREP ARGS...: runs the client script; checks its exit code and (if GREP is not empty)
# that its stderr contains GREP.
run() {
  local name=$1 expected=$2 pattern=$3
  shift 3
  cases=$((cases + 1))
  $python "$client" --address "$address" --stubs "$stubs" "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  if [[ $rc -eq $expected ]] && { [[ -z $pattern ]] || grep -q "$pattern" "$tmp/err"; }; then
    echo "ok    $name"
  else
    failures=$((failures + 1))
    echo "FAIL  $name: exit $rc, expected $expected${pattern:+ with '$pattern'}"
    sed 's/^/      /' "$tmp/out" "$tmp/err"
  fi
}

for encoding in raw values; do
  for shape in "2 100 16" "1 1 1" "4 1000 768" "3 20 4099"; do
    read -r q n dim <<<"$shape"
    run "script $encoding Q=$q N=$n dim=$dim" 0 "" --encoding $encoding --q "$q" --n "$n" --dim "$dim" --check
  done
  run "script $encoding top_k=10" 0 "" --encoding $encoding --q 3 --n 500 --dim 64 --top_k 10 --check
  run "script $encoding top_k=N" 0 "" --encoding $encoding --q 2 --n 7 --dim 3 --top_k 7 --check
done
run "script placement=cpu" 0 "" --placement cpu --check
run "top_k larger than N is INVALID_ARGUMENT" 1 "INVALID_ARGUMENT" --q 1 --n 5 --top_k 6

cases=$((cases + 1))
if SIMILE_PYTHON_STUBS=$stubs PYTHONPATH=$source_dir/client/python $python - "$address" >"$tmp/out" 2>&1 <<'PY'; then
import sys
import numpy as np
from simile_client import SimileClient, reference_cosine
with SimileClient(sys.argv[1]) as client:
    q = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])           # float64 in; a zero vector scores 0
    t = np.array([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0]], dtype=np.float32)
    full = client.cosine(q, t)
    assert full.scores.shape == (2, 3) and full.scores.dtype == np.float32, full.scores
    assert np.abs(full.scores - reference_cosine(q, t)).max() <= 1e-6, full.scores
    best = client.cosine(q[0], t, top_k=2, encoding="values")  # a 1-D query is one row
    assert best.top_indices.tolist() == [[0, 2]], best.top_indices
    assert best.report.chunks >= 1, best.report
PY
  echo "ok    library use (SIMILE_PYTHON_STUBS, 1-D query, zero vector, top-k)"
else
  failures=$((failures + 1))
  echo "FAIL  library use"
  sed 's/^/      /' "$tmp/out"
fi

# Target sets; a server without the TargetSets service (the client tests' fake server) skips it (exit 3).
cases=$((cases + 1))
SIMILE_PYTHON_STUBS=$stubs PYTHONPATH=$source_dir/client/python $python - "$address" >"$tmp/out" 2>&1 <<'PY'
import sys
import grpc
import numpy as np
from simile_client import SimileClient, reference_cosine
rng = np.random.default_rng(7)
with SimileClient(sys.argv[1]) as client:
    name = f"py-{rng.integers(1 << 30)}"
    t = rng.uniform(-1, 1, (700, 24)).astype(np.float32)
    q = rng.uniform(-1, 1, (3, 24)).astype(np.float32)
    try:
        info = client.create_target_set(name, t, chunk_rows=256)   # three chunks
    except grpc.RpcError as e:
        if e.code() == grpc.StatusCode.UNIMPLEMENTED:
            sys.exit(3)
        raise
    assert (info.rows, info.dim, info.version) == (700, 24, 1), info
    on_set = client.cosine(q, target_set=name)
    inline = client.cosine(q, t)
    assert np.array_equal(on_set.scores, inline.scores)
    assert np.abs(on_set.scores - reference_cosine(q, t)).max() <= 1e-5
    assert on_set.report.target_set == name and on_set.report.targets_resident
    more = rng.uniform(-1, 1, (50, 24)).astype(np.float32)
    assert client.append_target_set(name, more).version == 2
    best = client.cosine(q, target_set=name, top_k=5)
    ref = reference_cosine(q, np.vstack([t, more]))
    assert best.top_indices.tolist() == np.argsort(-ref, axis=1, kind="stable")[:, :5].tolist()
    assert any(s.name == name for s in client.list_target_sets().sets)
    client.delete_target_set(name)
    try:
        client.cosine(q, target_set=name)
        raise AssertionError("a deleted set answered")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.NOT_FOUND, e
PY
rc=$?
if [[ $rc -eq 0 ]]; then
  echo "ok    target sets (create in chunks, query equals inline, append, top-k, list, delete)"
elif [[ $rc -eq 3 ]]; then
  echo "ok    target sets: skipped, this server has no simile.v1.TargetSets (UNIMPLEMENTED)"
else
  failures=$((failures + 1))
  echo "FAIL  target sets"
  sed 's/^/      /' "$tmp/out"
fi

echo "$((cases - failures)) of $cases cases passed"
[[ $failures -eq 0 ]]
