"""Vectors in segment files (USearch graphs, or flat files for the static tier), listed in SQLite.

Vectors are content-addressed: a vector's key is a hash of the exact text embedded (and the
model), so identical code anywhere, on any branch, shares one vector and is embedded once.

USearch rewrites a whole file on save, so vectors live in segments: each checkpoint writes
one small new segment, and segments are merged now and then (segment_files.py: the two
kinds). A segment file is written (temp file, then rename) before the transaction that lists
it, so a crash leaves either the old index or the new one; unlisted files are orphans,
removed by the next writer. Each segment's size, time and digest are recorded, and a file
that differs is never read (a damaged file could make USearch read out of bounds or
allocate without limit).
"""

from __future__ import annotations

import sqlite3
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from ..errors import SegmentDamaged
from ..fsutil import remove_own
from .database import Database, guarded
from .fingerprint import SEGMENT_DIR, STATIC_DIR, Fingerprint
from .segment_files import (
    Segment,
    is_ours,
    is_segment_name,
    open_segment,
    write_segment,
)

MAX_SEGMENTS = 8  # segments short of full a space keeps before merging them
# A merged segment holds at most this many vectors: merging stays bounded in memory (about 2 KB
# a vector at 1024 dimensions), and a full segment is never rewritten again.
MAX_SEGMENT_VECTORS = 1 << 20
# A flat segment this full is final too, and gets its graph behind the first answer: an exact
# search of it costs about a millisecond, a graph's a tenth of that.
FULL_FLAT = 16_384
MERGE_BATCH = 65_536  # vectors read at a time while merging
# Vectors no chunk refers to are kept this long, so switching back to a branch re-embeds nothing.
GC_AFTER_SECONDS = 14 * 24 * 3600
T = TypeVar("T")


@dataclass(frozen=True)
class Written:
    """A segment file written and not yet listed (`Vectors.write`, `Vectors.list_in`)."""

    keys: list[int]
    name: str
    fingerprint: Fingerprint


@dataclass(frozen=True)
class Space:
    """Where one vector space lives: its two tables and its folder of segment files. The
    transformer's vectors are the index's main space (chunks without one are counted); the
    static tier's are a second space under the same keys (`embedding.static_tier`)."""

    vectors: str
    segments: str
    folder: str
    counted: bool  # whether adding or dropping its vectors changes the count of chunks without one
    flat: bool = False  # new segments are flat files, not graphs (segment_files.py)
    full: int = MAX_SEGMENT_VECTORS  # a segment this large is final: never merged again


MAIN = Space("vectors", "segments", SEGMENT_DIR, counted=True)
# The static tier's: written with a first index's words, before its first answer.
STATIC = Space("static_vectors", "static_segments", STATIC_DIR, counted=False, flat=True, full=FULL_FLAT)


class Vectors:
    """The vectors of one space of the index: add, search, fetch, verify, merge."""

    def __init__(self, db: Database, space: Space = MAIN) -> None:
        self.db = db
        self.space = space
        self.folder = db.directory / space.folder
        self._open: dict[str, Segment] = {}

    def close(self) -> None:
        self._open.clear()

    @guarded
    def names(self) -> list[str]:
        return [r[0] for r in self.db.execute(f"SELECT name FROM {self.space.segments} ORDER BY count DESC")]

    @guarded
    def count(self) -> int:
        return self.db.execute(f"SELECT coalesce(sum(count), 0) FROM {self.space.segments}").fetchone()[0]

    @guarded
    def keys(self) -> list[int]:
        """Every stored vector's key."""
        return [key for (key,) in self.db.execute(f"SELECT key FROM {self.space.vectors}")]

    @guarded
    def missing(self, keys: Iterable[int]) -> set[int]:
        wanted = set(keys)
        return wanted - {key for (key,) in self.db.rows_in(f"SELECT key FROM {self.space.vectors} WHERE key IN ({{marks}})", wanted)}

    @guarded
    def add(self, keys: Sequence[int], vectors: np.ndarray) -> None:
        """Persist new vectors as one segment, committed at once (a resumable checkpoint).
        Call under the writer lock."""
        if not len(keys):
            return
        written = self.write(keys, vectors)
        with self.db.transaction() as db:
            self.list_in(db, written)

    def write(self, keys: Sequence[int], vectors: np.ndarray) -> Written:
        """New vectors written as one segment file, not yet listed: `list_in` lists it in the
        caller's transaction (an update stores a batch's static vectors with its words), and
        the file may be written on a thread of its own meanwhile. Call under the writer lock."""
        return Written(list(keys), *write_segment(self.folder, [(list(keys), vectors)], self.space.flat))

    @guarded
    def list_in(self, db: sqlite3.Connection, written: Written) -> None:
        """A segment `write` made, listed by the caller's transaction: the index's from its commit."""
        self._list(db, written.keys, written.name, written.fingerprint)

    def _list(self, db: sqlite3.Connection, keys: Sequence[int], name: str, fingerprint: Fingerprint) -> None:
        new = self.missing(keys) if self.space.counted else set()
        list_segment(db, self.space.segments, name, len(keys), fingerprint)
        db.executemany(f"INSERT OR IGNORE INTO {self.space.vectors}(key, segment, seen) VALUES (?, ?, ?)",
                       ((k, name, time.time()) for k in keys))
        if self.space.counted:
            self.db.add_unembedded(-self._users(new), db)

    @guarded
    def clear(self) -> None:
        """Forget every vector (of the static tier, whose model changed). Under the writer lock."""
        names = self.names()
        with self.db.transaction() as db:
            db.execute(f"DELETE FROM {self.space.vectors}")
            db.execute(f"DELETE FROM {self.space.segments}")
        self.forget(names)

    def damage(self, name: str, full: bool) -> str | None:
        return damage(self.db, self.folder, name, full, self.space.segments)

    def opened(self, name: str) -> Segment:
        """A segment, opened once its file is verified."""
        segment = self._open.get(name)
        if segment is None:
            count = self.db.execute(f"SELECT count FROM {self.space.segments} WHERE name = ?", (name,)).fetchone()
            problem = self.damage(name, full=True)
            if problem is None:
                try:
                    segment = open_segment(self.folder / name)
                except Exception as exc:  # usearch raises bare RuntimeError/ValueError on bad files
                    problem = str(exc) or "not a segment file"
                if segment is not None and count is not None and len(segment) != count[0]:
                    problem = f"{len(segment)} vectors, not the {count[0]} written"
            if problem is not None:
                raise SegmentDamaged(self.db.directory, name, problem, count[0] if count else 0)
            self._open[name] = segment
        return segment

    @guarded
    def damaged(self, full: bool) -> list[str]:
        """Segments whose files are not as written (`full`: read every file; else only files
        whose size or time changed, which is cheap enough for every update)."""
        return [name for name in self.names() if self.damage(name, full)]

    @guarded
    def verify(self) -> None:
        """Read every segment file (`status --check`)."""
        for name in self.names():
            self.opened(name)

    def _users(self, keys: Iterable[int]) -> int:
        """How many chunks have one of these vector keys."""
        return sum(n for (n,) in self.db.rows_in("SELECT count(*) FROM chunks WHERE vector_key IN ({marks})", keys))

    @guarded
    def drop(self, names: Sequence[str]) -> int:
        """Forget damaged segments: their vectors count as missing, and are embedded again.
        Call under the writer lock. Returns how many vectors were dropped."""
        if not names:
            return 0
        marks = ",".join("?" * len(names))
        with self.db.transaction() as db:
            keys = [k for (k,) in db.execute(f"SELECT key FROM {self.space.vectors} WHERE segment IN ({marks})", list(names))]
            db.execute(f"DELETE FROM {self.space.vectors} WHERE segment IN ({marks})", list(names))
            db.execute(f"DELETE FROM {self.space.segments} WHERE name IN ({marks})", list(names))
            if self.space.counted:
                self.db.add_unembedded(self._users(keys), db)
        self.forget(names)
        return len(keys)

    def forget(self, names: Iterable[str]) -> None:
        gone = set(names)
        for name in gone:
            self._open.pop(name, None)
        remove_own(self.folder, {name for name in gone if is_segment_name(name)})

    def remove_orphans(self) -> None:
        """Segment files no transaction listed (a writer died between write and commit): only
        regular files named as codeseek names them, in the vectors folder itself."""
        if not self.folder.is_dir():
            return
        listed = set(self.names())
        remove_own(self.folder, lambda name: is_ours(name) and name not in listed)

    @guarded
    def search(self, query: np.ndarray, count: int) -> list[tuple[int, float]]:
        """Nearest stored vectors to one query over every segment: (key, cosine similarity)."""
        def read() -> list[tuple[int, float]]:
            names = self.names()
            for stale in set(self._open) - set(names):
                del self._open[stale]
            return self._search(names, np.asarray(query, dtype=np.float32), count)

        return _reread(self, read)

    def _search(self, names: list[str], query: np.ndarray, count: int) -> list[tuple[int, float]]:
        hits: list[tuple[int, float]] = []
        for name in names:
            hits.extend(self.opened(name).nearest(query, count))
        hits.sort(key=lambda kv: -kv[1])
        return hits

    @guarded
    def get(self, keys: Sequence[int]) -> dict[int, np.ndarray]:
        """Stored vectors by key (float32), for exact scoring and for merging segments."""
        def read() -> dict[int, np.ndarray]:
            by_segment: dict[str, list[int]] = {}
            for key, segment in self.db.rows_in(f"SELECT key, segment FROM {self.space.vectors} WHERE key IN ({{marks}})",
                                                keys):
                by_segment.setdefault(segment, []).append(key)
            out: dict[int, np.ndarray] = {}
            for segment, seg_keys in by_segment.items():
                got = self.opened(segment).vectors(seg_keys)
                out.update((key, vec) for key, vec in zip(seg_keys, got, strict=True) if vec is not None)
            return out

        return _reread(self, read)

    @guarded
    def compact(self, force: bool = False, now: float | None = None) -> bool:
        """Merge segments once there are too many; drop vectors unused for GC_AFTER_SECONDS.
        Call under the writer lock."""
        names = _to_merge(self.db.execute(f"SELECT name, count FROM {self.space.segments} ORDER BY count DESC").fetchall(),
                          force, self.space.full)
        if not names:
            return False
        marks = ",".join("?" * len(names))
        cutoff = (now or time.time()) - GC_AFTER_SECONDS
        keep, drop = [], []
        for key, seen, used in self.db.execute(
            f"SELECT key, seen, EXISTS(SELECT 1 FROM chunks WHERE vector_key = key) FROM {self.space.vectors} "
            f"WHERE segment IN ({marks})",
            names,
        ):
            (keep if used or seen >= cutoff else drop).append(key)
        full = self.space.full
        pieces = (_merge(self, keep[i : i + full]) for i in range(0, len(keep), full))
        written = [piece for piece in pieces if piece is not None]
        with self.db.transaction() as db:
            db.execute(f"DELETE FROM {self.space.segments} WHERE name IN ({marks})", names)
            db.executemany(f"DELETE FROM {self.space.vectors} WHERE key = ?", ((k,) for k in drop))
            for name, fingerprint, keys in written:
                list_segment(db, self.space.segments, name, len(keys), fingerprint)
                db.executemany(f"UPDATE {self.space.vectors} SET segment = ? WHERE key = ?", ((name, k) for k in keys))
        self.forget(names)
        return True


def _reread(space: Vectors, read: Callable[[], T]) -> T:
    """What `read` returns, read again where a writer replaced a segment between the listing
    and the opening (merged, swept, or given its graph: finals.py); a segment still listed is
    damaged, and says so."""
    retries = 2
    while True:
        try:
            return read()
        except SegmentDamaged as exc:
            retries -= 1
            if retries < 0 or exc.name in space.names():
                raise


def _merge(space: Vectors, keys: list[int]) -> tuple[str, Fingerprint, list[int]] | None:
    """One new segment of these stored vectors, read a batch at a time (None: none is left)."""
    kept: list[int] = []

    def batches() -> Iterator[tuple[list[int], np.ndarray]]:
        for start in range(0, len(keys), MERGE_BATCH):
            found = space.get(keys[start : start + MERGE_BATCH])
            if found:
                kept.extend(found)
                yield list(found), np.stack(list(found.values()))

    try:
        name, fingerprint = write_segment(space.folder, batches(), space.space.flat)
    except ValueError:
        return None
    return name, fingerprint, kept


def _to_merge(rows: list[tuple[str, int]], force: bool, full: int) -> list[str]:
    """The segments (name, count; largest first) a compaction merges, if any. Small segments
    merge among themselves once there are more than MAX_SEGMENTS; the largest (the base) is
    rewritten only when the small ones together reach half its size, so the cost per update
    stays proportional to what changed. Full segments are final, and not counted: a first
    index's batches are never merged before it answers."""
    rows = [(n, c) for n, c in rows if c < full]
    if len(rows) <= 1 or (len(rows) <= MAX_SEGMENTS and not force):
        return []
    small = rows[1:]
    merge = rows if force or sum(c for _, c in small) * 2 >= rows[0][1] else small
    return [n for n, _ in merge]


def list_segment(db: sqlite3.Connection, table: str, name: str, count: int, fingerprint: Fingerprint) -> None:
    db.execute(f"INSERT INTO {table}(name, count, bytes, mtime_ns, digest) VALUES (?, ?, ?, ?, ?)",
               (name, count, fingerprint.bytes, fingerprint.mtime_ns, fingerprint.digest))


def damage(db: Database, folder: Path, name: str, full: bool, table: str = MAIN.segments) -> str | None:
    """Why a segment file is not the one that was written, or None. Without `full`, a file
    whose size and time are as recorded is trusted without reading it."""
    row = db.execute(f"SELECT bytes, mtime_ns, digest FROM {table} WHERE name = ?", (name,)).fetchone()
    path = folder / name
    if row is None or row[2] is None:
        return "not recorded"
    if not is_segment_name(name):
        return "not a name codeseek gives a vector file"
    try:
        info = path.lstat()
    except FileNotFoundError:
        return "missing"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file"
    if info.st_size != row[0]:
        return f"{info.st_size:,} bytes, not the {row[0]:,} written"
    if not full and info.st_mtime_ns == row[1]:
        return None
    return None if Fingerprint.of(path).digest == row[2] else "its contents changed since it was written"
