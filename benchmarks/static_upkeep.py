"""The background's care of the static tier's final segments where the static tier is the
whole answer (`transformer_limit`), on the standard-library copy (index_stdlib.py):

    python benchmarks/static_upkeep.py [--limit N] [--workdir DIR] [--no-tests]

From no index, with CODESEEK_TRANSFORMER_LIMIT=0 and no warm process: the first `codeseek
find` (a new process, as a user runs it), and how long until the worker it starts has given
the final segments their graphs (before, nothing ever built them there); a search in
process then. Then most files change (four files in five have their indentation turned into
tabs: every indented chunk of theirs gets a new text) and are committed, the update runs,
and the background's step (`filling.behind`, what that worker runs) sweeps the final
segments the chunks left behind: its time, the static tier's vectors and bytes before and
after, the keys no chunk has, and a search again.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
from collections import Counter
from pathlib import Path

from index_stdlib import CODESEEK, QUERIES, commit_all, stdlib_arguments

from codeseek import filling, hooks, indexing, search
from codeseek.embedding import EngineChoice, EngineSettings
from codeseek.index import Store
from codeseek.index.finals import finals, graphs_wanted
from codeseek.repo import Workspace, open_workspace

STATIC_ONLY = {"CODESEEK_TRANSFORMER_LIMIT": "0", "CODESEEK_SERVER": "0"}


def tier(store: Store) -> str:
    """The static tier's size and segments, in words."""
    kinds = Counter(Path(name).suffix for name in store.static.names())
    size = sum(p.stat().st_size for p in store.static.folder.iterdir())
    used = {key for (key,) in store.db.execute("SELECT DISTINCT vector_key FROM chunks")}
    dangling = len(set(store.static.keys()) - used)
    return (f"{store.static.count():,} static vectors ({dangling:,} of keys no chunk has), {size / 2**20:.1f} MB, "
            f"segments: {', '.join(f'{n} {kind}' for kind, n in sorted(kinds.items()))}, {len(finals(store.static))} final")


def searches(ws: Workspace, engine: EngineChoice) -> str:
    """Hybrid searches in process (the static tier and words), after one warm-up: p50 and max."""
    with Store(ws.index_dir) as store:
        search.find(store, engine, QUERIES[0], 10)
        took = []
        for query in QUERIES * 3:
            began = time.perf_counter()
            found = search.find(store, engine, query, 10)
            took.append((time.perf_counter() - began) * 1000)
    return f"search in process ({found.vectors or 'no'} vectors): p50 {statistics.median(took):.1f} ms, max {max(took):.1f} ms"


def main() -> None:
    args, root = stdlib_arguments(__doc__)
    ws = open_workspace(root)
    indexing.remove_index(ws)
    engine = EngineChoice(EngineSettings(transformer_limit=0))
    env = {**os.environ, **STATIC_ONLY}

    began = time.perf_counter()
    first = subprocess.run([*CODESEEK, "find", QUERIES[0], "--json", "-k", "1"], cwd=root, env=env,
                           capture_output=True, text=True, check=True)
    answered = time.perf_counter() - began
    with Store(ws.index_dir) as store:
        print(f"first find: {answered:.1f} s, first hit {json.loads(first.stdout)[0]['path']}; {tier(store)}", flush=True)
    while True:
        with Store(ws.index_dir) as store:
            if not hooks.worker_running(ws) and not graphs_wanted(store.static):
                break
        time.sleep(0.5)
    with Store(ws.index_dir) as store:
        print(f"graphs in place {time.perf_counter() - began - answered:.1f} s after the answer "
              f"(the worker it started): {tier(store)}", flush=True)
    print(searches(ws, engine), flush=True)

    files = sorted(root.rglob("*.py"))
    changed = [path for i, path in enumerate(files) if i % 5]
    for path in changed:
        path.write_text(path.read_text(errors="surrogateescape").replace("    ", "\t"), errors="surrogateescape")
    commit_all(root, "tabs")
    began = time.perf_counter()
    indexing.update(ws, engine)
    print(f"{len(changed):,} of {len(files):,} files changed, updated in {time.perf_counter() - began:.1f} s", flush=True)
    with Store(ws.index_dir) as store:
        print(f"  before the sweep: {tier(store)}", flush=True)
        began = time.perf_counter()
        filling.behind(ws, store, engine)
        print(f"  the background's step (sweeps, then graphs): {time.perf_counter() - began:.1f} s", flush=True)
        print(f"  after: {tier(store)}", flush=True)
    print(searches(ws, engine), flush=True)


if __name__ == "__main__":
    main()
