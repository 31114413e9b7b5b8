"""What the background does to a space's final segments (segments of `Space.full` vectors or
more, which compaction never merges): gives a flat one its USearch graph, and sweeps one that
the chunks have mostly left behind.

Both are prepared without the writer lock (a graph built in memory: seconds for tens of
thousands of vectors; a sweep's used vectors read), then their file is written and swapped in
under it, in one transaction (a file written before the lock is taken would be removed as an
orphan when it is): a search sees the old segment or the new one, and a reader
that holds the old file open keeps reading it (its mapping outlives the unlink) until it
lists the segments again (segments.Vectors.search and get read again when a segment they
listed is gone).

Why a sweep: a final segment is never rewritten by a merge, so the vectors of chunks that
changed since it was written would stay in it for good, the tier would grow with every
change in a repository that changes a lot, and its nearest neighbours would include keys no
chunk has. A sweep keeps only the keys some chunk has, not the two weeks a merge keeps: a
static vector is computed again with its chunk's words whenever its file is indexed (the
chunking workers compute one for every chunk of a changed file, indexing.py), so a vector
kept for a branch switched back to would save no work.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .database import guarded
from .segment_files import Flat, Index, graph_of, is_flat, write_graph, write_segment
from .segments import MERGE_BATCH, Vectors, list_segment

# A final segment is swept once at least this share of its vectors is used by no chunk. At a
# half, a sweep writes no more vectors than it drops, so the work of sweeping stays within
# the work of the changes that left those vectors behind (as a merge rewrites the base only
# once the small segments reach half its size), and the background keeps a final segment
# under twice the vectors its chunks use. Lower, a segment would be rewritten for a few
# changes; higher, the unused would outnumber the used in every search of it.
SWEEP_AT = 0.5


def graphs_wanted(space: Vectors) -> list[str]:
    """The flat segments worth a graph: the full ones (a search over the others is cheap)."""
    rows = space.db.execute(f"SELECT name, count FROM {space.space.segments} ORDER BY count DESC")
    return [name for name, count in rows if is_flat(name) and count >= space.space.full]


def build_graph(space: Vectors, name: str) -> Index:
    """A graph of a flat segment's vectors, built in memory: seconds for tens of thousands of
    vectors, so not under the writer lock (USearch lets go of the GIL meanwhile)."""
    flat = space.opened(name)
    assert isinstance(flat, Flat)
    step = MERGE_BATCH // 8  # float32 copies of a few MB at a time, not of the whole segment
    return graph_of((flat.keys[i : i + step], np.asarray(flat.rows[i : i + step], dtype=np.float32))
                    for i in range(0, len(flat), step))


@guarded
def put_graph(space: Vectors, name: str, graph: Index) -> bool:
    """A flat segment replaced by its graph in one transaction: a search sees one or the
    other, with the same vectors. False where a writer merged or dropped it meanwhile. Call
    under the writer lock."""
    if not _listed(space, name):
        return False
    written, fingerprint = write_graph(space.folder, graph)
    with space.db.transaction() as db:
        db.execute(f"DELETE FROM {space.space.segments} WHERE name = ?", (name,))
        list_segment(db, space.space.segments, written, len(graph), fingerprint)
        db.execute(f"UPDATE {space.space.vectors} SET segment = ? WHERE segment = ?", (written, name))
    space.forget([name])
    return True


@dataclass(frozen=True)
class Swept:
    """The vectors of a final segment that its chunks still use, read for its rewrite."""

    old: str
    keys: list[int]
    vectors: np.ndarray  # float16 rows, in the order of `keys`


def finals(space: Vectors) -> list[str]:
    """The space's final segments, of either kind."""
    rows = space.db.execute(f"SELECT name, count FROM {space.space.segments}")
    return [name for name, count in rows if count >= space.space.full]


@guarded
def sweeps_wanted(space: Vectors) -> list[str]:
    """The final segments at least SWEEP_AT of whose vectors no chunk uses. One pass over the
    space's keys (0.6 s warm, 1.3 s cold for the kernel's 949,021), so asked only by the
    background, and only once the index changed since (filling.tending_wanted)."""
    final = set(finals(space))
    if not final:
        return []
    rows = space.db.execute(
        f"SELECT segment, count(*), sum(NOT EXISTS(SELECT 1 FROM chunks WHERE vector_key = key)) "
        f"FROM {space.space.vectors} GROUP BY segment")
    return [name for name, count, unused in rows if name in final and unused >= SWEEP_AT * count]


@guarded
def sweep(space: Vectors, name: str) -> Swept:
    """The segment's vectors that some chunk uses, read without the writer lock (as float16:
    33 MB for a first index's segment of 65,536 static vectors). SegmentDamaged: its file is
    not as written."""
    found = space.get(_used(space, name))
    keys = list(found)
    rows = np.stack([found[key] for key in keys]).astype(np.float16) if keys else np.empty((0, 0), np.float16)
    return Swept(name, keys, rows)


@guarded
def put_swept(space: Vectors, swept: Swept) -> bool:
    """The old segment replaced in one transaction by a new one of the vectors read (a flat
    file, written here), the keys no chunk uses dropped with it. False where the old one
    went meanwhile, or an update since made a chunk of a key the sweep left out (a file
    changed back): the next sweep sees it. For the static tier, whose segments are flat (a
    graph would be built here, under the lock). Call under the writer lock."""
    if not _listed(space, swept.old) or not set(swept.keys).issuperset(_used(space, swept.old)):
        return False
    written = write_segment(space.folder, [(swept.keys, swept.vectors)], space.space.flat) if swept.keys else None
    with space.db.transaction() as db:
        db.execute(f"DELETE FROM {space.space.segments} WHERE name = ?", (swept.old,))
        if written is not None:
            new, fingerprint = written
            list_segment(db, space.space.segments, new, len(swept.keys), fingerprint)
            db.executemany(f"UPDATE {space.space.vectors} SET segment = ? WHERE key = ?", ((new, key) for key in swept.keys))
        db.execute(f"DELETE FROM {space.space.vectors} WHERE segment = ?", (swept.old,))
    space.forget([swept.old])
    return True


def _listed(space: Vectors, name: str) -> bool:
    return space.db.execute(f"SELECT 1 FROM {space.space.segments} WHERE name = ?", (name,)).fetchone() is not None


def _used(space: Vectors, name: str) -> list[int]:
    """The segment's keys some chunk has."""
    return [key for (key,) in space.db.execute(
        f"SELECT key FROM {space.space.vectors} WHERE segment = ? AND EXISTS(SELECT 1 FROM chunks WHERE vector_key = key)",
        (name,))]
