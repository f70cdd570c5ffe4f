#!/usr/bin/python3
"""A stand-in for a Kubernetes API server's discovery endpoints only, so that `kubectl create --dry-run=client`
can run offline (kubectl maps each kind to a resource through discovery even for a client-side dry run).

    fake_discovery.py PORT_FILE   # serves on 127.0.0.1, a free port written to PORT_FILE; stop with SIGTERM

It serves the group versions a Kubernetes >= 1.24 cluster with the Prometheus Operator serves for the kinds
deploy/k8s uses; any other API version or kind is unknown to it, as it would be to such a cluster. Anything but
discovery (GET /api, /apis, /api/v1, /apis/GROUP/VERSION, /version) answers 404.
"""
import http.server
import json
import sys

# group/version -> [(kind, plural resource, namespaced)]
RESOURCES = {
    "v1": [("Namespace", "namespaces", False), ("ServiceAccount", "serviceaccounts", True),
           ("Service", "services", True), ("ConfigMap", "configmaps", True), ("Secret", "secrets", True),
           ("Pod", "pods", True)],
    "apps/v1": [("Deployment", "deployments", True)],
    "policy/v1": [("PodDisruptionBudget", "poddisruptionbudgets", True)],
    "autoscaling/v2": [("HorizontalPodAutoscaler", "horizontalpodautoscalers", True)],
    "monitoring.coreos.com/v1": [("PodMonitor", "podmonitors", True), ("ServiceMonitor", "servicemonitors", True),
                                 ("PrometheusRule", "prometheusrules", True)],
}


def resource_list(group_version):
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
            "resources": [{"name": plural, "singularName": kind.lower(), "namespaced": namespaced, "kind": kind,
                           "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]}
                          for kind, plural, namespaced in RESOURCES[group_version]]}


def group_list():
    groups = []
    for gv in RESOURCES:
        if "/" not in gv:
            continue
        group, version = gv.split("/")
        entry = {"groupVersion": gv, "version": version}
        groups.append({"name": group, "versions": [entry], "preferredVersion": entry})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        path = self.path.split("?")[0].rstrip("/")
        body = None
        if path == "/api":
            body = {"kind": "APIVersions", "versions": ["v1"],
                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}
        elif path == "/apis":
            body = group_list()
        elif path == "/api/v1":
            body = resource_list("v1")
        elif path.startswith("/apis/") and path[len("/apis/"):] in RESOURCES:
            body = resource_list(path[len("/apis/"):])
        elif path == "/version":
            body = {"major": "1", "minor": "27", "gitVersion": "v1.27.0-fake-discovery"}
        if body is None:
            self.send_error(404)
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(sys.argv[1], "w") as f:
        f.write(f"{server.server_address[1]}\n")
    server.serve_forever()


if __name__ == "__main__":
    main()
