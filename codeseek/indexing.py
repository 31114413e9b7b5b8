"""Bring an index up to date: changed files -> chunks -> vectors -> index.

Only vectors the index lacks are embedded; they are saved in checkpoints as they come, so an
interrupted run resumes without embedding anything twice. The files' new state is committed
in one transaction at the end: readers see the old index or the new one, never a mix.
"""

from __future__ import annotations

import functools
import json
import multiprocessing
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from . import changes, ranking
from .embedding import EngineChoice, ModelInfo
from .errors import CodeseekError
from .parsing import Chunk, chunk_file
from .repo import Workspace, list_files
from .skipping import SkipRules
from .storage import DB_NAME, SEGMENT_DIR, UNEMBEDDED, FileEntry, Store, StoredChunk, vector_key

CHECKPOINT_SECONDS = 30.0  # at most this much embedding work is lost to a crash
PROGRESS_NAME = "embedding.json"
# Chunks a search embeds itself before answering; more are left to a background worker.
INLINE_LIMIT = 256
CHECKPOINT_VECTORS = 4096
# Below this many chunks (seconds of work) the order they are embedded in is not worth a git log.
ORDER_AFTER = INLINE_LIMIT
PARALLEL_MIN_FILES = 64

Progress = Callable[[str, int, int], None]


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
    pending: int = 0  # chunks still without a vector when it returned

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


def chunk_many(
    items: list[tuple[str, bytes]],
    rules: SkipRules | None = None,
    workers: int | None = None,
) -> list[tuple[str | None, list[Chunk]]]:
    """Chunk files in worker processes (tree-sitter holds the GIL), in input order."""
    work = functools.partial(chunk_one, rules=rules or SkipRules())
    workers = workers or os.cpu_count() or 1
    if len(items) < PARALLEL_MIN_FILES or workers == 1:
        return [work(item) for item in items]
    # forkserver: forking a process that has loaded torch can deadlock its thread pools.
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        return list(pool.map(work, items, chunksize=max(1, len(items) // (workers * 8))))


def remove_index(ws: Workspace) -> None:
    """Delete the index's data (the lock file stays: another process may hold it)."""
    for name in (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm"):
        (ws.index_dir / name).unlink(missing_ok=True)
    shutil.rmtree(ws.index_dir / SEGMENT_DIR, ignore_errors=True)


def update(
    ws: Workspace,
    engine: EngineChoice,
    *,
    source: str = "worktree",
    scope: str | None = None,
    rules: SkipRules | None = None,
    embed: bool = True,
    wait: bool = True,
    verify: bool = False,
    progress: Progress | None = None,
    stop: Callable[[], bool] | None = None,
    leave_embedding: bool = False,
) -> UpdateResult:
    """Bring the index at ws.index_dir up to date with the working tree, the staged content
    or HEAD (source: worktree, staged, committed): first the files and their words, in one
    transaction, then (embed=True) the vectors of every chunk that lacks one.

    With wait=False, IndexBusy is raised at once if another process is updating, and the
    vectors are left to a process already filling them in. Vector files that changed since
    they were written are dropped and their vectors embedded again; verify=True reads every
    file to find them, otherwise only files whose size or time changed are read. `stop` is
    asked between checkpoints whether to leave the rest of the embedding for later; with
    leave_embedding, vectors another process is embedding are left to it (a background
    worker), where otherwise its progress is shown until it is done.
    """
    if not (ws.index_dir / DB_NAME).exists() and not list_files(ws):
        raise CodeseekError(f"no files to index in {ws.root}")
    store = Store(ws.index_dir, create=True)
    try:
        with store.writing(wait):
            repaired = store.drop_segments(store.damaged_segments(full=verify))
            result = _refresh(ws, store, engine, source, scope, rules or SkipRules())
            result.repaired = repaired
        if embed:
            began = time.perf_counter()
            result.embedded = embed_pending(ws, store, engine, progress=progress, stop=stop,
                                            wait=wait and not leave_embedding)
            result.timings["embed"] = time.perf_counter() - began
        result.pending = store.unembedded_count()
        return result
    finally:
        store.close()


def _refresh(
    ws: Workspace,
    store: Store,
    engine: EngineChoice,
    source: str,
    scope: str | None,
    rules: SkipRules,
) -> UpdateResult:
    """Changed files -> chunks -> the index's file state and words (no vectors). Call under
    `writing()`."""
    result = UpdateResult()
    clock = time.perf_counter()

    def lap(phase: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        result.timings[phase] = result.timings.get(phase, 0.0) + now - clock
        clock = now

    meta = store.meta()
    info = store.model_info()
    if info is not None:
        engine.check_compatible(info)
    else:
        info = engine.identity()
    old_scope = meta.get("scope", "")
    scope = old_scope if scope is None else scope
    stored = store.file_blobs()
    change = changes.detect(
        ws,
        stored,
        indexed_commit=meta.get("indexed_commit") if scope == old_scope else None,
        previously_dirty=set(json.loads(meta.get("dirty", "[]"))),
        source=source,
        scope=scope,
    )
    change.deleted |= {p for p in stored if not changes.in_scope(p, scope)}
    lap("walk")

    items = sorted((path, data) for path, (_, data) in change.files.items())
    chunked = chunk_many(items, rules)
    lap("parse")

    entries: list[FileEntry] = []
    keys: set[int] = set()
    for (path, _), (reason, chunks) in zip(items, chunked, strict=True):
        blob = change.files[path][0]
        if reason:
            result.skipped.append((path, reason))
            entries.append(FileEntry(path, blob, None, skipped=reason))
            continue
        keyed = [(chunk, vector_key(chunk.embedding_text(), info)) for chunk in chunks]
        keys.update(key for _, key in keyed)
        entries.append(FileEntry(path, blob, chunks[0].language if chunks else None, keyed))
        result.chunks += len(keyed)
    missing = store.missing_keys(keys)
    result.reused = len(keys) - len(missing)
    result.indexed_commit = change.head
    result.model = info.describe()
    result.files_changed = len(entries)
    result.files_deleted = len(change.deleted)
    dirty = json.dumps(sorted(change.dirty))
    unchanged = (
        not entries
        and not change.deleted
        and (meta.get("indexed_commit"), meta.get("dirty", "[]"), meta.get("scope", "")) == (change.head, dirty, scope)
    )
    if unchanged:
        return result  # nothing to write: the common case for a search's freshness check
    store.apply(
        entries,
        change.deleted,
        {
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
        },
    )
    lap("store")
    return result


def priority(chunk: StoredChunk, recent: set[str]) -> int:
    """Which chunks get their vectors first (lower first): the implementation's definitions,
    those of recently changed files earliest; then tests and examples; then module-level
    code; then text."""
    if chunk.kind == "text":
        return 4
    if chunk.kind == "module":
        return 3
    if ranking.kind_of_path(chunk.path, chunk.symbol):
        return 2
    return 0 if chunk.path in recent else 1


def embed_pending(
    ws: Workspace,
    store: Store,
    engine: EngineChoice,
    *,
    progress: Progress | None = None,
    wait: bool = True,
    stop: Callable[[], bool] | None = None,
    batch: int | None = None,
) -> int:
    """Embed every stored chunk that has no vector, most useful first, saving checkpoints as
    it goes. One process at a time: with wait=False, another's work is left to it (returns
    0); with wait=True, its progress is reported until it is done, then what is left is
    embedded here. Returns how many texts were embedded here."""
    with store.embedding() as take:
        while not take():
            if not wait:
                return 0
            report = embedding_progress(ws)
            if progress and report:
                progress("embed", int(report["done"]), int(report["total"]))
            time.sleep(1.0)
        info = store.model_info()
        if info is None:
            return 0
        done = 0
        while not (stop and stop()):
            chunks = store.unembedded()
            if chunks:
                # Order matters only to a long run; a small update skips reading git's log.
                recent = changes.recent_paths(ws) if len(chunks) > ORDER_AFTER else set()
                texts: dict[int, str] = {}
                for chunk in sorted(chunks, key=lambda c: priority(c, recent)):
                    texts.setdefault(chunk.vector_key, chunk.embedding_text())
                done += _embed(store, engine, info, texts, progress, stop, batch)
            with store.writing():
                if store.settle_unembedded():  # else an update added chunks meanwhile: go on
                    store.compact()
                    break
        (store.directory / PROGRESS_NAME).unlink(missing_ok=True)
        return done


def _embed(store: Store, engine: EngineChoice, info: ModelInfo, texts: dict[int, str], progress: Progress | None,
           stop: Callable[[], bool] | None, batch_size: int | None) -> int:
    """Embed texts in the order given, saving a checkpoint now and then (and whatever was
    embedded when a batch fails or the user interrupts, so the next run does not redo it).
    Returns how many were embedded."""
    embedder = engine.embedder_for(info)
    keys = list(texts)
    step = batch_size or embedder.batch_hint
    pending_keys: list[int] = []
    pending_vecs: list[np.ndarray] = []
    began = last_checkpoint = time.monotonic()
    done = 0
    _write_progress(store, 0, len(keys), 0.0)

    def checkpoint() -> None:
        nonlocal pending_keys, pending_vecs, last_checkpoint
        if pending_keys:
            with store.writing():
                store.add_vectors(pending_keys, np.concatenate(pending_vecs))
                # How these vectors are computed now: recorded for status, never compared.
                store.set_meta({"engine": embedder.info.engine, "engine_version": embedder.info.engine_version})
        pending_keys, pending_vecs, last_checkpoint = [], [], time.monotonic()
        _write_progress(store, done, len(keys), time.monotonic() - began)

    try:
        for start in range(0, len(keys), step):
            batch = keys[start : start + step]
            # Within a batch, similar lengths waste the least padding (the engine sorts them).
            with engine.lock:
                pending_vecs.append(embedder.embed_documents([texts[k] for k in batch]))
            pending_keys.extend(batch)
            done += len(batch)
            if progress:
                progress("embed", done, len(keys))
            if len(pending_keys) >= CHECKPOINT_VECTORS or time.monotonic() - last_checkpoint >= CHECKPOINT_SECONDS:
                checkpoint()
                if stop and stop():
                    break
    finally:
        checkpoint()
    return done


def _write_progress(store: Store, done: int, total: int, seconds: float) -> None:
    """How far the embedding is, for `status` and for a search that does not wait for it."""
    rate = done / seconds if seconds > 0 else 0.0
    report = {"pid": os.getpid(), "done": done, "total": total, "rate": round(rate, 2),
              "eta_s": round((total - done) / rate) if rate else None, "at": time.time()}
    temp = store.directory / f"{PROGRESS_NAME}.tmp"
    temp.write_text(json.dumps(report))
    os.replace(temp, store.directory / PROGRESS_NAME)


def embedding_progress(ws: Workspace) -> dict[str, object] | None:
    """The report of the process embedding now, if one is alive."""
    try:
        report = json.loads((ws.index_dir / PROGRESS_NAME).read_text())
        os.kill(int(report["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return report


def status(ws: Workspace, background: dict[str, object] | None = None, check: bool = False) -> dict[str, object]:
    """What the index holds, and which files differ from it now (read-only). background: the
    outcome of the last background update, if any. check: read the whole index first and
    raise if any of it is damaged."""
    store = Store(ws.index_dir)
    try:
        if check:
            store.check()
        meta = store.meta()
        counts = store.counts()
        change = changes.detect(
            ws,
            store.file_blobs(),
            indexed_commit=meta.get("indexed_commit"),
            previously_dirty=set(json.loads(meta.get("dirty", "[]"))),
            scope=meta.get("scope", ""),
        )
        pending = sorted(set(change.files) | change.deleted)
        updated = meta.get("updated_at")
        return {
            "root": str(ws.root),
            "index_dir": str(ws.index_dir),
            "indexed_commit": meta.get("indexed_commit"),
            "head": ws.head(),
            "scope": meta.get("scope") or None,
            **counts,
            "pending": len(pending),
            "pending_files": pending,
            "unembedded": store.unembedded_count(),
            # Progress of meaning-based ranking: chunks with their vector, of all chunks.
            "embedded": store.embedded_count(),
            "total": counts["chunks"],
            "embedding": embedding_progress(ws),  # the process filling vectors in now, if any
            "model": meta.get("model"),
            "dim": int(meta["dim"]) if "dim" in meta else None,
            "engine": f"{meta['engine']} {meta['engine_version']}" if "engine" in meta else None,
            "bytes": store.size_on_disk(),
            "updated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(float(updated))) if updated else None,
            "background": background,
            "read_only": store.readonly,
            **({"integrity": "ok"} if check else {}),
        }
    finally:
        store.close()
