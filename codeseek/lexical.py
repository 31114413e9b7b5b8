"""Code-aware terms for lexical search (SQLite FTS5, BM25).

An identifier is indexed whole and in its words: `parseHTTPResponse` gives
`parsehttpresponse parse http response`, `retry_with_backoff` gives
`retry_with_backoff retry with backoff`. A query is split the same way, so `backoff`,
`retryWithBackoff` and `retry_with_backoff` all find the function.
"""

from __future__ import annotations

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
    out: list[str] = []
    for identifier in IDENTIFIER.findall(text):
        whole = identifier.lower()
        out.append(whole)
        words = [w.lower() for piece in identifier.split("_") for w in WORD.findall(piece)]
        if len(words) > 1:
            out.extend(words)
    return " ".join(out)


def match_expression(query: str) -> str | None:
    """An FTS5 query matching any of the query's terms (BM25 ranks those with more)."""
    terms = list(dict.fromkeys(code_terms(query).split()))
    terms = [t for t in terms if t not in STOPWORDS] or terms
    return " OR ".join(f'"{t}"' for t in terms) or None
