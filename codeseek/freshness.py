"""The one freshness policy: what a search (from the command line, the warm server, MCP or the
web page) does before it answers.

Its files and words are brought up to date at once (results never carry stale lines). Missing
vectors are then embedded right here when few are missing (or all of them, when the caller
waits for all), and otherwise left to a background worker while words rank those chunks. The
caller says how to start that worker: the command line starts a process, the warm server
uses a thread of its own (it has the model loaded already).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from . import filling, indexing, provenance
from .embedding import EngineChoice
from .errors import EngineUnavailable, IndexBusy, IndexReadOnly
from .index import Store, exists
from .progress import read as read_progress
from .protocol import Wait
from .repo import Workspace
from .skipping import SkipRules


class Who(StrEnum):
    """Who fills in the missing vectors."""

    NOBODY = "nobody"  # nothing is missing, or the caller asked for words only
    HERE = "this process"
    WORKER = "a background worker"
    SERVER = "the warm server"


class Skipped(StrEnum):
    """Why the index was searched as it was, without indexing changes first."""

    NOT_ASKED = "asked not to update"
    BUSY = "another update is running"
    READ_ONLY = "the index is read-only"


class Background(Protocol):
    """How a caller has vectors filled in behind a search."""

    who: Who

    def running(self) -> bool:
        """Whether someone is filling them in already."""

    def start(self) -> str:
        """Have them filled in; says who took it on, in words."""


@dataclass(frozen=True)
class Freshness:
    result: indexing.UpdateResult | None  # None: the index was not updated (see `skipped`)
    skipped: Skipped | None = None
    unembedded: int = 0  # chunks still without a vector
    filler: Who = Who.NOBODY
    embedded_here: int = 0
    note: str = ""  # a line for the user (the engine could not be reached...)
    unavailable: str = ""  # why the engine could not be loaded, if it could not (service._noted says it)
    started: str = ""  # who this refresh started to embed the missing vectors ("a background worker (pid 12)")
    static_only: bool = False  # past transformer_limit: the static tier ranks, nobody embeds the rest

    @property
    def changed(self) -> bool:
        return self.result is not None and (self.result.changed or self.embedded_here > 0)


def refresh(ws: Workspace, engine: EngineChoice, rules: SkipRules, background: Background, *, wait: Wait = Wait.AUTO,
            no_update: bool = False, inline: bool = True, progress: filling.Progress | None = None,
            indexed: indexing.UpdateResult | None = None) -> Freshness:
    """Bring the index up to date for a search. `inline`: whether this caller may embed here
    (a words-only search never does: it must never need the engine). `indexed`: the update
    this process has just made of the working tree (a first index moments before its first
    search, or the check beside a search), taken as this refresh's own: another would find
    nothing new and cost the answer its time (git status, the index's state read again)."""
    if no_update and exists(ws.index_dir):
        return Freshness(None, Skipped.NOT_ASKED)
    try:
        result = indexed if indexed is not None else indexing.update(ws, engine, rules=rules, wait=wait != Wait.NONE,
                                                                     words_only=not inline)
    except IndexBusy:
        return Freshness(None, Skipped.BUSY,
                         note="another update is running: searching the index as it is, without the latest changes")
    except IndexReadOnly:
        return Freshness(None, Skipped.READ_ONLY,
                         note=f"the index in {ws.index_dir} is read-only: searching it as it is, "
                              "without changes made since it was written")
    if result.changed:  # an index pulled with no chunks of its own can say whose vectors it holds now
        with Store(ws.index_dir) as store:
            provenance.settle(store)
    pending = result.pending
    if pending and inline:
        # An engine that cannot load here (no torch for a torch model, a backend that cannot
        # compute this index's vectors) starts no worker, embeds nothing and is no reason to
        # check again: words and the static tier rank those chunks until that changes.
        with Store(ws.index_dir) as store:
            why = filling.unavailable(store, engine)
        if why and wait == Wait.ALL:
            raise EngineUnavailable(why)
        if why:
            return Freshness(result, unembedded=pending, unavailable=why)
    if not pending or wait == Wait.NONE:
        return Freshness(result, unembedded=pending)
    if wait != Wait.ALL:
        with Store(ws.index_dir) as store:
            static_only = filling.static_is_enough(store, engine)
            # Nobody fills in vectors here, but the background still tends the static tier
            # (graphs, sweeps): it is what every search reads.
            tend = static_only and filling.tending_wanted(store)
        if static_only:
            if tend and not background.running():
                background.start()
            return Freshness(result, unembedded=pending, static_only=True)
    embedded = 0
    if inline and (wait == Wait.ALL or (pending <= filling.INLINE_LIMIT and not background.running())):
        try:
            with Store(ws.index_dir) as store:
                embedded = filling.fill(ws, store, engine, progress=progress, wait=wait == Wait.ALL)
                pending = store.chunks.unembedded_count()
        except EngineUnavailable as exc:
            if wait == Wait.ALL:
                raise
            return Freshness(result, unembedded=pending, unavailable=str(exc))
        if not pending:
            return Freshness(result, unembedded=0, filler=Who.HERE, embedded_here=embedded)
    if background.running() or read_progress(ws.index_dir) is not None:
        return Freshness(result, unembedded=pending, filler=background.who, embedded_here=embedded)
    who = background.start()
    return Freshness(result, unembedded=pending, filler=background.who, embedded_here=embedded, started=who)
