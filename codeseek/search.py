"""Query -> vector -> ranked hits."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from fnmatch import fnmatchcase

from .embedding import EngineChoice
from .errors import CodeseekError, ModelMismatch
from .storage import Store


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

    def to_json(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class Filters:
    """What to search. A path pattern with a leading `!` excludes; a pattern without
    wildcards matches a folder and everything below it."""

    paths: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    include: tuple[str, ...] = field(init=False)
    exclude: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "include", tuple(p for p in self.paths if not p.startswith("!")))
        object.__setattr__(self, "exclude", tuple(p[1:] for p in self.paths if p.startswith("!")))

    def accepts(self, path: str, language: str, kind: str) -> bool:
        return (
            (not self.languages or language in self.languages)
            and (not self.kinds or kind in self.kinds)
            and (not self.include or any(_path_matches(path, p) for p in self.include))
            and not any(_path_matches(path, p) for p in self.exclude)
        )


def _path_matches(path: str, pattern: str) -> bool:
    pattern = pattern.removeprefix("./")
    if any(ch in pattern for ch in "*?["):
        return fnmatchcase(path, pattern) or fnmatchcase(path, pattern.replace("**/", ""))
    return path == pattern or path.startswith(pattern.rstrip("/") + "/")


def find(store: Store, engine: EngineChoice, query: str, k: int = 10, filters: Filters | None = None) -> list[Hit]:
    """The k chunks nearest in meaning to the query, best first."""
    filters = filters or Filters()
    if not query.strip():
        raise CodeseekError("the query is empty")
    if k < 1:
        raise CodeseekError("-k must be at least 1")
    info = store.model_info()
    if info is None:
        return []
    engine.check_compatible(info)
    embedder = engine.embedder()
    if embedder.info != info:
        raise ModelMismatch(f"this index was built with {info.describe()}, not {embedder.info.describe()}")
    vector = embedder.embed_queries([query])[0]
    total = store.vector_count()
    fetch = min(total, k * 2 + 10)
    while True:
        # Vectors no chunk uses any more (kept for branch switches), and chunks the filters
        # reject, are over-fetched past: at worst the search becomes exhaustive.
        scored = store.search_vectors(vector, fetch)
        by_key = store.chunks_for_keys([key for key, _ in scored])
        hits = [
            Hit(c.path, c.start_line, c.end_line, c.symbol, c.kind, c.language, round(score, 4), c.content)
            for key, score in scored
            for c in by_key.get(key, [])
            if filters.accepts(c.path, c.language, c.kind)
        ]
        if len(hits) >= k or fetch >= total:
            return hits[:k]
        fetch = min(total, fetch * 4)
