"""The first search on a repository with no index, and the vectors filling in behind it.

    python benchmarks/first_answer.py [--limit N] [--workdir DIR] [--first-only [--graphs]] [--no-tests]

On the standard-library repository (index_stdlib.py builds it), from no index at all:
`codeseek chunks` over the same files, as the yardstick; the first `codeseek find` (a new
process, as a user runs it); then, polling `codeseek status`, when the background worker
has embedded every definition of the implementation (not tests, module code or text) and
when it has embedded everything. The stdlib copy is left with its complete index, for
latency.py and share_stdlib.py. --first-only stops after the first `find` (and stops the warm
process and the background worker that embed behind it), then times repeat searches in this process on the index as
the first `find` left it (its static tier ranking: nothing else runs meanwhile); with --graphs,
again once the static tier's full flat segments have their graphs (what the background does
first).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import statistics
import subprocess
import time
from pathlib import Path

from index_stdlib import CODESEEK, QUERIES, stdlib_arguments

from codeseek import filling, indexing, report, search
from codeseek.embedding import EngineChoice
from codeseek.index import Store
from codeseek.repo import open_workspace

QUERY = "decode a JSON document from a string"


def run(root: Path, *args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    began = time.perf_counter()
    result = subprocess.run([*CODESEEK, *args], cwd=root, capture_output=True, text=True, check=True)
    return time.perf_counter() - began, result


def implementation_left(root: Path) -> int:
    """Definitions of the implementation still without a vector (priority groups 0 and 1)."""
    with Store(open_workspace(root).index_dir) as store:
        return sum(1 for c in store.chunks.unembedded() if filling.priority(c, set()) <= 1)


def repeat_searches(root: Path, rounds: int = 5) -> None:
    """In-process hybrid searches on the index as it is (the static tier and words while the
    transformer's vectors are missing), after one warm-up: what a repeat search costs beyond
    the CLI's start."""
    engine = EngineChoice()
    with Store(open_workspace(root).index_dir) as store:
        search.find(store, engine, QUERIES[0], 10)
        took = []
        for _ in range(rounds):
            for query in QUERIES:
                began = time.perf_counter()
                found = search.find(store, engine, query, 10)
                took.append((time.perf_counter() - began) * 1000)
        kinds = sorted(Path(name).suffix for name in store.static.names())
    print(f"repeat search in process ({found.vectors or 'no'} vectors; static segments {', '.join(kinds)}): "
          f"p50 {statistics.median(took):.1f} ms, max {max(took):.1f} ms over {len(took)}")


def main() -> None:
    args, root = stdlib_arguments(__doc__, switches={"--first-only": "stop after the first find",
                                                     "--graphs": "then time repeat searches on the static graphs"})
    ws = open_workspace(root)
    indexing.remove_index(ws)
    files = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True, check=True).stdout.split()
    chunks_s, _ = run(root, "chunks", *files)
    print(f"`codeseek chunks` over {len(files)} files: {chunks_s:.1f} s")

    first_s, first = run(root, "find", QUERY, "--json", "-k", "5")
    began = time.monotonic()
    top = json.loads(first.stdout)[0]
    print(f"first `codeseek find` (no index): {first_s:.1f} s = {first_s / chunks_s:.2f}x chunks; "
          f"first hit {top['path']}:{top['start_line']} {top['symbol']}")
    print("  " + first.stderr.strip().replace("\n", "\n  "))
    after = report.status(ws)
    print(f"  static vectors after the first find: {after.static_chunks:,} of {after.counts.chunks:,} chunks "
          f"({after.static_model or 'no static tier'})")
    if args.first_only:
        # The background worker the search started goes first: with the warm process it hands the
        # vectors to stopped, it would embed them itself, beside whatever this machine runs next.
        worker = re.search(r"background worker \(pid (\d+)\)", first.stderr)
        if worker:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(worker.group(1)), signal.SIGTERM)
        subprocess.run([*CODESEEK, "serve", "--stop"], cwd=root, check=True)
        repeat_searches(root)
        if args.graphs:
            with Store(ws.index_dir) as store:
                began = time.perf_counter()
                filling.build_graphs(store, None)
            print(f"static graphs built in {time.perf_counter() - began:.1f} s")
            repeat_searches(root)
        return

    definitions_done = None
    while True:
        time.sleep(10)
        found = report.status(ws).to_json()
        elapsed = time.monotonic() - began
        if definitions_done is None and implementation_left(root) == 0:
            definitions_done = elapsed
            print(f"implementation's definitions all embedded after {elapsed / 60:.1f} min "
                  f"({found['embedded']:,} of {found['total']:,} chunks)", flush=True)
        if found["embedded"] == found["total"] and found["embedding"] is None:
            break
        progress = found["embedding"] or {}
        print(f"  {elapsed / 60:5.1f} min: {found['embedded']:,} of {found['total']:,} embedded, "
              f"{progress.get('rate', 0)} chunks/s", flush=True)
    total_s = time.monotonic() - began
    print(f"every chunk embedded after {total_s / 60:.1f} min ({found['total']:,} chunks, "
          f"{found['total'] / total_s:.1f} chunks/s overall)")
    second_s, second = run(root, "find", QUERY, "--json", "-k", "5")
    top = json.loads(second.stdout)[0]
    print(f"a find once all is embedded (cold process, loads the model): {second_s:.1f} s; "
          f"first hit {top['path']}:{top['start_line']} {top['symbol']}")


if __name__ == "__main__":
    main()
