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

from . import changes
from .embedding import EngineChoice, ModelInfo
from .errors import CodeseekError
from .parsing import Chunk, chunk_file
from .repo import Workspace, list_files
from .skipping import SkipRules
from .storage import DB_NAME, SEGMENT_DIR, UNEMBEDDED, FileEntry, Store, vector_key

EMBED_BATCH = 64
CHECKPOINT_SECONDS = 30.0  # at most this much embedding work is lost to a crash
CHECKPOINT_VECTORS = 4096
PARALLEL_MIN_FILES = 64
# Code averages 3 to 4 characters a token; 3 keeps a chunk inside the context, with room for
# the header.
CHARS_PER_TOKEN = 3
HEADER_TOKENS = 16

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


def chunk_one(item: tuple[str, bytes], rules: SkipRules, max_chars: int | None) -> tuple[str | None, list[Chunk]]:
    """(skip reason, chunks) for one file; never raises, so one bad file stops nothing."""
    path, data = item
    reason = rules.reason(path, data)
    if reason:
        return reason, []
    try:
        return None, chunk_file(path, data, max_chars)
    except Exception as exc:  # a grammar bug or absurd nesting must not stop the run
        return f"parse error: {type(exc).__name__}: {exc}", []


def chunk_many(
    items: list[tuple[str, bytes]],
    rules: SkipRules | None = None,
    max_chars: int | None = None,
    workers: int | None = None,
) -> list[tuple[str | None, list[Chunk]]]:
    """Chunk files in worker processes (tree-sitter holds the GIL), in input order."""
    work = functools.partial(chunk_one, rules=rules or SkipRules(), max_chars=max_chars)
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
) -> UpdateResult:
    """Bring the index at ws.index_dir up to date with the working tree, the staged content
    or HEAD (source: worktree, staged, committed).

    With embed=False only the file state and lexical index are brought up to date; the
    vectors follow with the next update that embeds. With wait=False, IndexBusy is raised
    at once if another process is updating. Vector files that changed since they were
    written are dropped and their vectors embedded again; verify=True reads every file to
    find them, otherwise only files whose size or time changed are read.
    """
    if not (ws.index_dir / DB_NAME).exists() and not list_files(ws):
        raise CodeseekError(f"no files to index in {ws.root}")
    store = Store(ws.index_dir, create=True)
    try:
        with store.writing(wait):
            repaired = store.drop_segments(store.damaged_segments(full=verify))
            result = _update(ws, store, engine, source, scope, rules or SkipRules(), embed, progress)
            result.repaired = repaired
            return result
    finally:
        store.close()


def _update(
    ws: Workspace,
    store: Store,
    engine: EngineChoice,
    source: str,
    scope: str | None,
    rules: SkipRules,
    embed: bool,
    progress: Progress | None,
) -> UpdateResult:
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
        # Indexes from before max_tokens was recorded: the model knows its own limit.
        max_tokens = int(meta["max_tokens"]) if "max_tokens" in meta else engine.embedder().max_tokens
    else:
        embedder = engine.embedder()
        info, max_tokens = embedder.info, embedder.max_tokens
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
    chunked = chunk_many(items, rules, (max_tokens - HEADER_TOKENS) * CHARS_PER_TOKEN)
    lap("parse")

    entries: list[FileEntry] = []
    texts: dict[int, str] = {}
    for (path, _), (reason, chunks) in zip(items, chunked, strict=True):
        blob = change.files[path][0]
        if reason:
            result.skipped.append((path, reason))
            entries.append(FileEntry(path, blob, None, skipped=reason))
            continue
        keyed = []
        for chunk in chunks:
            text = chunk.embedding_text()
            key = vector_key(text, info)
            texts.setdefault(key, text)
            keyed.append((chunk, key))
        entries.append(FileEntry(path, blob, chunks[0].language if chunks else None, keyed))
        result.chunks += len(keyed)
    missing = store.missing_keys(texts)
    result.reused = len(texts) - len(missing)
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
    if unchanged and not meta.get(UNEMBEDDED):
        return result  # nothing to write: the common case for a search's freshness check
    # The new file state first, in one transaction: lexical search is current at once, and
    # the chunks' vectors follow (an interrupted run resumes them without parsing again).
    store.apply(
        entries,
        change.deleted,
        {
            "indexed_commit": result.indexed_commit,
            "dirty": dirty,
            "scope": scope,
            "model": info.model,
            "dim": str(info.dim),
            "engine": info.engine,
            "engine_version": info.engine_version,
            "max_tokens": str(max_tokens),
            "updated_at": str(time.time()),
            # Cleared once every stored chunk has its vector; until then searches say so.
            UNEMBEDDED: "1" if missing or meta.get(UNEMBEDDED) else None,
        },
    )
    lap("store")
    if embed:
        # Only a run that stopped early (or did not embed) leaves older chunks to look for.
        pending = store.unembedded() if meta.get(UNEMBEDDED) else {k: texts[k] for k in missing}
        result.embedded = len(pending)
        if pending:
            _embed(store, engine, info, pending, progress)
        store.set_meta({UNEMBEDDED: None})
        lap("embed")
        store.compact()
        lap("store")
    return result


def _embed(store: Store, engine: EngineChoice, info: ModelInfo, texts: dict[int, str], progress: Progress | None) -> None:
    """Embed in batches, saving a checkpoint now and then; whatever was embedded is saved
    even when a batch fails or the user interrupts, so the next run does not redo it."""
    embedder = engine.embedder_for(info)
    # Similar lengths in one batch waste the least padding.
    ordered = sorted(texts, key=lambda k: len(texts[k]))
    pending_keys: list[int] = []
    pending_vecs: list[np.ndarray] = []
    last_checkpoint = time.monotonic()
    try:
        for start in range(0, len(ordered), EMBED_BATCH):
            batch = ordered[start : start + EMBED_BATCH]
            pending_vecs.append(embedder.embed_documents([texts[k] for k in batch]))
            pending_keys.extend(batch)
            if progress:
                progress("embed", start + len(batch), len(ordered))
            if len(pending_keys) >= CHECKPOINT_VECTORS or time.monotonic() - last_checkpoint >= CHECKPOINT_SECONDS:
                store.add_vectors(pending_keys, np.concatenate(pending_vecs))
                pending_keys, pending_vecs = [], []
                last_checkpoint = time.monotonic()
    finally:
        if pending_keys:
            store.add_vectors(pending_keys, np.concatenate(pending_vecs))


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
