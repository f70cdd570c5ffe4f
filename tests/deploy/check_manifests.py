#!/usr/bin/python3
"""Checks one rendered kustomize overlay (multi-document YAML on stdin) for what deploy/k8s promises and what
kubectl cannot check offline: types of the fields simile relies on, references between objects, security
settings, probes, resources, and that the server flags in the Deployment are ones simile-server accepts.

    kubectl kustomize deploy/k8s/overlays/gpu | check_manifests.py --overlay gpu --server build/server/simile-server

Prints one line per failed check and exits 1 if any failed.
"""
import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time

import yaml

problems = []


def check(condition, message):
    if not condition:
        problems.append(message)
    return condition


def by_kind(docs, kind):
    return [d for d in docs if d.get("kind") == kind]


def one(docs, kind):
    found = by_kind(docs, kind)
    check(len(found) == 1, f"expected one {kind}, found {len(found)}")
    return found[0] if found else {}


def matches(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def run_server_with(args, server, config_dir):
    """Starts simile-server with the Deployment's args (addresses on loopback, config from the repo) and
    checks it serves and stops cleanly on SIGTERM."""
    with tempfile.TemporaryDirectory(prefix="simile-k8s-args-") as tmp:
        fixed = []
        for a in args:
            if a.startswith("--grpc_address="):
                a = "--grpc_address=127.0.0.1:0"
            elif a.startswith("--metrics_address="):
                a = "--metrics_address=127.0.0.1:0"
            elif a.startswith("--config="):
                a = "--config=" + os.path.join(config_dir, os.path.basename(a.split("=", 1)[1]))
            fixed.append(a)
        port_file = os.path.join(tmp, "port")
        with open(os.path.join(tmp, "log"), "w+") as log:
            p = subprocess.Popen([server, *fixed, f"--port_file={port_file}", "--worker_threads=2"], stderr=log)
            try:
                deadline = time.monotonic() + 30
                while not (os.path.exists(port_file) and os.path.getsize(port_file)):
                    if p.poll() is not None or time.monotonic() > deadline:
                        log.seek(0)
                        check(False, f"simile-server did not start with the Deployment's args {fixed}: "
                                     f"{log.read()[-2000:]}")
                        return
                    time.sleep(0.05)
                p.send_signal(signal.SIGTERM)
                check(p.wait(timeout=20) == 0, f"simile-server exited {p.returncode} after SIGTERM")
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--overlay", required=True, choices=["gpu", "cpu"])
    parser.add_argument("--server", help="simile-server binary: run it with the Deployment's args")
    parser.add_argument("--config_dir", help="directory holding the configuration file the args name")
    opts = parser.parse_args()
    docs = [d for d in yaml.safe_load_all(sys.stdin) if d]
    for d in docs:
        check(isinstance(d.get("apiVersion"), str) and isinstance(d.get("kind"), str)
              and isinstance(d.get("metadata", {}).get("name"), str), f"object without apiVersion/kind/name: {d}")
        if d.get("kind") != "Namespace":
            check(d["metadata"].get("namespace") == "simile", f"{d['kind']}/{d['metadata']['name']} not in simile")

    dep = one(docs, "Deployment")
    spec = dep.get("spec", {})
    pod = spec.get("template", {}).get("spec", {})
    pod_labels = spec.get("template", {}).get("metadata", {}).get("labels", {})
    check(matches(spec.get("selector", {}).get("matchLabels"), pod_labels), "Deployment selector misses its pods")
    check(isinstance(spec.get("replicas"), int) and spec["replicas"] >= 2, "Deployment: replicas >= 2 (an int)")
    psc = pod.get("securityContext", {})
    check(psc.get("runAsNonRoot") is True, "pod securityContext.runAsNonRoot must be true")
    check(isinstance(psc.get("runAsUser"), int) and psc["runAsUser"] > 0, "pod runAsUser must be a non-zero int")
    check(pod.get("automountServiceAccountToken") is False, "no service account token is needed")
    containers = pod.get("containers", [])
    check(len(containers) == 1, "one container")
    c = containers[0] if containers else {}
    sc = c.get("securityContext", {})
    check(sc.get("readOnlyRootFilesystem") is True, "container readOnlyRootFilesystem must be true")
    check(sc.get("allowPrivilegeEscalation") is False, "container allowPrivilegeEscalation must be false")
    check(sc.get("privileged") in (None, False), "container must not be privileged")
    check("ALL" in sc.get("capabilities", {}).get("drop", []), "container must drop ALL capabilities")
    ports = {p.get("name"): p.get("containerPort") for p in c.get("ports", [])}
    check(ports.get("grpc") == 50051 and ports.get("metrics") == 9464, f"container ports {ports}")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        grpc_probe = c.get(probe, {}).get("grpc", {})
        check(grpc_probe.get("port") == ports.get("grpc"), f"{probe} must be a gRPC probe on the gRPC port")
    check(c.get("readinessProbe", {}).get("grpc", {}).get("service") == "simile.v1.Similarity",
          "readiness must ask about simile.v1.Similarity")
    res = c.get("resources", {})
    check(res.get("requests", {}).get("cpu") and res.get("requests", {}).get("memory")
          and res.get("limits", {}).get("memory"), f"resources need cpu/memory requests and a memory limit: {res}")
    gpu_request = res.get("requests", {}).get("nvidia.com/gpu")
    gpu_limit = res.get("limits", {}).get("nvidia.com/gpu")
    if opts.overlay == "gpu":
        check(gpu_limit == 1 and gpu_request == 1, f"gpu overlay: nvidia.com/gpu request and limit 1: {res}")
        check(str(c.get("image", "")).endswith("-cuda"), f"gpu overlay uses the CUDA image: {c.get('image')}")
    else:
        check(gpu_limit is None and gpu_request is None, "cpu overlay must not request a GPU")
        check(str(c.get("image", "")).endswith("-cpu"), f"cpu overlay uses the CPU image: {c.get('image')}")
    args = c.get("args", [])
    check(all(isinstance(a, str) for a in args), "args must be strings")

    # The configuration: a generated ConfigMap, mounted where --config points.
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = {m["name"]: m for m in c.get("volumeMounts", [])}
    configmaps = {d["metadata"]["name"]: d for d in by_kind(docs, "ConfigMap")}
    config_arg = next((a.split("=", 1)[1] for a in args if a.startswith("--config=")), None)
    cm_name = volumes.get("config", {}).get("configMap", {}).get("name")
    check(cm_name in configmaps, f"the config volume names ConfigMap {cm_name}, not rendered")
    check(cm_name is not None and cm_name.startswith("simile-config-"),
          "the ConfigMap name carries kustomize's content hash (changes roll the pods)")
    if config_arg and cm_name in configmaps:
        mount = mounts.get("config", {}).get("mountPath", "")
        check(os.path.dirname(config_arg) == mount and os.path.basename(config_arg) in configmaps[cm_name]["data"],
              f"--config={config_arg} is not a key of the mounted ConfigMap ({mount})")
    check(mounts.get("tmp", {}).get("mountPath") == "/tmp" and "emptyDir" in volumes.get("tmp", {}),
          "a writable /tmp (emptyDir) with the read-only root filesystem")

    # Services, PDB, HPA and PodMonitor point at the Deployment's pods and ports.
    services = {d["metadata"]["name"]: d for d in by_kind(docs, "Service")}
    check(set(services) == {"simile", "simile-headless"}, f"services {sorted(services)}")
    check(services.get("simile-headless", {}).get("spec", {}).get("clusterIP") == "None", "headless Service")
    for name, s in services.items():
        check(matches(s["spec"].get("selector"), pod_labels), f"Service {name} selects no simile pod")
        for p in s["spec"].get("ports", []):
            check(p.get("targetPort") in ports, f"Service {name} targets unknown port {p.get('targetPort')}")
    pdb = one(docs, "PodDisruptionBudget")
    check(matches(pdb.get("spec", {}).get("selector", {}).get("matchLabels"), pod_labels), "PDB selects no pod")
    hpa = one(docs, "HorizontalPodAutoscaler")
    target = hpa.get("spec", {}).get("scaleTargetRef", {})
    check(target.get("kind") == "Deployment" and target.get("name") == dep["metadata"]["name"], "HPA target")
    check(hpa.get("spec", {}).get("minReplicas", 0) >= pdb.get("spec", {}).get("maxUnavailable", 0) + 1,
          "HPA minReplicas leaves a replica serving under the PDB")
    metrics = [m.get("pods", {}).get("metric", {}).get("name") for m in hpa.get("spec", {}).get("metrics", [])]
    check(metrics == ["simile_requests_in_flight"], f"HPA metric {metrics}")
    pm = one(docs, "PodMonitor")
    check(matches(pm.get("spec", {}).get("selector", {}).get("matchLabels"), pod_labels), "PodMonitor selects no pod")
    check(all(e.get("port") in ports for e in pm.get("spec", {}).get("podMetricsEndpoints", [])), "PodMonitor port")
    check(pod_labels.get(pm.get("spec", {}).get("jobLabel")) == "simile", "PodMonitor jobLabel gives job=simile")
    one(docs, "PrometheusRule")

    if opts.server and not problems:
        run_server_with(args, opts.server, opts.config_dir)
    for p in problems:
        print(f"FAIL ({opts.overlay}): {p}")
    if problems:
        sys.exit(1)
    print(f"ok ({opts.overlay}): {len(docs)} objects; references, security, probes, resources"
          f"{' and the server args' if opts.server else ''} check out")


if __name__ == "__main__":
    main()
