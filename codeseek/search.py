"""Query -> ranked hits: dense vectors, lexical BM25, or both fused."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .embedding import EngineChoice
from .errors import CodeseekError
from .lexical import match_expression
from .results import MODES, Filters, Hit, Results
from .storage import Store, StoredChunk

DEPTH = 50  # candidates taken from each ranker before fusing
# Share of the dense score in a hybrid score. Chosen on benchmarks/quality.py, where score
# fusion beat reciprocal rank fusion: RRF ignores how sure each ranker is, and on questions
# in words the dense ranker is the surer one (see benchmarks/README.md).
DENSE_WEIGHT = 0.8

Ranked = list[tuple[StoredChunk, float]]


def find(
    store: Store,
    engine: EngineChoice | None,
    query: str,
    k: int = 10,
    filters: Filters | None = None,
    mode: str = "hybrid",
) -> Results:
    """The k chunks that best match the query, best first. Lexical mode loads no model."""
    if not query.strip():
        raise CodeseekError("the query is empty")
    if k < 1:
        raise CodeseekError("-k must be at least 1")
    if mode not in MODES:
        raise CodeseekError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
    filters = filters or Filters()
    depth = max(DEPTH, k * 3)
    if mode == "lexical":
        return Results(_hits(_lexical(store, query, depth, filters), k, filters), mode, store.unembedded_count())
    if engine is None:
        raise CodeseekError(f"{mode} search needs an embedding engine")
    with ThreadPoolExecutor(max_workers=1) as pool:
        # BM25 runs inside SQLite while torch embeds the query: both release the GIL.
        lexical = pool.submit(_lexical, store, query, depth, filters) if mode == "hybrid" else None
        vector = _query_vector(store, engine, query)
        dense = _dense(store, vector, depth, filters.accepts) if vector is not None else []
        ranked = fuse(dense, lexical.result()) if lexical is not None else dense
    return Results(_hits(ranked, k, filters), mode, store.unembedded_count())


def similar(store: Store, engine: EngineChoice, target: StoredChunk, k: int = 10,
            filters: Filters | None = None) -> Results:
    """The chunks nearest in meaning to an existing one: duplicates and prior art."""
    filters = filters or Filters()
    vectors = store.vectors_for([target.vector_key])
    if target.vector_key not in vectors:
        raise CodeseekError(f"{target.path}:{target.start_line} has no vector yet: run `codeseek update`")
    ranked = _dense(store, vectors[target.vector_key], k + 1, lambda c: c.id != target.id and filters.accepts(c))
    return Results(_hits(ranked, k, filters), "semantic", store.unembedded_count())


def locate(store: Store, where: str) -> StoredChunk:
    """The chunk a user means by `PATH:LINE` or by a symbol name."""
    path, _, line = where.rpartition(":")
    found = store.chunks_at(path, line=int(line)) if path and line.isdigit() else store.chunks_at("", symbol=where)
    if not found:
        raise CodeseekError(f"no indexed chunk at {where!r}: give PATH:LINE or a symbol name")
    return found[0]


def fuse(dense: Ranked, lexical: Ranked, dense_weight: float = DENSE_WEIGHT) -> Ranked:
    """Score fusion: each ranker's scores scaled to 0..1 over its candidates (min-max), then
    mixed; a chunk only one ranker found gets nothing from the other."""
    scores: dict[int, float] = {}
    chunks: dict[int, StoredChunk] = {}
    for ranking, weight in ((dense, dense_weight), (lexical, 1.0 - dense_weight)):
        if not ranking:
            continue
        top, low = ranking[0][1], ranking[-1][1]
        for chunk, score in ranking:
            scaled = (score - low) / (top - low) if top > low else 1.0
            scores[chunk.id] = scores.get(chunk.id, 0.0) + weight * scaled
            chunks[chunk.id] = chunk
    return [(chunks[i], score) for i, score in sorted(scores.items(), key=lambda kv: -kv[1])]


def _hits(ranked: Ranked, k: int, filters: Filters) -> list[Hit]:
    """The best k, each definition once: of a long definition's parts, the best-scoring one."""
    hits: list[Hit] = []
    parts_seen: set[tuple[str, str, str]] = set()
    for c, score in ranked:
        if len(hits) == k or (filters.min_score is not None and score < filters.min_score):
            break
        if c.part:
            if (c.path, c.symbol, c.kind) in parts_seen:
                continue
            parts_seen.add((c.path, c.symbol, c.kind))
        hits.append(Hit(c.path, c.start_line, c.end_line, c.symbol, c.kind, c.language, round(score, 4), c.content))
    return hits


def _query_vector(store: Store, engine: EngineChoice, query: str) -> np.ndarray | None:
    info = store.model_info()
    if info is None:
        return None
    return engine.embedder_for(info).embed_queries([query])[0]


def _dense(store: Store, vector: np.ndarray, depth: int, accept: Callable[[StoredChunk], bool]) -> Ranked:
    total = store.vector_count()
    fetch = min(total, depth * 2 + 10)
    while True:
        # Vectors no chunk uses any more (kept for branch switches), and chunks the filters
        # reject, are over-fetched past: at worst the search becomes exhaustive.
        scored = store.search_vectors(vector, fetch)
        by_key = store.chunks_for_keys([key for key, _ in scored])
        ranked = [(c, score) for key, score in scored for c in by_key.get(key, []) if accept(c)]
        if len(ranked) >= depth or fetch >= total:
            return ranked[:depth]
        fetch = min(total, fetch * 4)


def _lexical(store: Store, query: str, depth: int, filters: Filters) -> Ranked:
    expression = match_expression(query)
    if expression is None:
        return []
    fetch = depth
    while True:
        rows = store.lexical(expression, fetch)
        ranked = [(c, score) for c, score in rows if filters.accepts(c)]
        if len(ranked) >= depth or len(rows) < fetch:
            return ranked[:depth]
        fetch *= 4
