#!/usr/bin/python3
"""Scale-out: three simile-server replicas behind one client channel with round_robin and gRPC retries.

    tests/e2e/scale_out_test.py <simile-server> <python stubs dir>

Starts three replicas on loopback (gRPC and HTTP on free ports), opens ONE channel to all three addresses
(target "ipv4:127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3") with the Python client's SCALE_OUT_SERVICE_CONFIG
(round_robin; retry UNAVAILABLE up to 4 attempts), the same service config README and deploy/README.md tell
clients to use over the Kubernetes headless Service. Then:
  1. sends a first wave of concurrent requests; every answer must match a float64 numpy reference, and each
     replica's own /metrics must show a near-equal share (simile_requests_total{method="Cosine",code="OK"});
  2. sends a second wave and SIGKILLs one replica while it runs; every request must still get a correct
     answer (retries absorb the replicas's loss), and the survivors must have served the rest.
Exits 77 (skipped) only when python3-grpcio or numpy is missing.
"""

import concurrent.futures
import os
import re
import signal
import subprocess
import sys
import tempfile
import shutil
import threading
import time

from e2e_support import fail, http_get, read_port  # noqa: E402 (this folder is on sys.path)

REPLICAS = 3
WAVE = 90           # requests per wave
THREADS = 6         # concurrent callers on the one channel
TOLERANCE = 1e-5    # largest abs error vs the float64 reference (float32 scores of unit-bounded cosines)


def ok_count(metrics_port):
    """simile_requests_total{method="Cosine",code="OK"} from one replica's /metrics."""
    text = http_get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5)
    m = re.search(r'^simile_requests_total\{method="Cosine",code="OK"\} (\d+)$', text, re.M)
    if m is None:
        fail("no simile_requests_total{method=\"Cosine\",code=\"OK\"} in /metrics")
    return int(m.group(1))


def main():
    if len(sys.argv) != 3:
        sys.exit(f"usage: {sys.argv[0]} <simile-server> <python stubs dir>")
    server_binary, stubs = sys.argv[1], sys.argv[2]
    try:
        import grpc  # noqa: F401
        import numpy as np
    except ImportError as e:
        print(f"SKIP: {e} (install python3-grpcio and python3-numpy)")
        sys.exit(77)
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "client", "python"))
    import simile_client

    tmp = tempfile.mkdtemp(prefix="simile-scale-out-")
    procs, logs = [], []
    try:
        for i in range(REPLICAS):
            log = open(os.path.join(tmp, f"server{i}.log"), "w")
            logs.append(log)
            procs.append(subprocess.Popen(
                [server_binary, "--grpc_address=127.0.0.1:0", "--metrics_address=127.0.0.1:0",
                 f"--port_file={tmp}/port{i}", f"--metrics_port_file={tmp}/metrics_port{i}",
                 "--worker_threads=2", "--shutdown_grace=2s"], stderr=log))
        deadline = time.monotonic() + 30
        while any(read_port(f"{tmp}/port{i}") is None for i in range(REPLICAS)):
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                fail("a replica did not start")
            time.sleep(0.05)
        ports = [read_port(f"{tmp}/port{i}") for i in range(REPLICAS)]
        metrics_ports = [read_port(f"{tmp}/metrics_port{i}") for i in range(REPLICAS)]
        target = "ipv4:" + ",".join(f"127.0.0.1:{p}" for p in ports)

        rng = np.random.default_rng(7)
        client = simile_client.SimileClient(target, stubs_dir=stubs, timeout=30,
                                            service_config=simile_client.SCALE_OUT_SERVICE_CONFIG)
        done = [0]
        done_lock = threading.Lock()

        def one_request(seed):
            r = np.random.default_rng(seed + 1000)
            q = r.uniform(-1, 1, size=(2, 24)).astype(np.float32)
            t = r.uniform(-1, 1, size=(int(r.integers(50, 400)), 24)).astype(np.float32)
            result = client.cosine(q, t, placement="cpu")
            q64, t64 = q.astype(np.float64), t.astype(np.float64)
            want = (q64 @ t64.T) / np.outer(np.linalg.norm(q64, axis=1), np.linalg.norm(t64, axis=1))
            err = float(np.max(np.abs(result.scores.astype(np.float64) - want)))
            if result.scores.shape != want.shape or err > TOLERANCE:
                fail(f"request {seed}: shape {result.scores.shape}, max abs error {err}")
            with done_lock:
                done[0] += 1

        def wave(seeds, during=None):
            with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
                futures = [pool.submit(one_request, s) for s in seeds]
                if during is not None:
                    during()
                errors = []
                for f in futures:
                    try:
                        f.result(timeout=60)
                    except Exception as e:  # noqa: BLE001 - every failure is reported below
                        errors.append(repr(e))
                if errors:
                    fail(f"{len(errors)} of {len(seeds)} requests failed; first: {errors[0]}")

        with client:
            # Warm-up: round_robin sends only to READY subchannels, so the first calls can land unevenly
            # while the three connections come up. Wave 1 is measured from here.
            wave(range(-3 * REPLICAS, 0))
            time.sleep(0.2)
            baseline = [ok_count(p) for p in metrics_ports]
            # Wave 1: all replicas up; the load must be spread evenly.
            wave(range(WAVE))
            counts = [ok_count(p) - b for p, b in zip(metrics_ports, baseline)]
            if sum(counts) != WAVE:
                fail(f"replicas counted {counts} (sum {sum(counts)}), {WAVE} requests were sent")
            share = [c / WAVE for c in counts]
            if min(share) < 0.8 / REPLICAS or max(share) > 1.2 / REPLICAS:
                fail(f"uneven load over the replicas: {counts}")

            # Wave 2: kill replica 1 once a third of the wave is answered.
            victim = 1
            start_done = done[0]

            def kill_mid_run():
                while done[0] < start_done + WAVE // 3:
                    time.sleep(0.002)
                procs[victim].send_signal(signal.SIGKILL)
                procs[victim].wait()

            wave(range(WAVE, 2 * WAVE), during=kill_mid_run)
            after = [ok_count(metrics_ports[i]) for i in range(REPLICAS) if i != victim]
            survivors_wave2 = sum(after) - sum(counts[i] + baseline[i] for i in range(REPLICAS) if i != victim)
            if survivors_wave2 < WAVE - WAVE // 3 - 1:
                fail(f"survivors served {survivors_wave2} of wave 2 ({WAVE} requests, victim killed after "
                     f"{WAVE // 3})")
            print(f"ok: {2 * WAVE} requests over one round_robin channel to {REPLICAS} replicas, all correct "
                  f"(max abs error <= {TOLERANCE}); wave 1 spread {counts}; replica {victim} SIGKILLed "
                  f"mid-wave 2, survivors served {survivors_wave2} of its {WAVE}")
        for i, p in enumerate(procs):
            if i == victim:
                continue
            p.send_signal(signal.SIGTERM)
            if p.wait(timeout=15) != 0:
                fail(f"replica {i} exited {p.returncode} after SIGTERM")
    except BaseException:
        for i in range(REPLICAS):
            path = os.path.join(tmp, f"server{i}.log")
            if os.path.exists(path):
                sys.stderr.write(f"--- server{i}.log ---\n{open(path).read()[-3000:]}\n")
        raise
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for log in logs:
            log.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
