#!/usr/bin/env bash
# deploy/k8s checked offline with the real tools, as far as they go without a cluster:
#   1. yamllint on every YAML file under deploy/ (deploy/.yamllint);
#   2. `kubectl kustomize` renders each overlay (kubectl's built-in kustomize; Debian's kubectl 1.20 has v2.0.3);
#   3. `kubectl create --dry-run=client --validate=false` on each rendering, against tests/deploy/fake_discovery.py:
#      kubectl needs API discovery even for a client-side dry run, and schema validation needs the server's
#      OpenAPI document, which no offline tool here has. This step proves that kubectl parses every object and
#      maps every apiVersion/kind to a resource of a Kubernetes >= 1.24 cluster with the Prometheus Operator;
#      it does not check field names or types;
#   4. tests/deploy/check_manifests.py on each rendering: the fields simile relies on, with their types, the
#      references between objects (selectors, named ports, ConfigMap, HPA target), security context, probes,
#      resources; and simile-server really starts with the Deployment's args and the mounted configuration;
#   5. deploy/k8s/base/simile.pbtxt equals deploy/config/simile.pbtxt, and base/prometheusrule.yaml equals
#      what deploy/k8s/make-prometheusrule.py generates from deploy/prometheus/simile-alerts.yml.
# Usage: tests/deploy/k8s_manifests_test.sh <source dir> <simile-server>
# Exits 77 (ctest: skipped) only when yamllint, kubectl or python3-yaml is missing.
set -euo pipefail
src=$1
server=$2
py=/usr/bin/python3
for tool in yamllint kubectl; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool not found (Debian packages yamllint, kubernetes-client)"; exit 77; }
done
$py -c 'import yaml' 2>/dev/null || { echo "SKIP: python3-yaml missing"; exit 77; }
dir=$(mktemp -d)
discovery=
trap '[[ -n $discovery ]] && kill "$discovery" 2>/dev/null; rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

yamllint -s -c "$src/deploy/.yamllint" "$src/deploy" || fail "yamllint"
cmp -s "$src/deploy/config/simile.pbtxt" "$src/deploy/k8s/base/simile.pbtxt" ||
  fail "deploy/k8s/base/simile.pbtxt differs from deploy/config/simile.pbtxt: copy it over"
$py "$src/deploy/k8s/make-prometheusrule.py" --check || fail "base/prometheusrule.yaml is stale"

$py "$src/tests/deploy/fake_discovery.py" "$dir/discovery_port" &
discovery=$!
for _ in $(seq 1 100); do [[ -s $dir/discovery_port ]] && break; sleep 0.05; done
[[ -s $dir/discovery_port ]] || fail "fake discovery server did not start"
api="http://127.0.0.1:$(cat "$dir/discovery_port")"

for overlay in gpu cpu; do
  kubectl kustomize "$src/deploy/k8s/overlays/$overlay" >"$dir/$overlay.yaml" 2>"$dir/kustomize.err" ||
    { cat "$dir/kustomize.err" >&2; fail "kubectl kustomize overlays/$overlay"; }
  kubectl --kubeconfig=/dev/null --server="$api" create --dry-run=client --validate=false -f "$dir/$overlay.yaml" \
    >"$dir/$overlay.dry-run" 2>&1 || { cat "$dir/$overlay.dry-run" >&2; fail "kubectl create --dry-run=client ($overlay)"; }
  objects=$(grep -c '^kind:' "$dir/$overlay.yaml")
  created=$(grep -c 'created (dry run)' "$dir/$overlay.dry-run")
  ((objects == created)) || { cat "$dir/$overlay.dry-run" >&2; fail "$overlay: $created of $objects objects created"; }
  $py "$src/tests/deploy/check_manifests.py" --overlay "$overlay" --server "$server" \
    --config_dir "$src/deploy/k8s/base" <"$dir/$overlay.yaml" || fail "check_manifests ($overlay)"
done
echo "ok: yamllint clean; both overlays render ($(kubectl version --client --short 2>/dev/null || kubectl version --client 2>/dev/null | head -1)), pass kubectl create --dry-run=client and the structural checks"
