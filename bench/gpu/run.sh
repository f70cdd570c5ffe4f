#!/usr/bin/env bash
# Runs ON THE GPU MACHINE, over the binaries bench/gpu/prepare.sh put in .devbundle/ (it builds nothing).
# Prints the device, runs the GPU test suite, the sticky-fault test on its own, compute-sanitizer memcheck
# and racecheck over the GPU tests (small shapes), the service end to end on the GPU (when simile-server and
# simile are bundled), and the GPU benchmark; writes full logs to LOGDIR and prints a short summary table last.
# Without a usable GPU (no nvidia-smi device) the GPU stages are reported "no GPU" and the exit status is 3;
# otherwise it is 0 when every stage that ran passed, 1 if not.
#
# Usage: LD_LIBRARY_PATH=.devbundle/lib bench/gpu/run.sh [LOGDIR] [STAGE...]
#   LOGDIR: where the logs go (default: $OUT when set, else ./gpu-logs).
#   STAGE:  info tests fault memcheck racecheck service bench (default: all, in that order).
# Environment:
#   SIMILE_GPU_BUDGET_S  seconds for all stages together (default 560, inside the device tool's 600 s
#                        call): a stage gets min(its own limit, what is left - 15 s) and is reported
#                        "not run" when less than 20 s is left, so the table is always printed.
#   SIMILE_BENCH_ARGS    extra arguments for simile-gpu-cosine-bench (e.g. --benchmark_filter=OneQuery).
# Logs (at most 8 files, what the device tool brings back): info.txt tests.txt (the fault test's output is
# appended to it) memcheck.txt racecheck.txt service.txt bench.txt bench.json summary.txt.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
root=$PWD
bundle=$root/.devbundle
[ -x "$bundle/bin/simile_kernels_tests" ] || {
  echo "run.sh: $bundle/bin/simile_kernels_tests missing: run bench/gpu/prepare.sh here first and carry .devbundle" >&2
  exit 2
}
logdir=${OUT:-$root/gpu-logs}
all_stages=(info tests fault memcheck racecheck service bench sets)
if [ $# -gt 0 ] && [[ " ${all_stages[*]} " != *" $1 "* ]]; then
  logdir=$1
  shift
fi
mkdir -p "$logdir"
stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=("${all_stages[@]}")
budget=${SIMILE_GPU_BUDGET_S:-560}
start=$SECONDS
tests=$bundle/bin/simile_kernels_tests
bench=$bundle/bin/simile-gpu-cosine-bench

# cuBLAS is not bundled: find the machine's libcublas.so.13 (CUDA toolkit, or the pip wheels PyTorch uses).
find_cublas() {
  local d
  for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/lib/x86_64-linux-gnu; do
    [ -e "$d/libcublas.so.13" ] && { echo "$d"; return; }
  done
  d=$(ldconfig -p 2>/dev/null | awk '/libcublas\.so\.13 /{print $NF; exit}')
  [ -n "$d" ] && { dirname "$d"; return; }
  d=$(timeout 30 find / -xdev -name 'libcublas.so.13' -not -path '*/proc/*' 2>/dev/null | head -n1)
  [ -n "$d" ] && dirname "$d"
}
cublas_dir=$(find_cublas)
export LD_LIBRARY_PATH="$bundle/lib${cublas_dir:+:$cublas_dir}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
sanitizer=$(command -v compute-sanitizer || true)
[ -n "$sanitizer" ] || { [ -x /usr/local/cuda/bin/compute-sanitizer ] && sanitizer=/usr/local/cuda/bin/compute-sanitizer; }

rows=()  # "stage|result|seconds|detail"
failed=0
add_row() {
  rows+=("$1|$2|$3|$4")
  case $2 in PASS* | CLEAN | DONE | ok* | "no GPU"*) ;; *) failed=1 ;; esac
}

# No GPU: the binaries would only report themselves unavailable; say so once and skip the GPU stages (the
# host-only tests still run in the tests stage).
have_gpu=1
gpu_line=$(nvidia-smi -L 2>/dev/null | grep '^GPU ' | head -n1)
[ -n "$gpu_line" ] || have_gpu=0

# run_stage NAME LIMIT_S LOGFILE COMMAND...: runs with a time limit inside the budget; sets rc (-1: not
# run) and secs.
run_stage() {
  local limit=$2 log=$3
  shift 3
  local left=$((budget - (SECONDS - start) - 15))
  ((left < limit)) && limit=$left
  if ((limit < 20)); then
    rc=-1
    secs=0
    echo "not run: time budget spent" >"$log"
    return
  fi
  local t0=$SECONDS
  echo "\$ $*  (limit ${limit}s)" >"$log"
  timeout --kill-after=10 "$limit" "$@" >>"$log" 2>&1
  rc=$?
  secs=$((SECONDS - t0))
  echo "exit code $rc after ${secs}s" >>"$log"
}

catch_summary() {  # The Catch2 totals line of a log.
  grep -E '^(All tests passed|test cases:)' "$1" | tail -n1 | sed 's/  */ /g'
}

for stage in "${stages[@]}"; do
  if ((!have_gpu)) && [[ $stage != info && $stage != tests ]]; then
    add_row "$stage" "no GPU" 0 "nvidia-smi lists no GPU: stage skipped"
    continue
  fi
  case $stage in
    info)
      {
        echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
        echo "host: $(hostname); kernel $(uname -r)"
        cat "$bundle/MANIFEST" 2>/dev/null
        echo "--- nvidia-smi"
        nvidia-smi 2>&1
        echo "--- nvidia-smi --query-gpu"
        nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,clocks.sm,clocks.max.sm,clocks.mem,power.limit,persistence_mode,mig.mode.current --format=csv 2>&1
        echo "--- cuBLAS: ${cublas_dir:-NOT FOUND}"
        # shellcheck disable=SC2012
        ls -l "${cublas_dir:-/nonexistent}"/libcublas*.so* 2>&1 | head -n5
        echo "--- compute-sanitizer: ${sanitizer:-NOT FOUND}"
        [ -n "$sanitizer" ] && "$sanitizer" --version 2>&1 | tail -n2
        echo "--- ldd $tests"
        ldd "$tests" 2>&1
      } >"$logdir/info.txt" 2>&1
      gpu=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -n1)
      add_row info "${gpu:+ok}${gpu:-NO GPU}" 0 "${gpu:-nvidia-smi failed}; cuBLAS ${cublas_dir:-NOT FOUND}"
      ;;
    tests)
      run_stage tests 240 "$logdir/tests.txt" "$tests" --durations yes
      result=$([ $rc -eq 0 ] && echo PASS || echo FAIL)
      ((rc == 124 || rc == 137)) && result=TIMEOUT
      ((rc == -1)) && result="not run"
      if grep -q 'SKIPPED' "$logdir/tests.txt"; then
        if ((have_gpu)); then result="FAIL (GPU tests SKIPPED)"; else result="no GPU (GPU tests SKIPPED)"; fi
      fi
      add_row tests "$result" "$secs" "$(catch_summary "$logdir/tests.txt")"
      ;;
    fault)
      run_stage fault 60 "$logdir/fault.txt" "$tests" '[gpu_fault]'
      result=$([ $rc -eq 0 ] && echo PASS || echo FAIL)
      ((rc == -1)) && result="not run"
      grep -q 'SKIPPED' "$logdir/fault.txt" && result="FAIL (SKIPPED)"
      add_row fault "$result" "$secs" "sticky cudaErrorIllegalAddress -> UNAVAILABLE: $(catch_summary "$logdir/fault.txt")"
      { echo; echo "==== fault stage"; cat "$logdir/fault.txt"; } >>"$logdir/tests.txt"
      rm -f "$logdir/fault.txt"
      ;;
    service)
      if [ ! -x "$bundle/bin/simile-server" ] || [ ! -x "$bundle/bin/simile" ]; then
        add_row service "not run" 0 "simile-server and simile not in the bundle"
        continue
      fi
      run_stage service 120 "$logdir/service.txt" "$root/bench/gpu/service_check.sh" "$bundle/bin"
      result=$([ $rc -eq 0 ] && echo PASS || echo FAIL)
      ((rc == 124 || rc == 137)) && result=TIMEOUT
      ((rc == -1)) && result="not run"
      add_row service "$result" "$secs" "$(grep -E '^service_check:' "$logdir/service.txt" | tail -n1)"
      ;;
    memcheck | racecheck)
      if [ -z "$sanitizer" ]; then
        echo "compute-sanitizer not found" >"$logdir/$stage.txt"
        add_row "$stage" "not run" 0 "compute-sanitizer not found"
        continue
      fi
      extra=()
      [ "$stage" = racecheck ] && extra=(--racecheck-report all)
      limit=$([ "$stage" = memcheck ] && echo 150 || echo 120)
      SIMILE_GPU_TEST_QUICK=1 run_stage "$stage" "$limit" "$logdir/$stage.txt" "$sanitizer" --tool "$stage" \
        "${extra[@]}" --error-exitcode 99 --print-limit 50 "$tests" '[gpu]~[oom]~[large]'
      if [ "$stage" = memcheck ]; then
        detail=$(grep -E 'ERROR SUMMARY' "$logdir/$stage.txt" | tail -n1)
      else
        detail=$(grep -E 'RACECHECK SUMMARY' "$logdir/$stage.txt" | tail -n1)
      fi
      result=$([ $rc -eq 0 ] && echo CLEAN || echo FAIL)
      ((rc == 99)) && result="ERRORS"
      ((rc == 124 || rc == 137)) && result=TIMEOUT
      ((rc == -1)) && result="not run"
      add_row "$stage" "$result" "$secs" "${detail:-no summary line} | $(catch_summary "$logdir/$stage.txt")"
      ;;
    bench)
      # shellcheck disable=SC2086
      run_stage bench 240 "$logdir/bench.txt" "$bench" --benchmark_out="$logdir/bench.json" \
        --benchmark_out_format=json ${SIMILE_BENCH_ARGS:-}
      result=$([ $rc -eq 0 ] && echo DONE || echo FAIL)
      ((rc == 124 || rc == 137)) && result=TIMEOUT
      ((rc == -1)) && result="not run"
      add_row bench "$result" "$secs" "summary below; full output in bench.txt, bench.json"
      ;;
    sets)
      # One query on a resident target set (10^4, 10^5, 10^6 x 768) against the same targets inline, through the
      # service on the GPU: bench/target_sets.sh prints its table last.
      if [ ! -x "$bundle/bin/simile-server" ] || [ ! -x "$bundle/bin/simile-bench" ]; then
        add_row sets "not run" 0 "simile-server and simile-bench not in the bundle"
        continue
      fi
      run_stage sets 150 "$logdir/sets.txt" "$root/bench/target_sets.sh" "$bundle/bin" 4
      result=$([ $rc -eq 0 ] && echo DONE || echo FAIL)
      ((rc == 124 || rc == 137)) && result=TIMEOUT
      ((rc == -1)) && result="not run"
      add_row sets "$result" "$secs" "table at the end of sets.txt"
      ;;
    *)
      echo "run.sh: unknown stage $stage" >&2
      exit 2
      ;;
  esac
done

{
  if [ -f "$logdir/bench.txt" ] && grep -q '==== simile GPU benchmark summary' "$logdir/bench.txt"; then
    sed -n '/==== simile GPU benchmark summary/,$p' "$logdir/bench.txt" | grep -v '^exit code'
  fi
  if [ -f "$logdir/sets.txt" ] && grep -q '^| N x 768' "$logdir/sets.txt"; then
    echo
    echo "==== target sets on the GPU (bench/target_sets.sh)"
    sed -n '/^| N x 768/,$p' "$logdir/sets.txt" | grep -v '^exit code'
  fi
  echo
  echo "==== bench/gpu/run.sh: $(date -u +%Y-%m-%dT%H:%M:%SZ), $((SECONDS - start)) s, logs in $logdir ===="
  printf '%-10s %-28s %6s  %s\n' stage result secs detail
  for r in "${rows[@]}"; do
    IFS='|' read -r s res secs_ detail <<<"$r"
    printf '%-10s %-28s %6s  %s\n' "$s" "$res" "$secs_" "$detail"
  done
} | tee "$logdir/summary.txt"
((have_gpu)) || { echo "run.sh: no GPU on this machine (nvidia-smi lists none): GPU stages skipped" >&2; exit 3; }
exit "$failed"
