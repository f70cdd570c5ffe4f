#!/usr/bin/env bash
# The "simile.v1.Gpu" health service of a running simile server: SERVING where the machine has a GPU
# (nvidia-smi lists one) and the server was built with CUDA, NOT_SERVING otherwise (the server then answers
# on the CPU). Usage: tests/e2e/gpu_health_test.sh HOST:PORT BUILD_DIR CUDA_BUILD(ON|OFF)
set -u
address=$1
simile=$2/client/simile
expected=NOT_SERVING
if [[ $3 == ON ]] && nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then expected=SERVING; fi
got=$("$simile" health --service=simile.v1.Gpu --address="$address" 2>/dev/null)
if [[ $got == "$expected" ]]; then
  echo "ok    health of simile.v1.Gpu is $got"
  exit 0
fi
echo "FAIL  health of simile.v1.Gpu: expected $expected, got '$got'"
exit 1
