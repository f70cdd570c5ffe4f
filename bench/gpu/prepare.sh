#!/usr/bin/env bash
# Runs HERE (the machine without a GPU). Builds the GPU test and benchmark binaries for sm_90 (H100/H200:
# sm_90 machine code plus compute_90 PTX) and bundles them, with the shared libraries they load, into
# .devbundle/ for bench/gpu/run.sh on the GPU machine (see bench/gpu/README.md).
#
# Usage: bench/gpu/prepare.sh [extra cmake targets...]
#   The bundle always holds simile_kernels_tests, simile-gpu-cosine-bench, simile-server, simile and
#   simile-bench (the service, its CLI and the load generator, for run.sh's service and sets stages).
# Environment: SIMILE_GPU_BUILD_DIR (default build-gpu), JOBS (default nproc).
#
# .devbundle/ layout: bin/ (the binaries), lib/ (from ../shared/tools/bundle-libs), MANIFEST (what was
# built, from which commit, when). cuBLAS is not bundled (libcublasLt alone is ~520 MiB, over the device
# tool's 64 MiB limit): simile loads libcublas.so.13 at run time, and run.sh finds the GPU machine's own.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${SIMILE_GPU_BUILD_DIR:-build-gpu}
jobs=${JOBS:-$(nproc)}
bundle=.devbundle
targets=(simile_kernels_tests simile-gpu-cosine-bench simile-server simile simile-bench "$@")
bundle_libs=${SIMILE_BUNDLE_LIBS:-}
for candidate in ../shared/tools/bundle-libs /work/shared/tools/bundle-libs; do
  [ -n "$bundle_libs" ] || { [ -x "$candidate" ] && bundle_libs=$candidate; }
done
[ -n "$bundle_libs" ] || { echo "prepare.sh: bundle-libs not found (set SIMILE_BUNDLE_LIBS)" >&2; exit 1; }

mkdir -p "$build"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DSIMILE_WITH_CUDA=ON -DSIMILE_WERROR=ON \
  -DCMAKE_CUDA_ARCHITECTURES="90-real;90-virtual" >"$build/configure.log" 2>&1 ||
  { cat "$build/configure.log"; exit 1; }
grep -q 'simile: CUDA backend ON' "$build/configure.log" || { echo "prepare.sh: CUDA is off in $build" >&2; exit 1; }
cmake --build "$build" -j"$jobs" --target "${targets[@]}"

rm -rf "$bundle"
mkdir -p "$bundle/bin" "$bundle/lib"
for t in "${targets[@]}"; do
  path=$(find "$build" -type f -name "$t" -perm -u+x | head -n1)
  [ -n "$path" ] || { echo "prepare.sh: no binary for target $t" >&2; exit 1; }
  cp "$path" "$bundle/bin/"
  strip --strip-debug "$bundle/bin/$t"
done
"$bundle_libs" "$bundle/lib" "$bundle"/bin/*
rm -f "$bundle"/lib/libcublas*.so* "$bundle"/lib/libcudart*.so*

# Every binary with device code must carry sm_90 machine code and compute_90 PTX: readelf shows the
# .nv_fatbin section, `strings` the sm_90 cubins (PTX is stored compressed, so fatbin_list.py reads the
# fatbin headers for it). grep reads from a process substitution: with pipefail, `strings | grep -q` fails
# when grep stops reading early.
for b in "$bundle"/bin/*; do
  if grep -q '\.nv_fatbin' < <(readelf -S "$b"); then
    grep -q -- '-arch sm_90' < <(strings -a "$b") || { echo "prepare.sh: $b has no sm_90 cubin" >&2; exit 1; }
    entries=$(python3 bench/gpu/fatbin_list.py "$b" --require sm_90 --require compute_90) ||
      { echo "prepare.sh: $b lacks sm_90 SASS or compute_90 PTX" >&2; exit 1; }
    echo "$(basename "$b"): .nv_fatbin with ${entries//$'\n'/, }"
  fi
done

{
  echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname)"
  echo "commit: $(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (+ uncommitted changes)')"
  echo "cmake: -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90-real;90-virtual ($build)"
  echo "nvcc: $(nvcc --version | tail -n1)"
  echo "targets: ${targets[*]}"
} >"$bundle/MANIFEST"
cat "$bundle/MANIFEST"
size=$(du -sb "$bundle" | cut -f1)
echo "bundle: $(awk -v s="$size" 'BEGIN { printf "%.1f MiB", s / 1048576 }') in $bundle (the device tool carries at most 64 MiB with the tree)"
[ "$size" -lt $((60 * 1048576)) ] || { echo "prepare.sh: bundle too large" >&2; exit 1; }
