#!/usr/bin/env bash
# Builds simile (Release; with the CUDA backend when nvcc is present) and starts simile-server on its defaults:
# gRPC on 0.0.0.0:50051. Extra arguments go to the server, e.g. scripts/run-server.sh --log_level=debug.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
build_dir=${SIMILE_BUILD_DIR:-build-release}
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DSIMILE_BUILD_TESTS=OFF -DSIMILE_BUILD_BENCHMARKS=OFF
cmake --build "$build_dir" -j"$(nproc)" --target simile-server simile
echo "run-server: starting $build_dir/server/simile-server $*"
exec "$build_dir/server/simile-server" "$@"
