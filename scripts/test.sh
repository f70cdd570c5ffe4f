#!/usr/bin/env bash
# Builds simile and runs every test, the way CI does (.ci/run calls this script):
#   1. the CUDA build (kernels/ compiled for sm_80/sm_90 when nvcc is present), warnings as errors, all tests;
#   2. the CPU-only build (-DSIMILE_WITH_CUDA=OFF), all tests;
#   3. ThreadSanitizer (clang-14, CPU-only), all tests; only Debian's prebuilt, uninstrumented libraries (gRPC,
#      protobuf, Abseil) are suppressed, see tests/tsan.supp;
#   4. AddressSanitizer + UndefinedBehaviorSanitizer (clang-14, CPU-only), all tests, plus a 30 s libFuzzer run
#      of the request fuzzer from its seed corpus (tests/fuzz/).
# Each configuration gets its own build directory under ${SIMILE_TEST_BUILD_ROOT:-build-test}.
# Usage: scripts/test.sh [config...]   (configs: cuda cpu tsan asan; default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test

root=${SIMILE_TEST_BUILD_ROOT:-build-test}
jobs=$(nproc)
configs=("$@")
if ((${#configs[@]} == 0)); then configs=(cuda cpu tsan asan); fi
export TSAN_OPTIONS="suppressions=$PWD/tests/tsan.supp halt_on_error=1 second_deadlock_stack=1"
export ASAN_OPTIONS="detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

run_config() {
  local name=$1
  shift
  local dir="$root/$name"
  echo "=== test.sh: configuration '$name' ($*) ==="
  local start=$SECONDS
  cmake -S . -B "$dir" -DSIMILE_WERROR=ON "$@" >"$dir.configure.log" 2>&1 ||
    { cat "$dir.configure.log"; return 1; }
  cmake --build "$dir" -j"$jobs"
  ctest --test-dir "$dir" --output-on-failure -j"$jobs" --timeout 600
  echo "=== test.sh: configuration '$name' passed in $((SECONDS - start)) s ==="
}

mkdir -p "$root"
for c in "${configs[@]}"; do
  case "$c" in
    cuda) run_config cuda -DSIMILE_WITH_CUDA=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo ;;
    cpu) run_config cpu -DSIMILE_WITH_CUDA=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo ;;
    tsan)
      run_config tsan -DSIMILE_WITH_CUDA=OFF -DSIMILE_SANITIZE=thread -DCMAKE_CXX_COMPILER=clang++-14 \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSIMILE_BUILD_BENCHMARKS=OFF ;;
    asan)
      run_config asan -DSIMILE_WITH_CUDA=OFF -DSIMILE_SANITIZE=address -DCMAKE_CXX_COMPILER=clang++-14 \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSIMILE_BUILD_BENCHMARKS=OFF -DSIMILE_BUILD_FUZZERS=ON ;;
    *) echo "test.sh: unknown configuration '$c'" >&2; exit 2 ;;
  esac
done
echo "test.sh: all configurations passed: ${configs[*]}"
