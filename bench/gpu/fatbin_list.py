#!/usr/bin/env python3
"""Lists the device code entries in a binary's .nv_fatbin section: kind (SASS cubin or PTX) and
architecture, for machines without cuobjdump (this one). PTX is stored compressed, so `strings` cannot
show it; this reads the fatbin headers instead.

Usage: bench/gpu/fatbin_list.py BINARY [--require sm_90 --require compute_90 ...]
Prints one line per distinct entry ("sm_90 SASS x3", "compute_90 PTX x3"); with --require, exits 1 unless
every named entry is present (sm_NN: SASS for NN; compute_NN: PTX for NN).

The layout (as read by cuobjdump and described by reverse-engineering write-ups of the fatbin format):
a fatbin header {u32 magic 0xBA55ED50, u16 version, u16 header_size, u64 entries_size} followed by
entries {u16 kind (1 PTX, 2 ELF), u16, u32 header_size, u64 payload_size, u32, u32, u16 minor, u16 major,
u32 arch, ...}, each followed by its payload; the section holds one fatbin per compiled object.
"""
import collections
import os
import struct
import subprocess
import sys
import tempfile

MAGIC = 0xBA55ED50


def section(binary):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "fatbin")
        subprocess.run(["objcopy", "-O", "binary", "--only-section=.nv_fatbin", binary, out],
                       check=True)
        with open(out, "rb") as f:
            return f.read()


def entries(data):
    pos = 0
    while pos + 16 <= len(data):
        magic, _version, header_size, size = struct.unpack_from("<IHHQ", data, pos)
        if magic != MAGIC:
            pos += 8  # Fatbins are 8-byte aligned in the section.
            continue
        entry = pos + header_size
        end = entry + size
        while entry + 32 <= end:
            kind, _, entry_header, payload = struct.unpack_from("<HHIQ", data, entry)
            arch = struct.unpack_from("<I", data, entry + 28)[0]
            yield kind, arch
            if entry_header == 0:
                break
            entry += entry_header + payload
        pos = end


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__)
        return 2
    binary, required = args[0], []
    i = 1
    while i < len(args):
        if args[i] == "--require" and i + 1 < len(args):
            required.append(args[i + 1])
            i += 2
        else:
            print("unknown argument", args[i], file=sys.stderr)
            return 2
    found = collections.Counter()
    for kind, arch in entries(section(binary)):
        name = {1: "compute_%d PTX", 2: "sm_%d SASS"}.get(kind, "kind %d arch %%d" % kind) % arch
        found[name] += 1
    for name, count in sorted(found.items()):
        print("%s x%d" % (name, count))
    missing = [r for r in required
               if not any(n.split()[0] == r for n in found)]
    if missing:
        print("missing:", " ".join(missing), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
