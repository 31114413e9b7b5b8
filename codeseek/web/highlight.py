"""Code as HTML for the web page, highlighted here on the server by Pygments, so the page needs
no highlighting library of its own (no CDN, no build step) and shows the same colours for a
hit's snippet and for its whole file.

Pygments' HtmlFormatter (CSS classes, `nowrap`) closes its spans at every line end, so its
output splits into one well-formed HTML string per source line: the page numbers lines and
marks a chunk's lines without parsing HTML. The query's terms are then marked (`<mark>`) in
the text between tags, word by word inside identifiers (`retry_with_backoff` for "retry").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import TextLexer, get_lexer_by_name, get_lexer_for_filename
from pygments.util import ClassNotFound

from ..lexical import STOPWORDS, WORD, code_terms

# codeseek's language names, and Pygments' where they differ.
LEXER_NAMES = {"c_sharp": "csharp"}
# Text between tags: a tag, an entity, or an identifier (the only thing marked).
HTML_PIECE = re.compile(r"<[^>]*>|&#?\w+;|[A-Za-z_][A-Za-z0-9_]*")
FORMATTER = HtmlFormatter(nowrap=True)


@lru_cache(maxsize=64)
def lexer_for(language: str, path: str) -> Lexer:
    """The lexer of a codeseek language, else the one Pygments picks by file name, else plain
    text. Lexers hold only their options, so one instance serves every thread."""
    options = {"stripnl": False, "ensurenl": False, "startinline": True}  # startinline: PHP without <?php
    if language and language != "text":
        try:
            return get_lexer_by_name(LEXER_NAMES.get(language, language), **options)
        except ClassNotFound:
            pass
    try:
        return get_lexer_for_filename(path, **options)
    except ClassNotFound:
        return TextLexer(**options)


def query_terms(query: str) -> frozenset[str]:
    """The query's code-aware terms, as the lexical ranker sees them (function words dropped
    unless nothing else is left)."""
    terms = list(dict.fromkeys(code_terms(query).split()))
    return frozenset(t for t in terms if t not in STOPWORDS) or frozenset(terms)


def lines(code: str, language: str, path: str, terms: Iterable[str] = ()) -> list[str]:
    """One HTML string per line of `code` (as many as `code.split("\\n")`), terms marked."""
    wanted = frozenset(t.lower() for t in terms if t and not t.isdigit())
    html = highlight(code, lexer_for(language, path), FORMATTER).split("\n")
    count = code.count("\n") + 1
    html = (html + [""] * count)[:count]
    return [mark(line, wanted) for line in html] if wanted else html


def mark(html: str, terms: frozenset[str]) -> str:
    """`html` with each identifier (or word of one) that is a term wrapped in <mark>."""

    def piece(match: re.Match[str]) -> str:
        text = match.group()
        if text[0] in "<&":
            return text
        if text.lower() in terms:
            return f"<mark>{text}</mark>"
        out, at = [], 0
        for word in WORD.finditer(text):
            if word.group().lower() in terms:
                out.append(f"{text[at:word.start()]}<mark>{word.group()}</mark>")
                at = word.end()
        return "".join(out) + text[at:] if out else text

    return HTML_PIECE.sub(piece, html)
