#!/usr/bin/python3
"""Chaos test: the real simile-server under injected GPU faults, checked response by response.

    tests/e2e/chaos_test.py <simile-server> <python stubs dir> [--requests N] [--clients C]

Starts simile-server (gRPC and HTTP on 127.0.0.1, free ports) with the test-only simulated GPU
(fault_injection.simulate_gpu: the CPU kernel dispatched as a GPU with 1 MiB of fake device memory, so that
every request of a few thousand targets runs in several GPU chunks) and a dispatch policy that sends every
automatic request to the GPU. Then, in one process, through SIGHUP reloads of its configuration file:

  phase 10%   gpu_error_rate 0.1, gpu_oom_rate 0.1
  phase 50%   gpu_error_rate 0.5, gpu_oom_rate 0.5, 1 ms added GPU latency, vram_query_failure_rate 0.5
  phase 100% OOM  gpu_oom_rate 1.0 (every GPU call runs out of memory: split to the floor, then the CPU)
  phase 100%  gpu_error_rate 1.0 (every GPU call fails)
  phase off   fault injection off

In each fault phase C concurrent clients send N requests (Q = 1 and Q > 1, full scores and top_k, 200 to
9000 targets, PLACEMENT_AUTO mostly, some PLACEMENT_GPU and PLACEMENT_CPU) and every response is checked:
- OK responses against a float64 reference computed here: every score within 1e-5, exactly Q x N scores or
  Q x k top entries, top-k best first and truly the k best (within the tolerance); zero wrong or short results;
- PLACEMENT_AUTO and PLACEMENT_CPU requests never fail (GPU faults fall back to the CPU);
- PLACEMENT_GPU requests either succeed (checked as above) or fail with a documented status and a message:
  UNAVAILABLE ("the GPU failed" / "circuit breaker is open") or RESOURCE_EXHAUSTED ("out of memory");
- the server's counters agree: injected faults counted by kind in simile_fault_injections_total, each injected
  GPU error and out-of-memory seen by the chunker (simile_gpu_errors_total, simile_gpu_oom_events_total), and
  simile_fault_injection_enabled is 1, and the log has a `fault_injection_enabled` line with the phase's rates.
Out-of-memory is not a GPU fault: under 100% OOM the breaker stays closed and PLACEMENT_GPU fails only with
RESOURCE_EXHAUSTED. Under 100% errors the circuit breaker must open (a closed->open transition in GetStatus and /metrics, and
automatic requests decided by rule circuit_open). After faults are switched off the breaker must close again
(half_open->closed) within its configured maximum open period plus the probe round trip, with the GPU doing
the work again and simile_fault_injection_enabled back at 0. Finally SIGTERM must end the server with exit 0.

Prints one line per phase. Needs /usr/bin/python3 with python3-grpcio and python3-numpy; exits 77 (skipped)
only when one of those is missing.
"""

import argparse
import concurrent.futures
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from e2e_support import fail, http_get, parse_metrics, read_port, wait_for  # noqa: E402 (this folder is on sys.path)

TOLERANCE = 1e-5
MAX_COOL_DOWN_S = 2.0  # circuit_breaker.max_cool_down_seconds below.

CONFIG = """
# Written by tests/e2e/chaos_test.py.
fault_injection {{
  simulate_gpu: true
  simulated_gpu_memory_bytes: 1048576
  seed: {seed}
  gpu_error_rate: {error}
  gpu_oom_rate: {oom}
  gpu_added_latency_ms: {latency_ms}
  vram_query_failure_rate: {vram}
}}
dispatch_policy {{
  min_gpu_batch_one_query: 1
  min_gpu_batch_many_queries: 1
  min_success_rate: 0
  explore_fraction: 0
  required_speedup: 0.000001
}}
chunking {{ gpu_headroom_bytes: 0 min_gpu_chunk_rows: 128 }}
circuit_breaker {{
  consecutive_failures_to_open: 5
  window_size: 20
  window_min_calls: 10
  window_failure_rate_to_open: 0.8
  base_cool_down_seconds: 0.5
  cool_down_multiplier: 2
  max_cool_down_seconds: {max_cool_down}
  half_open_probes: 2
}}
"""

PHASES = [  # name, gpu_error_rate, gpu_oom_rate, added latency (ms), vram_query_failure_rate
    ("10%", 0.1, 0.1, 0, 0.0),
    ("50%", 0.5, 0.5, 1, 0.5),
    ("100% OOM", 0.0, 1.0, 0, 0.0),
    ("100%", 1.0, 1.0, 0, 0.0),
]


class Chaos:
    def __init__(self, server_binary, stubs, tmp, requests, clients):
        sys.path.insert(0, stubs)
        import grpc  # noqa: E402
        import numpy as np  # noqa: E402
        from simile.v1 import admin_pb2, admin_pb2_grpc  # noqa: E402
        from simile.v1 import similarity_pb2 as pb  # noqa: E402
        from simile.v1 import similarity_pb2_grpc as pb_grpc  # noqa: E402
        self.grpc, self.np, self.pb = grpc, np, pb
        self.admin_pb2 = admin_pb2
        self.tmp, self.requests, self.clients = tmp, requests, clients
        self.config_path = os.path.join(tmp, "simile.pbtxt")
        self.log_path = os.path.join(tmp, "server.log")
        self.write_config(0.0, 0.0, 0, 0.0)
        self.log = open(self.log_path, "w")
        self.server = subprocess.Popen(
            [server_binary, "--grpc_address=127.0.0.1:0", "--metrics_address=127.0.0.1:0",
             f"--port_file={tmp}/port", f"--metrics_port_file={tmp}/metrics_port", "--worker_threads=2",
             f"--config={self.config_path}", "--shutdown_grace=20s"],
            stdout=subprocess.DEVNULL, stderr=self.log)
        port = wait_for("the server's port file", lambda: self.poll_port(f"{tmp}/port"), 60)
        self.metrics_base = f"http://127.0.0.1:{read_port(f'{tmp}/metrics_port')}"
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = pb_grpc.SimilarityStub(self.channel)
        self.admin = admin_pb2_grpc.AdminStub(self.channel)
        self.rng = np.random.default_rng(20261123)

    def poll_port(self, path):
        if self.server.poll() is not None:
            fail(f"simile-server exited early with {self.server.returncode}; log:\n{self.read_log()}")
        return read_port(path)

    def read_log(self):
        with open(self.log_path) as f:
            return f.read()

    def write_config(self, error, oom, latency_ms, vram):
        text = CONFIG.format(seed=8, error=error, oom=oom, latency_ms=latency_ms, vram=vram,
                             max_cool_down=MAX_COOL_DOWN_S)
        with open(self.config_path + ".tmp", "w") as f:
            f.write(text)
        os.replace(self.config_path + ".tmp", self.config_path)  # Atomic: a reload never reads half a file.

    def status(self):
        return self.admin.GetStatus(self.admin_pb2.GetStatusRequest(), timeout=30)

    def metrics(self):
        return parse_metrics(http_get(f"{self.metrics_base}/metrics"))

    def reload(self, error, oom, latency_ms, vram):
        before = self.status().config_version
        self.write_config(error, oom, latency_ms, vram)
        self.server.send_signal(signal.SIGHUP)
        wait_for("the configuration reload", lambda: self.status().config_version > before, 30)
        fi = self.status().fault_injection
        if (fi.gpu_error_rate, fi.gpu_oom_rate, fi.vram_query_failure_rate) != (error, oom, vram):
            fail(f"GetStatus shows fault injection {fi} after reloading {(error, oom, vram)}")

    # --- Requests and the reference. ---

    def make_request(self, i):
        np = self.np
        rng = random.Random(i)
        q = rng.choice([1, 1, 2, 5])
        n = rng.choice([200, 1500, 4000, 9000])
        dim = rng.choice([32, 64])
        top_k = rng.choice([0, 0, 1, 7])
        r = rng.random()
        placement = (self.pb.PLACEMENT_GPU if r < 0.15 else
                     self.pb.PLACEMENT_CPU if r < 0.2 else self.pb.PLACEMENT_AUTO)
        queries = self.rng.standard_normal((q, dim), dtype=np.float32)
        targets = self.rng.standard_normal((n, dim), dtype=np.float32)
        targets[rng.randrange(n)] = 0.0  # A zero vector: cosine 0.
        request = self.pb.CosineRequest(
            queries=self.pb.Matrix(rows=q, dim=dim, raw=queries.tobytes()),
            targets=self.pb.Matrix(rows=n, dim=dim, raw=targets.tobytes()),
            top_k=top_k, placement=placement)
        return request, queries, targets

    def reference(self, queries, targets):
        np = self.np
        qd, td = queries.astype(np.float64), targets.astype(np.float64)
        qn, tn = np.linalg.norm(qd, axis=1), np.linalg.norm(td, axis=1)
        dots = qd @ td.T
        denom = np.outer(qn, tn)
        return np.divide(dots, denom, out=np.zeros_like(dots), where=denom > 0)

    def check_response(self, request, response, ref):
        """A description of what is wrong with an OK response, or None."""
        np = self.np
        q, n, k = request.queries.rows, request.targets.rows, request.top_k
        if response.num_queries != q or response.num_targets != n:
            return f"shape {response.num_queries}x{response.num_targets}, expected {q}x{n}"
        if k == 0:
            if response.scores.raw:
                scores = np.frombuffer(response.scores.raw, dtype="<f4")
            else:
                scores = np.array(response.scores.values, dtype=np.float32)
            if scores.size != q * n:
                return f"{scores.size} scores, expected {q * n} (short result)"
            err = np.max(np.abs(scores.reshape(q, n).astype(np.float64) - ref))
            return None if err <= TOLERANCE else f"score error {err} > {TOLERANCE}"
        if len(response.top_indices) != q * k or len(response.top_scores) != q * k:
            return f"{len(response.top_indices)} top entries, expected {q * k} (short result)"
        idx = np.array(response.top_indices, dtype=np.int64).reshape(q, k)
        got = np.array(response.top_scores, dtype=np.float64).reshape(q, k)
        for row in range(q):
            if len(set(idx[row])) != k or idx[row].max() >= n:
                return f"query {row}: bad indices {idx[row]}"
            if np.max(np.abs(got[row] - ref[row, idx[row]])) > TOLERANCE:
                return f"query {row}: top scores differ from the reference at their indices"
            if np.any(np.diff(got[row]) > TOLERANCE):
                return f"query {row}: top scores not best first"
            kth_best = np.sort(ref[row])[::-1][k - 1]
            if got[row, -1] < kth_best - TOLERANCE:
                return f"query {row}: not the {k} best (last {got[row, -1]}, k-th best {kth_best})"
        return None

    def one(self, i):
        """Sends request i; returns (placement, outcome, detail, backend, fallback)."""
        request, queries, targets = self.make_request(i)
        ref = self.reference(queries, targets)
        try:
            response = self.stub.Cosine(request, timeout=120)
        except self.grpc.RpcError as e:
            return request.placement, e.code().name, e.details() or "", None, None
        problem = self.check_response(request, response, ref)
        if problem is not None:
            return request.placement, "WRONG", problem, None, None
        return request.placement, "OK", "", response.report.backend, response.report.fallback

    def drive(self, first):
        with concurrent.futures.ThreadPoolExecutor(self.clients) as pool:
            return list(pool.map(self.one, range(first, first + self.requests)))

    def check_results(self, phase, results):
        pb = self.pb
        for placement, outcome, detail, _, _ in results:
            where = f"phase {phase}: {pb.Placement.Name(placement)}"
            if outcome == "WRONG":
                fail(f"{where}: wrong result: {detail}")
            if outcome == "OK":
                continue
            if placement != pb.PLACEMENT_GPU:
                fail(f"{where} failed with {outcome}: {detail!r} (GPU faults must fall back to the CPU)")
            documented = {"UNAVAILABLE": ("the GPU failed", "circuit breaker is open"),
                          "RESOURCE_EXHAUSTED": ("out of memory", "not enough free GPU memory")}
            if outcome not in documented or not any(m in detail for m in documented[outcome]):
                fail(f"{where} failed with an undocumented status {outcome}: {detail!r}")

    def summary(self, results):
        ok = sum(1 for r in results if r[1] == "OK")
        errors = {}
        for r in results:
            if r[1] not in ("OK", "WRONG"):
                errors[r[1]] = errors.get(r[1], 0) + 1
        fallbacks = sum(1 for r in results if r[4] not in (None, self.pb.FALLBACK_REASON_NONE))
        return f"{len(results)} requests: {ok} correct, 0 wrong, PLACEMENT_GPU errors {errors or 'none'}, " \
               f"{fallbacks} fell back to the CPU"

    def breaker(self):
        b = self.status().circuit_breaker
        transitions = {(getattr(t, "from"), t.to): t.count for t in b.transitions}
        return b.state, transitions

    # --- Phases. ---

    def run(self):
        first = 0
        injected_before = {}
        for name, error, oom, latency_ms, vram in PHASES:
            self.reload(error, oom, latency_ms, vram)
            state_before, transitions_before = self.breaker()
            if state_before != "closed":
                fail(f"phase {name}: the breaker is {state_before} at the start")
            opens_before = transitions_before.get(("closed", "open"), 0) + \
                transitions_before.get(("half_open", "open"), 0)
            start = time.monotonic()
            results = self.drive(first)
            first += self.requests
            self.check_results(name, results)
            m = self.metrics()
            if m.get("simile_fault_injection_enabled") != 1:
                fail(f"phase {name}: simile_fault_injection_enabled is not 1")
            injected = {k: m.get(f'simile_fault_injections_total{{kind="{k}"}}', 0)
                        for k in ("gpu_error", "gpu_oom", "gpu_latency", "vram_query_failure")}
            grew = {k: int(injected[k] - injected_before.get(k, 0)) for k in injected}
            injected_before = injected
            # Every injected fault reached the chunker and was handled as its kind.
            seen = (m.get("simile_gpu_errors_total", 0), m.get("simile_gpu_oom_events_total", 0))
            if seen != (injected["gpu_error"], injected["gpu_oom"]):
                fail(f"phase {name}: the server saw {seen} GPU errors and out-of-memory events, "
                     f"{injected} were injected")
            if error > 0 and grew["gpu_error"] <= 0:
                fail(f"phase {name}: no GPU error was injected: {grew}")
            if 0 < oom and error < 1.0 and grew["gpu_oom"] <= 0:
                fail(f"phase {name}: no GPU out-of-memory was injected: {grew}")
            if latency_ms > 0 and grew["gpu_latency"] <= 0:
                fail(f"phase {name}: no GPU latency was injected: {grew}")
            if vram > 0 and grew["vram_query_failure"] <= 0:
                fail(f"phase {name}: no VRAM query failure was injected: {grew}")
            state, transitions = self.breaker()
            opens = transitions.get(("closed", "open"), 0) + transitions.get(("half_open", "open"), 0)
            if error == 0 and oom == 1.0:
                if opens != opens_before or state != "closed":
                    fail(f"phase {name}: out-of-memory moved the breaker: {state}, {transitions}")
                if any(r[1] not in ("OK", "RESOURCE_EXHAUSTED") for r in results):
                    fail(f"phase {name}: a failure other than RESOURCE_EXHAUSTED under out-of-memory only")
                if not any(r[1] == "RESOURCE_EXHAUSTED" for r in results):
                    fail(f"phase {name}: no PLACEMENT_GPU request ran out of memory")
            if error == 1.0:
                if transitions.get(("closed", "open"), 0) <= transitions_before.get(("closed", "open"), 0):
                    fail(f"phase {name}: the circuit breaker did not open (transitions {transitions})")
                if state == "closed":
                    fail(f"phase {name}: the circuit breaker is closed under 100% GPU errors")
                if m.get('simile_dispatch_decisions_total{backend="cpu",rule="circuit_open"}', 0) <= 0:
                    fail(f"phase {name}: no request was kept off the GPU by the open breaker")
                if m.get('simile_circuit_breaker_state{state="closed"}') != 0:
                    fail(f"phase {name}: /metrics shows the breaker closed")
                if m.get('simile_circuit_breaker_transitions_total{from="closed",to="open"}', 0) <= 0:
                    fail(f"phase {name}: /metrics counts no closed->open transition")
            log_line = f'"event":"fault_injection_enabled","gpu_error_rate":{error:g},"gpu_oom_rate":{oom:g}'
            if log_line not in self.read_log():
                fail(f"phase {name}: no log line containing {log_line}")
            print(f"chaos phase {name:>8}: {self.summary(results)}; injected {grew}; breaker {state} at the "
                  f"end, opened {opens - opens_before} time(s); {time.monotonic() - start:.1f} s", flush=True)
            first = self.recover(name, first)

    def recover(self, phase, first):
        """Faults off; the breaker must close again and the GPU serve correctly. Returns the next request."""
        self.reload(0.0, 0.0, 0, 0.0)
        off = time.monotonic()
        b = self.status().circuit_breaker
        if b.cool_down_seconds > MAX_COOL_DOWN_S or b.retry_in_seconds > MAX_COOL_DOWN_S:
            fail(f"after phase {phase}: the breaker's open period exceeds max_cool_down_seconds: {b}")
        was = b.state
        closed_at = None
        results = []
        while time.monotonic() - off < MAX_COOL_DOWN_S + 60:  # A liveness bound, not a latency check.
            state, transitions = self.breaker()
            if state == "closed":
                closed_at = time.monotonic() - off
                break
            results.append(self.one(first))
            first += 1
            time.sleep(0.02)
        self.check_results(f"{phase} (recovery)", results)
        if closed_at is None:
            fail(f"after phase {phase}: the breaker did not close after faults were switched off: "
                 f"{self.breaker()}")
        # The GPU serves again, with no fallback.
        results = self.drive(first)
        first += self.requests
        self.check_results(f"{phase} (after recovery)", results)
        gpu_served = sum(1 for r in results if r[1] == "OK" and r[3] == self.pb.BACKEND_GPU)
        fallbacks = sum(1 for r in results if r[4] not in (None, self.pb.FALLBACK_REASON_NONE))
        if gpu_served == 0 or fallbacks != 0:
            fail(f"after phase {phase}: {gpu_served} requests ran on the GPU, {fallbacks} fell back")
        m = self.metrics()
        if m.get("simile_fault_injection_enabled") != 0:
            fail("simile_fault_injection_enabled is not 0 after faults were switched off")
        if '"event":"fault_injection_disabled"' not in self.read_log():
            fail("no fault_injection_disabled log line after faults were switched off")
        print(f"chaos phase      off: after {phase}: breaker was {was}, closed {closed_at:.2f} s after faults were "
              f"switched off (max open period {MAX_COOL_DOWN_S:g} s); then {self.summary(results)}, "
              f"{gpu_served} on the GPU", flush=True)
        return first

    def stop(self):
        self.channel.close()
        if self.server.poll() is None:
            self.server.send_signal(signal.SIGTERM)
            try:
                code = self.server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()
                fail("simile-server did not exit within 60 s of SIGTERM")
            if code != 0:
                fail(f"simile-server exited with {code} after SIGTERM")
        self.log.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("server")
    parser.add_argument("stubs")
    parser.add_argument("--requests", type=int, default=int(os.environ.get("SIMILE_CHAOS_REQUESTS", 120)),
                        help="requests per fault phase")
    parser.add_argument("--clients", type=int, default=8, help="concurrent client threads")
    args = parser.parse_args()
    try:
        import grpc  # noqa: F401
        import numpy  # noqa: F401
    except ImportError as e:
        print(f"chaos_test: skipped: {e} (install python3-grpcio and python3-numpy)")
        sys.exit(77)
    tmp = tempfile.mkdtemp(prefix="simile-chaos-")
    chaos = None
    try:
        chaos = Chaos(args.server, args.stubs, tmp, args.requests, args.clients)
        chaos.run()
        chaos.stop()
        chaos = None
        print("chaos_test: passed")
    except BaseException:
        if chaos is not None:
            try:
                sys.stderr.write("--- server log (last 40 lines) ---\n")
                sys.stderr.write("\n".join(chaos.read_log().splitlines()[-40:]) + "\n")
                chaos.server.kill()
                chaos.server.wait()
            except Exception:  # noqa: BLE001 - best effort while reporting the real failure
                pass
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
