"""Filling in vectors: every stored chunk without one is embedded, most useful first, and saved
in checkpoints, so an interrupted run resumes without embedding anything twice.

One process fills at a time (the index's embedding lock); it takes the writer's lock only
to save a checkpoint, so a search or a hook never waits for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from . import changes, indexing, provenance
from .embedding import EngineChoice, ModelInfo
from .errors import SegmentDamaged
from .index import Store, StoredChunk
from .index.chunks import Pending
from .index.segments import MAX_SEGMENTS, build_graph, graphs_wanted, put_graph
from .kinds import Kind, Role, role_of_path
from .progress import Reporter
from .progress import clear as clear_progress
from .progress import read as read_progress
from .repo import Workspace

CHECKPOINT_SECONDS = 30.0  # at most this much embedding work is lost to a crash
CHECKPOINT_VECTORS = 4096
# Chunks a search embeds itself before answering; more are left to a background worker.
INLINE_LIMIT = 256
# Below this many chunks (seconds of work) the order they are embedded in is not worth a git log.
ORDER_AFTER = INLINE_LIMIT

Progress = Callable[[str, int, int], None]  # phase, done, total: a foreground progress bar


def index_all(ws: Workspace, engine: EngineChoice, *, progress: Progress | None = None,
              **update: object) -> indexing.UpdateResult:
    """Files, words and then every missing vector, in the foreground (`codeseek index`)."""
    result = indexing.update(ws, engine, **update)  # type: ignore[arg-type]
    began = time.perf_counter()
    with Store(ws.index_dir) as store:
        result.embedded = fill(ws, store, engine, progress=progress)
        result.pending = store.chunks.unembedded_count()
    result.timings["embed"] = time.perf_counter() - began
    return result


def unavailable(store: Store, engine: EngineChoice) -> str:
    """Why the engine chosen for this index cannot embed its missing vectors on this machine,
    known without loading it (EngineChoice.unavailable_for); "" where it may."""
    info = store.db.model_info()
    return engine.unavailable_for(info) if info is not None else ""


def skipped_files(ws: Workspace, result: indexing.UpdateResult) -> list[tuple[str, str]]:
    """(path, reason) of every file the index skips, whether this update or an earlier one
    found it (`index -v` on an index already up to date lists them too), by path."""
    with Store(ws.index_dir) as store:
        held = dict(store.chunks.skipped_files())
    return sorted({**held, **{path: reason for path, reason in result.skipped if path not in held}}.items())


def priority(chunk: Pending | StoredChunk, recent: set[str]) -> int:
    """Which chunks get their vectors first (lower first): the implementation's definitions,
    those of recently changed files earliest; then tests and examples; then module-level
    code; then text."""
    if chunk.kind == Kind.TEXT:
        return 4
    if chunk.kind == Kind.MODULE:
        return 3
    if role_of_path(chunk.path, chunk.symbol) != Role.IMPLEMENTATION:
        return 2
    return 0 if chunk.path in recent else 1


def fill(
    ws: Workspace,
    store: Store,
    engine: EngineChoice,
    *,
    progress: Progress | None = None,
    wait: bool = True,
    stop: Callable[[], bool] | None = None,
    batch: int | None = None,
) -> int:
    """Embed every stored chunk that has no vector. One process at a time: with wait=False,
    another's work is left to it (returns 0); with wait=True, its progress is shown until
    it is done, then what is left is embedded here. `stop` is asked after every batch
    whether to leave the rest for later (what was embedded is kept). Returns how many texts were embedded here."""
    with store.embedding() as take:
        while not take():
            if not wait:
                return 0
            report = read_progress(ws.index_dir)
            if progress and report:
                progress("embed", report.done, report.total)
            time.sleep(1.0)
        provenance.settle(store)  # before any vector joins those of a name that may be either model's
        info = store.db.model_info()
        if info is None:
            return 0
        done = 0
        try:
            while not (stop and stop()):
                waiting = store.chunks.pending()
                if len(waiting) > INLINE_LIMIT:
                    build_graphs(store, stop)
                if waiting:
                    # Order matters only to a long run; a small update skips reading git's log.
                    recent = changes.recent_paths(ws) if len(waiting) > ORDER_AFTER else set()
                    first: dict[int, int] = {}  # vector key -> the chunk whose text is embedded for it
                    for ref in sorted(waiting, key=lambda c: priority(c, recent)):
                        first.setdefault(ref.vector_key, ref.id)
                    done += _embed(store, engine, info, first, progress, stop, batch)
                with store.writing():
                    if store.chunks.settle_unembedded():  # else an update added chunks meanwhile: go on
                        store.vectors.compact()
                        break
        finally:
            clear_progress(store.directory)
        return done


def build_graphs(store: Store, stop: Callable[[], bool] | None) -> None:
    """Graphs for the static tier's full flat segments, before a long run of embedding: until
    every chunk has the transformer's vector, the static tier answers searches, and a graph
    answers a kernel-sized one in a fraction of a millisecond where an exact search takes
    tens. A first index writes flat segments so that it answers sooner (segment_files.py)."""
    for name in graphs_wanted(store.static):
        if stop and stop():
            return
        try:
            graph = build_graph(store.static, name)  # seconds: without the writer lock
        except SegmentDamaged:
            continue  # merged or dropped meanwhile; damage is the next update's to repair
        with store.writing():
            put_graph(store.static, name, graph)


def _embed(store: Store, engine: EngineChoice, info: ModelInfo, first: dict[int, int], progress: Progress | None,
           stop: Callable[[], bool] | None, batch_size: int | None) -> int:
    """Embed the vector keys in the order given (each from the text of its chunk), reading
    texts a batch at a time, saving a checkpoint now and then (and whatever was embedded
    when a batch fails or the user interrupts, so the next run does not redo it). Returns
    how many were embedded."""
    keys = list(first)
    reporter = Reporter(store.directory, len(keys))
    embedder = engine.embedder_for(info)  # may load the model: the report says so meanwhile
    reporter.embedding()
    step = batch_size or embedder.batch_hint
    pending_keys: list[int] = []
    pending_vecs: list[np.ndarray] = []
    last_checkpoint = time.monotonic()
    done = 0

    def checkpoint() -> None:
        nonlocal pending_keys, pending_vecs, last_checkpoint
        if pending_keys:
            with store.writing():
                store.vectors.add(pending_keys, np.concatenate(pending_vecs))
                # How these vectors are computed now: recorded for status, never compared.
                store.db.set_meta({"engine": embedder.info.engine, "engine_version": embedder.info.engine_version})
                if len(store.vectors.names()) > 2 * MAX_SEGMENTS:  # a long run: keep searches cheap
                    store.vectors.compact()
        pending_keys, pending_vecs, last_checkpoint = [], [], time.monotonic()

    try:
        for start in range(0, len(keys), step):
            batch = keys[start : start + step]
            chunks = store.chunks.by_ids([first[k] for k in batch])
            texts = [chunks[first[k]].embedding_text() for k in batch]
            with engine.lock:
                pending_vecs.append(embedder.embed_documents(texts))
            pending_keys.extend(batch)
            done += len(batch)
            reporter.advance(done, embedder.shares())
            if progress:
                progress("embed", done, len(keys))
            if len(pending_keys) >= CHECKPOINT_VECTORS or time.monotonic() - last_checkpoint >= CHECKPOINT_SECONDS:
                checkpoint()
            if stop and stop():  # asked after every batch: what was embedded is saved below
                break
    finally:
        checkpoint()
    return done
