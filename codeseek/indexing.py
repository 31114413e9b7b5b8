"""Bring an index's files and words up to date: changed files -> chunks -> the index.

Files are read, chunked and stored in batches inside one transaction: readers see the old
index or the new one, never a mix, and memory stays bounded however large the repository.
Vectors are filled in afterwards (filling.py): words answer at once.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from . import changes, languages, static_updates
from .chunking import Chunker, PreparedPart, load_tier, parallel, prepare
from .embedding import EngineChoice, ModelInfo, static_tier
from .errors import CodeseekError, EngineUnavailable
from .forking import ready_workers, usable_cores
from .fsutil import refuse_links, remove_own
from .index import DB_FILES, SEGMENT_DIR, STATIC_MODEL, FileEntry, Store, exists, writer_lock
from .index.fingerprint import STATIC_DIR
from .index.segment_files import is_ours
from .parsing import chunker_digests
from .protocol import Source
from .repo import Workspace, list_files
from .skipping import SKIP_DIGEST_KEY, SkipRules, markers_digest
from .words import count

BATCH_BYTES = 64 << 20  # files read and chunked at a time: memory stays bounded
PART_BYTES = 1 << 20  # a part's files at most (chunking.PART_FILES: how many)


@dataclass
class UpdateResult:
    files_changed: int = 0  # files whose state was written: indexed, or newly skipped
    files_skipped: int = 0  # of files_changed, those skipped
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
        """What this run did, in the words and numbers `status` uses (a skipped file is
        counted as skipped, not as indexed)."""
        parts = [
            f"{count(self.files_changed - self.files_skipped, 'file')} indexed",
            f"{self.files_deleted:,} removed",
            count(self.chunks, "chunk"),
            f"{self.embedded:,} embedded",
            f"{self.reused:,} reused",
        ]
        if self.repaired:
            parts.append(f"{count(self.repaired, 'vector')} of damaged files embedded again")
        if self.skipped:
            reasons = Counter(reason.split(":")[0] for _, reason in self.skipped)
            parts.append(f"{len(self.skipped):,} skipped (" + ", ".join(f"{n:,} {r}" for r, n in reasons.most_common())
                         + ")")
        return ", ".join(parts) + f" in {sum(self.timings.values()):.1f}s"


PROVISIONAL = ModelInfo("", 0, "", "")  # the vector keys of words indexed before the engine said its model


def remove_index(ws: Workspace) -> None:
    """Delete the index's data: its database and vector files, by name, from its own folders
    (never through a link), under the writer lock: a writer (a first index being written
    aside) finishes first. The lock file stays: another process may hold it."""
    if not os.path.lexists(ws.index_dir):
        return
    refuse_links(ws.index_dir)
    with writer_lock(ws.index_dir, wait=True):  # a writer (a first index being written aside) finishes first
        remove_own(ws.index_dir, DB_FILES)
        for vectors in (ws.index_dir / SEGMENT_DIR, ws.index_dir / STATIC_DIR):
            if os.path.lexists(vectors):
                remove_own(vectors, is_ours)
            with contextlib.suppress(OSError):
                os.rmdir(vectors)  # left where something not codeseek's is inside


def update(
    ws: Workspace,
    engine: EngineChoice,
    *,
    source: Source = Source.WORKTREE,
    scope: str | None = None,
    rules: SkipRules | None = None,
    wait: bool = True,
    verify: bool = False,
    words_only: bool = False,
) -> UpdateResult:
    """Bring the files and words of the index at ws.index_dir up to date with the working
    tree, the staged content or HEAD, in one transaction. No vectors are embedded here.

    With wait=False, IndexBusy is raised at once if another process is updating. Vector
    files that changed since they were written are dropped (their vectors are embedded
    again); verify=True reads every file to find them, otherwise only files whose size or
    time changed are read. words_only: for a search that ranks by words alone, an engine
    that cannot be reached to say which model a first index is for is no error: the words are
    indexed under a provisional identity (no model recorded), and indexed again once it answers.
    """
    if not exists(ws.index_dir):
        files = list_files(ws)
        if not files:
            raise CodeseekError(f"no files to index in {ws.root}")
        if parallel(len(files), usable_cores()):
            ready_workers()  # a first index: a forkserver loads while the changes are found and read
        with Store.first(ws.index_dir, wait) as building:
            if building is not None:
                result = _refresh(ws, building, engine, source, scope, rules or SkipRules(), words_only)
                result.pending = building.chunks.unembedded_count()
        if building is not None:
            return result
    with Store(ws.index_dir, create=True) as store:
        with store.writing(wait):
            repaired = store.repair(full=verify)
            result = _refresh(ws, store, engine, source, scope, rules or SkipRules(), words_only)
            result.repaired = repaired
        result.pending = store.chunks.unembedded_count()
        return result


def _identity(store: Store, engine: EngineChoice, words_only: bool) -> ModelInfo | None:
    """The model the index's vectors are for: the one it records (the engine checked against
    it), else the engine's; None where the engine cannot say and words will do. Words indexed
    under a provisional identity are forgotten once the real one is known (their vector keys
    name no model), so they are indexed again."""
    info = store.db.model_info()
    if info is not None:
        engine.check_compatible(info)
        return info
    try:
        info = engine.identity()
    except EngineUnavailable:
        if words_only:
            return None
        raise
    provisional = store.chunks.file_blobs()
    if provisional:
        with store.db.transaction() as db:
            store.chunks.remove(db, provisional)
            store.db.set_meta({"indexed_commit": None, "dirty": None}, db)
    return info


def _refresh(ws: Workspace, store: Store, engine: EngineChoice, source: Source, scope: str | None,
             rules: SkipRules, words_only: bool = False) -> UpdateResult:
    """Changed files -> chunks -> the index's file state and words (no vectors). Call under
    `writing()`."""
    result = UpdateResult()
    clock = time.perf_counter()

    def lap(phase: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        result.timings[phase] = result.timings.get(phase, 0.0) + now - clock
        clock = now

    found = _identity(store, engine, words_only)
    info = found or PROVISIONAL
    # The static tier loads while git finds the changes (the main process mostly waits on git
    # there): its load, 0.15 s, was the last thing a first index did before its workers started.
    with static_updates.loading(info.model):
        meta = store.db.meta()
        old_scope = meta.get("scope", "")
        scope = old_scope if scope is None else scope
        sparse = ws.sparse_state()
        # Another sparse-checkout set: every stored path is looked at again (what left the checkout
        # goes) and every path of HEAD (what entered it comes), though no commit changed.
        resparsed = sparse != meta.get("sparse", "")
        digests = chunker_record()
        chunkers = json.dumps(digests, sort_keys=True)
        chunkers_changed = meta.get("chunkers") != chunkers
        rechunk = _chunked_otherwise(store, meta.get("chunkers"), digests) if chunkers_changed else set()
        change = changes.detect(
            ws,
            _Rechunked(store.chunks, rechunk) if rechunk else store.chunks,
            indexed_commit=meta.get("indexed_commit") if scope == old_scope and not resparsed else None,
            previously_dirty=set(json.loads(meta.get("dirty", "[]"))) | (set(store.chunks.file_blobs()) if resparsed
                                                                          else set()) | rechunk,
            source=source,
            scope=scope,
        )
    if scope and scope != old_scope:  # a narrower scope: what lies outside it goes
        change.deleted |= {p for p in store.chunks.file_blobs() if not changes.in_scope(p, scope)}
    result.skipped.extend((path, "the file name is not valid UTF-8") for path in sorted(change.unnamed))
    lap("walk")
    result.indexed_commit = change.head
    result.model = info.describe() if found else "no model yet (the engine could not be reached)"
    result.files_deleted = len(change.deleted)
    dirty = json.dumps(sorted(change.dirty))
    tier = static_tier(info.model)
    # The static vectors are of another static model, or some chunks may lack one: all again.
    static_stale = tier is not None and meta.get(STATIC_MODEL) != tier.info.model
    if not change.files and not change.deleted and not resparsed and not static_stale and not chunkers_changed and (
            meta.get("indexed_commit"), meta.get("dirty", "[]"), meta.get("scope", "")) == (change.head, dirty, scope):
        return result  # nothing to write: the common case for a search's freshness check
    if static_stale:
        store.static.clear()
    chunker = Chunker(functools.partial(prepare, rules=rules, info=info),
                      warm=functools.partial(load_tier, info.model) if tier is not None else None)
    per_part = chunker.start(len(change.files))
    try:
        with ThreadPoolExecutor(max_workers=1) as helper, store.db.transaction() as db:
            store.chunks.remove(db, change.deleted)
            static: list[tuple[np.ndarray, np.ndarray]] = []  # the batch's (keys, vectors), a part each
            terms: Counter[str] = Counter()  # the batch's, stored once
            seen: set[int] = set()  # keys of this batch counted as reused or not
            for part, entries, last in _entries(ws, change, chunker, per_part, result):
                lap("parse")
                keys = {new.key for e in entries for new in e.chunks}
                absent = store.vectors.missing(keys)
                result.reused += len(keys - seen - absent)
                seen |= keys
                store.chunks.replace(db, entries, absent, terms, part.terms)
                if part.static is not None:
                    static.append((part.keys(), part.static))
                # One static segment a batch, however many parts it came in: its file is written
                # (sorted, synced, hashed: GIL-free mostly) beside the batch's term counts.
                writing = helper.submit(static_updates.write, store, static_updates.rows(store, static)) if last and tier else None
                if last:
                    store.chunks.add_terms(db, terms)
                    terms, seen, static = Counter(), set(), []
                lap("store")
                if writing is not None:
                    for written in writing.result():
                        store.static.list_in(db, written)
                    lap("static")
            if static_stale and tier is not None:
                for texts in static_updates.lacking(store):
                    keys = list(texts)
                    vectors = tier.embed_documents([texts[k] for k in keys])
                    static_updates.add(store, db, [(np.asarray(keys, dtype=np.int64), vectors)])
                lap("static")
            identity = {} if found is None else {
                "model": info.model,
                "dim": str(info.dim),
                "engine": meta.get("engine", info.engine),
                "engine_version": meta.get("engine_version", info.engine_version),
            }
            store.db.set_meta({STATIC_MODEL: tier.info.model if tier is not None else None,
                               "indexed_commit": result.indexed_commit, "dirty": dirty, "scope": scope,
                               "sparse": sparse or None, "chunkers": chunkers, **identity,
                               "updated_at": str(time.time())}, db)
    finally:
        chunker.close()
    lap("store")
    if tier is not None:
        store.static.compact()
        lap("static")
    return result


def chunker_record() -> dict[str, str]:
    """What an index records of what decided its chunks: each language's chunker
    (parsing.chunker_digests), and what marks a file generated (skipping.markers_digest)."""
    return {**chunker_digests(), SKIP_DIGEST_KEY: markers_digest()}


def _chunked_otherwise(store: Store, recorded: str | None, now: dict[str, str]) -> set[str]:
    """The stored files today's chunker would chunk otherwise: of a language whose chunker the
    index recorded differently (parsing.chunker_digests), or now of another language than they
    were chunked as (a language added: its files were line windows); every file where what
    marks a generated file changed (skipping.markers_digest), or was not recorded. An index from
    before the record is taken to hold its languages' chunks as today's (the seventeen
    languages' chunks did not change with it: benchmarks/README.md), so only the second applies."""
    then: dict[str, str] = json.loads(recorded) if recorded else {}
    if then and then.get(SKIP_DIGEST_KEY) != now[SKIP_DIGEST_KEY]:
        return set(store.chunks.file_languages())
    changed = {language for language, digest in then.items() if now.get(language) != digest}
    if then and "text" not in then:  # recorded before line windows had an entry (a `#!` script may be one)
        changed.add("text")
    return {path for path, language in store.chunks.file_languages().items()
            if language is not None and (language in changed or language not in languages.possible(path))}


@dataclass(frozen=True)
class _Rechunked:
    """The index with these paths' blob ids forgotten: each reads as changed, so the update
    chunks it again (one gone from the tree is still known, and goes)."""

    stored: changes.Stored
    paths: set[str]

    def blobs_of(self, paths: Iterable[str]) -> dict[str, str]:
        return {p: "" if p in self.paths else blob for p, blob in self.stored.blobs_of(paths).items()}

    def file_blobs(self) -> dict[str, str]:
        return {p: "" if p in self.paths else blob for p, blob in self.stored.file_blobs().items()}


def _entries(ws: Workspace, change: changes.Change, chunker: Chunker[PreparedPart], per_part: int,
             result: UpdateResult) -> Iterator[tuple[PreparedPart, list[FileEntry], bool]]:
    """The changed files prepared (their chunks' terms and static vectors: PreparedPart) and their
    new state, in parts of `per_part` files (PART_BYTES at most) given to the workers as they
    are read, and whether a part ends its batch (BATCH_BYTES read: the caller writes a batch's
    terms and static segment once). Parts come back in order, each as soon as it is ready while
    files are still read, so the workers start on the first files at once and the caller writes
    one part while they prepare the next; at most two batches' files are read ahead."""
    waiting: deque[tuple[Future[PreparedPart], int, bool]] = deque()  # a part, its bytes, whether it ends a batch
    part: list[tuple[str, bytes]] = []
    part_bytes = batch_bytes = ahead = 0
    for item in changes.read(ws, change, sorted(change.files)):
        part.append(item)
        part_bytes += len(item[1])
        batch_bytes += len(item[1])
        ends = batch_bytes >= BATCH_BYTES
        if ends or len(part) >= per_part or part_bytes >= PART_BYTES:
            waiting.append((chunker.submit_part(part), part_bytes, ends))
            ahead += part_bytes
            part, part_bytes, batch_bytes = [], 0, 0 if ends else batch_bytes
        # The newest part stays: it may turn out to be the last, which ends its batch.
        while len(waiting) > 1 and (waiting[0][0].done() or ahead > 2 * BATCH_BYTES):
            done, size, ends = waiting.popleft()
            ahead -= size
            prepared = done.result()
            yield prepared, _entries_of(prepared, change, result), ends
    if part:
        waiting.append((chunker.submit_part(part), part_bytes, True))
    elif waiting:
        waiting.append((*waiting.pop()[:2], True))
    for done, _, ends in waiting:
        prepared = done.result()
        yield prepared, _entries_of(prepared, change, result), ends


def _entries_of(prepared: PreparedPart, change: changes.Change, result: UpdateResult) -> list[FileEntry]:
    entries: list[FileEntry] = []
    for p in prepared.files:
        blob = change.files[p.path]
        if p.skipped:
            result.skipped.append((p.path, p.skipped))
            result.files_skipped += 1
            entries.append(FileEntry(p.path, blob, None, skipped=p.skipped))
            continue
        entries.append(FileEntry(p.path, blob, p.chunks[0].chunk.language if p.chunks else None, p.chunks))
        result.chunks += len(p.chunks)
    result.files_changed += len(entries)
    return entries
