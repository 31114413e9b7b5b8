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
# FTS5 tokenizer settings matching what code_terms emits.
TOKENIZE = "unicode61 tokenchars '_' remove_diacritics 0"


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
    terms = dict.fromkeys(code_terms(query).split())
    return " OR ".join(f'"{t}"' for t in terms) or None
