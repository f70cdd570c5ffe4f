#!/usr/bin/env bash
# Starts simile-server on 127.0.0.1:0, runs a command against it, then stops the server with SIGTERM and checks
# that it exits 0 (graceful shutdown). The command's words may contain @ADDRESS@, replaced by host:port.
# Usage: tests/e2e/with_server.sh <simile-server> [server flags...] -- <command...>
set -euo pipefail
server=$1
shift
server_flags=()
while (($#)) && [[ $1 != "--" ]]; do server_flags+=("$1"); shift; done
shift  # the --
workdir=$(mktemp -d)
trap 'kill -9 "$pid" 2>/dev/null || true; rm -rf "$workdir"' EXIT
"$server" --grpc_address=127.0.0.1:0 --metrics_address=127.0.0.1:0 --port_file="$workdir/port" --worker_threads=2 \
  "${server_flags[@]}" \
  2>"$workdir/server.log" &
pid=$!
for _ in $(seq 1 200); do
  [[ -s $workdir/port ]] && break
  kill -0 "$pid" 2>/dev/null || { cat "$workdir/server.log"; echo "with_server: server died" >&2; exit 1; }
  sleep 0.05
done
[[ -s $workdir/port ]] || { cat "$workdir/server.log"; echo "with_server: no port after 10 s" >&2; exit 1; }
address="127.0.0.1:$(cat "$workdir/port")"
cmd=()
for word in "$@"; do cmd+=("${word//@ADDRESS@/$address}"); done
status=0
"${cmd[@]}" || status=$?
kill -TERM "$pid"
server_status=0
wait "$pid" || server_status=$?
if ((status != 0 || server_status != 0)); then
  echo "with_server: command exit $status, server exit $server_status; server log:" >&2
  cat "$workdir/server.log" >&2
  exit 1
fi
grep -q '"event":"shutdown_complete"' "$workdir/server.log" || { echo "with_server: no shutdown_complete" >&2; exit 1; }
