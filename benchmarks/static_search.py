"""What a search of the static tier costs as flat files or as USearch graphs, in one segment or
split into several (issue 29: a first index writes flat segments and merges none of them).

    python benchmarks/static_search.py [--limit N] [--no-tests] [--workdir DIR] [--segments 15]

Reads every static vector of the standard-library copy's index (first_answer.py or
index_stdlib.py makes it), writes them into a scratch folder as 1 and as --segments
segments of each kind, and times 100 searches of each layout (queries: the static tier's
vectors of index_stdlib.QUERIES and of stored chunks), the write of each layout, and the
graphs' recall@10 against the exact answer.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from index_stdlib import QUERIES, stdlib_arguments

from codeseek.embedding import static_tier
from codeseek.embedding.bundled import CODE_MODEL
from codeseek.index import Store
from codeseek.index.segment_files import Segment, open_segment, write_segment
from codeseek.repo import open_workspace

K = 10


def layout(folder: Path, keys: np.ndarray, rows: np.ndarray, parts: int, flat: bool) -> tuple[list[Segment], float]:
    """The vectors written as `parts` segments of one kind, opened; and the seconds it took."""
    began = time.perf_counter()
    names = [write_segment(folder, [(part_keys.tolist(), part_rows)], flat)[0]
             for part_keys, part_rows in zip(np.array_split(keys, parts), np.array_split(rows, parts), strict=True)]
    return [open_segment(folder / name) for name in names], time.perf_counter() - began


def nearest(segments: list[Segment], query: np.ndarray) -> list[int]:
    hits = [hit for segment in segments for hit in segment.nearest(query, K)]
    return [key for key, _ in sorted(hits, key=lambda kv: -kv[1])[:K]]


def main() -> None:
    _, root = stdlib_arguments(__doc__)
    tier = static_tier(CODE_MODEL)
    assert tier is not None
    with Store(open_workspace(root).index_dir) as store:
        stored = store.static.get(store.static.keys())
    keys = np.fromiter(stored, dtype=np.int64)
    rows = np.stack(list(stored.values())).astype(np.float16)
    rng = np.random.default_rng(0)
    queries = np.concatenate([tier.embed_queries(QUERIES), rows[rng.choice(len(rows), 92)].astype(np.float32)])
    exact: list[list[int]] | None = None
    print(f"{len(keys):,} static vectors, {rows.shape[1]} dims; {len(queries)} queries, top {K}")
    with tempfile.TemporaryDirectory() as scratch:
        for flat in (True, False):
            for parts in (1, 15):
                segments, wrote = layout(Path(scratch) / f"{flat}-{parts}", keys, rows, parts, flat)
                answers, took = [], []
                for query in queries:
                    began = time.perf_counter()
                    answers.append(nearest(segments, query))
                    took.append((time.perf_counter() - began) * 1000)
                exact = exact or answers
                recall = statistics.mean(len(set(a) & set(e)) / K for a, e in zip(answers, exact, strict=True))
                print(f"{'flat ' if flat else 'graph'} x {parts:2}: search p50 {statistics.median(took):6.2f} ms, "
                      f"max {max(took):6.2f} ms; written in {wrote:5.1f} s; recall@{K} {recall:.3f}", flush=True)


if __name__ == "__main__":
    main()
