#!/usr/bin/python3
"""Writes the seed corpus of tests/fuzz/request_fuzzer.cc: serialized simile.v1.CosineRequest messages that
cover both encodings, top_k, zero vectors, extreme and non-finite values, mismatched shapes and huge declared
sizes with tiny payloads. Usage: make_corpus.py <python-stubs-dir> <out-dir>"""
import math
import os
import struct
import sys

sys.path.insert(0, sys.argv[1])
from simile.v1 import similarity_pb2 as pb  # noqa: E402

out = sys.argv[2]
os.makedirs(out, exist_ok=True)


def matrix(m, rows, dim, values, raw):
    m.rows, m.dim = rows, dim
    if raw:
        m.raw = struct.pack(f"<{len(values)}f", *values)
    else:
        m.values.extend(values)


def request(name, q, n, d, qv, tv, raw=False, top_k=0, placement=0):
    r = pb.CosineRequest(top_k=top_k, placement=placement)
    matrix(r.queries, q, d, qv, raw)
    matrix(r.targets, n, d, tv, raw)
    with open(os.path.join(out, name), "wb") as f:
        f.write(r.SerializeToString())


request("values_2x3x4", 2, 3, 4, [0.5 * i for i in range(8)], [1.0 - 0.1 * i for i in range(12)])
request("raw_1x5x3_topk2", 1, 5, 3, [1, 2, 3], [i % 7 - 3.0 for i in range(15)], raw=True, top_k=2)
request("zero_vectors", 1, 2, 3, [0, 0, 0], [0, 0, 0, 1, 1, 1])
request("extremes", 1, 2, 2, [3e38, -3e38], [1e-30, 1e-45, 3.4e38, 1.0], raw=True)
request("nan", 1, 1, 2, [math.nan, 1.0], [1.0, 1.0])
request("inf_raw", 1, 1, 2, [1.0, 1.0], [math.inf, 1.0], raw=True)
request("dim_mismatch", 1, 1, 2, [1.0, 1.0], [1.0, 1.0, 1.0])
request("topk_ties", 1, 6, 1, [1.0], [1, 1, 1, 2, 2, 0], top_k=4)
huge = pb.CosineRequest()
huge.queries.rows, huge.queries.dim, huge.queries.raw = 4000000000, 4000000000, b"\0" * 16
huge.targets.rows, huge.targets.dim = 1, 1
huge.targets.values.append(1.0)
with open(os.path.join(out, "huge_declared_tiny_payload"), "wb") as f:
    f.write(huge.SerializeToString())
print(f"wrote {len(os.listdir(out))} seeds to {out}")
