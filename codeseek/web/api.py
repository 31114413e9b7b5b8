"""What the web page's JSON API answers, apart from HTTP (server.py): searches through the same
`Searcher` as the command line (the warm process, so a search from the page is as fast as
one from a terminal), results with their code highlighted, a repository file to read, and
the index's status with the live embedding progress.

Every request body is checked by protocol.py (one definition for every front end); a file is
served only when `list_files` lists it, so the page can never read what the index would not.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from .. import languages, progress
from ..access import Searcher
from ..errors import CodeseekError
from ..kinds import Kind
from ..protocol import FindRequest, Mode, SimilarRequest
from ..repo import Workspace, list_files
from ..results import Results
from . import highlight

DEFAULT_EDITOR_URL = "vscode://file{path}:{line}"  # {path} is absolute: vscode://file/home/me/x.py:12
REFUSED_SCHEMES = ("javascript:", "data:", "vbscript:", "blob:")  # a link to these would run code in the page
MAX_FILE_BYTES = 2_000_000  # larger files are not shown (the index skips files over 1 MB anyway)
FILES_SECONDS = 2.0  # how long the list of files is trusted before git is asked again
STATUS_SECONDS = 5.0  # how long the full status is reused (it asks git what changed)
STATUS_FIELDS = ("indexed_commit", "head", "scope", "files", "skipped", "chunks", "vectors", "embedded", "total",
                 "unembedded", "pending", "model", "dim", "engine", "updated_at", "read_only", "advice",
                 "static_model", "static_chunks")


class NotFound(CodeseekError):
    """A file the page may not show, or a route that does not exist: answered 404."""


class TooLarge(CodeseekError):
    """A file too large or not text: answered 415."""


def editor_template(configured: str | None) -> str:
    """The "open in editor" URL template: the configured one unless it would run code when
    clicked (a config file comes with a cloned repository and is not to be trusted)."""
    if configured and not configured.strip().lower().startswith(REFUSED_SCHEMES) and ":" in configured:
        return configured
    return DEFAULT_EDITOR_URL


@dataclass
class Cached:
    """A value recomputed at most every `seconds` (shared by the server's threads)."""

    seconds: float
    compute: Callable[[], Any]
    _value: Any = None
    _at: float = -1e9
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self) -> Any:
        with self._lock:
            if time.monotonic() - self._at >= self.seconds:
                self._value = self.compute()
                self._at = time.monotonic()
            return self._value

    def forget(self) -> None:
        with self._lock:
            self._at = -1e9


class App:
    """The page's API for one repository."""

    def __init__(self, ws: Workspace, searcher: Searcher, editor_url: str | None = None) -> None:
        self.ws = ws
        self.searcher = searcher
        self.editor_url = editor_template(editor_url)
        self.files = Cached(FILES_SECONDS, lambda: frozenset(list_files(ws)))
        self.full_status = Cached(STATUS_SECONDS, lambda: searcher.status())

    # -- searches -----------------------------------------------------------------------

    def find(self, body: object) -> dict[str, Any]:
        request = FindRequest.from_json(body)
        began = time.perf_counter()
        results = self.searcher.find(request)
        return self._render(results, highlight.query_terms(request.query), began)

    def similar(self, body: object) -> dict[str, Any]:
        request = SimilarRequest.from_json(body)
        began = time.perf_counter()
        return self._render(self.searcher.similar(request), frozenset(), began)

    def _render(self, results: Results, terms: frozenset[str], began: float) -> dict[str, Any]:
        """The results as JSON, each hit with its code as highlighted lines and its editor link."""
        hits = []
        for hit in results.hits:
            matched = hit.why.get("matched") if hit.why else None
            marked = frozenset(map(str, matched)) if isinstance(matched, list) else terms
            hits.append({**hit.to_json(), "html": highlight.lines(hit.code, hit.language, hit.path, marked),
                         "editor": self.editor_link(hit.path, hit.start_line)})
        return {**results.to_json(), "hits": hits, "terms": sorted(terms),
                "took_ms": round((time.perf_counter() - began) * 1000, 1)}

    def editor_link(self, path: str, line: int) -> str:
        """The template filled in (by replacement: str.format would let a template reach into
        objects). `vscode://file/{path}` and `vscode://file{path}` both give one slash."""
        absolute = quote(str(self.ws.root / path), safe="/:@-._~")
        template = self.editor_url.replace("/{path}", "{path}") if absolute.startswith("/") else self.editor_url
        return template.replace("{path}", absolute).replace("{line}", str(int(line)))

    # -- a file ---------------------------------------------------------------------------

    def file(self, path: str, start: int, end: int, query: str = "") -> dict[str, Any]:
        """A repository file's lines, highlighted, with lines start..end to mark."""
        full = self._checked_path(path)
        data = _read_regular(full)
        if b"\0" in data[:8192]:
            raise TooLarge(f"{path} is a binary file")
        text = data.decode("utf-8", "replace")
        spec = languages.for_file(path, data)
        language = spec.name if spec else "text"
        return {"path": path, "language": language, "start": start, "end": end,
                "lines": highlight.lines(text, language, path, highlight.query_terms(query) if query.strip() else ()),
                "editor": self.editor_link(path, max(start, 1))}

    def _checked_path(self, path: str) -> Path:
        """The file's absolute path, if the page may show it: a file git tracks or would
        track (never an ignored one), inside the repository, not through a link."""
        pure = PurePosixPath(path)
        if not path or "\0" in path or "\\" in path or pure.is_absolute() or ".." in pure.parts:
            raise CodeseekError("path must be a file's path relative to the repository root, without ..")
        if path not in self.files.get():
            raise NotFound(f"{path} is not a file of this repository (only files git tracks or would track are shown)")
        full = self.ws.root / path
        root = self.ws.root.resolve()
        if not full.resolve().is_relative_to(root) or any(
                (root / Path(*pure.parts[:i])).is_symlink() for i in range(1, len(pure.parts) + 1)):
            raise NotFound(f"{path} is reached through a link: not shown")
        return full

    # -- what the page shows around results ---------------------------------------------

    def meta(self) -> dict[str, Any]:
        """The repository's name and what the filters offer: the languages its files are in."""
        found = {spec.name if (spec := languages.for_path(p)) else "text" for p in self.files.get()}
        return {"repository": self.ws.root.name, "root": str(self.ws.root), "languages": sorted(found),
                "kinds": [str(k) for k in Kind], "modes": [str(m) for m in Mode]}

    def status(self) -> dict[str, Any]:
        """The index's status; the embedding progress is read fresh on every call (a small
        file), the rest is reused for a few seconds (it asks git what changed)."""
        full = self.full_status.get()
        live = progress.read(self.ws.index_dir)
        if live is None and full.get("embedding"):  # it has just finished: count again
            self.full_status.forget()
            full = self.full_status.get()
        out = {k: full.get(k) for k in STATUS_FIELDS if k in full}
        out["embedding"] = live.to_json() if live else None
        return out


def _read_regular(full: Path) -> bytes:
    """A regular file's bytes, opened without following a link at its last step."""
    try:
        fd = os.open(full, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        raise NotFound(f"{full.name} no longer exists") from None
    except OSError as exc:
        raise NotFound(f"{full.name} cannot be read ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if info.st_size > MAX_FILE_BYTES:
            raise TooLarge(f"{full.name} is larger than {MAX_FILE_BYTES // 1_000_000} MB: open it in your editor")
        return handle.read(MAX_FILE_BYTES + 1)
