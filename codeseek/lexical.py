"""Code-aware terms for lexical search (SQLite FTS5, BM25).

An identifier is indexed whole and in its words: `parseHTTPResponse` gives
`parsehttpresponse parse http response`, `retry_with_backoff` gives
`retry_with_backoff retry with backoff`. A query is split the same way, so `backoff`,
`retryWithBackoff` and `retry_with_backoff` all find the function.
"""

from __future__ import annotations

import functools
import math
import re

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+")
WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
# English function words: in a question they carry no meaning, and in code they match only
# comments. Dropped from queries (unless nothing else is left), not from the index.
STOPWORDS = frozenset(
    "a an the of to in on for from by with and or is are be as at it its this that these those into if then "
    "else when which whose who what than not no any all each such can may will should must was were has have "
    "had do does given using use used returns return how where find code function".split()
)
# FTS5 tokenizer settings matching what code_terms emits.
TOKENIZE = "unicode61 tokenchars '_' remove_diacritics 0"


NAME_SEPARATORS = re.compile(r"[\s.:#()*<>&\[\],/-]+")


def name_key(name: str) -> str:
    """The last part of a (qualified) name, in one spelling: `JSONDecoder.raw_decode`,
    `rawDecode` and `RAW_DECODE` are all `rawdecode`. Symbols are found by it."""
    parts = [p for p in NAME_SEPARATORS.split(name) if p]
    return re.sub(r"[^0-9a-z]", "", parts[-1].lower()) if parts else ""


def code_terms(text: str) -> str:
    """The text's identifiers (and numbers), each whole and then in its words."""
    return " ".join(map(_identifier_terms, IDENTIFIER.findall(text)))


@functools.lru_cache(maxsize=1 << 16)
def _identifier_terms(identifier: str) -> str:
    """One identifier's terms. Cached: code repeats its names (the standard library has 26
    occurrences of each of its distinct identifiers), and splitting each again was most of
    an index's word time (0.9 s of the stdlib's files, 0.4 s cached)."""
    whole = identifier.lower()
    words = [w.lower() for piece in identifier.split("_") for w in WORD.findall(piece)]
    return " ".join([whole, *words]) if len(words) > 1 else whole


# Terms whose pairs are tried before any single term matches (past this many, the pairs are
# too many clauses and the query goes straight to any term).
MAX_PAIRED_TERMS = 8


def query_terms(query: str) -> list[str]:
    """The query's code-aware terms, without English function words (unless that is all)."""
    terms = list(dict.fromkeys(code_terms(query).split()))
    return [t for t in terms if t not in STOPWORDS] or terms


def match_expression(query: str) -> str | None:
    """An FTS5 query matching any of the query's terms (BM25 ranks those with more)."""
    return " OR ".join(f'"{t}"' for t in query_terms(query)) or None


def match_expressions(query: str) -> list[str]:
    """FTS5 queries from the strictest to the loosest: every term, then any two of them, then
    any one. Chunks holding more of a query's words come first anyway (the words scale counts
    them); asking for them first keeps BM25 from scoring every chunk that holds one common word
    (a quarter of a million of them in a kernel-sized index, a second a query)."""
    terms = [f'"{t}"' for t in query_terms(query)]
    if len(terms) <= 1:
        return terms
    stages = [" AND ".join(terms)]
    if 2 < len(terms) <= MAX_PAIRED_TERMS:
        stages.append(" OR ".join(f"({a} AND {b})" for i, a in enumerate(terms) for b in terms[i + 1 :]))
    stages.append(" OR ".join(terms))
    return stages


def idf(counts: dict[str, int], total: int, term: str) -> float:
    """BM25's inverse document frequency of a term held by counts[term] of `total` chunks."""
    n = counts.get(term, 0)
    return math.log(1 + (total - n + 0.5) / (n + 0.5))
