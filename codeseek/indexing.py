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
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from . import changes
from .embedding import EngineChoice, ModelInfo
from .errors import CodeseekError
from .index import DB_NAME, SEGMENT_DIR, UNEMBEDDED, FileEntry, Store, exists, vector_key
from .parsing import Chunk, chunk_file
from .protocol import Source
from .repo import Workspace, list_files
from .skipping import SkipRules

PARALLEL_MIN_FILES = 64
BATCH_BYTES = 64 << 20  # files read and chunked at a time: memory stays bounded


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


class Chunker:
    """Chunks files in worker processes (tree-sitter holds the GIL), in input order."""

    def __init__(self, rules: SkipRules, workers: int | None = None) -> None:
        self.work = functools.partial(chunk_one, rules=rules)
        self.workers = workers or os.cpu_count() or 1
        self._pool: ProcessPoolExecutor | None = None

    def __call__(self, items: list[tuple[str, bytes]]) -> list[tuple[str | None, list[Chunk]]]:
        if len(items) < PARALLEL_MIN_FILES or self.workers == 1:
            return [self.work(item) for item in items]
        if self._pool is None:
            # forkserver: forking a process that has loaded torch can deadlock its thread pools.
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("forkserver"))
        return list(self._pool.map(self.work, items, chunksize=max(1, len(items) // (self.workers * 8))))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()


def chunk_many(items: list[tuple[str, bytes]], rules: SkipRules | None = None,
               workers: int | None = None) -> list[tuple[str | None, list[Chunk]]]:
    chunker = Chunker(rules or SkipRules(), workers)
    try:
        return chunker(items)
    finally:
        chunker.close()


def remove_index(ws: Workspace) -> None:
    """Delete the index's data (the lock file stays: another process may hold it)."""
    for name in (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm"):
        (ws.index_dir / name).unlink(missing_ok=True)
    shutil.rmtree(ws.index_dir / SEGMENT_DIR, ignore_errors=True)


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
    stored = store.chunks.file_blobs()
    change = changes.detect(
        ws,
        stored,
        indexed_commit=meta.get("indexed_commit") if scope == old_scope else None,
        previously_dirty=set(json.loads(meta.get("dirty", "[]"))),
        source=source,
        scope=scope,
    )
    change.deleted |= {p for p in stored if not changes.in_scope(p, scope)}
    result.skipped.extend((path, "the file name is not valid UTF-8") for path in sorted(change.unnamed))
    lap("walk")
    result.indexed_commit = change.head
    result.model = info.describe()
    result.files_deleted = len(change.deleted)
    dirty = json.dumps(sorted(change.dirty))
    if not change.files and not change.deleted and (
            meta.get("indexed_commit"), meta.get("dirty", "[]"), meta.get("scope", "")) == (change.head, dirty, scope):
        return result  # nothing to write: the common case for a search's freshness check
    missing = 0
    chunker = Chunker(rules)
    try:
        with store.db.transaction() as db:
            store.chunks.remove(db, change.deleted)
            for entries in _entries(ws, change, chunker, info, result):
                lap("parse")
                keys = {key for e in entries for _, key in e.chunks}
                absent = store.vectors.missing(keys)
                missing += len(absent)
                result.reused += len(keys) - len(absent)
                store.chunks.replace(db, entries)
                lap("store")
            store.db.set_meta({
                "indexed_commit": result.indexed_commit,
                "dirty": dirty,
                "scope": scope,
                "model": info.model,
                "dim": str(info.dim),
                "engine": meta.get("engine", info.engine),
                "engine_version": meta.get("engine_version", info.engine_version),
                "updated_at": str(time.time()),
                # Cleared once every stored chunk has its vector; until then searches say so.
                UNEMBEDDED: "1" if missing or meta.get(UNEMBEDDED) else None,
            }, db)
    finally:
        chunker.close()
    lap("store")
    return result


def _entries(ws: Workspace, change: changes.Change, chunker: Chunker, info: ModelInfo,
             result: UpdateResult) -> Iterator[list[FileEntry]]:
    """The changed files' new state, a batch at a time (at most BATCH_BYTES read at once)."""
    batch: list[tuple[str, bytes]] = []
    size = 0
    for item in changes.read(ws, change, sorted(change.files)):
        batch.append(item)
        size += len(item[1])
        if size >= BATCH_BYTES:
            yield _entries_of(batch, change, chunker, info, result)
            batch, size = [], 0
    if batch:
        yield _entries_of(batch, change, chunker, info, result)


def _entries_of(items: list[tuple[str, bytes]], change: changes.Change, chunker: Chunker, info: ModelInfo,
                result: UpdateResult) -> list[FileEntry]:
    entries: list[FileEntry] = []
    for (path, _), (reason, chunks) in zip(items, chunker(items), strict=True):
        blob = change.files[path]
        if reason:
            result.skipped.append((path, reason))
            entries.append(FileEntry(path, blob, None, skipped=reason))
            continue
        keyed = [(chunk, vector_key(chunk.embedding_text(), info)) for chunk in chunks]
        entries.append(FileEntry(path, blob, chunks[0].language if chunks else None, keyed))
        result.chunks += len(keyed)
    result.files_changed += len(entries)
    return entries
