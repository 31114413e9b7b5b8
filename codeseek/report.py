"""What the index holds and how current it is (`codeseek status`): one dataclass, a summary
in words for people, and every field as JSON for machines."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Any

from . import changes, filling
from .embedding import EngineChoice
from .errors import CodeseekError
from .index import STATIC_MODEL, Counts, Store
from .outcome import Outcome
from .progress import Phase, Progress, duration
from .progress import read as read_progress
from .repo import Workspace
from .words import count


@dataclass(frozen=True)
class Status:
    root: str
    index_dir: str
    indexed_commit: str | None
    head: str | None
    scope: str | None
    counts: Counts
    pending_files: list[str]  # changed since the index was updated
    unembedded: int
    embedded: int  # chunks with their vector, of counts.chunks
    embedding: Progress | None  # the process filling vectors in now, if any
    model: str | None
    dim: int | None
    engine: str | None
    bytes: int
    updated_at: str | None
    background: Outcome | None  # the last background update
    read_only: bool
    checked: bool = False  # the whole index was read and found whole
    server: dict[str, Any] | None = None  # the warm process, if one serves this repository
    advice: str | None = None  # the default model is another, and how to switch
    static_model: str | None = None  # the static tier's model, if the index has one
    static_chunks: int = 0  # chunks with a static vector
    waiting: str | None = None  # why the chunks without a vector wait: their engine cannot load here

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k not in ("counts", "embedding", "background", "checked")}
        out |= asdict(self.counts) | {"pending": len(self.pending_files), "total": self.counts.chunks}
        out["embedding"] = self.embedding.to_json() if self.embedding else None
        out["background"] = self.background.to_json() if self.background else None
        if self.checked:
            out["integrity"] = "ok"
        return out

    def describe(self) -> str:
        """A short summary in words."""
        c = self.counts
        commit = f"at {self.indexed_commit[:10]}" if self.indexed_commit else "(no git commit)"
        behind = ("up to date" if not self.pending_files
                  else f"{count(len(self.pending_files), 'changed file')} not indexed yet")
        lines = [f"index of {self.root} {commit}: {behind}",
                 f"{count(c.files, 'file')} ({c.skipped:,} skipped), {count(c.chunks, 'chunk')}"]
        if self.embedding is not None and self.embedding.phase == Phase.LOADING:
            lines.append(f"embedded {self.embedded:,} of {c.chunks:,}; the model is loading "
                         f"(pid {self.embedding.pid})")
        elif self.embedding is not None:
            left = f", about {duration(self.embedding.eta_s)} left" if self.embedding.eta_s is not None else ""
            # The run counts distinct texts as it computes them; the store counts chunks as each
            # checkpoint saves them, so both are said (the first checkpoint can be 30 s away).
            run = self.embedding
            lines.append(f"embedded {self.embedded:,} of {c.chunks:,}; computing {run.done:,} of {run.total:,} "
                         f"distinct texts, {run.rate:.0f}/s{left} (saved every {filling.CHECKPOINT_SECONDS:.0f} s)")
            if self.embedding.shares:
                lines.append("  shared by " + ", ".join(f"{url} {n:,}" for url, n in self.embedding.shares.items()))
        elif self.unembedded and self.waiting:
            lines.append(f"embedded {self.embedded:,} of {c.chunks:,}; the rest wait, ranked by their words and any "
                         f"static vectors meanwhile: {self.waiting}")
        elif self.unembedded:
            lines.append(f"embedded {self.embedded:,} of {c.chunks:,}; nobody is embedding the rest "
                         "(the next search starts it)")
        else:
            lines.append(f"every chunk has its vector ({count(c.vectors, 'vector')})")
        if self.model:
            lines.append(f"model {self.model} ({self.dim} dims), "
                         + (f"computed by {self.engine}" if self.engine else "no vector computed yet"))
        if self.static_model:
            every = "every chunk" if self.static_chunks == c.chunks else f"{self.static_chunks:,} of {c.chunks:,} chunks"
            # Read beside the model's vectors too (ranking.Signals.static_blend, static_asked), not only until they are in.
            until = ("meaning for the chunks still without the model's vector; blended with it for the rest"
                     if self.unembedded else "blended with the model's vectors")
            lines.append(f"static tier {self.static_model}: {every} ({until})")
        if self.advice:
            lines.append(self.advice)
        size = f"{self.bytes / 1e6:.1f} MB on disk in {self.index_dir}"
        lines.append(size + (" (read-only)" if self.read_only else ""))
        if self.server:
            served = count(int(self.server.get("repositories", 1)), "repository", "repositories")
            lines.append(f"warm process: pid {self.server.get('pid')}, serving {served} "
                         f"({self.server.get('address', '')})")
        else:
            lines.append("warm process: none running (the next search starts one)")
        if self.background is not None:
            lines.append(f"last background update ({self.background.finished_at}): {self.background.describe()}")
        if self.checked:
            lines.append("integrity: every page and vector file read and found whole")
        return "\n".join(lines)


def status(ws: Workspace, background: Outcome | None = None, check: bool = False,
           server: dict[str, Any] | None = None, engine: EngineChoice | None = None) -> Status:
    """What the index holds, and which files differ from it now (read-only). `check`: read
    the whole index first, and raise if any of it is damaged. `engine`: the one the settings
    choose, asked (without loading it) whether it can embed what is missing."""
    with Store(ws.index_dir) as store:
        if check:
            store.check()
        meta = store.db.meta()
        change = changes.detect(
            ws,
            store.chunks,
            indexed_commit=meta.get("indexed_commit"),
            previously_dirty=set(json.loads(meta.get("dirty", "[]"))),
            scope=meta.get("scope", ""),
        )
        updated = meta.get("updated_at")
        unembedded = store.chunks.unembedded_count()
        try:
            waiting = filling.unavailable(store, engine) if engine is not None and unembedded else ""
        except CodeseekError as exc:  # settings that ask for another model: said as it is
            waiting = str(exc)
        return Status(
            root=str(ws.root),
            index_dir=str(ws.index_dir),
            indexed_commit=meta.get("indexed_commit"),
            head=ws.head(),
            scope=meta.get("scope") or None,
            counts=store.chunks.counts(),
            pending_files=sorted(set(change.files) | change.deleted),
            unembedded=unembedded,
            embedded=store.chunks.embedded_count(),
            embedding=read_progress(ws.index_dir),
            model=printable(meta.get("model")),
            dim=int(meta["dim"]) if "dim" in meta else None,
            engine=printable(f"{meta['engine']} {meta.get('engine_version', '')}".strip()) if meta.get("engine") else None,
            bytes=store.size_on_disk(),
            updated_at=time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(float(updated))) if updated else None,
            background=background,
            read_only=store.readonly,
            checked=check,
            server=server,
            advice=better_model(meta.get("model"), meta.get("engine", ""),
                                engine.settings.model_from if engine is not None else ""),
            static_model=printable(meta.get(STATIC_MODEL)),
            static_chunks=store.chunks.embedded_count(static=True) if meta.get(STATIC_MODEL) else 0,
            waiting=printable(waiting) or None,
        )


def better_model(model: str | None, engine: str = "", pinned: str = "") -> str | None:
    """A line for an index of a bundled model that is not the default now (a default of before,
    or a model under its former name): nothing is re-embedded behind the user's back, so
    `status` says how to switch (`pinned`: where a setting names the index's model)."""
    from .embedding import DEFAULT_MODEL
    from .embedding.base import to_default
    from .embedding.bundled import BUNDLED, vectors_of

    if model is None or model == DEFAULT_MODEL or model not in BUNDLED or BUNDLED[model].alternative:
        return None
    source = vectors_of(model, engine)
    switch = f"the default model is now {DEFAULT_MODEL} ({BUNDLED[DEFAULT_MODEL].about}); " \
             f"{to_default(model, pinned)} (every chunk is embedded again)"
    if source != model:
        switch = f"{model} is the former name of {source}, whose vectors this index holds; {switch}"
    from .embedding.sentence import torch_installed

    if BUNDLED[source].onnx is not None or torch_installed():
        return switch
    # Then nothing embeds the chunks that lack a vector: words and the static tier rank them.
    return f"{model} runs on torch, which is not installed here: `pip install 'codeseek[torch]'` brings it back, or {switch}"


def printable(text: str | None) -> str | None:
    """Text with control characters (terminal escape sequences) shown escaped, never sent raw."""
    if text is None:
        return None
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
