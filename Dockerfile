# syntax=docker/dockerfile:1
# simile-server and the simile CLI in a container. Two variants, chosen with a build argument:
#   docker build -t simile:0.1.0-cuda .                        # CUDA (default): nvidia/cuda devel -> runtime
#   docker build -t simile:0.1.0-cpu --build-arg VARIANT=cpu .  # CPU-only: debian:bookworm -> bookworm-slim
# Run: docker run --gpus all -p 50051:50051 -p 9464:9464 simile:0.1.0-cuda
#
# The build stage runs the same commands CI runs (scripts/install-deps.sh, then cmake with the flags of
# scripts/test.sh's "cuda" and "cpu" configurations), so what CI builds and tests is what the image ships;
# tests/deploy/dockerfile_test.sh keeps the two in step. NVIDIA publishes its CUDA images on Ubuntu, not Debian:
# Ubuntu 24.04 carries the same gRPC (1.51), Protobuf (3.21) and Abseil (20220623) as Debian bookworm.
# Docker is not available on the machines that develop simile: this file is checked, not built, by CI.

ARG VARIANT=cuda
ARG CUDA_VERSION=13.0.0
ARG UBUNTU=ubuntu24.04

# ---- Build stages: compilers, -dev packages, the source tree. ----
FROM nvidia/cuda:${CUDA_VERSION}-devel-${UBUNTU} AS build-cuda
ENV SIMILE_CMAKE_FLAGS="-DSIMILE_WITH_CUDA=ON"

FROM debian:bookworm AS build-cpu
ENV SIMILE_CMAKE_FLAGS="-DSIMILE_WITH_CUDA=OFF"

FROM build-${VARIANT} AS build
ENV DEBIAN_FRONTEND=noninteractive
WORKDIR /src
# Dependencies first (cached while only sources change): the script CI runs, without --test.
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN apt-get update -qq && apt-get install -y --no-install-recommends git ca-certificates \
    && scripts/install-deps.sh \
    && rm -rf /var/lib/apt/lists/*
COPY . .
# The flags of scripts/test.sh (cuda/cpu configurations), without the test suite and benchmarks.
RUN cmake -S . -B build ${SIMILE_CMAKE_FLAGS} -DSIMILE_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DSIMILE_BUILD_TESTS=OFF -DSIMILE_BUILD_BENCHMARKS=OFF \
    && cmake --build build -j"$(nproc)" --target simile-server simile \
    && mkdir -p /out/bin \
    && cp build/server/simile-server build/client/simile /out/bin/ \
    && strip --strip-debug /out/bin/*
# The runtime packages: whichever installed packages own the shared libraries the binaries load (so the list
# follows the build, e.g. Ubuntu's t64 package names), minus those every base image has.
RUN for lib in $(ldd /out/bin/* | awk '/=> \//{print $3}' | sort -u); do \
      dpkg -S "$(readlink -f "$lib")" 2>/dev/null || dpkg -S "$lib" 2>/dev/null || true; \
    done | cut -d: -f1 | sort -u | grep -vxE 'libc6|libgcc-s1|libstdc\+\+6' >/out/runtime-packages.txt \
    && cat /out/runtime-packages.txt

# ---- Runtime stages: only the binaries, their shared libraries and the default configuration. ----
FROM nvidia/cuda:${CUDA_VERSION}-runtime-${UBUNTU} AS runtime-cuda
FROM debian:bookworm-slim AS runtime-cpu

FROM runtime-${VARIANT} AS runtime
ENV DEBIAN_FRONTEND=noninteractive
COPY --from=build /out/runtime-packages.txt /tmp/runtime-packages.txt
RUN apt-get update -qq \
    && xargs -a /tmp/runtime-packages.txt apt-get install -y --no-install-recommends \
    && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages.txt \
    && groupadd --system --gid 10001 simile \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin simile
COPY --from=build /out/bin/simile-server /out/bin/simile /usr/local/bin/
COPY deploy/config/simile.pbtxt /etc/simile/simile.pbtxt
# Same numeric user as deploy/k8s (runAsUser 10001), so runAsNonRoot can verify it.
USER 10001:10001
# gRPC API, and HTTP /metrics, /status, /healthz, /readyz.
EXPOSE 50051 9464
# The gRPC health service, through the CLI in the image. With TLS on the gRPC port, add the same --tls_* flags.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["simile", "health", "--address=127.0.0.1:50051", "--deadline_ms=3000"]
ENTRYPOINT ["simile-server"]
CMD ["--grpc_address=0.0.0.0:50051", "--metrics_address=0.0.0.0:9464", "--config=/etc/simile/simile.pbtxt"]
