"""The background's care of the static tier's final segments (index/finals.py): a final
segment that the chunks have mostly left behind is swept down to the keys they use, swapped
in while readers hold the old one open, touching nothing outside the index folder; and an
index past `transformer_limit`, where nobody fills in vectors, still gets its graphs from
the background (the hooks' worker, the warm process's thread). Real git repositories, real
indexes, the real static model."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

import codeseek.index as index_package
from codeseek import filling, hooks, indexing
from codeseek.embedding import EngineChoice, EngineSettings, Models
from codeseek.index import Store, finals, segments
from codeseek.protocol import FindRequest
from codeseek.repo import Workspace, open_workspace
from codeseek.service import Repository

from .conftest import MakeRepo, codeseek, git, wait_for, write_files

FILES = 30
CHANGED = 24  # of FILES: most of the first index's segment is left behind


@pytest.fixture
def small_full(monkeypatch: pytest.MonkeyPatch) -> int:
    """Static segments of 16 vectors count as full (final): a repository of a hundred chunks
    has some, as a large one has segments of 16,384."""
    monkeypatch.setattr(index_package, "STATIC", replace(segments.STATIC, full=16))
    return 16


def source(i: int, version: int) -> str:
    """A file of three functions, whose text changes with `version`."""
    topic = ["discount", "invoice", "shipping", "refund"][version % 4]
    return "\n\n".join(f'''def {name}_{topic}_{i}(items, rate):
    """Work out the {topic} {name} of the order's items at the given rate."""
    return sum(item.price * rate for item in items) + {i * 10 + version}
''' for name in ("total", "average", "largest"))


def tree(root: Path, version_of: dict[int, int]) -> None:
    write_files(root, {f"shop/m{i}.py": source(i, v) for i, v in version_of.items()})
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "step")


def used_keys(store: Store) -> set[int]:
    return {key for (key,) in store.db.execute("SELECT DISTINCT vector_key FROM chunks")}


def snapshot(top: Path, leave_out: Path) -> dict[str, tuple[int, int, str]]:
    """Every file and link under `top` but `leave_out`: its kind, size and contents."""
    seen = {}
    for dirpath, dirnames, filenames in os.walk(top):
        if Path(dirpath) == leave_out:
            dirnames[:] = []
            continue
        for name in [*filenames, *dirnames]:
            path = Path(dirpath) / name
            info = path.lstat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() and not path.is_symlink() else ""
            seen[str(path)] = (info.st_mode, info.st_size, digest)
    return seen


def first_index(make_repo: MakeRepo, toml: str = "") -> Workspace:
    root = make_repo({".codeseek.toml": toml} if toml else {})
    tree(root, dict.fromkeys(range(FILES), 0))
    return open_workspace(root)


def test_a_final_segment_mostly_left_behind_is_swept_and_searches_stay_right(
        make_repo: MakeRepo, small_full: int, tmp_path: Path) -> None:
    ws = first_index(make_repo)
    engine = EngineChoice(EngineSettings())
    indexing.update(ws, engine)
    with Store(ws.index_dir) as store:
        filling.behind(ws, store, engine, embed=False)  # the first index's final segment gets its graph
        [first] = store.static.names()
        assert first.endswith(".usearch") and store.static.count() >= 3 * FILES
    tree(ws.root, {i: 1 for i in range(CHANGED)})
    indexing.update(ws, engine)
    outside = tmp_path / "outside.flat"
    outside.write_bytes(b"not codeseek's")
    with Store(ws.index_dir) as reader, Store(ws.index_dir) as store:
        planted = store.static.folder / f"seg-{'0' * 32}.flat"  # a link named as codeseek names its files
        planted.symlink_to(outside)
        before = snapshot(tmp_path, ws.index_dir)
        grown = store.static.count()
        assert first in finals.sweeps_wanted(store.static) and grown > len(used_keys(store))
        query_key = next(iter(used_keys(store)))
        query = store.static.get([query_key])[query_key]
        assert reader.static.search(query, 5)[0][0] == query_key  # the reader holds the old graph open

        filling.behind(ws, store, engine, embed=False)  # the background step

        assert first not in store.static.names() and not finals.sweeps_wanted(store.static)
        used = used_keys(store)
        assert set(store.static.keys()) == used  # no key that no chunk has, and every chunk keeps its own
        assert store.static.count() == len(used) < grown
        assert set(store.static.get(sorted(used))) == used
        assert sorted(p.name for p in store.static.folder.iterdir() if not p.is_symlink()) == sorted(store.static.names())
        assert not finals.graphs_wanted(store.static)  # the sweep's full segment got its graph too
        found = reader.static.search(query, 5)  # the old graph is gone: it reads the new segments
        assert found[0][0] == query_key and {key for key, _ in found} <= used
        assert set(reader.static.get(sorted(used))) == used
    assert snapshot(tmp_path, ws.index_dir) == before  # nothing outside the index folder changed
    assert planted.is_symlink() and outside.read_bytes() == b"not codeseek's"
    planted.unlink()
    answer = codeseek(ws.root, "find", "the invoice largest of the order's items", "--json", "-k", "3",
                      env={**os.environ, "CODESEEK_TRANSFORMER_LIMIT": "0"})
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout)[0]["symbol"].startswith("largest_invoice_")


def test_a_sweep_that_an_update_overtook_is_not_swapped_in(make_repo: MakeRepo, small_full: int) -> None:
    """An update between the sweep and its swap made a chunk of a key the sweep left out (a
    file changed back): the swap is refused, and nothing is lost or left behind."""
    ws = first_index(make_repo)
    engine = EngineChoice(EngineSettings())
    indexing.update(ws, engine)
    tree(ws.root, {i: 1 for i in range(CHANGED)})
    indexing.update(ws, engine)
    with Store(ws.index_dir) as store:
        [first] = [name for name in finals.sweeps_wanted(store.static)]
        swept = finals.sweep(store.static, first)
        tree(ws.root, {0: 0})  # back as it was: its chunks' keys are in the old segment only
        indexing.update(ws, engine)
        with store.writing():
            assert not finals.put_swept(store.static, swept)
        assert first in store.static.names()
        assert sorted(p.name for p in store.static.folder.iterdir()) == sorted(store.static.names())
        assert not store.static.missing(used_keys(store))
        filling.behind(ws, store, engine, embed=False)
        assert first not in store.static.names()
        # What is left unused: the three chunks file 0 had for a while, in a segment mostly used.
        assert used_keys(store) <= set(store.static.keys()) and store.static.count() - len(used_keys(store)) == 3


def static_files(ws: Workspace) -> list[str]:
    return sorted(p.suffix for p in (ws.index_dir / "static").iterdir())


def test_past_the_transformer_limit_the_hooks_worker_builds_the_graphs(make_repo: MakeRepo, small_full: int) -> None:
    ws = first_index(make_repo, "transformer_limit = 0\n")
    engine = EngineChoice(EngineSettings(transformer_limit=0))
    hooks.run(ws, "post-commit", engine, indexing.SkipRules(), server=False)
    assert set(static_files(ws)) == {".usearch"}
    with Store(ws.index_dir) as store:
        assert store.vectors.count() == 0 and store.chunks.unembedded_count() > 0


def test_past_the_transformer_limit_the_warm_process_builds_the_graphs(make_repo: MakeRepo, small_full: int) -> None:
    ws = first_index(make_repo, "transformer_limit = 0\n")
    repo = Repository(ws, Models())
    try:
        hits = repo.find(FindRequest("the refund total of the order's items", k=1), {}).hits
        assert hits
        wait_for(lambda: not repo.busy)
    finally:
        repo.close()
    assert set(static_files(ws)) == {".usearch"}
    with Store(ws.index_dir) as store:
        assert store.vectors.count() == 0
