#!/usr/bin/env bash
# TLS and mutual TLS on the gRPC port, with a CA, server and client certificates this script makes with openssl:
#   - bad settings (missing file, not PEM, key without certificate) make simile-server exit 1 at start, naming
#     the flag;
#   - a TLS server: a plaintext client fails, a client trusting another CA fails, a client trusting the CA
#     works (C++ CLI health + cosine --check, Python client --check);
#   - a mutual-TLS server (--tls_client_ca): a client without a certificate, and one whose certificate comes
#     from another CA, are rejected; a client with a certificate from the CA works (C++ CLI and Python).
# Usage: tests/e2e/tls_test.sh <simile-server> <simile CLI> <build dir (for build/python stubs)>
# Exits 77 (ctest: skipped) only when openssl is not installed.
set -euo pipefail
server=$1
cli=$2
build=$3
source_dir=$(cd "$(dirname "$0")/../.." && pwd)
command -v openssl >/dev/null || { echo "SKIP: openssl not found (Debian package 'openssl')"; exit 77; }
dir=$(mktemp -d)
pid=
trap '[[ -n $pid ]] && kill -9 "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; [[ -f $dir/server.log ]] && cat "$dir/server.log" >&2; exit 1; }

# --- Certificates: two CAs; a server certificate for localhost/127.0.0.1 and client certificates. ---
cd "$dir"
make_ca() {  # make_ca NAME
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=$1" \
    -keyout "$1.key" -out "$1.pem" 2>/dev/null
}
make_cert() {  # make_cert NAME CA EXTENSIONS
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$1" \
    -keyout "$1.key" -out "$1.csr" 2>/dev/null
  printf '%s\n' "$3" >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -days 2 -extfile "$1.ext" \
    -out "$1.pem" 2>/dev/null
}
make_ca ca
make_ca other-ca
make_cert server ca "subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth"
make_cert client ca "extendedKeyUsage=clientAuth"
make_cert intruder other-ca "extendedKeyUsage=clientAuth"
echo "not a certificate" >garbage.pem
cd - >/dev/null

start() {  # start [server flags...]: starts simile-server, sets pid and address
  rm -f "$dir/port"
  "$server" --grpc_address=127.0.0.1:0 --metrics_address=127.0.0.1:0 --port_file="$dir/port" \
    --worker_threads=2 "$@" 2>"$dir/server.log" &
  pid=$!
  for _ in $(seq 1 200); do
    [[ -s $dir/port ]] && break
    kill -0 "$pid" 2>/dev/null || fail "server died at start"
    sleep 0.05
  done
  [[ -s $dir/port ]] || fail "no port after 10 s"
  address="127.0.0.1:$(cat "$dir/port")"
}
stop() {
  kill -TERM "$pid"
  wait "$pid" || fail "simile-server exited $? after SIGTERM"
  pid=
}
refused_at_start() {  # refused_at_start EXPECTED_MESSAGE [server flags...]
  local want=$1
  shift
  local status=0
  "$server" --grpc_address=127.0.0.1:0 --metrics_address= "$@" 2>"$dir/start.log" & local p=$!
  # A refused start exits at once; give it 20 s (sanitizer builds), then call it a hang.
  for _ in $(seq 1 400); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
  if kill -0 "$p" 2>/dev/null; then kill -9 "$p"; fail "server started with $*"; fi
  wait "$p" || status=$?
  ((status == 1)) || fail "server exit $status with $*, expected 1"
  grep -q '"event":"start_failed"' "$dir/start.log" || fail "no start_failed line for $*"
  grep -qF -- "$want" "$dir/start.log" || { cat "$dir/start.log" >&2; fail "start error does not say '$want'"; }
}
py() { /usr/bin/python3 "$source_dir/client/python/simile_client.py" --stubs "$build/python" "$@"; }
must_fail() {  # must_fail WHAT command...
  local what=$1
  shift
  if "$@" >"$dir/out.txt" 2>&1; then fail "$what succeeded"; fi
}

# --- Refused settings. ---
refused_at_start "--tls_cert: cannot read '$dir/missing.pem'" --tls_cert="$dir/missing.pem" --tls_key="$dir/server.key"
refused_at_start "--tls_key: '$dir/garbage.pem' holds no PEM block" --tls_cert="$dir/server.pem" --tls_key="$dir/garbage.pem"
refused_at_start "needs both --tls_cert and --tls_key" --tls_key="$dir/server.key"
refused_at_start "needs both --tls_cert and --tls_key" --tls_client_ca="$dir/ca.pem"
refused_at_start "--tls_client_ca: cannot read" --tls_cert="$dir/server.pem" --tls_key="$dir/server.key" \
  --tls_client_ca="$dir/missing-ca.pem"
# A key that does not match the certificate: gRPC itself refuses it when the port is added.
refused_at_start "TLS certificate" --tls_cert="$dir/server.pem" --tls_key="$dir/client.key"

# --- TLS. ---
start --tls_cert="$dir/server.pem" --tls_key="$dir/server.key"
grep -q '"grpc_tls":"tls"' "$dir/server.log" || fail "server_started does not say grpc_tls=tls"
d=--deadline_ms=5000
must_fail "plaintext health against a TLS server" "$cli" health --address="$address" "$d"
must_fail "TLS with another CA" "$cli" health --address="$address" --tls_ca="$dir/other-ca.pem" "$d"
[[ $("$cli" health --address="$address" --tls_ca="$dir/ca.pem" "$d") == SERVING ]] || fail "TLS health"
# (Dialling "localhost" would check the DNS name too, but gRPC's c-ares resolver leaks 10 bytes under LSan in
# Debian's build; --tls_server_name=localhost checks the same subjectAltName.)
"$cli" health --address="$address" --tls_ca="$dir/ca.pem" --tls_server_name=localhost "$d" >/dev/null ||
  fail "TLS with --tls_server_name"
must_fail "a server name the certificate does not hold" \
  "$cli" health --address="$address" --tls_ca="$dir/ca.pem" --tls_server_name=elsewhere.example "$d"
"$cli" cosine --address="$address" --tls_ca="$dir/ca.pem" --q=3 --n=200 --dim=16 --check "$d" >/dev/null ||
  fail "TLS cosine --check"
must_fail "Python plaintext against a TLS server" py --address "$address" --timeout 5
py --address "$address" --tls_ca "$dir/ca.pem" --q 2 --n 50 --dim 8 --check >/dev/null || fail "Python TLS --check"
stop

# --- Mutual TLS. ---
start --tls_cert="$dir/server.pem" --tls_key="$dir/server.key" --tls_client_ca="$dir/ca.pem"
grep -q '"grpc_tls":"mtls"' "$dir/server.log" || fail "server_started does not say grpc_tls=mtls"
must_fail "plaintext against mTLS" "$cli" health --address="$address" "$d"
must_fail "mTLS without a client certificate" "$cli" health --address="$address" --tls_ca="$dir/ca.pem" "$d"
must_fail "mTLS with a certificate from another CA" "$cli" health --address="$address" --tls_ca="$dir/ca.pem" \
  --tls_cert="$dir/intruder.pem" --tls_key="$dir/intruder.key" "$d"
must_fail "a client certificate without its key" "$cli" health --address="$address" --tls_ca="$dir/ca.pem" \
  --tls_cert="$dir/client.pem" "$d"
mtls=(--tls_ca="$dir/ca.pem" --tls_cert="$dir/client.pem" --tls_key="$dir/client.key")
[[ $("$cli" health --address="$address" "${mtls[@]}" "$d") == SERVING ]] || fail "mTLS health"
"$cli" cosine --address="$address" "${mtls[@]}" --q=2 --n=300 --dim=32 --top_k=5 --check "$d" >/dev/null ||
  fail "mTLS cosine --check"
"$cli" status --address="$address" "${mtls[@]}" "$d" >/dev/null || fail "mTLS status"
must_fail "Python mTLS without a certificate" py --address "$address" --tls_ca "$dir/ca.pem" --timeout 5
py --address "$address" --tls_ca "$dir/ca.pem" --tls_cert "$dir/client.pem" --tls_key "$dir/client.key" \
  --q 2 --n 50 --dim 8 --check >/dev/null || fail "Python mTLS --check"
stop
echo "ok: TLS and mutual TLS accept the right clients and refuse the others; bad TLS settings stop the start"
