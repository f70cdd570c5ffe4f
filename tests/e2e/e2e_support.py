"""Helpers shared by the end-to-end test scripts in tests/e2e/ (each run as /usr/bin/python3 tests/e2e/NAME.py,
so this folder is on sys.path): failing, waiting, port files and scraping a server's /metrics."""
import socket
import time
import urllib.request


def fail(message):
    raise AssertionError(message)


def wait_for(what, predicate, timeout, interval=0.05):
    """Polls predicate() until it returns something true (returned) or timeout seconds pass (fails)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    fail(f"timed out after {timeout} s waiting for {what}")


def read_port(path):
    """The port a server wrote to its --port_file, or None while the file is absent or empty."""
    try:
        with open(path) as f:
            text = f.read().strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def parse_metrics(text):
    """{'name{labels}': value} of every sample in Prometheus exposition text."""
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            samples[series] = float(value)
    return samples
