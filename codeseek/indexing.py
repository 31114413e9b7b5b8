"""Bring an index's files and words up to date: changed files -> chunks -> the index.

Files are read, chunked and stored in batches inside one transaction: readers see the old
index or the new one, never a mix, and memory stays bounded however large the repository.
Vectors are filled in afterwards (filling.py): words answer at once.
"""

from __future__ import annotations

import functools
import json
import multiprocessing
import os
import shutil
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np

from . import changes
from .embedding import Embedder, EngineChoice, ModelInfo, static_tier
from .errors import CodeseekError
from .index import DB_NAME, SEGMENT_DIR, STATIC_MODEL, FileEntry, NewChunk, Store, exists
from .index.fingerprint import STATIC_DIR
from .parsing import Chunk, chunk_file
from .protocol import Source
from .repo import Workspace, list_files
from .skipping import SkipRules

PARALLEL_MIN_FILES = 64
T = TypeVar("T")
BATCH_BYTES = 64 << 20  # files read and chunked at a time: memory stays bounded
STATIC_BATCH = 65_536  # static vectors a segment: a batch of files' worth, or a backfill's step


@dataclass
class UpdateResult:
    files_changed: int = 0
    files_deleted: int = 0
    chunks: int = 0
    embedded: int = 0
    reused: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    timings: dict[str, float] = field(default_factory=dict)
    indexed_commit: str | None = None
    model: str = ""
    repaired: int = 0  # vectors of damaged segment files, dropped to be embedded again
    pending: int = 0  # chunks still without a vector

    @property
    def changed(self) -> bool:
        return bool(self.files_changed or self.files_deleted)

    def summary(self) -> str:
        parts = [
            f"{self.files_changed} files indexed",
            f"{self.files_deleted} removed",
            f"{self.chunks} chunks",
            f"{self.embedded} embedded",
            f"{self.reused} reused",
        ]
        if self.repaired:
            parts.append(f"{self.repaired} vectors of damaged files embedded again")
        if self.skipped:
            reasons = Counter(reason.split(":")[0] for _, reason in self.skipped)
            parts.append(f"{len(self.skipped)} skipped (" + ", ".join(f"{n} {r}" for r, n in reasons.most_common()) + ")")
        return ", ".join(parts) + f" in {sum(self.timings.values()):.1f}s"


def chunk_one(item: tuple[str, bytes], rules: SkipRules) -> tuple[str | None, list[Chunk]]:
    """(skip reason, chunks) for one file; never raises, so one bad file stops nothing."""
    path, data = item
    reason = rules.reason(path, data)
    if reason:
        return reason, []
    try:
        return None, chunk_file(path, data)
    except Exception as exc:  # a grammar bug or absurd nesting must not stop the run
        return f"parse error: {type(exc).__name__}: {exc}", []


@dataclass(frozen=True)
class Prepared:
    """One file made ready to store (in a worker process): its chunks, or why it is skipped."""

    path: str
    skipped: str | None
    chunks: list[NewChunk]


def prepare(items: list[tuple[str, bytes]], rules: SkipRules, info: ModelInfo) -> list[Prepared]:
    """Chunk files and compute their chunks' keys and terms: the CPU work of an update, done in
    worker processes so that the main process only writes."""
    out = []
    for item in items:
        reason, chunks = chunk_one(item, rules)
        out.append(Prepared(item[0], reason, [NewChunk.of(chunk, info) for chunk in chunks]))
    return out


def chunk_each(items: list[tuple[str, bytes]], rules: SkipRules) -> list[tuple[str | None, list[Chunk]]]:
    return [chunk_one(item, rules) for item in items]


class Chunker(Generic[T]):
    """Runs a function over batches of files in worker processes (tree-sitter holds the GIL),
    so that reading and writing one batch overlaps the work on the next."""

    def __init__(self, work: Callable[[list[tuple[str, bytes]]], list[T]], workers: int | None = None) -> None:
        self.work = work
        self.workers = workers or os.cpu_count() or 1
        self._pool: ProcessPoolExecutor | None = None

    def submit(self, items: list[tuple[str, bytes]]) -> Callable[[], list[T]]:
        """Start preparing these files; returns how to wait for the result (in input order)."""
        if len(items) < PARALLEL_MIN_FILES or self.workers == 1:
            done = self.work(items)
            return lambda: done
        if self._pool is None:
            # forkserver: forking a process that has loaded torch can deadlock its thread pools.
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("forkserver"))
        size = max(1, len(items) // (self.workers * 8))
        futures = [self._pool.submit(self.work, items[i : i + size]) for i in range(0, len(items), size)]
        return lambda: [prepared for future in futures for prepared in future.result()]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)


def chunk_many(items: list[tuple[str, bytes]], rules: SkipRules | None = None,
               workers: int | None = None) -> list[tuple[str | None, list[Chunk]]]:
    """(skip reason, chunks) of many files, in worker processes, in input order."""
    chunker = Chunker(functools.partial(chunk_each, rules=rules or SkipRules()), workers)
    try:
        return chunker.submit(items)()
    finally:
        chunker.close()


def remove_index(ws: Workspace) -> None:
    """Delete the index's data (the lock file stays: another process may hold it)."""
    for name in (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm"):
        (ws.index_dir / name).unlink(missing_ok=True)
    shutil.rmtree(ws.index_dir / SEGMENT_DIR, ignore_errors=True)
    shutil.rmtree(ws.index_dir / STATIC_DIR, ignore_errors=True)


def update(
    ws: Workspace,
    engine: EngineChoice,
    *,
    source: Source = Source.WORKTREE,
    scope: str | None = None,
    rules: SkipRules | None = None,
    wait: bool = True,
    verify: bool = False,
) -> UpdateResult:
    """Bring the files and words of the index at ws.index_dir up to date with the working
    tree, the staged content or HEAD, in one transaction. No vectors are embedded here.

    With wait=False, IndexBusy is raised at once if another process is updating. Vector
    files that changed since they were written are dropped (their vectors are embedded
    again); verify=True reads every file to find them, otherwise only files whose size or
    time changed are read.
    """
    if not exists(ws.index_dir) and not list_files(ws):
        raise CodeseekError(f"no files to index in {ws.root}")
    with Store(ws.index_dir, create=True) as store:
        with store.writing(wait):
            repaired = store.repair(full=verify)
            result = _refresh(ws, store, engine, source, scope, rules or SkipRules())
            result.repaired = repaired
        result.pending = store.chunks.unembedded_count()
        return result


def _refresh(ws: Workspace, store: Store, engine: EngineChoice, source: Source, scope: str | None,
             rules: SkipRules) -> UpdateResult:
    """Changed files -> chunks -> the index's file state and words (no vectors). Call under
    `writing()`."""
    result = UpdateResult()
    clock = time.perf_counter()

    def lap(phase: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        result.timings[phase] = result.timings.get(phase, 0.0) + now - clock
        clock = now

    meta = store.db.meta()
    info = store.db.model_info()
    if info is not None:
        engine.check_compatible(info)
    else:
        info = engine.identity()
    old_scope = meta.get("scope", "")
    scope = old_scope if scope is None else scope
    change = changes.detect(
        ws,
        store.chunks,
        indexed_commit=meta.get("indexed_commit") if scope == old_scope else None,
        previously_dirty=set(json.loads(meta.get("dirty", "[]"))),
        source=source,
        scope=scope,
    )
    if scope and scope != old_scope:  # a narrower scope: what lies outside it goes
        change.deleted |= {p for p in store.chunks.file_blobs() if not changes.in_scope(p, scope)}
    result.skipped.extend((path, "the file name is not valid UTF-8") for path in sorted(change.unnamed))
    lap("walk")
    result.indexed_commit = change.head
    result.model = info.describe()
    result.files_deleted = len(change.deleted)
    dirty = json.dumps(sorted(change.dirty))
    tier = static_tier(info.model)
    # The static vectors are of another static model, or some chunks may lack one: all again.
    static_stale = tier is not None and meta.get(STATIC_MODEL) != tier.info.model
    if not change.files and not change.deleted and not static_stale and (
            meta.get("indexed_commit"), meta.get("dirty", "[]"), meta.get("scope", "")) == (change.head, dirty, scope):
        return result  # nothing to write: the common case for a search's freshness check
    if static_stale:
        store.static.clear()
    chunker = Chunker(functools.partial(prepare, rules=rules, info=info))
    try:
        with store.db.transaction() as db:
            store.chunks.remove(db, change.deleted)
            for entries in _entries(ws, change, chunker, result):
                lap("parse")
                keys = {new.key for e in entries for new in e.chunks}
                absent = store.vectors.missing(keys)
                result.reused += len(keys) - len(absent)
                store.chunks.replace(db, entries, absent)
                lap("store")
                if tier is not None:
                    _add_static(store, db, tier, {new.key: new.chunk.embedding_text() for e in entries
                                                  for new in e.chunks})
                    lap("static")
            if static_stale and tier is not None:
                for texts in _lacking_static(store):
                    _add_static(store, db, tier, texts)
                lap("static")
            store.db.set_meta({
                STATIC_MODEL: tier.info.model if tier is not None else None,
                "indexed_commit": result.indexed_commit,
                "dirty": dirty,
                "scope": scope,
                "model": info.model,
                "dim": str(info.dim),
                "engine": meta.get("engine", info.engine),
                "engine_version": meta.get("engine_version", info.engine_version),
                "updated_at": str(time.time()),
            }, db)
    finally:
        chunker.close()
    lap("store")
    if tier is not None:
        store.static.compact()
        lap("static")
    return result


def _add_static(store: Store, db: object, tier: Embedder, texts: dict[int, str]) -> None:
    """Static vectors for the keys among these (key -> text) that have none, stored in the
    caller's transaction: every chunk has one as soon as its words are indexed."""
    keys = sorted(store.static.missing(texts))
    for start in range(0, len(keys), STATIC_BATCH):
        part = keys[start : start + STATIC_BATCH]
        vectors = tier.embed_documents([texts[k] for k in part])
        known = np.flatnonzero(np.abs(vectors).sum(axis=1) > 0)  # a text of unknown tokens only: none
        store.static.add_in(db, [part[i] for i in known], vectors[known])  # type: ignore[arg-type]


def _lacking_static(store: Store) -> Iterator[dict[int, str]]:
    """(key -> text) of the chunks without a static vector, a batch at a time."""
    ids = store.chunks.without_static()
    for start in range(0, len(ids), STATIC_BATCH):
        chunks = store.chunks.by_ids(ids[start : start + STATIC_BATCH])
        yield {c.vector_key: c.embedding_text() for c in chunks.values()}


def _entries(ws: Workspace, change: changes.Change, chunker: Chunker[Prepared],
             result: UpdateResult) -> Iterator[list[FileEntry]]:
    """The changed files' new state, a batch at a time (at most BATCH_BYTES read at once),
    the next batch being prepared while the caller writes this one."""
    waiting: deque[Callable[[], list[Prepared]]] = deque()
    batch: list[tuple[str, bytes]] = []
    size = 0
    for item in changes.read(ws, change, sorted(change.files)):
        batch.append(item)
        size += len(item[1])
        if size >= BATCH_BYTES:
            waiting.append(chunker.submit(batch))
            batch, size = [], 0
            if len(waiting) > 1:
                yield _entries_of(waiting.popleft()(), change, result)
    if batch:
        waiting.append(chunker.submit(batch))
    while waiting:
        yield _entries_of(waiting.popleft()(), change, result)


def _entries_of(prepared: list[Prepared], change: changes.Change, result: UpdateResult) -> list[FileEntry]:
    entries: list[FileEntry] = []
    for p in prepared:
        blob = change.files[p.path]
        if p.skipped:
            result.skipped.append((p.path, p.skipped))
            entries.append(FileEntry(p.path, blob, None, skipped=p.skipped))
            continue
        entries.append(FileEntry(p.path, blob, p.chunks[0].chunk.language if p.chunks else None, p.chunks))
        result.chunks += len(p.chunks)
    result.files_changed += len(entries)
    return entries
