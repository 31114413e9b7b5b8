"""Query -> vector -> ranked hits."""

from __future__ import annotations

from dataclasses import asdict, dataclass

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


def find(store: Store, engine: EngineChoice, query: str, k: int = 10) -> list[Hit]:
    """The k chunks nearest in meaning to the query, best first."""
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
    total = store.counts()["vectors"]
    fetch = min(total, k * 2 + 10)
    while True:
        # Vectors no chunk uses any more (kept for branch switches) are over-fetched past.
        scored = store.search_vectors(vector, fetch)
        by_key = store.chunks_for_keys([key for key, _ in scored])
        hits = [
            Hit(c.path, c.start_line, c.end_line, c.symbol, c.kind, c.language, round(score, 4), c.content)
            for key, score in scored
            for c in by_key.get(key, [])
        ]
        if len(hits) >= k or fetch >= total:
            return hits[:k]
        fetch = min(total, fetch * 4)
