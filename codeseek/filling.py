"""Filling in vectors: every stored chunk without one is embedded, most useful first, and saved
in checkpoints, so an interrupted run resumes without embedding anything twice.

One process fills at a time (the index's embedding lock); it takes the writer's lock only
to save a checkpoint, so a search or a hook never waits for it. That process also tends the
static tier's final segments (`tend`: sweeps, graphs), first: `behind` is the whole of what
the background does, past `transformer_limit` too, where it only tends.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from . import changes, indexing, provenance
from .embedding import EngineChoice, ModelInfo, static_tier
from .errors import SegmentDamaged
from .index import Store, StoredChunk
from .index.chunks import Pending
from .index.finals import build_graph, finals, graphs_wanted, put_graph, put_swept, sweep, sweeps_wanted
from .index.segments import MAX_SEGMENTS
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
# The meta key holding the index's `updated_at` as it was when the background last tended the
# static tier's final segments: until the index changes again, there is nothing to sweep.
TENDED = "static_tended"

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
                    tend(store, stop)
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


def behind(ws: Workspace, store: Store, engine: EngineChoice, *, stop: Callable[[], bool] | None = None,
           batch: int | None = None, embed: bool = True) -> int:
    """The background's work once an index's words are in (the hooks' worker, the warm
    process's thread): the static tier's final segments tended, then the missing vectors
    filled in, except past `transformer_limit`, where the static tier is the answer and
    only `codeseek index` embeds (or where `embed` is False: the engine cannot load here).
    Returns how many texts were embedded."""
    with store.embedding() as take:
        if take():  # else the process that holds it tends them
            tend(store, stop)
    if not embed or static_is_enough(store, engine):
        return 0
    return fill(ws, store, engine, wait=False, stop=stop, batch=batch)


def static_is_enough(store: Store, engine: EngineChoice) -> bool:
    """Whether this repository is past the size whose transformer vectors are filled in
    behind a search (`transformer_limit`), and has a static tier to rank by instead:
    `codeseek index` still embeds it all when asked."""
    limit = engine.settings.transformer_limit
    if limit is None:
        return False
    info = store.db.model_info()
    if info is None or static_tier(info.model) is None or not store.static.count():
        return False
    return store.chunks.term_counts([])[1] > limit


def tending_wanted(store: Store) -> bool:
    """Whether the static tier's final segments may want the background: a flat one without
    its graph, or any at all once the index changed since they were last tended (whether
    one is worth a sweep takes a pass over the keys: the background's to make). A look at
    two small tables, for a search to ask."""
    if graphs_wanted(store.static):
        return True
    meta = store.db.meta()
    return meta.get(TENDED) != meta.get("updated_at") and bool(finals(store.static))


def tend(store: Store, stop: Callable[[], bool] | None) -> None:
    """The static tier's final segments kept cheap and right to search, before a long run of
    embedding and wherever the background runs: those mostly unused by the chunks swept
    (finals.py), then the flat ones given graphs. Each is prepared without the writer lock,
    then written and swapped in under it. Call holding the embedding lock (one process
    tends at a time)."""
    if not tending_wanted(store):
        return
    stamp = store.db.meta().get("updated_at")
    for name in sweeps_wanted(store.static):
        if stop and stop():
            return
        try:
            swept = sweep(store.static, name)  # its used vectors read: without the writer lock
        except SegmentDamaged:
            continue  # damage is the next update's to repair
        with store.writing():
            put_swept(store.static, swept)
    if build_graphs(store, stop):
        with store.writing():
            store.db.set_meta({TENDED: stamp})


def build_graphs(store: Store, stop: Callable[[], bool] | None) -> bool:
    """Graphs for the static tier's full flat segments: until every chunk has the
    transformer's vector (or for good, past `transformer_limit`), the static tier answers
    searches, and a graph answers a kernel-sized one in a fraction of a millisecond where an
    exact search takes tens. A first index writes flat segments so that it answers sooner
    (segment_files.py). False where `stop` asked to leave the rest for later."""
    for name in graphs_wanted(store.static):
        if stop and stop():
            return False
        try:
            graph = build_graph(store.static, name)  # seconds: without the writer lock
        except SegmentDamaged:
            continue  # merged or dropped meanwhile; damage is the next update's to repair
        with store.writing():
            put_graph(store.static, name, graph)
    return True


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
