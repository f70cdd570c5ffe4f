#!/usr/bin/env bash
# deploy/prometheus/ passes the real tools: `promtool check config` (scrape config and the rule file it loads),
# `promtool check rules`, and the rule unit tests (`promtool test rules`). Every simile_* metric the rules use
# must be registered in server/simile_metrics.cc, so that a renamed family cannot leave an alert silently dead.
# Usage: tests/deploy/prometheus_rules_test.sh <source dir>
# Exits 77 (ctest: skipped) only when promtool is not installed (Debian package `prometheus`).
set -euo pipefail
src=$1
dir=$src/deploy/prometheus
command -v promtool >/dev/null || { echo "SKIP: promtool not found (install the Debian package 'prometheus')"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }

promtool check config "$dir/prometheus.yml" || fail "promtool check config"
promtool check rules "$dir/simile-alerts.yml" || fail "promtool check rules"
promtool test rules "$dir/simile-alerts.test.yml" || fail "promtool test rules"

# Families named in the rules (histogram suffixes stripped) must exist in the server's registry.
# (Recording-rule names such as job:simile_requests:rate5m are not families: a ':' before the name skips it.)
used=$(grep -v '^\s*#' "$dir/simile-alerts.yml" | grep -oE '(^|[^:a-z_])simile_[a-z_]+' | grep -oE 'simile_[a-z_]+' |
  sort -u)
for name in $used; do
  family=$name
  for suffix in _bucket _count _sum; do
    if [[ $name == *"$suffix" ]] && grep -q "\"${name%"$suffix"}\"" "$src/server/simile_metrics.cc"; then
      family=${name%"$suffix"}
    fi
  done
  grep -q "\"$family\"" "$src/server/simile_metrics.cc" || fail "rules use $name, not registered in server/simile_metrics.cc"
done
echo "ok: promtool check config/rules and rule unit tests pass; the rules use $(wc -w <<<"$used") registered metrics"
