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
from collections.abc import Mapping

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+")
WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
# English function words: in a question they carry no meaning, and in code they match only
# comments. Dropped from queries (unless nothing else is left), not from the index. With them
# what an apostrophe leaves of a possessive or a contraction (`file's`, `doesn't`): `s` and `t`
# are code's commonest one-letter names.
STOPWORDS = frozenset(
    "a an the of to in on for from by with and or is are be as at it its this that these those into if then "
    "else when which whose who what than not no any all each such can may will should must was were has have "
    "had do does given using use used returns return how where find code function "
    "s t don doesn isn aren didn wasn weren won wouldn shouldn couldn hasn haven ll ve".split()
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
# Words shorter than this are not inflected (`uses`, `bus`), nor are stems left shorter (`string`
# is not `str` + `ing`, nor `during` `dur` + `ing`).
MIN_INFLECTED = 4
SIBILANTS = ("s", "x", "z", "ch", "sh")  # whose plural takes -es: `classes`, `indexes`, `matches`


def query_terms(query: str) -> list[str]:
    """The query's code-aware terms, without English function words (unless that is all)."""
    terms = list(dict.fromkeys(code_terms(query).split()))
    return [t for t in terms if t not in STOPWORDS] or terms


def inflections(term: str) -> tuple[str, ...]:
    """Other forms of an English word that a question and code use for one another: plural and
    singular, -ing and -ed (`variables` and `variable`, `retries` and `retry`, `parsing`, `parse`
    and `parsed`). Candidates only, some of them no word: the index's vocabulary says which
    exist (Query.held). Code's terms are indexed as written, so `environment variables` met
    `resolve_envvar_value`'s docstring's `variable` only through the vectors."""
    if len(term) < MIN_INFLECTED or not term.isalpha():
        return ()
    forms = set()
    for root in _roots(term) or {term}:
        forms.add(root)
        if root.endswith(SIBILANTS):
            forms.add(root + "es")
        elif root.endswith("y") and root[-2] not in "aeiou":
            forms.update((root[:-1] + "ies", root[:-1] + "ied"))
        else:
            forms.add(root + "s")
        if not root.endswith("y") or root[-2] in "aeiou":
            forms.add(root + "d" if root.endswith("e") else root + "ed")
        forms.add(root[:-1] + "ing" if root.endswith("e") and not root.endswith("ee") else root + "ing")
    forms.discard(term)
    return tuple(sorted(f for f in forms if len(f) >= MIN_INFLECTED - 1))


def _roots(term: str) -> set[str]:
    """The words an inflected term may come from (none: it is not inflected)."""
    roots = set()
    if term.endswith("ies"):
        roots.add(term[:-3] + "y")
    elif term.endswith("es") and term[:-2].endswith(SIBILANTS):
        roots.add(term[:-2])
    elif term.endswith("s") and not term.endswith(("ss", "us", "is")):
        roots.add(term[:-1])
    for suffix in ("ing", "ed"):
        stem = term[: -len(suffix)]
        if not term.endswith(suffix) or len(stem) < MIN_INFLECTED - 1:
            continue
        if len(stem) >= MIN_INFLECTED:
            roots.update((stem, stem + "e"))  # `loaded` -> load, `parsed` -> parse
            if suffix == "ed" and stem.endswith("i"):
                roots.add(stem[:-1] + "y")  # `retried` -> retry
        if stem[-1] == stem[-2] and stem[-1] not in "aeiouy":
            roots.add(stem[:-1])  # `padding` -> pad, `mapped` -> map
    return roots


def derivations(term: str) -> tuple[str, ...]:
    """The words of a term's family that a topic and code use for one another: an action and
    its agent (`optimization`, `optimize`, `optimizer`; `iteration`, `iterator`; `selection`,
    `selector`; `parser`, `parse`). Candidates only, most of them no word: the index's
    vocabulary says which exist (Query.held)."""
    if len(term) < MIN_INFLECTED + 2 or not term.isalpha():
        return ()
    verbs = set()
    for suffix, endings in (("ation", ("e", "ate", "")), ("ion", ("e", "")), ("er", ("e", "")), ("or", ("e", ""))):
        stem = term[: -len(suffix)]
        if term.endswith(suffix) and len(stem) >= MIN_INFLECTED - 1:
            verbs.update(stem + e for e in endings)
            break
    else:
        verbs.add(term)  # a verb itself: `optimize` -> optimizer, optimization
    forms = set()
    for verb in (v for v in verbs if len(v) > MIN_INFLECTED):  # not `iter` of `iteration`, `rend` of `render`
        forms.add(verb)
        if verb.endswith("e"):
            forms.update((verb + "r", verb[:-1] + "ion", verb[:-1] + "ation"))
            if verb.endswith("ate"):
                forms.add(verb[:-1] + "or")  # `iterate` -> iterator
        else:
            forms.update((verb + "er", verb + "or", verb + "ion", verb + "ation"))
    forms.discard(term)
    return tuple(sorted(forms))


def _groups(query: str, forms: Mapping[str, tuple[str, ...]] | None) -> list[str]:
    """Each of the query's terms as FTS5 matches it: quoted, or its forms in an OR group."""
    groups = []
    for term in query_terms(query):
        quoted = [f'"{f}"' for f in (forms or {}).get(term, (term,))]
        groups.append(quoted[0] if len(quoted) == 1 else f"({' OR '.join(quoted)})")
    return groups


def match_expression(query: str, forms: Mapping[str, tuple[str, ...]] | None = None) -> str | None:
    """An FTS5 query matching any of the query's terms (BM25 ranks those with more), each in
    any of its `forms` the index holds."""
    return " OR ".join(_groups(query, forms)) or None


def match_expressions(query: str, forms: Mapping[str, tuple[str, ...]] | None = None) -> list[str]:
    """FTS5 queries from the strictest to the loosest: every term, then any two of them, then
    any one. Chunks holding more of a query's words come first anyway (the words scale counts
    them); asking for them first keeps BM25 from scoring every chunk that holds one common word
    (a quarter of a million of them in a kernel-sized index, a second a query). A term matches
    in any of its `forms` (Query.held)."""
    terms = _groups(query, forms)
    if len(terms) <= 1:
        return terms
    stages = [" AND ".join(terms)]
    if 2 < len(terms) <= MAX_PAIRED_TERMS:
        stages.append(" OR ".join(f"({a} AND {b})" for i, a in enumerate(terms) for b in terms[i + 1 :]))
    stages.append(" OR ".join(terms))
    return stages


def idf(counts: dict[str, int], total: int, term: str, *forms: str) -> float:
    """BM25's inverse document frequency of a term held by counts[term] of `total` chunks; with
    its other `forms`, of the commonest form (a stemmed index would count them as one word)."""
    n = max(counts.get(form, 0) for form in (term, *forms))
    return math.log(1 + (total - n + 0.5) / (n + 0.5))
