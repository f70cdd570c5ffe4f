#!/usr/bin/env bash
# Docker cannot run on the machines that build simile, and no Dockerfile linter is packaged for Debian, so this
# keeps the Dockerfile consistent with what CI does build and test:
#   - every file it COPYs from the build context exists, and .dockerignore does not exclude it;
#   - it installs dependencies with scripts/install-deps.sh and configures with the same flags as
#     scripts/test.sh's cuda and cpu configurations, building the targets CI builds;
#   - EXPOSE names the server's default ports (server/main.cc) and the HEALTHCHECK runs a CLI subcommand that
#     exists; it runs as the non-root user deploy/k8s declares (runAsUser);
#   - both variants' stages exist (FROM build-${VARIANT} / runtime-${VARIANT}).
# Usage: tests/deploy/dockerfile_test.sh <source dir> <simile CLI>
set -euo pipefail
src=$1
cli=$2
df=$src/Dockerfile
fail() { echo "FAIL: $*" >&2; exit 1; }
[[ -f $df && -f $src/.dockerignore ]] || fail "Dockerfile or .dockerignore missing"

# COPY sources from the context (not --from=stage) exist and are not ignored.
while read -r source; do
  [[ $source == . ]] && continue
  [[ -e $src/$source ]] || fail "Dockerfile copies $source, which does not exist"
  while read -r pattern; do
    [[ -z $pattern || $pattern == \#* ]] && continue
    # shellcheck disable=SC2053  # glob match on purpose
    [[ $source == ${pattern%/} || $source == ${pattern%/}/* ]] && fail "$source is excluded by .dockerignore ($pattern)"
  done <"$src/.dockerignore"
done < <(grep -E '^COPY ' "$df" | grep -v -- '--from=' | awk '{print $2}')

# Scripts it runs exist and are executable.
for script in $(grep -oE 'scripts/[a-z_-]+\.sh' "$df" | sort -u); do
  [[ -x $src/$script ]] || fail "Dockerfile runs $script, which is missing or not executable"
done
grep -q 'scripts/install-deps.sh$' <(grep -oE 'scripts/install-deps.sh' "$df") || fail "install-deps.sh not used"

# The configure flags match scripts/test.sh's cuda and cpu configurations.
for flag in -DSIMILE_WITH_CUDA=ON -DSIMILE_WITH_CUDA=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSIMILE_WERROR=ON; do
  grep -qF -- "$flag" "$df" || fail "Dockerfile lacks $flag"
  grep -qF -- "$flag" "$src/scripts/test.sh" || fail "scripts/test.sh no longer uses $flag: update the Dockerfile"
done
grep -qE 'run_config cuda -DSIMILE_WITH_CUDA=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo' "$src/scripts/test.sh" ||
  fail "scripts/test.sh's cuda configuration changed: update the Dockerfile"
grep -qE 'run_config cpu -DSIMILE_WITH_CUDA=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo' "$src/scripts/test.sh" ||
  fail "scripts/test.sh's cpu configuration changed: update the Dockerfile"
grep -qE -- '--target simile-server simile$|--target simile-server simile ' "$df" || fail "build targets"
grep -q 'build/server/simile-server build/client/simile' "$df" || fail "binary paths"

# Stages for both variants.
for stage in build-cuda build-cpu runtime-cuda runtime-cpu; do
  grep -qE "^FROM .* AS $stage\$" "$df" || fail "no stage $stage"
done
grep -qE '^FROM build-\$\{VARIANT\} AS build$' "$df" && grep -qE '^FROM runtime-\$\{VARIANT\} AS runtime$' "$df" ||
  fail "the VARIANT argument does not select the stages"

# Ports: the defaults of server/main.cc.
grpc_port=$(grep -A1 'ABSL_FLAG(std::string, grpc_address' "$src/server/main.cc" | grep -oE '"0\.0\.0\.0:[0-9]+"' | grep -oE '[0-9]+"$' | tr -d '"')
metrics_port=$(grep -A1 'ABSL_FLAG(std::string, metrics_address' "$src/server/main.cc" | grep -oE '"0\.0\.0\.0:[0-9]+"' | grep -oE '[0-9]+"$' | tr -d '"')
[[ -n $grpc_port && -n $metrics_port ]] || fail "cannot read the default ports from server/main.cc"
grep -qE "^EXPOSE $grpc_port $metrics_port\$" "$df" || fail "EXPOSE is not '$grpc_port $metrics_port'"

# HEALTHCHECK: the CLI subcommand exists and accepts the flags used.
health=$(grep -A1 '^HEALTHCHECK' "$df" | grep -oE '"simile", "health"[^]]*' || true)
[[ -n $health ]] || fail "no HEALTHCHECK with 'simile health'"
"$cli" health --address=127.0.0.1:1 --deadline_ms=3000 >/dev/null 2>&1 && fail "health against nothing succeeded"
status=0
"$cli" health --address=127.0.0.1:1 --deadline_ms=3000 >/dev/null 2>&1 || status=$?
((status == 1)) || fail "simile health --deadline_ms: exit $status, expected 1 (call failed), not 2 (usage)"

# Non-root, the same uid as the Kubernetes manifests.
uid=$(grep -oE '^USER [0-9]+' "$df" | awk '{print $2}')
[[ -n $uid && $uid != 0 ]] || fail "USER must be a numeric non-root uid"
grep -qE "runAsUser: $uid\$" "$src/deploy/k8s/base/deployment.yaml" || fail "deploy/k8s runAsUser differs from USER $uid"
echo "ok: Dockerfile copies existing files, mirrors install-deps.sh and test.sh's cmake flags, exposes $grpc_port and $metrics_port, runs as $uid"
