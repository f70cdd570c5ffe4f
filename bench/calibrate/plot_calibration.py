#!/usr/bin/env python3
"""Plots simile-calibrate's CSV: latency against batch size (targets), one line per backend and operation,
log-log, with the GPU/CPU crossover of each operation marked where the GPU wins by the required speedup.

Usage: plot_calibration.py CALIBRATION.csv OUT.png [--required_speedup=1.2]
"""
import argparse
import csv
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")  # No display needed.
import matplotlib.pyplot as plt  # noqa: E402


def crossover(series, operation, speedup):
    """Smallest batch from which the GPU beats the CPU by `speedup` at every larger batch, or None."""
    cpu = dict(series.get(("cpu", operation), []))
    gpu = dict(series.get(("gpu", operation), []))
    found = None
    for n in sorted(cpu):
        if n not in gpu:
            continue
        wins = cpu[n] >= speedup * gpu[n]
        if wins and found is None:
            found = n
        if not wins:
            found = None
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv")
    parser.add_argument("png")
    parser.add_argument("--required_speedup", type=float, default=1.2)
    args = parser.parse_args()

    series = defaultdict(list)  # (backend, operation) -> [(targets, median seconds)]
    dims, queries = set(), {}
    with open(args.csv, newline="") as f:
        for row in csv.DictReader(f):
            key = (row["backend"], row["operation"])
            series[key].append((int(row["targets"]), float(row["median_seconds"])))
            dims.add(row["dim"])
            queries[row["operation"]] = row["queries"]
    if not series:
        sys.exit("plot_calibration: no measurements in " + args.csv)

    fig, ax = plt.subplots(figsize=(8, 5))
    styles = {"cpu": "-o", "gpu": "-s"}
    for (backend, operation), points in sorted(series.items()):
        points.sort()
        ax.plot([n for n, _ in points], [s * 1e3 for _, s in points], styles.get(backend, "-x"),
                label=f"{backend}, {operation} (Q={queries[operation]})")
    for operation in sorted(queries):
        n = crossover(series, operation, args.required_speedup)
        if n is not None:
            ax.axvline(n, linestyle="--", color="gray")
            ax.annotate(f"crossover {operation}: N={n}", (n, ax.get_ylim()[0]), rotation=90, va="bottom",
                        ha="right", fontsize=8)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("targets per request (N)")
    ax.set_ylabel("median latency (ms)")
    title = f"simile-calibrate: latency vs batch size, dim {', '.join(sorted(dims))}"
    if not any(b == "gpu" for b, _ in series):
        title += " (no GPU measured)"
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.png, dpi=100)


if __name__ == "__main__":
    main()
