"""Wall time of `update` after a one-file commit, embedding shown apart, on an indexed copy
of the standard library (built by index_stdlib.py with the same --limit and --workdir).

    python benchmarks/update_stdlib.py [--limit N] [--rounds R]
"""

from __future__ import annotations

import statistics
import time

from index_stdlib import commit_all, stdlib_arguments

from codeseek import filling
from codeseek.embedding import EngineChoice
from codeseek.index import Store
from codeseek.repo import open_workspace


def main() -> None:
    args, root = stdlib_arguments(__doc__, rounds=10)
    ws = open_workspace(root)
    engine = EngineChoice()
    engine.embedder()  # loaded once, as in a warm server; its load time is not an update's
    filling.index_all(ws, engine)  # make sure the index is complete before measuring
    with Store(ws.index_dir) as store:
        counts = store.chunks.counts()
    files = sorted(p for p in root.rglob("*.py") if ".git" not in p.parts)[::37]
    rest, embed, embedded = [], [], []
    for i in range(args.rounds):
        target = files[i % len(files)]
        with target.open("a") as f:
            f.write(f"\n\ndef _bench_added_{i}(value):\n    return value + {i}\n")
        commit_all(root, f"bench {i}")
        began = time.perf_counter()
        result = filling.index_all(ws, engine)
        wall = time.perf_counter() - began
        embed.append(result.timings["embed"])
        rest.append(wall - result.timings["embed"])
        embedded.append(result.embedded)
    print(f"index: {counts.files} files, {counts.chunks} chunks, {counts.vectors} vectors")
    print(f"update after a one-file commit, {args.rounds} rounds:")
    print(f"  non-embedding part: median {statistics.median(rest) * 1000:.0f} ms, max {max(rest) * 1000:.0f} ms")
    print(f"  embedding: median {statistics.median(embed) * 1000:.0f} ms for a median of "
          f"{statistics.median(embedded):.0f} new chunks")


if __name__ == "__main__":
    main()
