#!/usr/bin/python3
"""Debian's real Prometheus scrapes a running simile under load; its query API must agree with what was sent.

    tests/e2e/prometheus_integration_test.py <simile-server> <python stubs dir>

Starts simile-server (gRPC and HTTP on 127.0.0.1, free ports) and `prometheus` on loopback scraping it every
second, waits for the first scrape (all series at zero), sends a known load over gRPC (small and larger valid
requests, and invalid ones), waits until Prometheus has scraped the final values, and checks through
/api/v1/query:
- request counts by code, dispatch decisions by rule, and histogram counts equal what was sent;
- histogram_quantile over rate() of simile_request_duration_seconds_bucket equals the quantile computed here
  from the bucket counts of a direct /metrics scrape (Prometheus' interpolation, reimplemented), and lies
  between bounds that follow from independent measurements: the server's own compute + queue time for each
  request (a lower bound of its duration) and the client's round trip (an upper bound);
- the duration sum lies between the same two bounds summed;
- every PromQL query of the Grafana dashboard (deploy/grafana/simile-dashboard.json) returns data, except the
  few listed in DASHBOARD_EXPECTED_EMPTY with the reason (series that only exist with a GPU);
- the rules of deploy/prometheus/simile-alerts.yml load into this Prometheus, the recording rules produce
  data, and no alert is pending or firing on a healthy server.
Only loopback addresses are used; both processes are stopped and the temporary directory removed on every
path. Exits 77 (ctest: skipped) only when `prometheus` is not installed.
"""

import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from array import array

from e2e_support import fail, free_port, http_get, read_port, wait_for  # noqa: E402 (this folder is on sys.path)

SMALL, LARGE, INVALID = 30, 10, 4  # Requests sent: small valid, larger valid, invalid (top_k > N).
QUANTILES = (0.5, 0.9, 0.99)
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DASHBOARD = os.path.join(REPO, "deploy", "grafana", "simile-dashboard.json")
RULES = os.path.join(REPO, "deploy", "prometheus", "simile-alerts.yml")
# Dashboard panels allowed to return nothing here, and why (their queries must still run without error). Keep
# this short: every other panel must have data.
DASHBOARD_EXPECTED_EMPTY = {
    "VRAM usable / budget": "simile_gpu_memory_*_bytes exist only while a GPU backend is present",
    "GPU speedup by size class": "simile_gpu_speedup exists only for size classes where the GPU has run requests",
}
# Grafana's variables, as a test-time Prometheus without Grafana needs them.
DASHBOARD_VARIABLES = {"$__rate_interval": "1m", "${datasource}": ""}


class Prometheus:
    def __init__(self, base):
        self.base = base

    def query(self, expr, at=None):
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        try:
            body = json.loads(http_get(f"{self.base}/api/v1/query?{urllib.parse.urlencode(params)}"))
        except OSError:
            return None
        if body.get("status") != "success":
            fail(f"query {expr!r} failed: {body}")
        return body["data"]["result"]

    def scalar(self, expr, at=None):
        """The value of a query that yields one series, or None."""
        result = self.query(expr, at)
        if not result:
            return None
        if len(result) != 1:
            fail(f"query {expr!r} gave {len(result)} series: {result}")
        return float(result[0]["value"][1])


def parse_buckets(text, family, labels=""):
    """{le: cumulative count} of `family`'s buckets with the given leading labels, from exposition text."""
    prefix = f"{family}_bucket{{{labels}"
    buckets = {}
    for line in text.splitlines():
        if line.startswith(prefix):
            series, value = line.rsplit(" ", 1)
            le = series.split('le="')[1].split('"')[0]
            buckets[float(le)] = float(value)
    return buckets


def bucket_quantile(q, buckets):
    """Prometheus' histogram_quantile over {upper bound: cumulative count} (promql/quantile.go)."""
    bs = sorted(buckets.items())
    if not bs or not math.isinf(bs[-1][0]):
        return math.nan
    observations = bs[-1][1]
    if len(bs) < 2 or observations == 0:
        return math.nan
    rank = q * observations
    # sort.Search over all but the +Inf bucket: the first bucket holding the rank, else len(bs) - 1.
    b = next((i for i in range(len(bs) - 1) if bs[i][1] >= rank), len(bs) - 1)
    if b == len(bs) - 1:
        return bs[-2][0]
    if b == 0 and bs[0][0] <= 0:
        return bs[0][0]
    start, end, count = 0.0, bs[b][0], bs[b][1]
    if b > 0:
        start = bs[b - 1][0]
        count -= bs[b - 1][1]
        rank -= bs[b - 1][1]
    return start + (end - start) * (rank / count)


def nearest_rank(values, q):
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def bucket_of(value, bounds):
    """(lower, upper) bounds of the bucket holding `value` (le is inclusive)."""
    lower = 0.0
    for upper in bounds:
        if value <= upper:
            return lower, upper
        lower = upper
    return lower, math.inf


def matrix(pb, rows, dim, rng):
    m = pb.Matrix(rows=rows, dim=dim)
    m.raw = array("f", (rng.uniform(-1, 1) for _ in range(rows * dim))).tobytes()
    return m


def send_load(address, stubs):
    """Sends the load; returns [(client seconds, server compute + queue seconds, ok)] per request."""
    sys.path.insert(0, stubs)
    import grpc  # noqa: E402 (python3-grpcio)
    from simile.v1 import similarity_pb2 as pb  # noqa: E402
    from simile.v1 import similarity_pb2_grpc as pb_grpc  # noqa: E402

    rng = random.Random(5)
    small = pb.CosineRequest(queries=matrix(pb, 1, 32, rng), targets=matrix(pb, 256, 32, rng),
                             placement=pb.PLACEMENT_CPU)
    large = pb.CosineRequest(queries=matrix(pb, 16, 64, rng), targets=matrix(pb, 4000, 64, rng),
                             placement=pb.PLACEMENT_CPU)
    invalid = pb.CosineRequest(queries=matrix(pb, 1, 8, rng), targets=matrix(pb, 4, 8, rng), top_k=5,
                               placement=pb.PLACEMENT_CPU)
    plan = [small] * SMALL + [large] * LARGE + [invalid] * INVALID
    rng.shuffle(plan)
    results = []
    with grpc.insecure_channel(address) as channel:
        stub = pb_grpc.SimilarityStub(channel)
        grpc.channel_ready_future(channel).result(timeout=10)
        for request in plan:
            start = time.perf_counter()
            try:
                response = stub.Cosine(request, timeout=30)
                elapsed = time.perf_counter() - start
                server = (response.report.compute_time_ns + response.report.queue_time_ns) * 1e-9
                results.append((elapsed, server, True))
            except grpc.RpcError as e:
                elapsed = time.perf_counter() - start
                if e.code() != grpc.StatusCode.INVALID_ARGUMENT:
                    fail(f"unexpected {e.code()}: {e.details()}")
                results.append((elapsed, 0.0, False))
    return results


def check_dashboard(prom, at):
    """Every query of every dashboard panel returns data at `at` (or is expected empty); returns the count."""
    with open(DASHBOARD) as f:
        dashboard = json.load(f)
    with_data, missing = 0, []
    for panel in dashboard["panels"]:
        title = panel["title"]
        targets = panel.get("targets", [])
        if not targets:
            fail(f"dashboard panel {title!r} has no query")
        results = []
        for target in targets:
            expr = target["expr"]
            for name, value in DASHBOARD_VARIABLES.items():
                expr = expr.replace(name, value)
            result = prom.query(expr, at)
            if result is None:
                fail(f"panel {title!r}: query {expr!r} failed")
            results.append(result)
        if title in DASHBOARD_EXPECTED_EMPTY:
            continue  # Its queries ran without error; data appears only on a machine with a GPU.
        if all(results):
            with_data += 1
        else:
            missing.append(title)
    if missing:
        fail(f"dashboard panels without data: {missing}")
    unknown = set(DASHBOARD_EXPECTED_EMPTY) - {p["title"] for p in dashboard["panels"]}
    if unknown:
        fail(f"DASHBOARD_EXPECTED_EMPTY names panels the dashboard lacks: {unknown}")
    return with_data


def check_rules(prom):
    """The rule file is loaded and healthy, its recording rules have data, and no alert is active."""
    def rules_evaluated():
        try:
            body = json.loads(http_get(f"{prom.base}/api/v1/rules"))
        except OSError:
            return None
        groups = body["data"]["groups"]
        rules = [r for g in groups for r in g["rules"]]
        if not rules or any(r.get("health") != "ok" for r in rules):
            return None
        return rules

    rules = wait_for("the alerting rules to be evaluated", rules_evaluated, 20)
    if not any(r["type"] == "alerting" for r in rules):
        fail("no alerting rules loaded")
    recorded = [r["name"] for r in rules if r["type"] == "recording"]
    for name in recorded:
        wait_for(f"recording rule {name} to have data", lambda: prom.query(name), 20)
    active = prom.query("ALERTS")  # Pending or firing.
    if active:
        fail(f"alerts are active on a healthy server: {active}")


def run(server_binary, stubs, tmp):
    server_log = open(os.path.join(tmp, "server.log"), "w")
    prometheus_log = open(os.path.join(tmp, "prometheus.log"), "w")
    procs = []
    try:
        simile = subprocess.Popen(
            [server_binary, "--grpc_address=127.0.0.1:0", "--metrics_address=127.0.0.1:0",
             f"--port_file={tmp}/port", f"--metrics_port_file={tmp}/metrics_port", "--worker_threads=2"],
            stderr=server_log)
        procs.append(simile)
        grpc_port = wait_for("simile's port file", lambda: read_port(f"{tmp}/port"), 15)
        metrics_port = read_port(f"{tmp}/metrics_port")
        metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"

        with open(f"{tmp}/prometheus.yml", "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
                    f"rule_files:\n  - '{RULES}'\n"
                    "scrape_configs:\n  - job_name: simile\n    static_configs:\n"
                    f"      - targets: ['127.0.0.1:{metrics_port}']\n")
        for attempt in range(3):  # The free port may be taken between the probe and Prometheus' bind.
            prom_port = free_port()
            prometheus = subprocess.Popen(
                ["prometheus", f"--config.file={tmp}/prometheus.yml", f"--storage.tsdb.path={tmp}/data",
                 f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
                stdout=prometheus_log, stderr=prometheus_log)
            procs.append(prometheus)
            base = f"http://127.0.0.1:{prom_port}"

            def ready():
                if prometheus.poll() is not None:
                    return "exited"
                try:
                    return "ready" if http_get(f"{base}/-/ready", timeout=1) else None
                except OSError:
                    return None

            if wait_for("Prometheus to be ready", ready, 15) == "ready":
                break
            if attempt == 2:
                fail("Prometheus did not start; see prometheus.log")
        prom = Prometheus(base)
        t0 = time.monotonic()
        # The first scrape, before any load: every series starts at zero in Prometheus.
        wait_for("the first scrape", lambda: prom.scalar('up{job="simile"}') == 1, 30)
        first_scrape = time.monotonic() - t0

        results = send_load(f"127.0.0.1:{grpc_port}", stubs)
        total = len(results)
        ok = sum(1 for r in results if r[2])
        direct = http_get(metrics_url)  # Final values, read directly.

        def scraped_final():
            return (prom.scalar("sum(simile_request_duration_seconds_count)") == total and
                    prom.scalar("sum(simile_requests_total)") == total)

        wait_for("Prometheus to scrape the final values", scraped_final, 20)
        at = time.time()

        # Counts.
        by_code = {r["metric"]["code"]: float(r["value"][1])
                   for r in prom.query('sum by (code) (simile_requests_total{method="Cosine"})', at)}
        expected = {"OK": ok, "INVALID_ARGUMENT": INVALID}
        for code, value in by_code.items():
            if value != expected.get(code, 0):
                fail(f"simile_requests_total{{code={code!r}}} = {value}, sent {expected.get(code, 0)}")
        if set(expected) - set(by_code):
            fail(f"codes missing from Prometheus: {set(expected) - set(by_code)}")
        decisions = prom.scalar(
            'simile_dispatch_decisions_total{backend="cpu",rule="placement_cpu"}', at)
        if decisions != ok or prom.scalar("sum(simile_dispatch_decisions_total)", at) != ok:
            fail(f"decisions by rule placement_cpu = {decisions}, sent {ok} valid requests")
        if prom.scalar("sum(simile_backend_duration_seconds_count)", at) != ok:
            fail("simile_backend_duration_seconds_count differs from the valid requests sent")
        if prom.scalar('simile_request_targets_bucket{le="256"}', at) != SMALL + INVALID:
            fail("simile_request_targets buckets differ from the shapes sent")

        # Quantiles.
        buckets = parse_buckets(direct, "simile_request_duration_seconds", 'method="Cosine",')
        bounds = sorted(b for b in buckets if not math.isinf(b))
        client = [r[0] for r in results]
        server_lower = [r[1] for r in results]
        lines = []
        for q in QUANTILES:
            got = prom.scalar("histogram_quantile(%g, sum by (le) "
                              "(rate(simile_request_duration_seconds_bucket[5m])))" % q, at)
            want = bucket_quantile(q, buckets)
            if got is None or not math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12):
                fail(f"histogram_quantile({q}) = {got}, expected {want} from the buckets")
            low = bucket_of(nearest_rank(server_lower, q), bounds)[0]
            high = bucket_of(nearest_rank(client, q), bounds)[1]
            if not low <= got <= high:
                fail(f"histogram_quantile({q}) = {got} outside [{low}, {high}] from the measured times")
            lines.append(f"p{q * 100:g}={got * 1e3:.3f} ms in [{low * 1e3:g}, {high * 1e3:g}] ms")
        total_seconds = prom.scalar("sum(simile_request_duration_seconds_sum)", at)
        if not sum(server_lower) <= total_seconds <= sum(client):
            fail(f"duration sum {total_seconds} outside [{sum(server_lower)}, {sum(client)}]")

        panels = check_dashboard(prom, at)
        check_rules(prom)
        lines.append(f"{panels} dashboard panels with data ({len(DASHBOARD_EXPECTED_EMPTY)} GPU-only empty)")

        simile.send_signal(signal.SIGTERM)
        if simile.wait(timeout=15) != 0:
            fail(f"simile-server exited {simile.returncode} after SIGTERM")
        print(f"ok: Prometheus agrees with the {total} requests sent ({ok} OK, {INVALID} INVALID_ARGUMENT); "
              f"{'; '.join(lines)}; first scrape after {first_scrape:.1f} s")
    except BaseException:
        for name in ("server.log", "prometheus.log"):
            path = os.path.join(tmp, name)
            if os.path.exists(path):
                sys.stderr.write(f"--- {name} ---\n{open(path).read()[-4000:]}\n")
        raise
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        server_log.close()
        prometheus_log.close()


def main():
    if len(sys.argv) != 3:
        sys.exit(f"usage: {sys.argv[0]} <simile-server> <python stubs dir>")
    if shutil.which("prometheus") is None:
        print("SKIP: prometheus not found (install the Debian package 'prometheus')")
        sys.exit(77)
    tmp = tempfile.mkdtemp(prefix="simile-prometheus-")
    try:
        run(sys.argv[1], sys.argv[2], tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
