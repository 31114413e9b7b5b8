"""The search side of Matryoshka dimensions: index bytes and dense-search time at 2560, 1024
and 256 dimensions (Qwen3-Embedding-4B's full size and two truncations).

    python benchmarks/matryoshka.py [--count 73734] [--queries 200]

Vectors go through codeseek's own storage (checkpoint segments, then a merge into one), as
an index of the standard library's chunk count would. No Qwen3 vectors can be made here, so
they are random unit vectors: the hard case for an HNSW graph (real embeddings cluster), so
times are an upper bound.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from codeseek.index import SEGMENT_DIR, Store

CHECKPOINT = 4096


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=73_734)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    keys = rng.integers(-(2**62), 2**62, size=args.count).tolist()
    print("| dims | index on disk | bytes/vector | build | dense search (100 nearest) p50 / p95 | "
          "exact cosines of 60 candidates |")
    print("|---|---|---|---|---|---|")
    for dim in (2560, 1024, 256):
        with tempfile.TemporaryDirectory() as scratch:
            store = Store(Path(scratch), create=True)
            began = time.perf_counter()
            with store.writing():
                for start in range(0, args.count, CHECKPOINT):
                    part = rng.standard_normal((min(CHECKPOINT, args.count - start), dim), dtype=np.float32)
                    part /= np.linalg.norm(part, axis=1, keepdims=True)
                    store.vectors.add(keys[start : start + len(part)], part)
                store.vectors.compact(force=True)
            build = time.perf_counter() - began
            size = sum(p.stat().st_size for p in (Path(scratch) / SEGMENT_DIR).iterdir())
            queries = rng.standard_normal((args.queries, dim), dtype=np.float32)
            queries /= np.linalg.norm(queries, axis=1, keepdims=True)
            store.vectors.search(queries[0], 100)  # map the segment in
            search, exact = [], []
            for q in queries:
                began = time.perf_counter()
                found = store.vectors.search(q, 100)
                search.append((time.perf_counter() - began) * 1000)
                began = time.perf_counter()
                candidates = store.vectors.get([k for k, _ in found[:60]])
                np.stack(list(candidates.values())) @ q
                exact.append((time.perf_counter() - began) * 1000)
            store.close()
        p95 = sorted(search)[int(0.95 * len(search))]
        print(f"| {dim} | {size / 1e6:.0f} MB | {size / args.count:.0f} | {build:.0f} s | "
              f"{statistics.median(search):.1f} / {p95:.1f} ms | {statistics.median(exact):.1f} ms |", flush=True)


if __name__ == "__main__":
    main()
