"""Query -> candidates -> ranking -> hits. Candidates come from the dense index, BM25 and
the table of definition names; ranking.py orders them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np

from . import evidence, meanings, ranking
from .candidates import Candidate
from .embedding import Embedder, EngineChoice, ModelInfo, static_tier
from .embedding.base import normalise
from .errors import CodeseekError, EngineUnavailable
from .index import Store, StoredChunk
from .index.segments import Vectors
from .lexical import idf, match_expression, match_expressions
from .protocol import Filters, Mode, check_k
from .query import issue_title
from .results import Hit, Results
from .words import count

DEPTH = 50  # candidates taken from each ranker
FILE_PASS_ADDS = 10  # a long query's best files by the file pass whose best chunk joins the candidates
MAX_OTHERS = 5  # other definitions of a name `similar` lists

Ranked = list[tuple[StoredChunk, float]]


def find(
    store: Store,
    engine: EngineChoice | None,
    query: str,
    k: int = 10,
    filters: Filters | None = None,
    mode: Mode = Mode.HYBRID,
    signals: ranking.Signals = ranking.DEFAULT,
    explain: bool = False,
) -> Results:
    """The k chunks that best match the query, best first. Lexical mode loads no model, and
    hybrid mode falls back to words, saying so, when the engine cannot be reached."""
    if not query.strip():
        raise CodeseekError("the query is empty")
    check_k(k)
    if mode != Mode.LEXICAL and engine is None:
        raise CodeseekError(f"{mode} search needs an embedding engine")
    filters = filters or Filters()
    parsed = ranking.Query.parse(query)
    depth = max(DEPTH, k * 3)
    # Read before the pool starts: the connection is shared, and a query waiting for it would
    # serialise the overlap below.
    info = store.db.model_info() if engine is not None and mode != Mode.LEXICAL else None
    spaces = _spaces(store, info, mode, signals, ranking.static_share(parsed, signals))
    if mode == Mode.HYBRID and not spaces.transformer and spaces.tier is None:
        mode = Mode.LEXICAL  # no vector yet (a first index filling in): words alone, and no model to load
    notes: tuple[str, ...] = ()
    filling = True
    # A long query's terms are many already: its words' families were not measured on issues.
    short, derived = bool(signals.abbreviation), bool(signals.derivation) and not parsed.is_long
    inflected = parsed.inflected(short, derived) if signals.inflection else []
    counts, total = store.chunks.term_counts([*parsed.terms, *inflected]) if parsed.terms else ({}, 0)
    if inflected:
        parsed = parsed.held(counts, short, derived)
    with ThreadPoolExecutor(max_workers=1) as pool:
        # SQLite (BM25, names) runs in the pool while the engine embeds the query: both release the GIL.
        worded = (pool.submit(_by_words, store, parsed, depth, filters, signals, (counts, total))
                  if mode != Mode.SEMANTIC else None)
        static_vector = spaces.tier.embed_queries([query])[0] if spaces.tier is not None else None
        try:
            vector = (_query_vector(engine, info, query, signals.long_title if parsed.is_long else 0.0)
                      if engine is not None and info is not None and mode != Mode.LEXICAL and spaces.transformer
                      else None)
        except EngineUnavailable as exc:
            if mode == Mode.SEMANTIC and static_vector is None:
                raise
            vector, filling = None, False  # nor can missing vectors be embedded: the note says so, once
            if static_vector is None:
                mode, notes = Mode.LEXICAL, (f"{exc}: ranked by words alone",)
            else:
                notes = (f"{exc}: ranked by the static tier and words",)
        dense = _dense(store, store.vectors, vector, depth, filters.accepts) if vector is not None else []
        static_dense = (_dense(store, store.static, static_vector, depth, filters.accepts)
                        if static_vector is not None else [])
        words, files = worded.result() if worded is not None else ([], {})
    chunks = {c.id: c for c, _ in dense} | {c.id: c for c, _ in static_dense} | {c.id: c for c in words}
    cosines = {c.id: score for c, score in dense}
    if vector is not None:
        _exact_cosines(store.vectors, vector, [c for c in chunks.values() if c.id not in cosines], cosines)
    static_cosines = {c.id: score for c, score in static_dense}
    if static_vector is not None:
        _exact_cosines(store.static, static_vector, [c for c in chunks.values() if c.id not in static_cosines],
                       static_cosines)
    terms = store.chunks.indexed_terms(list(chunks))
    candidates = [Candidate(c.id, c.path, c.kind, c.symbol, cosines.get(c.id), terms.get(c.id, ("", "", "")),
                                    static_cosine=static_cosines.get(c.id), start_line=c.start_line,
                                    end_line=c.end_line, shape=evidence.shape_of(c.kind, c.content, c.path, c.context),
                                    deprecated=evidence.deprecated(c.content, c.path) if c.kind.is_named else False,
                                    quoted=evidence.quoted(c.content, parsed.code_lines) if parsed.is_long else 0)
                  for c in chunks.values()]
    _deprecated_scopes(store, candidates, chunks)
    floor = dense[-1][1] if dense else None
    static_floor = static_dense[-1][1] if static_dense else None
    ranked = ranking.rank(parsed, candidates, counts, total, floor, mode, limit=k * 2, signals=signals, files=files,
                          static_floor=static_floor, versions=store.versions.newest() if signals.legacy_trees else None)
    used = meanings.spaces_used(vector is not None, static_vector is not None)
    return Results(_hits(ranked, chunks, k, filters, explain), mode, store.chunks.unembedded_count(), notes,
                   vectors=used, filling=filling)


def _deprecated_scopes(store: Store, candidates: list[Candidate], chunks: dict[int, StoredChunk]) -> None:
    """A member of a deprecated module, class or impl is deprecated too (rand's `#[deprecated] pub
    mod alias_method` holds a `WeightedIndex::new`). Its enclosing chunks are read only where it
    can matter: a nested definition whose name another candidate shares."""
    names = Counter(evidence.definition_key(c.symbol) for c in candidates if c.kind.is_named)
    for c in candidates:
        if c.deprecated or not chunks[c.id].context or names[evidence.definition_key(c.symbol)] < 2:
            continue
        c.deprecated = any(o.id != c.id and o.kind.is_named and evidence.deprecated(o.content, o.path)
                           for o in store.chunks.at(c.path, line=c.start_line))


@dataclass(frozen=True)
class Spaces:
    """Which vector spaces a search reads: the transformer's, and the static tier (loaded) if
    its vectors are there and the transformer's do not cover every chunk (or the ranking
    blends both)."""

    transformer: bool
    tier: Embedder | None


def _spaces(store: Store, info: ModelInfo | None, mode: Mode, signals: ranking.Signals, share: float) -> Spaces:
    """The spaces a search reads: the static tier where a chunk lacks the transformer's vector, or its `share` of
    a chunk's meaning (ranking.static_share) is above nothing."""
    if info is None:
        return Spaces(False, None)
    transformer = store.vectors.count() > 0 or mode == Mode.SEMANTIC
    if not signals.static_tier or store.static.count() == 0:
        return Spaces(transformer, None)
    tier = static_tier(info.model)
    missing = not transformer or store.chunks.unembedded_count() > 0
    return Spaces(transformer and not signals.static_only,
                  tier if missing or share > 0 or signals.static_only else None)


def similar(store: Store, engine: EngineChoice, target: StoredChunk, k: int = 10,
            filters: Filters | None = None) -> Results:
    """The chunks nearest in meaning to an existing one: duplicates and prior art."""
    filters = filters or Filters()
    check_k(k)
    # The transformer's space once every chunk has its vector there; the static tier's before.
    space = store.vectors if store.chunks.unembedded_count() == 0 or store.static.count() == 0 else store.static
    vectors = space.get([target.vector_key])
    if target.vector_key not in vectors:
        raise CodeseekError(f"{target.path}:{target.start_line} has no vector yet: `codeseek index` embeds it")
    ranked = _dense(store, space, vectors[target.vector_key], k + 1,
                    lambda c: c.id != target.id and filters.accepts(c))
    used = meanings.spaces_used(space is store.vectors, space is store.static)
    return Results(_cosine_hits(ranked, k, filters), Mode.SEMANTIC, store.chunks.unembedded_count(), vectors=used)


def similar_to(store: Store, engine: EngineChoice, where: str, k: int = 10, filters: Filters | None = None) -> Results:
    """`similar` for what the user gave (`PATH:LINE` or a name). A name with several
    definitions uses the first (the shortest qualified name) and says which, with the others,
    in a note: the answer stays one list of hits."""
    found = candidates(store, where)
    results = similar(store, engine, found[0], k, filters)
    if len(found) == 1 or _is_location(where):
        return results
    shown = [f"{c.path}:{c.start_line} ({c.symbol})" for c in found[1:MAX_OTHERS + 1]]
    more = f" and {len(found) - 1 - MAX_OTHERS:,} more" if len(found) - 1 > MAX_OTHERS else ""
    note = (f"{where!r} has {count(len(found), 'definition')}: showing code like {found[0].path}:"
            f"{found[0].start_line} ({found[0].symbol}); the {'other' if len(found) == 2 else 'others'}: "
            f"{', '.join(shown)}{more}; give PATH:LINE to choose another")
    return replace(results, notes=(*results.notes, note))


def locate(store: Store, where: str) -> StoredChunk:
    """The chunk a user means by `PATH:LINE` or by a symbol name."""
    return candidates(store, where)[0]


def candidates(store: Store, where: str) -> list[StoredChunk]:
    """The chunks `PATH:LINE` (innermost first) or a symbol name (shortest name first) may mean."""
    path, _, line = where.rpartition(":")
    found = store.chunks.at(path, line=int(line)) if _is_location(where) else store.chunks.at("", symbol=where)
    if not found:
        raise CodeseekError(f"no indexed chunk at {where!r}: give PATH:LINE or a symbol name")
    return found


def _is_location(where: str) -> bool:
    path, _, line = where.rpartition(":")
    return bool(path) and line.isdigit()


def _hits(ranked: list[Candidate], chunks: dict[int, StoredChunk], k: int, filters: Filters,
          explain: bool) -> list[Hit]:
    """The best k, above the minimum score if there is one."""
    hits: list[Hit] = []
    for candidate in ranked:
        c, score = chunks[candidate.id], candidate.score * candidate.spread
        if len(hits) == k or (filters.min_score is not None and score < filters.min_score):
            break
        hits.append(Hit(c.path, c.start_line, c.end_line, c.symbol, c.kind, c.language, round(score, 4), c.content,
                        candidate.explain() if explain else None))
    return hits


def _cosine_hits(ranked: Ranked, k: int, filters: Filters) -> list[Hit]:
    """Hits in cosine order (`similar`)."""
    candidates = [Candidate(c.id, c.path, c.kind, c.symbol, score, score=score) for c, score in ranked]
    return _hits(candidates, {c.id: c for c, _ in ranked}, k, filters, explain=False)


def _exact_cosines(space: Vectors, vector: np.ndarray, chunks: list[StoredChunk], into: dict[int, float]) -> None:
    """Cosines of candidates the dense search did not reach (found by words or name)."""
    vectors = space.get([c.vector_key for c in chunks])
    for c in chunks:
        if c.vector_key in vectors:
            into[c.id] = float(vectors[c.vector_key] @ vector)


def _query_vector(engine: EngineChoice, info: ModelInfo, query: str, title: float = 0.0) -> np.ndarray:
    """The query's vector; with `title` (a long query's `Signals.long_title`), its whole text's
    plus `title` times its first line's: an issue's title says what is wrong, its body how (a
    traceback's first line says nothing: then the text alone)."""
    embedder = engine.embedder_for(info)
    head = issue_title(query) if title else ""
    with engine.lock:
        if not head:
            return embedder.embed_queries([query])[0]
        whole, first = embedder.embed_queries([query, head])
    return normalise((whole + title * first)[None])[0]


def _dense(store: Store, space: Vectors, vector: np.ndarray, depth: int,
           accept: Callable[[StoredChunk], bool]) -> Ranked:
    total = space.count()
    fetch = min(total, depth * 2 + 10)
    while True:
        # Vectors no chunk uses any more (kept for branch switches), and chunks the filters
        # reject, are over-fetched past: at worst the search becomes exhaustive.
        scored = space.search(vector, fetch)
        by_key = store.chunks.for_keys([key for key, _ in scored])
        ranked = [(c, score) for key, score in scored for c in by_key.get(key, []) if accept(c)]
        if len(ranked) >= depth or fetch >= total:
            return ranked[:depth]
        fetch = min(total, fetch * 4)


def _by_words(store: Store, query: ranking.Query, depth: int, filters: Filters, signals: ranking.Signals,
              counted: tuple[dict[str, int], int]) -> tuple[list[StoredChunk], dict[str, float]]:
    """Candidates by BM25 (all the query's terms first in a large index: `all_words_from`), definitions
    named like the query's identifiers and the chunks of files it names; for a long query, its
    most informative terms only, and each file's share of them (the file pass)."""
    found = {c.id: c for c in store.chunks.named(query.name_keys)}
    if query.is_name:
        found |= {c.id: c for c in store.chunks.named(query.name_keys, prefix=True, limit=depth)}
    if query.files and signals.mentioned_file:
        found |= {c.id: c for c in store.chunks.in_files([m.path for m in query.files], limit=depth)}
    text, files = query.text, {}
    if query.is_long and signals.long_terms:
        text = " ".join(query.informative(*counted, int(signals.long_terms), signals.long_coded))
        if signals.file_pass:
            files, firsts = _file_pass(store, text, counted, depth, filters)
            found |= {c.id: c for c in (firsts[p] for p in sorted(files, key=files.__getitem__)[-FILE_PASS_ADDS:])}
    worded: dict[int, StoredChunk] = {}
    stages = match_expressions(text, query.forms_by_term)
    if counted[1] < signals.all_words_from:  # small enough for BM25 over a common word: its loosest stage alone
        stages = stages[-1:]
    for expression in stages:
        fetch = depth
        while True:
            rows = store.chunks.lexical(expression, fetch)
            accepted = [c for c, _ in rows if filters.accepts(c) and c.id not in worded]
            if len(worded) + len(accepted) >= depth or len(rows) < fetch:
                break
            fetch *= 4
        worded |= {c.id: c for c in accepted[: depth - len(worded)]}
        if len(worded) >= depth:
            break
    return [c for c in (found | worded).values() if filters.accepts(c)], files


def _file_pass(store: Store, text: str, counted: tuple[dict[str, int], int], depth: int,
               filters: Filters) -> tuple[dict[str, float], dict[str, StoredChunk]]:
    """File-level evidence for a long query: over the chunks holding any of its informative
    terms (BM25's best few hundred), each file's idf share of those terms, as a file-level
    BM25 would see the file (a chunk holds few of an issue's words; its file holds many); and
    each file's best chunk by BM25."""
    expression = match_expression(text)
    if not expression:
        return {}, {}
    weights = {t: idf(*counted, t) for t in text.split()}
    held: dict[str, set[str]] = {}
    firsts: dict[str, StoredChunk] = {}
    rows = [c for c, _ in store.chunks.lexical(expression, depth * 8) if filters.accepts(c)]
    terms = store.chunks.indexed_terms([c.id for c in rows])
    for c in rows:
        firsts.setdefault(c.path, c)
        held.setdefault(c.path, set()).update(t for t in " ".join(terms.get(c.id, ())).split() if t in weights)
    all_weight = sum(weights.values()) or 1.0
    return {path: sum(weights[t] for t in got) / all_weight for path, got in held.items()}, firsts
