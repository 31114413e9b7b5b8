"""How every front end (the command line, MCP, the web page) reaches the search: through the
warm process, started when none runs, or in this process when none may run (CODESEEK_SERVER=0,
`server = false`): the same answers either way, the second only slower."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from . import __version__, client, config
from .errors import RefusedPath
from .freshness import Who
from .protocol import FindRequest, SimilarRequest, UpdateRequest
from .repo import Workspace
from .results import Results

if TYPE_CHECKING:
    from .indexing import UpdateResult


class Searcher(Protocol):
    def find(self, request: FindRequest) -> Results: ...

    def similar(self, request: SimilarRequest) -> Results: ...

    def update(self, request: UpdateRequest) -> dict[str, Any]: ...

    def status(self, check: bool = False) -> dict[str, Any]: ...

    def close(self) -> None: ...


@dataclass
class Warm:
    """Through the user's warm process, of this version (where a newer codeseek's runs, this
    older one searches in its own process rather than stop it)."""

    ws: Workspace
    flags: dict[str, object] = field(default_factory=dict)
    alone: Local | None = None

    def _ask(self, route: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """The answer; None where a newer version's warm process runs (then `self.alone` answers)."""
        if self.alone is not None:
            return None
        payload = {"repo": {"root": str(self.ws.root), "index_dir": str(self.ws.index_dir)},
                   "engine": self.flags, **body}
        answer = client.call(route, payload, version=__version__)
        if answer is None:  # it exited meanwhile (idle, killed), or another version's runs: start ours, once
            try:
                client.start(__version__)
            except client.NewerServer:
                self.alone = Local(self.ws, self.flags)
                return None
            answer = client.call(route, payload, version=__version__)
        if answer is None:
            raise client.ServerError("the warm process stopped answering")
        return answer

    def find(self, request: FindRequest) -> Results:
        answer = self._ask("/find", {"request": request.to_json()})
        return Results.from_json(answer) if answer is not None else self.alone.find(request)  # type: ignore[union-attr]

    def similar(self, request: SimilarRequest) -> Results:
        answer = self._ask("/similar", {"request": request.to_json()})
        return Results.from_json(answer) if answer is not None else self.alone.similar(request)  # type: ignore[union-attr]

    def update(self, request: UpdateRequest) -> dict[str, Any]:
        answer = self._ask("/update", {"request": request.to_json()})
        return answer if answer is not None else self.alone.update(request)  # type: ignore[union-attr]

    def status(self, check: bool = False) -> dict[str, Any]:
        answer = self._ask("/status", {"check": check})
        return answer if answer is not None else self.alone.status(check)  # type: ignore[union-attr]

    def close(self) -> None:
        if self.alone is not None:
            self.alone.close()


@dataclass
class Local:
    """In this process: the model loads here, for this command alone."""

    ws: Workspace
    flags: dict[str, object] = field(default_factory=dict)
    indexed: UpdateResult | None = None  # the first index this process has just made (service.Repository)

    def __post_init__(self) -> None:
        from .embedding import Models
        from .service import Repository

        self.repository = Repository(self.ws, Models(), WorkerProcess(self.ws), watching=False, indexed=self.indexed)

    def find(self, request: FindRequest) -> Results:
        return self.repository.find(request, self.flags)

    def similar(self, request: SimilarRequest) -> Results:
        return self.repository.similar(request, self.flags)

    def update(self, request: UpdateRequest) -> dict[str, Any]:
        result = self.repository.update(request, self.flags)
        return {"summary": result.summary(), "pending": result.pending}

    def status(self, check: bool = False) -> dict[str, Any]:
        return self.repository.status(check).to_json()

    def close(self) -> None:
        self.repository.close()


class WorkerProcess:
    """Vectors filled in by a detached worker process (the git hooks' worker)."""

    who = Who.WORKER

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    def running(self) -> bool:
        from . import hooks

        return hooks.worker_running(self.ws)

    def start(self) -> str:
        from . import hooks

        return f"a background worker (pid {hooks.spawn(self.ws, 'background')})"


def searcher(ws: Workspace, flags: dict[str, object], cfg: config.Config, made: bool = False,
             indexed: UpdateResult | None = None) -> tuple[Searcher, bool]:
    """The way to search this repository, and whether a warm process was started for it.
    `made`: this process has just made the repository's first index, too large to embed before
    answering: it answers this search itself, and the warm process is launched beside that
    answer, for the searches after it (`client.launch`); the vectors are handed to it by the
    background worker the answer starts (hooks.py). `indexed`: that first index, where this
    process has just made one: a search answered here takes it as its freshness check."""
    if not config.server_enabled(cfg):
        return Local(ws, flags, indexed), False
    config.server_idle()  # a wrong value is named here, not by a warm process that fails to start
    try:
        if made:
            return Local(ws, flags, indexed), client.launch(__version__)
        return Warm(ws, flags), client.start(__version__)
    except RefusedPath as exc:  # a default runtime folder that is a link, or another user's
        print(f"codeseek: {exc}; searching in this process", file=sys.stderr)
    except client.NewerServer:  # a newer codeseek's warm process: this older one works alone
        pass
    except OSError as exc:  # the log or a lock of the runtime folder (a start says why it failed next time too)
        print(f"codeseek: the warm process could not start ({exc}); searching in this process", file=sys.stderr)
    return Local(ws, flags, indexed), False
