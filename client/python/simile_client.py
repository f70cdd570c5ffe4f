#!/usr/bin/env python3
"""simile example client: numpy arrays in, cosine similarities out, over gRPC.

As a library (the generated stubs must be findable, see below):

    from simile_client import SimileClient
    client = SimileClient("127.0.0.1:50051")
    result = client.cosine(queries, targets)            # result.scores: Q x N float32
    best = client.cosine(queries, targets, top_k=10)    # best.top_indices, best.top_scores: Q x 10
    print(best.report)                                   # backend, dispatch rule, chunks, fallback, times

As a script, it scores random vectors of the shape given and, with --check, compares every score with a
float64 numpy reference, exiting 1 when the max abs error exceeds --tolerance (or a top-k list is wrong):

    /usr/bin/python3 client/python/simile_client.py --address 127.0.0.1:50051 --q 2 --n 100 --dim 16 --check

Over TLS: `SimileClient(address, tls_ca="ca.pem")`; for a server that requires mutual TLS add
`tls_cert="client.pem", tls_key="client.key"` (script: --tls_ca, --tls_cert, --tls_key, --tls_server_name).

Several replicas: give every address in one target and the service config that spreads calls with
round_robin and retries UNAVAILABLE (a replica that went away) on another replica:

    client = SimileClient("ipv4:10.0.0.1:50051,10.0.0.2:50051", service_config=SCALE_OUT_SERVICE_CONFIG)
    client = SimileClient("dns:///simile-headless.simile.svc.cluster.local:50051",
                          service_config=SCALE_OUT_SERVICE_CONFIG)   # Kubernetes headless Service

Requests carry their floats in `raw` (`astype('<f4').tobytes()`), the fast path; `encoding='values'` uses the
repeated float field instead. Needs Debian's python3-grpcio and python3-numpy (use /usr/bin/python3 where
another python3 comes first on PATH).

The generated stubs (simile/v1/similarity_pb2.py and similarity_pb2_grpc.py) are found in, first to last:
the `stubs_dir` argument (--stubs), the directory in $SIMILE_PYTHON_STUBS, and build/python of this
repository. The CMake build generates them: `cmake --build build --target simile_python_stubs`.
"""

import argparse
import dataclasses
import importlib
import json
import os
import sys
import time

try:
    import grpc
    import numpy as np
except ImportError as error:  # pragma: no cover - depends on the interpreter
    raise ImportError(f"simile_client: {error} under {sys.executable}; on Debian install python3-grpcio and "
                      "python3-numpy and use /usr/bin/python3") from error

STUBS_ENV = "SIMILE_PYTHON_STUBS"
_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_HOW_TO = (
    "generate them with the CMake build (`cmake --build build --target simile_python_stubs`, which writes "
    "build/python), or by hand: protoc -I proto --python_out=OUT --grpc_python_out=OUT "
    "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin proto/simile/v1/similarity.proto; then pass "
    f"--stubs OUT or set {STUBS_ENV}=OUT")

_PLACEMENTS = ("auto", "cpu", "gpu")

# gRPC service config for a channel over several replicas (README, "Deployment"): round_robin over every
# address the target resolves to, and up to 4 attempts of a Similarity call that failed with UNAVAILABLE
# (the replica was stopped or is draining). Cosine is a pure function of its request, so a retry is safe.
SCALE_OUT_SERVICE_CONFIG = json.dumps({
    "loadBalancingConfig": [{"round_robin": {}}],
    "methodConfig": [{
        "name": [{"service": "simile.v1.Similarity"}],
        "retryPolicy": {
            "maxAttempts": 4,
            "initialBackoff": "0.05s",
            "maxBackoff": "1s",
            "backoffMultiplier": 2,
            "retryableStatusCodes": ["UNAVAILABLE"],
        },
    }],
})
_ENCODINGS = ("raw", "values")


def load_stubs(stubs_dir=None):
    """Imports and returns the generated (similarity_pb2, similarity_pb2_grpc) modules."""
    candidates = [stubs_dir, os.environ.get(STUBS_ENV), os.path.join(_REPO_ROOT, "build", "python")]
    tried = []
    for directory in candidates:
        if not directory:
            continue
        directory = os.path.abspath(directory)
        tried.append(directory)
        if os.path.isfile(os.path.join(directory, "simile", "v1", "similarity_pb2.py")):
            if directory not in sys.path:
                sys.path.insert(0, directory)
            return (importlib.import_module("simile.v1.similarity_pb2"),
                    importlib.import_module("simile.v1.similarity_pb2_grpc"))
    raise ImportError("simile's generated Python stubs were not found in "
                      f"{', '.join(tried) or '(no directory given)'}; {_HOW_TO}")


@dataclasses.dataclass
class CosineResult:
    """The answer to one cosine call.

    scores: Q x N float32 array when top_k == 0, else None (a read-only view of the response's raw bytes
        when the server answered in raw; copy it to modify it).
    top_indices (int64) and top_scores (float32): Q x k arrays, best first, when top_k > 0, else None.
    report: the server's simile.v1.ExecutionReport message.
    latency_s: client-side wall time of the call, in seconds.
    """
    scores: object
    top_indices: object
    top_scores: object
    report: object
    latency_s: float


def _as_matrix(name, array):
    matrix = np.asarray(array)
    if matrix.ndim == 1:
        matrix = matrix.reshape(1, -1)
    if matrix.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (rows, dim), got shape {matrix.shape}")
    return matrix


class SimileClient:
    """A client of simile.v1.Similarity. Thread-safe, like the grpc channel it holds."""

    def __init__(self, address, stubs_dir=None, timeout=30.0, tls_ca=None, tls_cert=None, tls_key=None,
                 tls_server_name=None, tls=False, service_config=None):
        """address: host:port, or any gRPC target (e.g. "ipv4:h1:p1,h2:p2", "dns:///name:port").
        timeout: default deadline of a call in seconds (None: none).
        tls_ca, tls_cert, tls_key: PEM file paths; any of them (or tls=True, or tls_server_name) means TLS.
        tls_ca verifies the server (default: the system's roots); tls_cert and tls_key are the client's
        certificate for mutual TLS. tls_server_name: the name to verify instead of the address's host.
        service_config: a gRPC service config as JSON text (e.g. SCALE_OUT_SERVICE_CONFIG)."""
        self._pb2, pb2_grpc = load_stubs(stubs_dir)
        # -1: no limit on the size of a response (a Q x N score matrix can be large).
        options = [("grpc.max_receive_message_length", -1)]
        if service_config is not None:
            options += [("grpc.service_config", service_config), ("grpc.enable_retries", 1)]
        if tls_server_name:
            options.append(("grpc.ssl_target_name_override", tls_server_name))
        if tls or tls_ca or tls_cert or tls_key or tls_server_name:
            if bool(tls_cert) != bool(tls_key):
                raise ValueError("a TLS client certificate needs its key (tls_cert with tls_key)")

            def read(path):
                if not path:
                    return None
                with open(path, "rb") as f:
                    return f.read()

            credentials = grpc.ssl_channel_credentials(root_certificates=read(tls_ca),
                                                       private_key=read(tls_key),
                                                       certificate_chain=read(tls_cert))
            self._channel = grpc.secure_channel(address, credentials, options=options)
        else:
            self._channel = grpc.insecure_channel(address, options=options)
        self._stub = pb2_grpc.SimilarityStub(self._channel)
        # load_stubs put the stubs' directory on sys.path.
        self._sets_pb2 = importlib.import_module("simile.v1.target_sets_pb2")
        self._sets_stub = importlib.import_module("simile.v1.target_sets_pb2_grpc").TargetSetsStub(self._channel)
        self._timeout = timeout

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def build_request(self, queries, targets, top_k=0, placement="auto", encoding="raw", target_set=None,
                      target_set_version=0):
        """Returns the CosineRequest for the given arrays (float32 conversion happens here). With target_set
        (the name of an uploaded set), targets must be None."""
        if placement not in _PLACEMENTS:
            raise ValueError(f"placement must be one of {_PLACEMENTS}, not {placement!r}")
        if encoding not in _ENCODINGS:
            raise ValueError(f"encoding must be one of {_ENCODINGS}, not {encoding!r}")
        if (targets is None) == (target_set is None):
            raise ValueError("give either targets or target_set")
        q = _as_matrix("queries", queries)
        pb2 = self._pb2
        request = pb2.CosineRequest(top_k=top_k, placement=pb2.Placement.Value(f"PLACEMENT_{placement.upper()}"))
        matrices = [(request.queries, q)]
        if target_set is not None:
            request.target_set = target_set
            request.target_set_version = target_set_version
        else:
            matrices.append((request.targets, _as_matrix("targets", targets)))
        for field, m in matrices:
            field.rows, field.dim = m.shape
            if encoding == "raw":
                field.raw = m.astype("<f4", copy=False).tobytes()  # C order, little-endian float32.
            else:
                field.values.extend(m.astype(np.float32).ravel().tolist())
        return request

    def cosine(self, queries, targets=None, top_k=0, placement="auto", encoding="raw", timeout=None,
               target_set=None, target_set_version=0):
        """Scores every query row against every target row.

        queries: Q x dim array (a 1-D array is one query); targets: N x dim. Any float dtype; sent as float32.
        target_set: instead of targets, the name of a set uploaded with create_target_set (version 0: current).
        Raises grpc.RpcError with the server's status (e.g. INVALID_ARGUMENT) when the call fails.
        """
        request = self.build_request(queries, targets, top_k, placement, encoding, target_set, target_set_version)
        start = time.perf_counter()
        response = self._stub.Cosine(request, timeout=timeout if timeout is not None else self._timeout)
        latency = time.perf_counter() - start
        q, n = response.num_queries, response.num_targets
        if top_k == 0:
            m = response.scores
            if m.raw:
                scores = np.frombuffer(m.raw, dtype="<f4").astype(np.float32, copy=False)
            else:
                scores = np.asarray(m.values, dtype=np.float32)
            return CosineResult(scores.reshape(q, n), None, None, response.report, latency)
        indices = np.asarray(response.top_indices, dtype=np.int64).reshape(q, top_k)
        top_scores = np.asarray(response.top_scores, dtype=np.float32).reshape(q, top_k)
        return CosineResult(None, indices, top_scores, response.report, latency)

    # --- Target sets (simile.v1.TargetSets): upload once, query many times. ---

    def _upload(self, method, name, targets, chunk_rows, timeout):
        t = _as_matrix("targets", targets).astype("<f4", copy=False)
        pb2 = self._sets_pb2

        def chunks():
            for begin in range(0, t.shape[0], chunk_rows):
                block = t[begin:begin + chunk_rows]
                chunk = pb2.TargetSetChunk(name=name if begin == 0 else "")
                chunk.rows.rows, chunk.rows.dim = block.shape
                chunk.rows.raw = np.ascontiguousarray(block).tobytes()
                yield chunk

        return method(chunks(), timeout=timeout if timeout is not None else self._timeout)

    def create_target_set(self, name, targets, chunk_rows=1024, timeout=None):
        """Uploads an N x dim array as a new target set, in chunks of chunk_rows rows (each message must stay
        under the server's 4 MiB default: 1024 rows of up to 1024 floats). Returns its TargetSetInfo."""
        return self._upload(self._sets_stub.CreateTargetSet, name, targets, chunk_rows, timeout)

    def append_target_set(self, name, targets, chunk_rows=1024, timeout=None):
        """Appends rows to an existing set as its next version. Returns the new TargetSetInfo."""
        return self._upload(self._sets_stub.AppendTargetSet, name, targets, chunk_rows, timeout)

    def delete_target_set(self, name, timeout=None):
        self._sets_stub.DeleteTargetSet(self._sets_pb2.DeleteTargetSetRequest(name=name),
                                        timeout=timeout if timeout is not None else self._timeout)

    def list_target_sets(self, timeout=None):
        """The ListTargetSetsResponse: sets, total_bytes, max_bytes, persistent (always False)."""
        return self._sets_stub.ListTargetSets(self._sets_pb2.ListTargetSetsRequest(),
                                              timeout=timeout if timeout is not None else self._timeout)

    def describe_target_set(self, name, timeout=None):
        return self._sets_stub.DescribeTargetSet(self._sets_pb2.DescribeTargetSetRequest(name=name),
                                                 timeout=timeout if timeout is not None else self._timeout)

    def report_text(self, report):
        """One line naming the backend, rule, chunks and fallback of an ExecutionReport."""
        pb2 = self._pb2
        text = (f"backend={pb2.Backend.Name(report.backend)} rule={pb2.DispatchRule.Name(report.rule)} "
                f"chunks={report.chunks} (gpu {report.gpu_chunks}, cpu {report.cpu_chunks}) "
                f"chunk_retries={report.chunk_retries} fallback={pb2.FallbackReason.Name(report.fallback)} "
                f"compute={report.compute_time_ns / 1e6:.3f} ms queue={report.queue_time_ns / 1e6:.3f} ms")
        if report.fallback_detail:
            text += f" ({report.fallback_detail})"
        return text


def reference_cosine(queries, targets):
    """Q x N float64 cosines; a zero vector's cosine with anything is 0."""
    q = _as_matrix("queries", queries).astype(np.float64)
    t = _as_matrix("targets", targets).astype(np.float64)
    qn = np.linalg.norm(q, axis=1, keepdims=True)
    tn = np.linalg.norm(t, axis=1, keepdims=True)
    q = np.divide(q, qn, out=np.zeros_like(q), where=qn > 0)
    t = np.divide(t, tn, out=np.zeros_like(t), where=tn > 0)
    return q @ t.T


def check_result(result, reference, top_k, tolerance):
    """Returns (max abs error, first problem or None) of a CosineResult against the float64 reference."""
    if top_k == 0:
        errors = np.abs(result.scores.astype(np.float64) - reference)
        worst = float(np.nanmax(errors)) if not np.isnan(errors).any() else float("inf")
        if not worst <= tolerance:
            qi, ti = np.unravel_index(np.nanargmax(np.where(np.isnan(errors), np.inf, errors)), errors.shape)
            return worst, (f"query {qi}, target {ti}: score {result.scores[qi, ti]!r} vs reference "
                           f"{reference[qi, ti]!r}")
        return worst, None
    worst, problem = 0.0, None
    n = reference.shape[1]
    for qi in range(reference.shape[0]):
        idx, sc = result.top_indices[qi], result.top_scores[qi]
        if len(set(idx.tolist())) != top_k or idx.min() < 0 or idx.max() >= n:
            return float("inf"), f"query {qi}: indices {idx.tolist()} are not {top_k} distinct targets"
        ref = reference[qi, idx]
        errors = np.abs(sc.astype(np.float64) - ref)
        worst = max(worst, float(errors.max()) if not np.isnan(errors).any() else float("inf"))
        if problem is None and not errors.max() <= tolerance:
            problem = f"query {qi}: top scores {sc.tolist()} vs reference {ref.tolist()}"
        for j in range(1, top_k):
            ordered = sc[j - 1] > sc[j] or (sc[j - 1] == sc[j] and idx[j - 1] < idx[j])
            if problem is None and not ordered:
                problem = f"query {qi}: entry {j} (target {idx[j]}, {sc[j]}) is out of order"
        left_out = np.ones(n, dtype=bool)
        left_out[idx] = False
        if problem is None and left_out.any() and reference[qi, left_out].max() > ref.min() + tolerance:
            problem = f"query {qi}: a target left out beats the weakest of the top {top_k}"
    return worst, problem


def main(argv=None):
    parser = argparse.ArgumentParser(description="Score random vectors with simile (and check them).")
    parser.add_argument("--address", default="127.0.0.1:50051", help="server host:port")
    parser.add_argument("--q", type=int, default=2, help="number of random queries")
    parser.add_argument("--n", type=int, default=100, help="number of random targets")
    parser.add_argument("--dim", type=int, default=16, help="vector dimension")
    parser.add_argument("--seed", type=int, default=1, help="seed of the random data (uniform in [-1, 1))")
    parser.add_argument("--top_k", type=int, default=0, help="0: full Q x N matrix; k: each query's k best")
    parser.add_argument("--placement", choices=_PLACEMENTS, default="auto")
    parser.add_argument("--encoding", choices=_ENCODINGS, default="raw")
    parser.add_argument("--timeout", type=float, default=30.0, help="deadline in seconds")
    parser.add_argument("--stubs", help=f"directory of the generated stubs (default: ${STUBS_ENV}, build/python)")
    parser.add_argument("--check", action="store_true", help="compare with a float64 numpy reference")
    parser.add_argument("--tls", action="store_true", help="connect over TLS (implied by the --tls_* options)")
    parser.add_argument("--tls_ca", help="PEM CA bundle that the server's certificate must chain to")
    parser.add_argument("--tls_cert", help="PEM client certificate, for servers that require mutual TLS")
    parser.add_argument("--tls_key", help="PEM private key of --tls_cert")
    parser.add_argument("--tls_server_name", help="name to verify in the server's certificate")
    parser.add_argument("--round_robin", action="store_true",
                        help="spread calls over every address of the target and retry UNAVAILABLE "
                             "(SCALE_OUT_SERVICE_CONFIG)")
    parser.add_argument("--tolerance", type=float, default=1e-5, help="largest abs error --check accepts")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    queries = rng.uniform(-1.0, 1.0, size=(args.q, args.dim)).astype(np.float32)
    targets = rng.uniform(-1.0, 1.0, size=(args.n, args.dim)).astype(np.float32)
    try:
        client = SimileClient(args.address, stubs_dir=args.stubs, timeout=args.timeout, tls=args.tls,
                              tls_ca=args.tls_ca, tls_cert=args.tls_cert, tls_key=args.tls_key,
                              tls_server_name=args.tls_server_name,
                              service_config=SCALE_OUT_SERVICE_CONFIG if args.round_robin else None)
    except (ImportError, OSError, ValueError) as error:
        print(f"simile_client: {error}", file=sys.stderr)
        return 1
    with client:
        try:
            result = client.cosine(queries, targets, top_k=args.top_k, placement=args.placement,
                                   encoding=args.encoding)
        except grpc.RpcError as error:
            print(f"simile_client: {error.code().name}: {error.details()}", file=sys.stderr)
            return 1
        print(f"cosine: Q={args.q} N={args.n} dim={args.dim} top_k={args.top_k} placement={args.placement} "
              f"encoding={args.encoding}")
        print(f"report: {client.report_text(result.report)}")
        print(f"client round trip: {result.latency_s * 1e3:.3f} ms")
        if args.top_k:
            print(f"query 0 best: {result.top_indices[0][:5].tolist()} {result.top_scores[0][:5].tolist()}")
    if args.check:
        worst, problem = check_result(result, reference_cosine(queries, targets), args.top_k, args.tolerance)
        print(f"check: max abs error {worst:.3g} vs float64 reference (tolerance {args.tolerance:.3g}): "
              f"{'OK' if problem is None else 'FAILED'}")
        if problem is not None:
            print(f"simile_client: check failed: {problem}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
