"""The index's own promises, on real SQLite and USearch files: how segments merge, when unused
vectors go, how exact shared int8 vectors stay, and a search that meets a merge. Vectors here
come from a small deterministic fake (hashes of the text): these tests need no meaning."""

from __future__ import annotations

import dataclasses
import pickle
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from codeseek import sharing
from codeseek.errors import CodeseekError, IndexBusy, RefusedPath
from codeseek.index import DB_NAME, Store, exists, segments
from codeseek.index.chunks import FileEntry, NewChunk
from codeseek.index.database import BUILDING_NAME
from codeseek.kinds import Kind
from codeseek.parsing import Chunk

DIM = 16


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "index", create=True) as opened:
        opened.db.set_meta({"model": "fake-hash-embedder", "dim": str(DIM)})
        yield opened


def add_segment(store: Store, keys: list[int], rng: np.random.Generator) -> None:
    with store.writing():
        store.vectors.add(keys, unit(rng, len(keys)))


def sizes(store: Store) -> list[int]:
    return sorted(count for (count,) in store.db.execute("SELECT count FROM segments"))


def test_small_segments_merge_among_themselves_until_they_reach_half_the_base(store: Store) -> None:
    rng = np.random.default_rng(1)
    add_segment(store, list(range(1000)), rng)  # the base
    for i in range(7):
        add_segment(store, list(range(10_000 + i * 10, 10_000 + i * 10 + 10)), rng)
    with store.writing():
        assert not store.vectors.compact()  # eight segments: within the limit
    add_segment(store, list(range(20_000, 20_020)), rng)
    with store.writing():
        assert store.vectors.compact()
    assert sizes(store) == [90, 1000]  # the small ones merged; the base untouched
    for i in range(9):
        add_segment(store, list(range(30_000 + i * 50, 30_000 + i * 50 + 50)), rng)
    with store.writing():
        assert store.vectors.compact()
    assert sizes(store) == [1000 + 90 + 450]  # together at least half the base: all merged
    assert store.vectors.count() == len(store.vectors.get(store.vectors.keys())) == 1540


def test_a_full_segment_is_never_rewritten(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store.vectors, "space", replace(segments.MAIN, full=100))
    rng = np.random.default_rng(2)
    for i in range(5):
        add_segment(store, list(range(i * 60, i * 60 + 60)), rng)
    with store.writing():
        store.vectors.compact(force=True)
    assert sizes(store) == [100, 100, 100]  # 300 vectors in segments of at most 100
    full = set(store.vectors.names())
    add_segment(store, list(range(1000, 1010)), rng)
    with store.writing():
        store.vectors.compact(force=True)
    assert full <= set(store.vectors.names())  # the full ones were left alone


def chunk_entry(path: str, key: int) -> FileEntry:
    chunk = Chunk(path, "python", Kind.FUNCTION, "f", 1, 2, "def f():\n    pass")
    return FileEntry(path, "0" * 40, "python", [NewChunk(chunk, key, ("f", path, "def f pass"))])


def test_unused_vectors_stay_two_weeks_then_go_at_a_merge(store: Store) -> None:
    rng = np.random.default_rng(3)
    add_segment(store, [1, 2, 3], rng)
    add_segment(store, [4], rng)
    with store.writing(), store.db.transaction() as db:
        store.chunks.replace(db, [chunk_entry("a.py", 1), chunk_entry("b.py", 4)], set())
    with store.writing():  # a branch switch: b.py and a.py's old chunk are gone, their vectors kept
        with store.db.transaction() as db:
            store.chunks.remove(db, ["b.py"])
        store.vectors.compact(force=True, now=time.time() + 13 * 24 * 3600)
    assert sorted(store.vectors.keys()) == [1, 2, 3, 4]  # 13 days on: all kept
    add_segment(store, [5], rng)
    with store.writing():
        store.vectors.compact(force=True, now=time.time() + 15 * 24 * 3600)
    assert sorted(store.vectors.keys()) == [1]  # 15 days on: only the one in use stays


def test_int8_sharing_keeps_cosines_within_a_thousandth() -> None:
    rng = np.random.default_rng(4)
    for dim in (16, 384, 1024):
        vectors = rng.standard_normal((500, dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        manifest = sharing.Manifest(sharing.FORMAT, "m", dim, "int8", 500, 0, None, "", 0.0)
        decoded = sharing.decode(sharing.encode(vectors, "int8"), manifest)
        cosines = np.sum(decoded * vectors, axis=1)
        assert cosines.min() > 0.999, (dim, cosines.min())


def test_a_search_that_meets_a_merge_retries(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    with Store(tmp_path / "index", create=True) as writer, Store(tmp_path / "index") as reader:
        for i in range(10):
            add_segment(writer, list(range(i * 20, i * 20 + 20)), rng)
        query = unit(rng, 1)[0]
        # Every vector asked for (200), so the answer is exact whichever graph serves it: a merged
        # graph's top five alone is approximate, and once missed a neighbour the small ones found.
        before = reader.vectors.search(query, 200)[:5]  # the reader has the old segments open
        with writer.writing():
            writer.vectors.compact(force=True)  # their files are gone now
        after = reader.vectors.search(query, 200)[:5]
        assert [k for k, _ in after] == [k for k, _ in before]
        assert [c for _, c in after] == pytest.approx([c for _, c in before], abs=1e-3)


def test_the_count_of_chunks_without_vectors_follows_every_change(store: Store) -> None:
    """Kept in the index's metadata by every change (a search reads it, never counts a million rows)."""
    def entries(*keys: int) -> list[FileEntry]:
        return [chunk_entry(f"f{key}.py", key) for key in keys]

    def exact() -> int:
        return sum(1 for _ in store.chunks.pending())

    rng = np.random.default_rng(6)
    with store.writing(), store.db.transaction() as db:
        store.chunks.replace(db, entries(1, 2, 3, 4), {1, 2, 3, 4})
    assert store.chunks.unembedded_count() == exact() == 4
    add_segment(store, [1, 2], rng)
    assert store.chunks.unembedded_count() == exact() == 2
    with store.writing(), store.db.transaction() as db:
        store.chunks.remove(db, ["f3.py", "f1.py"])
    assert store.chunks.unembedded_count() == exact() == 1
    with store.writing():
        dropped = store.vectors.drop(store.vectors.names())  # as if their file were damaged
    assert dropped == 2 and store.chunks.unembedded_count() == exact() == 2
    add_segment(store, [2, 4, 99], rng)
    assert store.chunks.unembedded_count() == exact() == 0
    with store.writing():
        assert store.chunks.settle_unembedded()


def test_term_counts_are_what_fts5_counts(store: Store) -> None:
    """The kept counts of chunks per term (idf) agree with FTS5's own, through changes."""
    def chunk(path: str, symbol: str, text: str) -> FileEntry:
        new = NewChunk.of(Chunk(path, "python", Kind.FUNCTION, symbol, 1, 2, text), store.db.model_info())
        return FileEntry(path, "0" * 40, "python", [new])

    def fts5() -> dict[str, int]:
        return dict(store.db.execute("SELECT term, doc FROM chunks_vocab"))

    with store.writing(), store.db.transaction() as db:
        store.chunks.replace(db, [chunk("a.py", "parse_header", "def parse_header(line): return line.split()"),
                                  chunk("b.py", "ParseBody", "def ParseBody(text): return text.strip()")], set())
    counts, total = store.chunks.term_counts(sorted(fts5()))
    assert counts == fts5() and total == 2
    with store.writing(), store.db.transaction() as db:
        store.chunks.remove(db, ["a.py"])
        store.chunks.replace(db, [chunk("c.py", "split_line", "def split_line(line): return line.split()")], set())
    counts, total = store.chunks.term_counts(sorted(fts5()))
    assert {t: n for t, n in counts.items() if n} == fts5() and total == 2


def test_a_new_chunk_pickles_whole_as_the_workers_send_it() -> None:
    """NewChunk pickles as one flat tuple (its __reduce__): every field of it and of its Chunk
    comes back, so a field added to either must be added there too."""
    chunk = Chunk("pkg/net.py", "python", Kind.METHOD, "Client.retry", 3, 9, "def retry(self):\n    pass",
                  context="class Client")
    new = NewChunk(chunk, -42, ("client retry", "pkg net py", "def retry self pass"))
    back = pickle.loads(pickle.dumps(new, protocol=pickle.HIGHEST_PROTOCOL))
    assert back == new and back.chunk.kind is Kind.METHOD
    assert {f.name for f in dataclasses.fields(Chunk)} == {
        "path", "language", "kind", "symbol", "start_line", "end_line", "text", "context"}
    assert {f.name for f in dataclasses.fields(NewChunk)} == {"chunk", "key", "terms"}


def test_a_first_index_is_written_aside_and_put_in_place_whole(tmp_path: Path) -> None:
    """While a first index is written, a reader finds no index (not a half-written one) and is
    told it is being written (a build a crash left is no index: nobody holds its lock); it
    becomes the index whole, in WAL mode, its pages written once (no log beside it). A build a
    crash left is removed before the next; one ended by an error leaves nothing; once the lock
    is held, an index another process made meanwhile is not built again."""
    folder = tmp_path / "index"
    folder.mkdir()
    (folder / BUILDING_NAME).write_bytes(b"what a killed build left")
    (folder / "lock").touch()
    with pytest.raises(CodeseekError, match="run `codeseek index` first"):
        Store(folder)  # no writer holds the lock: a leftover, not a first index under way
    with Store.first(folder) as building:
        assert building is not None and not exists(folder)
        with pytest.raises(CodeseekError, match="no index in .* yet: its first index is being written"):
            Store(folder)
        with building.db.transaction() as db:
            building.db.set_meta({"indexed_commit": "abc"}, db)
        assert building.db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert exists(folder) and not (folder / BUILDING_NAME).exists()
    assert {p.name for p in folder.iterdir() if p.name.startswith("index.db")} == {DB_NAME}
    with Store(folder) as store:
        assert store.db.meta()["indexed_commit"] == "abc"
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with Store.first(folder) as again:
        assert again is None  # made meanwhile: the caller updates it instead

    failed = tmp_path / "failed"
    with pytest.raises(RuntimeError), Store.first(failed) as building:
        assert building is not None
        raise RuntimeError("the disk went away")
    assert not exists(failed) and not [p for p in failed.iterdir() if p.name.startswith("index.db")]


def test_a_first_index_follows_no_link_planted_where_it_is_built(tmp_path: Path) -> None:
    folder = tmp_path / "index"
    folder.mkdir()
    elsewhere = tmp_path / "elsewhere.db"
    elsewhere.write_bytes(b"not codeseek's")
    (folder / BUILDING_NAME).symlink_to(elsewhere)
    with pytest.raises(RefusedPath), Store.first(folder):
        pass
    assert elsewhere.read_bytes() == b"not codeseek's" and not exists(folder)


def test_a_first_index_waits_for_the_writer_or_says_it_is_busy(tmp_path: Path) -> None:
    folder = tmp_path / "index"
    with Store.first(folder) as building:
        assert building is not None
        with pytest.raises(IndexBusy), Store.first(folder, wait=False):
            pass


def test_whoever_makes_or_removes_an_index_meanwhile_waits_for_the_first_one(tmp_path: Path) -> None:
    """A new database opened while a first index is written aside (a pull into a repository
    with no index) waits for it and opens it, rather than making a file of its own that the
    first index would be renamed over; removing the index (`index --rebuild`) waits too; a
    file planted at the index's name meanwhile is never replaced; the log of an index deleted
    by hand is not read into the next one."""
    from codeseek.indexing import remove_index
    from codeseek.repo import Workspace

    folder = tmp_path / "index"
    folder.mkdir()
    (folder / f"{DB_NAME}-wal").write_bytes(b"the log of an index deleted by hand")
    opened: list[dict[str, str]] = []
    with Store.first(folder) as building:
        assert building is not None and not (folder / f"{DB_NAME}-wal").exists()
        with building.db.transaction() as db:
            building.db.set_meta({"indexed_commit": "first"}, db)

        def open_new() -> None:
            with Store(folder, create=True) as store:
                opened.append(store.db.meta())

        waiting = threading.Thread(target=open_new)
        waiting.start()
        waiting.join(0.5)
        assert waiting.is_alive() and not exists(folder)
    waiting.join(10)
    assert opened == [{"indexed_commit": "first"}]

    removing = threading.Thread(target=remove_index, args=(Workspace(tmp_path, folder),))
    with Store.first(tmp_path / "other"):
        pass  # (another folder: its own lock)
    with Store(folder) as store, store.writing():
        removing.start()
        removing.join(0.5)
        assert removing.is_alive() and exists(folder)
    removing.join(10)
    assert not exists(folder)

    with pytest.raises(IndexBusy), Store.first(folder) as building:
        (folder / DB_NAME).write_bytes(b"not codeseek's")
    assert (folder / DB_NAME).read_bytes() == b"not codeseek's" and not (folder / BUILDING_NAME).exists()
