"""How a query's candidates become the order a user sees. Every ranking signal lives here,
in `Signals`, each with the benchmark gain that justified it (benchmarks/README.md).

Candidates come from the dense index, from BM25 over code-aware terms and from the table of
definition names; whichever found it, each candidate is scored on the same two scales:

- meaning: its cosine to the query above the background (the cosine at the dense search's
  depth), as a share of the room above that background. A model whose vectors say little
  gives a flat distribution, which then adds little; min-max scaling used to stretch it to
  0..1 and let it bury an exact lexical match.
- words: the idf-weighted share of the query's terms the chunk holds, a term in its name
  counting most. 0..1 for every query, so it needs no scaling either.

Then structure: a definition named like the query, definitions over module code and text,
implementation over tests and examples, files holding several good candidates; and further
results from a file already listed yield to other files.
"""

from __future__ import annotations

import heapq
import math
import re
from dataclasses import dataclass, field

from .kinds import Kind, Role, role_of_path
from .lexical import STOPWORDS, code_terms, name_key
from .protocol import Mode

# A token that can only be code: camelCase, snake_case, a qualified name.
CODE_SHAPE = re.compile(r"[a-z0-9][A-Z]|[A-Z]{2}[a-z]|\w_\w|[.#]\w|::|->")
NAME = re.compile(r"[A-Za-z_$][\w$]*(?:(?:\.|::|#|->)[A-Za-z_$][\w$]*)*")
PUNCTUATION = "`'\"()[]{},;:?!"

TEST_WORDS = frozenset({"test", "tests", "testing", "spec", "fixture", "mock", "assert"})
AUX_WORDS = frozenset({"example", "examples", "benchmark", "benchmarks", "bench", "demo", "docs", "documentation"})
PROSE_WORDS = frozenset({"readme", "docs", "documentation", "doc", "changelog", "guide", "markdown"})


@dataclass(frozen=True)
class Signals:
    """Every weight the ranking uses. Defaults are the benchmarked ones; the figures are
    benchmarks/retrieval.py's (MRR@10 over all 1,904 queries unless said, 0.743 with all)."""

    # Share of the words scale (the rest is meaning) for a question and for a name.
    # 0.45/0.7 against 0.2/0.4: 0.728; against 0.7/0.9: 0.722.
    words_sentence: float = 0.45
    words_name: float = 0.7
    # A term found in the chunk's name counts fully; in its path or body, this much.
    # Path 0.4 or 0.8: 0.744 (no matter). Body 0.3: 0.745 but questions NDCG 0.598 -> 0.575;
    # 0.7: 0.731.
    path_weight: float = 0.6
    body_weight: float = 0.5
    # Added for a definition named like a name query: exactly, in another spelling, or
    # starting with it (a partial name). Without: 0.694, exact names at rank 1 0.906 -> 1.0.
    # (A bonus for a definition a sentence names, `what calls parse_header`, did not earn its
    # place: 0.737 with it, 0.740 without; the words scale already counts a name fully.)
    exact_name: float = 1.0
    variant_name: float = 0.8
    prefix_name: float = 0.25
    # Factors for what is not a definition (without: docs 0.539, questions NDCG 0.594, from
    # 0.542 and 0.597), and for what is not the implementation (without: 0.731, docs 0.515,
    # questions NDCG 0.563).
    module: float = 0.55
    text: float = 0.45
    test: float = 0.55
    auxiliary: float = 0.7
    # Added per good candidate of the same file (its best two), in base-score units.
    # Without: questions NDCG 0.581.
    coherence: float = 0.08
    # A result's score is multiplied by this for each result already listed from its file.
    # 1.0 (none): questions NDCG 0.592; 0.75: 0.568.
    spread: float = 0.9
    # Candidates by words (1: on): chunks holding all the query's terms, then any two, then any
    # one, rather than BM25 over any one at once. Kernel-sized index: lexical find p50 139 ->
    # 14 ms, p99 1.3 s -> 82 ms; its effect on ranking is in benchmarks/README.md.
    all_words_first: float = 1.0
    # The static tier (see "The static tier" below). static_tier 0: never read it (the
    # transformer alone, as before it existed); static_only 1: read nothing else (the
    # transformer's vectors are ignored); static_blend: the static meaning's share for a chunk
    # that has both vectors (0: the transformer's alone).
    static_tier: float = 1.0
    static_only: float = 0.0
    static_blend: float = 0.0


DEFAULT = Signals()


@dataclass(frozen=True)
class Query:
    text: str
    terms: tuple[str, ...]  # code-aware terms without English function words
    name: str | None  # the name the query is (`LoadConfig`; `RateLimiter wait` is RateLimiter.wait)
    mentioned: tuple[str, ...]  # code-shaped words in it (`what calls parse_header?`)
    mentions: frozenset[str]  # its lowercase words, for the priors' exceptions

    @classmethod
    def parse(cls, text: str) -> Query:
        tokens = [t.strip(PUNCTUATION) for t in text.split()]
        tokens = [t for t in tokens if t]
        name_like = [t for t in tokens if NAME.fullmatch(t)]
        coded = tuple(dict.fromkeys(t for t in name_like if CODE_SHAPE.search(t)))
        is_name = 0 < len(tokens) <= 2 and len(name_like) == len(tokens) and (len(tokens) == 1 or bool(coded))
        terms = list(dict.fromkeys(code_terms(text).split()))
        terms = [t for t in terms if t not in STOPWORDS] or terms
        return cls(text, tuple(terms), ".".join(tokens) if is_name else None, coded,
                   frozenset(w.lower() for w in re.findall(r"\w+", text)))

    @property
    def is_name(self) -> bool:
        return self.name is not None

    @property
    def name_keys(self) -> list[str]:
        """Keys of the query's name and of the code-shaped words in it (see lexical.name_key)."""
        return [k for k in dict.fromkeys(name_key(n) for n in (self.name or "", *self.mentioned)) if k]


@dataclass
class Candidate:
    """One chunk up for ranking, and what the ranking found out about it."""

    id: int
    path: str
    kind: Kind
    symbol: str
    cosine: float | None = None  # None: no vector yet
    terms: tuple[str, str, str] = ("", "", "")  # indexed terms: symbol, path, body
    static_cosine: float | None = None  # in the static tier's space; None: not read, or no vector
    meaning: float = 0.0
    words: float = 0.0
    matched: list[str] = field(default_factory=list)
    name_match: str = ""  # exact, variant, prefix
    factors: dict[str, float] = field(default_factory=dict)
    base: float = 0.0
    coherence: float = 0.0
    score: float = 0.0
    spread: float = 1.0
    meaning_from: str = ""  # the space(s) its meaning came from

    def __post_init__(self) -> None:
        self.kind = Kind(self.kind)

    def explain(self) -> dict[str, object]:
        """Why it ranked where it did (`codeseek find --explain`)."""
        why: dict[str, object] = {"meaning": round(self.meaning, 3), "words": round(self.words, 3)}
        if self.cosine is not None:
            why["cosine"] = round(self.cosine, 3)
        if self.static_cosine is not None:
            why["static_cosine"] = round(self.static_cosine, 3)
        if self.meaning_from:
            why["vectors"] = self.meaning_from
        if self.matched:
            why["matched"] = self.matched
        if self.name_match:
            why["name"] = self.name_match
        if self.factors:
            why["priors"] = {k: round(v, 2) for k, v in self.factors.items()}
        if self.coherence:
            why["coherence"] = round(self.coherence, 3)
        if self.spread != 1.0:
            why["spread"] = round(self.spread, 3)
        return why


def idf(counts: dict[str, int], total: int, term: str) -> float:
    n = counts.get(term, 0)
    return math.log(1 + (total - n + 0.5) / (n + 0.5))


def rank(query: Query, candidates: list[Candidate], counts: dict[str, int], total: int, floor: float | None,
         mode: Mode, limit: int, signals: Signals = DEFAULT, static_floor: float | None = None) -> list[Candidate]:
    """Candidates best first (the first `limit` spread over files), each with its score and
    the reasons for it."""
    weights = {t: idf(counts, total, t) for t in query.terms}
    all_weight = sum(weights.values()) or 1.0
    if mode == Mode.SEMANTIC:
        words_share = 0.0
    elif mode == Mode.LEXICAL:
        words_share = 1.0
    else:
        words_share = signals.words_name if query.is_name else signals.words_sentence
    meanings = Meanings.of(candidates, floor, static_floor)
    for c in candidates:
        c.matched, c.factors, c.name_match = [], {}, ""  # derived here, afresh
        c.meaning, c.meaning_from = meanings.of_candidate(c, signals.static_blend)
        symbol_terms, path_terms, body_terms = (f" {t} " for t in c.terms)
        got = 0.0
        for term, weight in weights.items():
            probe = f" {term} "
            found = (1.0 if probe in symbol_terms else signals.path_weight if probe in path_terms
                     else signals.body_weight if probe in body_terms else 0.0)
            if found:
                c.matched.append(term)
                got += weight * found
        c.words = got / all_weight
        c.base = (1.0 - words_share) * c.meaning + words_share * c.words
        if mode != Mode.SEMANTIC:
            c.base += _name_bonus(c, query, signals)
        _apply_priors(c, query, signals)
    _add_coherence(candidates, signals)
    return _spread(candidates, signals, limit)


def _name_bonus(c: Candidate, query: Query, signals: Signals) -> float:
    name = query.name
    if not c.kind.is_named or name is None:  # a sentence's code-shaped words find
        return 0.0  # candidates, but add nothing
    own, wanted = name_key(c.symbol), name_key(name)
    if c.symbol == name or c.symbol.endswith(("." + name, "::" + name, ")." + name)):
        c.name_match = "exact"
        return signals.exact_name
    if own == wanted:
        c.name_match = "variant"
        return signals.variant_name
    if len(wanted) >= 4 and own.startswith(wanted):
        c.name_match = "prefix"
        return signals.prefix_name
    return 0.0


def _apply_priors(c: Candidate, query: Query, signals: Signals) -> None:
    if c.kind == Kind.MODULE:
        c.factors["module"] = signals.module
    elif c.kind == Kind.TEXT and not query.mentions & PROSE_WORDS:
        c.factors["text"] = signals.text
    where = role_of_path(c.path, c.symbol)
    if where == Role.TEST and not query.mentions & TEST_WORDS:
        c.factors["test"] = signals.test
    elif where == Role.AUXILIARY and not query.mentions & AUX_WORDS:
        c.factors["auxiliary"] = signals.auxiliary
    for factor in c.factors.values():
        c.base *= factor


def _add_coherence(candidates: list[Candidate], signals: Signals) -> None:
    """A file with several good candidates is likelier the place: each candidate gains a
    share of the best two others of its file."""
    by_file: dict[str, list[Candidate]] = {}
    for c in candidates:
        by_file.setdefault(c.path, []).append(c)
    for group in by_file.values():
        best = sorted(group, key=lambda c: -c.base)[:3]
        for c in group:
            c.coherence = signals.coherence * sum([o.base for o in best if o is not c][:2])
            c.score = c.base + c.coherence


def _spread(candidates: list[Candidate], signals: Signals, limit: int) -> list[Candidate]:
    """The best `limit` in turn, each result already listed from a file lowering that file's
    next one; the rest after them by score."""
    heap = [(-c.score, i, 0) for i, c in enumerate(candidates)]
    heapq.heapify(heap)
    listed: dict[str, int] = {}
    out: list[Candidate] = []
    while heap and len(out) < limit:
        _, i, seen = heapq.heappop(heap)
        c = candidates[i]
        now = listed.get(c.path, 0)
        if now != seen:  # its file gained a result since this entry was scored
            heapq.heappush(heap, (-c.score * signals.spread**now, i, now))
            continue
        c.spread = signals.spread**now
        listed[c.path] = now + 1
        out.append(c)
    rest = sorted((candidates[i] for _, i, _ in heap), key=lambda c: -c.score)
    return out + rest


# --- The static tier (issue 29) ----------------------------------------------------------
# A chunk may have a vector in the transformer's space, in the static tier's, or both (the
# static one comes with its words; the transformer's fills in behind). Each space is put on
# its own scale, above its own background, exactly as the transformer's alone was. A chunk
# with only a static vector must then compete fairly with one that has the transformer's:
# the two scales are tied by the candidates that have both (the static meaning is multiplied
# by the ratio of the spaces' mean meanings over them), so neither space wins by its spread.


def above(cosine: float | None, floor: float | None) -> float | None:
    """A cosine as a share of the room above the background of its space (None: none)."""
    if cosine is None or floor is None or floor >= 1.0:
        return None
    return max(0.0, cosine - floor) / (1.0 - floor)


@dataclass(frozen=True)
class Meanings:
    """Both spaces' backgrounds, and the factor that puts the static scale on the transformer's."""

    floor: float | None
    static_floor: float | None
    tie: float

    @classmethod
    def of(cls, candidates: list[Candidate], floor: float | None, static_floor: float | None) -> Meanings:
        both = [(above(c.cosine, floor), above(c.static_cosine, static_floor)) for c in candidates]
        pairs = [(t, s) for t, s in both if t is not None and s is not None]
        static_sum = sum(s for _, s in pairs)
        tie = sum(t for t, _ in pairs) / static_sum if pairs and static_sum > 0 else 1.0
        return cls(floor, static_floor, tie)

    def of_candidate(self, c: Candidate, blend: float) -> tuple[float, str]:
        """(meaning, which space it came from)."""
        transformer = above(c.cosine, self.floor)
        static = above(c.static_cosine, self.static_floor)
        if transformer is None:
            return (min(1.0, static * self.tie), "static") if static is not None else (0.0, "")
        if static is None or blend <= 0.0:
            return transformer, "transformer"
        return (1.0 - blend) * transformer + blend * min(1.0, static * self.tie), "both"


def spaces_used(transformer: bool, static: bool) -> str:
    """How a search's results say which vectors gave meaning."""
    return {(True, True): "transformer and static", (True, False): "transformer",
            (False, True): "static"}.get((transformer, static), "")
