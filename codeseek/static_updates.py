"""The static tier's side of an update (indexing.py): its model loaded while git finds the
changes, a batch's static vectors stored with its words (their segment file written on a
thread beside the batch's term counts), and every chunk's computed again where the tier's
model changed."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator

import numpy as np

from .embedding import static_tier
from .forking import join_fully
from .index import Store
from .index.segments import Written

STATIC_BATCH = 65_536  # static vectors a segment: a batch of files' worth, or a backfill's step


@contextlib.contextmanager
def loading(model: str) -> Iterator[None]:
    """The model's static tier loading in a thread during the block, joined before it ends: a
    pool forked after it copies one thread, and the loaded tier (`static_tier` caches it)."""
    thread = threading.Thread(target=_load_quietly, args=(model,), name="codeseek-static-tier")
    thread.start()
    try:
        yield
    finally:
        join_fully(thread)


def _load_quietly(model: str) -> None:
    with contextlib.suppress(Exception):  # the caller's own load says what is wrong, on its own thread
        static_tier(model)


def rows(store: Store, static: list[tuple[np.ndarray, np.ndarray]]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Of the static vectors given (keys and their vectors, in parts), those of keys that have
    none, a segment's worth (STATIC_BATCH) at a time. A key given twice (two chunks of one
    text) is kept once."""
    if not static:
        return []
    given = np.concatenate([keys for keys, _ in static])
    vectors = np.concatenate([part for _, part in static])
    keys, first = np.unique(given, return_index=True)
    listed = keys.tolist()
    lacking = store.static.missing(listed)
    wanted = np.fromiter((key in lacking for key in listed), dtype=bool, count=len(listed))
    # A text of unknown tokens only has no vector (zeros).
    chosen = first[wanted & vectors[first].any(axis=1)]
    return [(given[part], vectors[part]) for start in range(0, len(chosen), STATIC_BATCH)
            for part in (chosen[start : start + STATIC_BATCH],)]


def write(store: Store, chosen: list[tuple[np.ndarray, np.ndarray]]) -> list[Written]:
    """The segment files of what `rows` chose, written (not yet listed: no SQLite here, so
    this may run on a thread beside the caller's transaction)."""
    return [store.static.write(keys.tolist(), vectors) for keys, vectors in chosen]


def add(store: Store, db: sqlite3.Connection, static: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """The static vectors of keys that have none, stored in the caller's transaction: every
    chunk has one as soon as its words are indexed."""
    for written in write(store, rows(store, static)):
        store.static.list_in(db, written)


def lacking(store: Store) -> Iterator[dict[int, str]]:
    """(key -> text) of the chunks without a static vector, a batch at a time."""
    ids = store.chunks.without_static()
    for start in range(0, len(ids), STATIC_BATCH):
        chunks = store.chunks.by_ids(ids[start : start + STATIC_BATCH])
        yield {c.vector_key: c.embedding_text() for c in chunks.values()}
