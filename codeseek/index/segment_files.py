"""The two kinds of segment file: a USearch graph, and a flat file of float16 rows searched
exactly. What is written, read and searched here; segments.py lists them in SQLite.

A flat file is what a first index writes for the static tier: it costs one write of its
rows, where a graph costs a build (a first search on a 20,000-chunk repository spent a
quarter of its time building one; the kernel's 15 batch graphs, then their merge into one
of 954k vectors, took most of its 861 s). An exact search over float16 rows takes about
1 ms a 20,000 vectors on two cores, so a search never waits for a graph: large flat
segments get theirs later, behind the answer (finals.py).

A file is handed to USearch or mapped only after its size and digest are checked against
those recorded when it was written (segments.damage).
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from ..native import share_cxx_runtime

share_cxx_runtime()  # before usearch loads: see native.py
from usearch.index import Index, MetricKind  # noqa: E402
from usearch.index import search as exact_search  # noqa: E402

from ..errors import DiskFull  # noqa: E402
from .fingerprint import Fingerprint  # noqa: E402

GRAPH, FLAT = ".usearch", ".flat"
# The only names codeseek writes in a vectors folder (a segment of either kind, and one being
# written): the only ones it ever removes, and the only ones a database may list (one naming
# "../x" is damage).
SEGMENT_NAME = re.compile(r"seg-[0-9a-f]{32}\.(usearch|flat)")
TEMP_NAME = re.compile(r"seg-[0-9a-f]{32}\.tmp")
MAGIC = b"csflat1\0"  # a flat file: this, its row count and width (little-endian uint64), keys, rows
HEADER = len(MAGIC) + 16
NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)  # a full disk, a quota, a file size limit


def is_segment_name(name: str) -> bool:
    return SEGMENT_NAME.fullmatch(name) is not None


def is_ours(name: str) -> bool:
    """A file name codeseek writes in the vectors folder."""
    return SEGMENT_NAME.fullmatch(name) is not None or TEMP_NAME.fullmatch(name) is not None


def is_flat(name: str) -> bool:
    return name.endswith(FLAT)


def as_usearch(keys: Iterable[int]) -> np.ndarray:
    return np.fromiter(keys, dtype=np.int64).view(np.uint64)


class Segment(Protocol):
    """One segment file opened for reading, of either kind."""

    def __len__(self) -> int: ...

    def nearest(self, query: np.ndarray, count: int) -> list[tuple[int, float]]:
        """(key, cosine similarity) of up to `count` nearest vectors to a float32 query."""

    def vectors(self, keys: Sequence[int]) -> list[np.ndarray | None]:
        """Each key's stored vector (float32), None for a key it does not hold."""


class Graph:
    """A USearch HNSW graph, memory-mapped: approximate search, in time that barely grows."""

    def __init__(self, index: Index) -> None:
        self.index = index

    def __len__(self) -> int:
        return len(self.index)

    def nearest(self, query: np.ndarray, count: int) -> list[tuple[int, float]]:
        found = self.index.search(query, count)
        keys = np.asarray(found.keys).view(np.int64)
        return list(zip(keys.tolist(), (1.0 - np.asarray(found.distances)).tolist(), strict=True))

    def vectors(self, keys: Sequence[int]) -> list[np.ndarray | None]:
        return [None if v is None else np.asarray(v, dtype=np.float32) for v in self.index.get(as_usearch(keys))]


class Flat:
    """Keys (sorted) and their float16 rows, memory-mapped: exact search, no graph to build."""

    def __init__(self, keys: np.ndarray, rows: np.ndarray) -> None:
        self.keys = keys
        self.rows = rows

    @classmethod
    def open(cls, path: Path) -> Flat:
        """The file's keys and rows; ValueError if it is not a whole flat file."""
        with open(path, "rb") as f:
            header = f.read(HEADER)
        if len(header) != HEADER or not header.startswith(MAGIC):
            raise ValueError("not a flat segment file")
        count, dim = (int(n) for n in np.frombuffer(header, dtype="<u8", offset=len(MAGIC)))
        if not count or not 0 < dim <= 1 << 16 or path.stat().st_size != HEADER + count * (8 + 2 * dim):
            raise ValueError("a flat segment file of the wrong size")
        keys = np.memmap(path, dtype="<i8", mode="r", offset=HEADER, shape=(count,))
        rows = np.memmap(path, dtype="<f2", mode="r", offset=HEADER + 8 * count, shape=(count, dim))
        return cls(keys, rows)

    def __len__(self) -> int:
        return len(self.keys)

    def nearest(self, query: np.ndarray, count: int) -> list[tuple[int, float]]:
        count = min(count, len(self.keys))
        if count == 0:
            return []
        found = exact_search(self.rows, query.astype(np.float16), count, MetricKind.Cos, exact=True)
        rows = np.asarray(found.keys, dtype=np.int64)
        return list(zip(self.keys[rows].tolist(), (1.0 - np.asarray(found.distances)).tolist(), strict=True))

    def vectors(self, keys: Sequence[int]) -> list[np.ndarray | None]:
        wanted = np.asarray(keys, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.keys, wanted), len(self.keys) - 1)
        held = self.keys[at] == wanted
        return [self.rows[i].astype(np.float32) if ok else None for i, ok in zip(at.tolist(), held.tolist(), strict=True)]


def open_segment(path: Path) -> Segment:
    """A verified segment file, opened as its kind."""
    if is_flat(path.name):
        return Flat.open(path)
    index = Index.restore(str(path), view=True)
    if index is None:
        raise ValueError("not a USearch index")
    return Graph(index)


def graph_of(batches: Iterable[tuple[Sequence[int], np.ndarray]]) -> Index:
    """A USearch HNSW graph of these vectors, in memory (ValueError: there are none)."""
    index: Index | None = None
    for keys, vectors in batches:
        index = index or Index(ndim=vectors.shape[1], metric="cos", dtype="f16")
        index.add(as_usearch(keys), np.ascontiguousarray(vectors, dtype=np.float32))
    if index is None:
        raise ValueError("a segment needs vectors")
    return index


def write_segment(folder: Path, batches: Iterable[tuple[Sequence[int], np.ndarray]],
                  flat: bool = False) -> tuple[str, Fingerprint]:
    """A new segment file holding these batches of vectors (temp file, synced, renamed): its
    name and fingerprint, to be listed by the caller's transaction. `flat`: a flat file, no
    graph (ValueError: there are no vectors)."""
    if flat:
        parts = list(batches)
        if not parts:
            raise ValueError("a segment needs vectors")
        keys = np.concatenate([np.asarray(k, dtype=np.int64) for k, _ in parts])
        rows = np.concatenate([np.asarray(v, dtype=np.float16) for _, v in parts])
        return write_file(folder, FLAT, lambda temp: _save_flat(temp, keys, rows), HEADER + rows.nbytes + keys.nbytes)
    index = graph_of(batches)
    return write_graph(folder, index)


def write_graph(folder: Path, index: Index) -> tuple[str, Fingerprint]:
    """A built graph saved as a new segment file (see write_segment)."""
    return write_file(folder, GRAPH, lambda temp: index.save(str(temp)), index.serialized_length)


def write_file(folder: Path, suffix: str, save: Callable[[Path], None], size: int) -> tuple[str, Fingerprint]:
    """A new segment file written by `save(temp path)`, synced and renamed into place."""
    folder.mkdir(exist_ok=True)  # the static tier's folder is made on first use
    name = f"seg-{uuid.uuid4().hex}{suffix}"
    final = folder / name
    temp = final.with_suffix(".tmp")
    try:
        save(temp)
        with open(temp, "rb") as f:
            os.fsync(f.fileno())
    except (RuntimeError, OSError) as exc:  # USearch says only "Failed to serialize into stream"
        temp.unlink(missing_ok=True)
        if (isinstance(exc, OSError) and exc.errno in NO_ROOM) or no_room(folder, size):
            raise DiskFull(folder.parent) from None
        raise
    os.replace(temp, final)
    return name, Fingerprint.of(final)


def _save_flat(path: Path, keys: np.ndarray, rows: np.ndarray) -> None:
    order = np.argsort(keys, kind="stable")
    with open(path, "wb") as f:
        f.write(MAGIC + np.array([len(keys), rows.shape[1]], dtype="<u8").tobytes())
        f.write(keys[order].astype("<i8").tobytes())
        f.write(np.ascontiguousarray(rows[order], dtype="<f2").tobytes())


def no_room(folder: Path, size: int) -> bool:
    """Whether `size` bytes cannot be written in `folder` now: asked of the file system by
    reserving them in a scratch file, since USearch's error does not say why it failed."""
    fd = -1
    try:
        fd, scratch = tempfile.mkstemp(dir=folder, prefix="seg-", suffix=".probe")
        os.unlink(scratch)
        os.posix_fallocate(fd, 0, max(size, 1))
    except OSError as exc:
        return exc.errno in NO_ROOM
    finally:
        if fd >= 0:
            os.close(fd)
    return False
