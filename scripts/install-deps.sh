#!/usr/bin/env bash
# Installs the Debian packages simile builds, runs and tests with (Debian bookworm / Ubuntu 22.04+), with apt-get
# (through sudo when not root). Installs only what is missing, so a second run takes a second.
# Usage: scripts/install-deps.sh [--test]   (--test adds what only the test suite needs)
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  libcivetweb-dev
)
test_packages=(
  catch2 libbenchmark-dev python3-grpcio python3-numpy clang-14 libclang-rt-14-dev
  prometheus curl libopenblas-dev libeigen3-dev libfaiss-dev python3-matplotlib
  openssl yamllint python3-yaml  # deploy/ and TLS tests (issue 7)
)
if [[ "${1:-}" == "--test" ]]; then
  packages+=("${test_packages[@]}")
  # kubectl (kustomize built in) for tests/deploy/k8s_manifests_test.sh. Debian's is 1.20; a kubectl already on
  # PATH (e.g. from google-cloud-sdk, which ships the same file) is used as it is.
  command -v kubectl >/dev/null || packages+=(kubernetes-client)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y --no-install-recommends "${missing[@]}"
