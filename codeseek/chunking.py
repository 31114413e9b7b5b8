"""Files to chunks in worker processes: tree-sitter holds the GIL, so parsing, the chunks'
keys and terms and their static vectors are made in a pool while the main process writes
(indexing.py), or just returned (`codeseek chunks`, benchmarks)."""

from __future__ import annotations

import functools
import multiprocessing
import os
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from .embedding import ModelInfo, static_tier
from .forking import ONE_THREAD, ready_workers, usable_cores
from .fsutil import proc_stat
from .index import NewChunk
from .index.chunks import term_docs
from .parsing import Chunk, chunk_file
from .skipping import SkipRules

PARALLEL_MIN_FILES = 64
# A worker's share at a time (fewer where the workers would not each have one), given as soon as its files are read.
# Smaller: more handing over; larger: the workers start later, and the last part keeps one waiting while the others work.
PART_FILES = 32
T = TypeVar("T")


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


@dataclass(frozen=True)
class PreparedPart:
    """A part's files made ready to store, how many of their chunks hold each term, and their
    chunks' static vectors (one row each, in the files' order) where the model has a static
    tier. Counted and stacked for the part, not a file: the main process adds one Counter a
    part and stacks a batch's vectors from a few arrays (a Counter and an array a file, pickled,
    merged and stacked one by one, cost a 20,000-chunk first index's main process 0.18 CPU-s
    more: 1.46 against 1.28 s, three runs each, benchmarks/README.md)."""

    files: list[Prepared]
    terms: Counter[str]
    static: np.ndarray | None = None

    def keys(self) -> np.ndarray:
        """The vector keys of its chunks, in the order of `static`'s rows."""
        return np.fromiter((new.key for p in self.files for new in p.chunks), dtype=np.int64)


def prepare(items: list[tuple[str, bytes]], rules: SkipRules, info: ModelInfo) -> PreparedPart:
    """Chunk files and compute their chunks' keys, terms (and their counts) and static vectors:
    the CPU work of an update, done in worker processes so that the main process only writes. (Static vectors
    made in the main process after chunking were half of a first index's time; a text's vector
    does not depend on the texts embedded beside it, so they are the same.)"""
    files, texts = [], []
    for item in items:
        reason, chunks = chunk_one(item, rules)
        embedded = [chunk.embedding_text() for chunk in chunks]  # once: its key and its static vector
        files.append(Prepared(item[0], reason, [NewChunk.of(chunk, info, text)
                                                 for chunk, text in zip(chunks, embedded, strict=True)]))
        texts.extend(embedded)
    terms = term_docs(new.terms for p in files for new in p.chunks)
    tier = static_tier(info.model)
    if tier is None:
        return PreparedPart(files, terms)
    # float16, as the segment stores them (the same rounding as USearch's): half the memory a
    # batch's vectors hold until its segment is written.
    return PreparedPart(files, terms, tier.embed_documents(texts).astype(np.float16))


def parallel(files: int, workers: int) -> bool:
    """Whether so many files are prepared in worker processes (else in this one, at once)."""
    return files >= PARALLEL_MIN_FILES and workers > 1


def load_tier(model: str) -> None:
    """A worker's warm-up (`Chunker.start`): the static tier loaded before any file comes."""
    static_tier(model)


def _ready() -> None:
    """A warm-up with nothing to load: the worker started, and nothing more."""


def chunk_each(items: list[tuple[str, bytes]], rules: SkipRules) -> list[tuple[str | None, list[Chunk]]]:
    return [chunk_one(item, rules) for item in items]


def _started(pid: int) -> str | None:
    """When a process started (Linux: a pid reused by another process starts later), or None
    when it is gone."""
    fields = proc_stat(pid)
    if fields is not None and len(fields) > 19:
        return fields[19]
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return "alive"


def exit_with(owner: int) -> None:
    """A pool worker's initializer: the worker exits once the process that started the pool
    is gone, however it ended (SIGKILL included), so no worker, nor the forkserver that waits
    for its workers, outlives its work. And one BLAS thread, for a BLAS that reads its count at
    its first call (MKL's; numpy's own OpenBLAS read it as it loaded: forking.py); and SIGTERM's
    default (a worker forked from `codeseek web` would inherit its handler, which turns it into
    Ctrl-C: a pool ends its workers with SIGTERM)."""
    import signal
    import threading

    os.environ.update(ONE_THREAD)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)

    started = _started(owner)  # None: it is gone already (killed while this worker started)

    def watch() -> None:
        while started is not None and _started(owner) == started:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="codeseek-owner").start()


class Chunker(Generic[T]):
    """Runs a function over parts of a list of files in worker processes (tree-sitter holds
    the GIL), so that reading and writing one part overlaps the work on the next."""

    def __init__(self, work: Callable[[list[tuple[str, bytes]]], T], workers: int | None = None,
                 warm: Callable[[], None] | None = None) -> None:
        self.work = work
        self.workers = workers or usable_cores()
        self.warm = warm  # what a worker loads before its first files (a model): run by `start`
        self._pool: ProcessPoolExecutor | None = None

    def start(self, files: int) -> int:
        """For a list of so many files to come in parts (`submit_part`): how many files a part
        should hold, PART_FILES or fewer so that every worker has one; and where they go to
        workers, start those now, as many as there will be parts, each loading what the work
        needs (`warm`) while the caller still reads the files: a first index's workers took
        0.4 s to start and load, with the main process idle. (A worker's error there comes
        again with the files it is given.)"""
        if not parallel(files, self.workers):
            return PART_FILES
        per_part = max(1, min(PART_FILES, -(-files // self.workers)))
        pool = self._started()
        for _ in range(min(self.workers, -(-files // per_part))):
            pool.submit(self.warm or _ready)
        return per_part

    def submit(self, items: list[tuple[str, bytes]]) -> list[Future[T]]:
        """Start preparing these files, in parts a worker each; returns each part's result to
        come, in input order (the caller may use one part while the workers prepare the next)."""
        if parallel(len(items), self.workers):
            self._started()
        if self._pool is None:
            return [self.submit_part(items)]
        size = max(1, len(items) // (self.workers * 8))
        return [self.submit_part(items[i : i + size]) for i in range(0, len(items), size)]

    def submit_part(self, items: list[tuple[str, bytes]]) -> Future[T]:
        """Start preparing these files in one worker: in this process, at once, where the
        workers are not started and the files are few (an update of a handful of files)."""
        if self._pool is None and not parallel(len(items), self.workers):
            done: Future[T] = Future()
            done.set_result(self.work(items))
            return done
        return self._started().submit(self.work, items)

    def _started(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context(ready_workers()),
                                             initializer=exit_with, initargs=(os.getpid(),))
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)


def chunk_many(items: list[tuple[str, bytes]], rules: SkipRules | None = None,
               workers: int | None = None) -> list[tuple[str | None, list[Chunk]]]:
    """(skip reason, chunks) of many files, in worker processes, in input order."""
    chunker = Chunker(functools.partial(chunk_each, rules=rules or SkipRules()), workers)
    try:
        return [chunked for part in chunker.submit(items) for chunked in part.result()]
    finally:
        chunker.close()
