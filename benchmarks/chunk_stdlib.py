"""Chunking throughput on the Python standard library, beside the raw tree-sitter parse of
the same files, and how chunking scales with worker processes.

    python benchmarks/chunk_stdlib.py
"""

from __future__ import annotations

import os
import sysconfig
import time
from pathlib import Path

from codeseek import languages
from codeseek.chunking import chunk_many
from codeseek.parsing import chunk_file
from codeseek.skipping import SkipRules


def load() -> list[tuple[str, bytes]]:
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in root.rglob("*.py") if "site-packages" not in p.parts)
    return [(p.relative_to(root).as_posix(), p.read_bytes()) for p in files]


def best_of(runs: int, work) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        work()
        times.append(time.perf_counter() - began)
    return min(times)


def main() -> None:
    items = load()
    megabytes = sum(len(d) for _, d in items) / 1e6
    parser = languages.registry()["python"].parser()
    raw = best_of(3, lambda: [parser.parse(data) for _, data in items])
    chunks = [c for path, data in items for c in chunk_file(path, data)]
    definitions = sum(c.kind != "module" for c in chunks)
    chunked = best_of(3, lambda: [chunk_file(path, data) for path, data in items])
    print(f"{len(items)} files, {megabytes:.1f} MB, {len(chunks)} chunks ({definitions} definitions)")
    print(f"raw tree-sitter parse, 1 process: {raw:6.2f} s  {megabytes / raw:5.1f} MB/s")
    print(f"chunking,              1 process: {chunked:6.2f} s  {megabytes / chunked:5.1f} MB/s  "
          f"{definitions / chunked:,.0f} definitions/s  (+{(chunked / raw - 1) * 100:.0f}% over raw parse)")
    for workers in range(2, (os.cpu_count() or 1) + 1):
        t = best_of(3, lambda workers=workers: chunk_many(items, SkipRules(), workers=workers))
        print(f"chunk_many (skip rules too), {workers} workers: {t:6.2f} s  {megabytes / t:5.1f} MB/s  "
              f"speed-up {chunked / t:.2f}x")


if __name__ == "__main__":
    main()
