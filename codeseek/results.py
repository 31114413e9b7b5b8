"""What a search returns, and what it may be limited to: plain data, cheap to import (the
CLI builds these from a warm server's answer without loading the search machinery)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .storage import StoredChunk

MODES = ("hybrid", "semantic", "lexical")

@dataclass(frozen=True)
class Hit:
    path: str  # relative to the repository root, with /
    start_line: int  # 1-based, inclusive
    end_line: int
    symbol: str
    kind: str
    language: str
    score: float
    code: str
    why: dict[str, object] | None = None  # the ranking's reasons, when asked for (--explain)

    def to_json(self) -> dict[str, object]:
        out = asdict(self)
        if self.why is None:
            del out["why"]
        return out


@dataclass(frozen=True)
class Results:
    hits: list[Hit]
    mode: str
    unembedded: int = 0  # chunks without a vector yet: found by the lexical ranker only


@dataclass(frozen=True)
class Filters:
    """What to search. A path pattern with a leading `!` excludes; a pattern without
    wildcards matches a folder and everything below it."""

    paths: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    min_score: float | None = None
    include: tuple[str, ...] = field(init=False)
    exclude: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "include", tuple(p for p in self.paths if not p.startswith("!")))
        object.__setattr__(self, "exclude", tuple(p[1:] for p in self.paths if p.startswith("!")))

    def accepts(self, chunk: StoredChunk) -> bool:
        return (
            (not self.languages or chunk.language in self.languages)
            and (not self.kinds or chunk.kind in self.kinds)
            and (not self.include or any(_path_matches(chunk.path, p) for p in self.include))
            and not any(_path_matches(chunk.path, p) for p in self.exclude)
        )


def _path_matches(path: str, pattern: str) -> bool:
    pattern = pattern.removeprefix("./")
    if any(ch in pattern for ch in "*?["):
        return fnmatchcase(path, pattern) or fnmatchcase(path, pattern.replace("**/", ""))
    return path == pattern or path.startswith(pattern.rstrip("/") + "/")
