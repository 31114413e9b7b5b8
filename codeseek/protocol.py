"""What a search asks for: one typed definition of each request, shared by every front end
(the command line, the warm server's HTTP API, MCP, the web page).

A request from outside this process (JSON over a socket, an agent's tool call) is checked
field by field here, and a wrong one is refused with the field's name and what it must be;
nothing reaches the search machinery as an unchecked dict.
"""

from __future__ import annotations

import math
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Any, Protocol, TypeVar

from . import aliases
from .errors import CodeseekError

MAX_K = 1000
MAX_QUERY = 10_000  # characters
MAX_LIST = 100  # entries of a filter list
MAX_LINE = 1 << 31
E = TypeVar("E", bound=StrEnum)


class BadRequest(CodeseekError):
    """A request that is not what its fields must be."""


class Mode(StrEnum):
    """How candidates are ranked: by meaning and words, meaning only, or words only."""

    HYBRID = "hybrid"
    SEMANTIC = "semantic"
    LEXICAL = "lexical"


class Source(StrEnum):
    """What an update indexes: the working tree, the staged content, or HEAD alone."""

    WORKTREE = "worktree"
    STAGED = "staged"
    COMMITTED = "committed"


class Wait(StrEnum):
    """What a search waits for before answering: every missing vector (all), none (words
    rank the chunks without one), or a few, with the rest left to a background worker (auto)."""

    ALL = "all"
    NONE = "none"
    AUTO = "auto"


class Located(Protocol):
    """What a filter looks at (a stored chunk)."""

    path: str
    language: str
    kind: str


@dataclass(frozen=True)
class Filters:
    """What to search. A path pattern with a leading `!` excludes; a name without a slash (a
    file's or a folder's) matches at any depth, as in .gitignore; a folder matches everything
    below it. Languages and kinds are taken in any case and by their usual aliases (`py`,
    `c++`, `fn`): an unknown one is refused with the list, never answered "no matches"."""

    paths: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    min_score: float | None = None
    include: tuple[str, ...] = field(init=False, repr=False, compare=False)
    exclude: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for pattern in self.paths:
            check_glob(pattern)
        object.__setattr__(self, "languages", _canonical(self.languages, "language", aliases.language,
                                                         aliases.LANGUAGES))
        object.__setattr__(self, "kinds", _canonical(self.kinds, "kind", aliases.kind, aliases.KINDS))
        object.__setattr__(self, "include", tuple(p for p in self.paths if not p.startswith("!")))
        object.__setattr__(self, "exclude", tuple(p[1:] for p in self.paths if p.startswith("!")))

    def accepts(self, chunk: Located) -> bool:
        return (
            (not self.languages or chunk.language in self.languages)
            and (not self.kinds or chunk.kind in self.kinds)
            and (not self.include or any(path_matches(chunk.path, p) for p in self.include))
            and not any(path_matches(chunk.path, p) for p in self.exclude)
        )

    def to_json(self) -> dict[str, Any]:
        return {"paths": list(self.paths), "languages": list(self.languages), "kinds": list(self.kinds),
                "min_score": self.min_score}

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Filters:
        return cls(_strings(body, "paths"), _strings(body, "languages"), _strings(body, "kinds"),
                   _number(body, "min_score"))


def _canonical(names: tuple[str, ...], what: str, lookup: Callable[[str], str | None],
               known: dict[str, Any]) -> tuple[str, ...]:
    out = []
    for name in names:
        found = lookup(checked_text(name, what))
        if found is None:
            raise BadRequest(f"unknown {what} {name[:40]!r}; known: {', '.join(map(str, known))}")
        out.append(found)
    return tuple(dict.fromkeys(out))


def checked_text(text: str, what: str) -> str:
    """Text that is whole UTF-8 (no lone surrogate: an undecodable byte on the command line
    arrives as one) and holds no NUL; else refused, naming the field."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(f"{what} is not valid UTF-8 text (a byte that is no character)") from None
    if "\0" in text:
        raise BadRequest(f"{what} holds a NUL character")
    return text


def check_glob(pattern: str) -> None:
    """A path pattern that means something: not empty, and every `[` closed."""
    checked_text(pattern, "a path pattern")
    body = pattern.removeprefix("!")
    if not body.strip("/").removeprefix("./"):
        raise BadRequest(f"the path pattern {pattern!r} is empty")
    i = 0
    while i < len(body):
        if body[i] == "[":
            j = i + 1 + (body[i + 1: i + 2] == "!")
            j += body[j: j + 1] == "]"  # a `]` first in the set is one of its characters
            close = body.find("]", j)
            if close < 0:
                raise BadRequest(f"the path pattern {pattern[:80]!r} has a `[` that is never closed")
            i = close
        i += 1


def path_matches(path: str, pattern: str) -> bool:
    """Whether a repository path matches a pattern, as .gitignore would have it: a pattern
    without a slash (but a trailing one) matches a file or folder name at any depth; a
    leading slash anchors it at the root; a folder matches everything below it."""
    pattern = pattern.removeprefix("./")
    anchored = pattern.startswith("/") or "/" in pattern.rstrip("/")
    pattern = pattern.lstrip("/")
    if any(ch in pattern for ch in "*?["):
        return (fnmatchcase(path, pattern) or fnmatchcase(path, pattern.replace("**/", ""))
                or not anchored and fnmatchcase(path.rpartition("/")[2], pattern))
    name = pattern.rstrip("/")
    if path == name or path.startswith(name + "/"):
        return True
    return not anchored and (f"/{name}/" in f"/{path}" or path.endswith(f"/{name}"))


@dataclass(frozen=True)
class FindRequest:
    query: str
    k: int = 10
    mode: Mode = Mode.HYBRID
    filters: Filters = Filters()
    explain: bool = False
    no_update: bool = False  # search the index as it is
    wait: Wait = Wait.AUTO

    def __post_init__(self) -> None:
        checked_text(self.query, "the query")
        if not self.query.strip():
            raise BadRequest("the query is empty")
        if len(self.query) > MAX_QUERY:
            raise BadRequest(f"the query is longer than {MAX_QUERY:,} characters")
        check_k(self.k)

    def to_json(self) -> dict[str, Any]:
        return {"query": self.query, "k": self.k, "mode": str(self.mode), **self.filters.to_json(),
                "explain": self.explain, "no_update": self.no_update, "wait": str(self.wait)}

    @classmethod
    def from_json(cls, body: object) -> FindRequest:
        fields_ = _object(body, {"query", "k", "mode", "paths", "languages", "kinds", "min_score", "explain",
                                 "no_update", "wait", "no_wait"})
        wait = _choice(fields_, "wait", Wait, Wait.AUTO)
        if _flag(fields_, "no_wait"):
            wait = Wait.NONE
        return cls(_text(fields_, "query"), _k(fields_), _choice(fields_, "mode", Mode, Mode.HYBRID),
                   Filters.from_json(fields_), _flag(fields_, "explain"), _flag(fields_, "no_update"), wait)


@dataclass(frozen=True)
class SimilarRequest:
    where: str  # PATH:LINE or a symbol
    k: int = 10
    filters: Filters = Filters()
    no_update: bool = False

    def __post_init__(self) -> None:
        checked_text(self.where, "where")
        if not self.where.strip():
            raise BadRequest("where is empty: give PATH:LINE or a symbol name")
        path, _, line = self.where.rpartition(":")
        if path and line.isdigit() and int(line) >= MAX_LINE:
            raise BadRequest(f"line {line} is past the end of any file")
        check_k(self.k)

    def to_json(self) -> dict[str, Any]:
        return {"where": self.where, "k": self.k, **self.filters.to_json(), "no_update": self.no_update}

    @classmethod
    def from_json(cls, body: object) -> SimilarRequest:
        fields_ = _object(body, {"where", "k", "paths", "languages", "kinds", "min_score", "no_update"})
        return cls(_text(fields_, "where"), _k(fields_), Filters.from_json(fields_), _flag(fields_, "no_update"))


@dataclass(frozen=True)
class RepoRef:
    """The repository a request is about, as absolute paths: a relative or empty one would be
    resolved against the warm process's own working folder (its private runtime folder). Checked
    as text here; the service checks what they name."""

    root: str
    index_dir: str | None = None

    @classmethod
    def from_json(cls, body: object) -> RepoRef:
        if not isinstance(body, dict):
            raise BadRequest("repo must be an object with the repository's root folder")
        raw = _object(body, {"root", "index_dir"})
        return cls(_absolute(raw, "root"), None if raw.get("index_dir") is None else _absolute(raw, "index_dir"))


def _absolute(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str):
        raise BadRequest(f"repo.{name} must be an absolute path")
    checked_text(value, f"repo.{name}")
    if not posixpath.isabs(value) or len(value) > 4096:
        raise BadRequest(f"repo.{name} must be an absolute path")
    return value


@dataclass(frozen=True)
class UpdateRequest:
    source: Source = Source.WORKTREE

    def to_json(self) -> dict[str, Any]:
        return {"source": str(self.source)}

    @classmethod
    def from_json(cls, body: object) -> UpdateRequest:
        fields_ = _object(body, {"source", "background"})
        return cls(_choice(fields_, "source", Source, Source.WORKTREE))


@dataclass(frozen=True)
class StatusRequest:
    check: bool = False  # read the whole index, and fail if any of it is damaged

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> StatusRequest:
        return cls(_flag(body, "check"))


def check_k(k: object) -> None:
    if type(k) is not int or not 1 <= k <= MAX_K:
        raise BadRequest(f"k must be a whole number from 1 to {MAX_K}")


# JSON Schema of the fields above, for agents (MCP's tool definitions).
FILTER_SCHEMA: dict[str, Any] = {
    "k": {"type": "integer", "minimum": 1, "maximum": MAX_K, "description": "How many results (default 10)."},
    "paths": {"type": "array", "items": {"type": "string"}, "maxItems": MAX_LIST,
              "description": "Path globs; a leading ! excludes; a name without a slash (utils.py) matches at any "
                             "depth; a folder matches everything below it."},
    "languages": {"type": "array", "items": {"type": "string"}, "maxItems": MAX_LIST,
                  "description": f"Only these languages: {', '.join(aliases.LANGUAGES)} (or py, ts, golang...)."},
    "kinds": {"type": "array", "items": {"type": "string"}, "maxItems": MAX_LIST,
              "description": f"Only these kinds: {', '.join(map(str, aliases.KINDS))}."},
}
FIND_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"query": {"type": "string", "description": "What the code should do, or an identifier."},
                   "mode": {"type": "string", "enum": [str(m) for m in Mode]}, **FILTER_SCHEMA},
    "required": ["query"],
}
SIMILAR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"where": {"type": "string", "description": "PATH:LINE or a symbol, e.g. Parser.parse"},
                   **FILTER_SCHEMA},
    "required": ["where"],
}


def _object(body: object, known: set[str]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("the request must be a JSON object")
    unknown = sorted(str(k) for k in body if k not in known)
    if unknown:
        raise BadRequest(f"unknown field {unknown[0][:40]!r}; known: {', '.join(sorted(known))}")
    return body


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be a string")
    return value


def _k(body: dict[str, Any]) -> int:
    value = body.get("k", 10)
    check_k(value)
    return int(value)


def _flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise BadRequest(f"{name} must be true or false")
    return value


def _strings(body: dict[str, Any], name: str) -> tuple[str, ...]:
    value = body.get(name)
    if value is None:
        return ()
    if not isinstance(value, list | tuple) or len(value) > MAX_LIST or not all(
            isinstance(v, str) and 0 < len(v) <= 4096 for v in value):
        raise BadRequest(f"{name} must be a list of at most {MAX_LIST} strings")
    return tuple(value)


def _number(body: dict[str, Any], name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadRequest(f"{name} must be a number")
    return float(value)


def _choice(body: dict[str, Any], name: str, enum: type[E], default: E) -> E:
    value = body.get(name, str(default))
    try:
        return enum(value)
    except ValueError:
        raise BadRequest(f"{name} must be one of {', '.join(str(m) for m in enum)}") from None
