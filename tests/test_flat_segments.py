"""The static tier's flat segments (issue 29): a first index writes its static vectors as flat
files, searched exactly, never merged before it answers; the full ones get their USearch
graphs later, behind the answer, and searches stay right while they are swapped in, even
when the process building them is killed. Real SQLite and USearch files."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import codeseek.index
from codeseek import filling, indexing
from codeseek.embedding import EngineChoice, EngineSettings
from codeseek.index import Store, finals, segments
from codeseek.repo import open_workspace

from .conftest import MakeRepo

DIM = 256


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def files(folder: Path) -> list[str]:
    return sorted(p.suffix for p in folder.iterdir())


def exact(store: Store, query: np.ndarray, k: int) -> list[int]:
    """The k nearest keys by a plain dot product over every stored static vector."""
    stored = store.static.get(store.static.keys())
    return sorted(stored, key=lambda key: -float(stored[key] @ query))[:k]


@pytest.fixture
def small_full(monkeypatch: pytest.MonkeyPatch) -> int:
    """Static segments of 16 vectors count as full: a sample repository has a few of them."""
    monkeypatch.setattr(codeseek.index, "STATIC", replace(segments.STATIC, full=16))
    return 16


def test_a_first_index_writes_flat_static_segments_searched_exactly(make_repo: MakeRepo) -> None:
    ws = open_workspace(make_repo())
    indexing.update(ws, EngineChoice(EngineSettings()))
    with Store(ws.index_dir) as store:
        assert set(files(store.static.folder)) == {".flat"}  # no graph was built before the answer
        query = store.static.get(store.static.keys()[:1]).popitem()[1]
        found = store.static.search(query, 5)
        assert [key for key, _ in found] == exact(store, query, 5)
        assert found[0][1] == pytest.approx(1.0, abs=1e-3)


def test_full_segments_are_never_merged_and_not_counted(tmp_path: Path) -> None:
    """A first index's batches stay as they are however many there are; only segments short
    of full merge among themselves, once there are more than MAX_SEGMENTS of them."""
    rng = np.random.default_rng(1)
    with Store(tmp_path / "index", create=True) as store, store.writing():
        store.static.space = replace(segments.STATIC, full=100)
        for i in range(12):
            store.static.add(list(range(i * 100, i * 100 + 100)), unit(rng, 100))
        full = set(store.static.names())
        assert not store.static.compact()
        for i in range(segments.MAX_SEGMENTS + 1):
            store.static.add(list(range(10_000 + i * 10, 10_000 + i * 10 + 10)), unit(rng, 10))
        assert store.static.compact()
        assert full <= set(store.static.names()) and len(store.static.names()) == len(full) + 1
        assert set(files(store.static.folder)) == {".flat"}
        assert store.static.count() == len(store.static.get(store.static.keys())) == 1290


def test_full_flat_segments_get_graphs_and_a_search_meanwhile_stays_right(make_repo: MakeRepo, small_full: int) -> None:
    ws = open_workspace(make_repo())
    indexing.update(ws, EngineChoice(EngineSettings()))
    with Store(ws.index_dir) as reader, Store(ws.index_dir) as writer:
        keys = reader.static.keys()
        before = reader.static.get(keys)
        query = next(iter(before.values()))
        found = reader.static.search(query, 5)  # the reader holds the flat files open
        assert len(keys) >= small_full and finals.graphs_wanted(writer.static)
        filling.build_graphs(writer, None)
        assert set(files(writer.static.folder)) == {".usearch"} and not finals.graphs_wanted(writer.static)
        after = reader.static.search(query, 5)  # its flat files are gone: it opens the graphs
        assert [k for k, _ in after] == [k for k, _ in found]
        assert [c for _, c in after] == pytest.approx([c for _, c in found], abs=2e-3)
        again = reader.static.get(keys)
    assert set(again) == set(before) and all(np.array_equal(again[k], before[k]) for k in keys)


GRAPHS = textwrap.dedent("""
    import sys
    from dataclasses import replace
    from pathlib import Path
    import codeseek.index
    from codeseek import filling
    from codeseek.index import Store, segments
    codeseek.index.STATIC = replace(segments.STATIC, full=int(sys.argv[2]))
    with Store(Path(sys.argv[1])) as store:
        filling.build_graphs(store, None)
""")


def test_killing_the_graph_builder_at_random_moments_never_breaks_the_index(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    directory = tmp_path / "index"
    with Store(directory, create=True) as store, store.writing():
        for i in range(24):
            store.static.add(list(range(i * 3000, i * 3000 + 3000)), unit(rng, 3000))
        keys = store.static.keys()
        query = store.static.get([keys[-1]])[keys[-1]]  # a graph of random vectors is sure of this one only
        want = exact(store, query, 1)
    moments = random.Random(3)
    midway = 0  # kills that left some segments flat and some with their graph
    for _ in range(4):
        proc = subprocess.Popen([sys.executable, "-P", "-c", GRAPHS, str(directory), "3000"])
        try:
            proc.wait(timeout=moments.uniform(0.2, 2.0))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        with Store(directory) as store:  # opens, holds every vector, and answers
            assert store.static.count() == len(store.static.get(keys)) == len(keys)
            assert [k for k, _ in store.static.search(query, 5)][:1] == want
            midway += {".flat", ".usearch"} <= set(files(store.static.folder))
    assert midway
    subprocess.run([sys.executable, "-P", "-c", GRAPHS, str(directory), "3000"], check=True)
    with Store(directory) as store:
        with store.writing():  # a writer removes what a killed builder left unlisted
            pass
        assert set(files(store.static.folder)) == {".usearch"}
        assert sorted(p.name for p in store.static.folder.iterdir()) == sorted(store.static.names())
        assert [k for k, _ in store.static.search(query, 5)][:1] == want
