"""What the warm process does for each repository it serves: searches that reflect the working
tree as it is, updates, status, and filling in vectors on a thread of its own (the warm
process is the background worker: its model is loaded already, and queries share it)."""

from __future__ import annotations

import os
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from . import config, filling, freshness, indexing, memory, outcome, provenance, report, search
from .embedding import EngineChoice, Models
from .errors import CodeseekError
from .index import DB_NAME, Store, exists
from .protocol import FindRequest, Mode, SimilarRequest, UpdateRequest, Wait
from .repo import Workspace
from .results import Results
from .watch import Watch

BACKGROUND_BATCH = 16  # texts a model call while queries may be waiting for the model
# How long the warm process, stopping, waits for its embedding threads to stop after their
# batch (a model still loading finishes first): `client.stop` waits 10 s for it to go.
STOP_EMBEDDING_SECONDS = 8.0


class Repository:
    """One repository: its index, kept open; one request at a time touches it."""

    def __init__(self, ws: Workspace, models: Models, background: freshness.Background | None = None,
                 watching: bool = True, indexed: indexing.UpdateResult | None = None) -> None:
        self.ws = ws
        self.indexed = indexed  # the first index this process has just made: its first search's freshness check
        self.models = models
        self.background = background  # who fills in vectors; None: a thread of this process
        self.watching = watching  # a long-lived process watches the repository's folders
        self.lock = threading.Lock()
        self.last_request = time.monotonic()
        self.embedding: threading.Thread | None = None
        self.closing = threading.Event()  # the process is stopping: the embedding thread stops after its batch
        self.static_only = False  # past transformer_limit: missing vectors are not waited for
        self.unavailable = ""  # why the index's engine cannot load here: missing vectors wait for it
        self._store: Store | None = None
        self._inode = 0
        self._watch: Watch | None = None  # made once the index exists

    def settings(self, flags: dict[str, object]) -> tuple[EngineChoice, indexing.SkipRules]:
        """The engine this request asks for (the settings it carries, from its caller's flags
        and environment, over the repository's config file, read once a request; never this
        process's environment), loaded once for every repository that uses it, and the skip
        rules."""
        cfg = config.load(self.ws.root)
        return EngineChoice(config.request_settings(cfg, flags), models=self.models), cfg.skip_rules()

    def store(self) -> Store:
        """The open index, reopened when another process replaced it (`index --rebuild`)."""
        try:
            inode = (self.ws.index_dir / DB_NAME).stat().st_ino
        except FileNotFoundError:
            inode = 0
        if self._store is None or inode != self._inode:
            if self._store is not None:
                self._store.close()
            self._store = Store(self.ws.index_dir)
            self._inode = inode
            provenance.settle(self._store)  # whose vectors, where its name alone cannot say (once)
        return self._store

    def stop_embedding(self, deadline: float) -> None:
        """Have the embedding thread stop after its batch (what it embedded is saved) and wait
        for it until `deadline` (time.monotonic()), as the process stops: a daemon thread left
        inside the model at exit (loading it, or running a batch) lost the vectors since the
        last save, and aborted the warm process as C++ tore the model's runtime down
        ("terminate called without an active exception"). Nothing embeds here after it."""
        self.closing.set()
        if self.embedding is not None:
            self.embedding.join(max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
        if self._watch is not None:
            self._watch.close()
            self._watch = None

    def _unchanged(self, wait: Wait) -> bool:
        """Whether no file, HEAD or git index changed since the last full check, and no vector
        is waiting for someone to embed it: then the index is as fresh as a check would make
        it, and git need not be asked (a quarter of a second on a kernel-sized tree)."""
        if not self.watching:
            return False
        if self._watch is None:
            self._watch = Watch(self.ws)
        if self._watch.changed():
            return False
        return (wait == Wait.NONE or self.busy or self.static_only or bool(self.unavailable)
                or not self.store().chunks.unembedded_count())

    @property
    def busy(self) -> bool:
        return self.embedding is not None and self.embedding.is_alive()

    def embed_in_background(self, engine: EngineChoice) -> None:
        """The background's work on a thread (filling.behind): missing vectors filled in, in
        small batches so queries wait for the shared model at most one batch."""
        if self.busy or self.closing.is_set():
            return

        def work() -> None:
            try:
                with Store(self.ws.index_dir) as store:
                    filling.behind(self.ws, store, engine, batch=BACKGROUND_BATCH,
                                   stop=lambda: self.closing.is_set() or self.ws.gone(),
                                   embed=not filling.unavailable(store, engine))
            except Exception as exc:  # noqa: BLE001 - reported like a hook's failure, never raised
                outcome.record(self.ws.index_dir, outcome.Outcome("server", False, error=f"{type(exc).__name__}: {exc}"),
                               traceback.format_exc())
            memory.give_back()  # the batches' buffers, freed

        self.embedding = threading.Thread(target=work, name="codeseek-embedding", daemon=True)
        self.embedding.start()

    def _background(self, engine: EngineChoice) -> freshness.Background:
        return self.background or EmbeddingThread(self, engine)

    def _fresh_search(self, engine: EngineChoice, rules: indexing.SkipRules, wait: Wait, no_update: bool,
                      inline: bool, run: Callable[[Store], Results]) -> Results:
        """Results that reflect the working tree as it is now.

        The freshness check (git status) runs while the search runs on the index as it is;
        when the check finds nothing to do, the usual case, those results stand and the
        check costs no extra time. Otherwise the changes are indexed and the search runs
        again. The check embeds nothing, so the model is never used from two threads at once.
        """
        background = self._background(engine)
        indexed, self.indexed = self.indexed, None
        if not exists(self.ws.index_dir) or no_update or indexed is not None:
            done = freshness.refresh(self.ws, engine, rules, background, wait=wait, no_update=no_update,
                                     inline=inline, indexed=indexed)
            if done.result is None and inline:  # not updated: nor asked whether its engine can load
                done = replace(done, unavailable=filling.unavailable(self.store(), engine))
            return _noted(run(self.store()), done)
        if self.unavailable and inline:  # until it can load (torch installed meanwhile): a look at what is installed
            self.unavailable = filling.unavailable(self.store(), engine)
        if self._unchanged(wait):
            return _noted(run(self.store()), freshness.Freshness(None, unavailable=self.unavailable if inline else ""))
        if self._watch is not None:
            self._watch.clean()  # what changes from here on is seen by the next search
        self.store()  # open (its vectors' model settled) before the check takes the writer's lock
        with ThreadPoolExecutor(max_workers=1) as pool:
            check = pool.submit(freshness.refresh, self.ws, engine, rules, background, wait=Wait.NONE, inline=inline)
            try:
                first: Results | None = run(self.store())
            except CodeseekError:
                first = None  # the index as it was cannot answer (a chunk without its vector): after the check
            done = check.result()
        changed = done.changed
        # Another process holds the index (a first index being written, a commit's update): a
        # search in that process would wait for it, so the warm answer waits too, never staler.
        waited = done.skipped == freshness.Skipped.BUSY and wait != Wait.NONE
        if waited or (done.result is not None and done.unembedded and not done.unavailable and not self.busy
                      and wait != Wait.NONE):
            # The check's update stands (the tree is not read again): this refresh embeds, or starts who
            # will; where another process held the index (no update), it waits for it and updates.
            done = freshness.refresh(self.ws, engine, rules, background, wait=wait, inline=inline,
                                     indexed=done.result)
            changed = changed or waited or done.changed
            self.static_only = done.static_only
        if done.result is not None and inline:  # (a words-only search never asks)
            self.unavailable = done.unavailable
        return _noted(first if first is not None and not changed else run(self.store()), done)

    def find(self, request: FindRequest, flags: dict[str, object]) -> Results:
        engine, rules = self.settings(flags)
        with self.lock:
            return self._fresh_search(
                engine, rules, request.wait, request.no_update, request.mode != Mode.LEXICAL,
                lambda store: search.find(store, engine, request.query, request.k, request.filters, request.mode,
                                          explain=request.explain))

    def similar(self, request: SimilarRequest, flags: dict[str, object]) -> Results:
        engine, rules = self.settings(flags)
        with self.lock:
            return self._fresh_search(
                engine, rules, Wait.AUTO, request.no_update, True,
                lambda store: search.similar_to(store, engine, request.where, request.k, request.filters))

    def update(self, request: UpdateRequest, flags: dict[str, object]) -> indexing.UpdateResult:
        """Files and words now; vectors on this process's thread."""
        engine, rules = self.settings(flags)
        with self.lock:
            result = indexing.update(self.ws, engine, source=request.source, rules=rules)
            waits = bool(result.pending) and bool(filling.unavailable(self.store(), engine))  # nothing to start
            tend = filling.tending_wanted(self.store())
        if (result.pending and not waits) or tend:
            self._background(engine).start()
        return result

    def status(self, check: bool = False) -> report.Status:
        with self.lock:
            try:
                engine: EngineChoice | None = self.settings({})[0]
            except CodeseekError:  # a config file in error: said by the next search, not by status
                engine = None
            return report.status(self.ws, outcome.last(self.ws.index_dir), check=check, engine=engine)


class EmbeddingThread:
    """Vectors filled in on a thread of the warm process (freshness.Background)."""

    who = freshness.Who.SERVER

    def __init__(self, repo: Repository, engine: EngineChoice) -> None:
        self.repo, self.engine = repo, engine

    def running(self) -> bool:
        return self.repo.busy

    def start(self) -> str:
        self.repo.embed_in_background(self.engine)
        return "the warm process"


def _noted(results: Results, done: freshness.Freshness) -> Results:
    """The results with what the freshness check has to say. An engine that cannot load is
    one line, which says what ranked instead (the search's own, where it said it), and nothing
    is filling in."""
    if done.unavailable:
        said = any(note.startswith(done.unavailable) for note in results.notes)
        note = "" if said else f"{done.unavailable}: ranked by {ranked_by(results)}"
        results = replace(results, filling=False)
    else:
        note = done.note
    if not note and not done.started:
        return results
    return replace(results, notes=(*results.notes, note) if note else results.notes,
                   embedder=done.started or results.embedder)


def ranked_by(results: Results) -> str:
    """What ranked results whose engine could not load, in words."""
    static = "static" in results.vectors
    if results.mode == Mode.SEMANTIC:
        return "the static tier" if static else "nothing: no vectors"
    return "the static tier and words" if static else "words alone"


class Service:
    """Every repository the warm process serves, and the models they share."""

    def __init__(self) -> None:
        self.models = Models()
        self.repositories: dict[Path, Repository] = {}
        self.lock = threading.Lock()
        self.last_request = time.monotonic()
        self.requests = 0
        self.active = 0  # requests being answered now

    @contextmanager
    def answering(self) -> Iterator[None]:
        """Count a request as in flight (the server never exits under one)."""
        with self.lock:
            self.active += 1
            self.last_request = time.monotonic()
        try:
            yield
        finally:
            with self.lock:
                self.active -= 1
                self.last_request = time.monotonic()

    def repository(self, ws: Workspace) -> Repository:
        """The repository kept for this index folder; one index folder named by another root
        replaces the one kept, whose index and watches are closed (once its request is done)."""
        with self.lock:
            self.last_request = time.monotonic()
            self.requests += 1
            replaced = repo = self.repositories.get(ws.index_dir)
            if repo is None or repo.ws != ws:
                repo = self.repositories[ws.index_dir] = Repository(ws, self.models)
            repo.last_request = time.monotonic()
        if replaced is not None and replaced is not repo:
            with replaced.lock:
                replaced.close()
        return repo

    @property
    def busy(self) -> bool:
        return self.active > 0 or any(repo.busy for repo in list(self.repositories.values()))

    def forget_gone(self) -> list[Path]:
        """Drop repositories whose folder was deleted: nothing is kept for them."""
        gone = [key for key, repo in list(self.repositories.items())
                if not repo.busy and repo.ws.gone()]
        with self.lock:
            for key in gone:
                self.repositories.pop(key).close()
        return gone

    def describe(self) -> dict[str, object]:
        return {"pid": os.getpid(), "repositories": len(self.repositories), "requests": self.requests,
                "models": self.models.loaded(), "rss_bytes": resident_bytes(),
                "busy": [str(r.ws.root) for r in list(self.repositories.values()) if r.busy]}

    def close(self) -> None:
        """As the process stops: every embedding thread stops after its batch (all asked at
        once, waited for until one deadline), then every index closes."""
        repos = list(self.repositories.values())
        for repo in repos:
            repo.closing.set()
        deadline = time.monotonic() + STOP_EMBEDDING_SECONDS
        for repo in repos:
            repo.stop_embedding(deadline)
            repo.close()


def resident_bytes() -> int:
    """This process's resident memory (Linux), for `status` and the memory benchmark."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0
