"""Query styles: the ways developers ask for code, built from one (description, code) pair.

A pair's description is a doc comment's first sentence; developers also type a fuller
paragraph, an identifier's words ("minimum edge cut"), or a question ("how does table paging
work", "which function returns the element on top of the stack"). `--query-field styles`
gives each pair one of these, drawn by a seeded generator, so the model meets all of them:

- query: the doc comment's first sentence, as written;
- summary: the doc comment's first paragraph (the sentence itself when that is all there is);
- words: the identifier's words, split as codeseek's lexical search splits them
  (camelCase, snake_case, digits), qualifier included (`Table.more` -> "table more");
- question: a template filled from the doc sentence (lower-cased, its verb decides the form),
  the identifier's words and the file's name.

Nothing here reads the code, so no style can leak the answer's text beyond its name, which
the code holds anyway.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codeseek.lexical import IDENTIFIER, WORD  # noqa: E402

STYLES = ("query", "summary", "words", "question")
# Shares of each style: the doc sentence stays the most common (it is the cleanest signal and
# what the validation asks); the others each take a fair part.
WEIGHTS = (0.4, 0.2, 0.15, 0.25)
# File names that say nothing about what the file holds.
PLAIN_FILES = frozenset("index init main mod lib core util utils common base types helpers misc".split())
FUNCTION_KINDS = frozenset({"function", "method", "constructor", "macro", "procedure"})
# Verbs a doc comment starts with in the imperative ("Return the ...", "Parse a ..."); a first
# word outside this list is read as a noun phrase ("Staged shuffle implementation").
IMPERATIVE = frozenset("""
    add apply build calculate call check clear close collect compare compile compress compute convert copy count
    create decode delete detect determine encode ensure evaluate execute extract fetch fill filter find flush
    format generate get handle initialize insert iterate join load lookup make map merge move normalize open
    parse perform print process read receive register remove render replace reset resolve return run save
    scan search send serialize set sort split start stop store strip test transform translate try update
    validate verify wait walk wrap write yield
    """.split())
WORD_QUESTIONS = (
    "how does {words} work",
    "where is {words} handled",
    "where is {words} implemented",
    "what does {words} do",
    "{words} in {file}",
    "where is {words} handled in {file}",
)
IMPERATIVE_QUESTIONS = ("how to {sentence}", "how do i {sentence}", "where do we {sentence}", "{sentence}")
THIRD_PERSON_QUESTIONS = ("which {kind} {sentence}", "code that {sentence}", "what {sentence}")
NOUN_QUESTIONS = ("where is the {sentence}", "what is the {sentence}", "{sentence}")


def identifier_words(symbol: str) -> str:
    """`ABCPolyBase.has_samewindow` -> "abc poly base has samewindow" (codeseek.lexical's split)."""
    words = [w.lower() for ident in IDENTIFIER.findall(symbol) for piece in ident.split("_")
             for w in WORD.findall(piece)]
    return " ".join(words)


def file_words(path: str) -> str:
    """The words of a file's name, or of its folder's when the name is a plain one (index.js)."""
    parts = PurePosixPath(path).parts
    for part in reversed(parts):
        stem = part.split(".")[0]
        words = identifier_words(stem)
        if words and words not in PLAIN_FILES:
            return words
    return ""


def _sentence(query: str) -> str:
    """The doc sentence as a question's tail: first letter lower-cased, final stop removed."""
    text = " ".join(query.split()).rstrip(".:;")
    return text[:1].lower() + text[1:]


def question(row: dict[str, Any], rng: random.Random) -> str:
    """One question about the row's definition, from its doc sentence or from its names."""
    names = IDENTIFIER.findall(str(row.get("symbol", "")))
    words = identifier_words(names[-1]) if names else ""  # the method, not its class: what is asked about
    file = file_words(str(row.get("path", "")))
    if words and rng.random() < 0.5:
        templates = [t for t in WORD_QUESTIONS if file or "{file}" not in t]
        return rng.choice(templates).format(words=words, file=file)
    sentence = _sentence(row["query"])
    first = sentence.split(" ", 1)[0].lower()
    if first in IMPERATIVE:
        templates = IMPERATIVE_QUESTIONS
    elif base_verb(first) in IMPERATIVE:
        templates = THIRD_PERSON_QUESTIONS
    else:
        templates = NOUN_QUESTIONS
    kind = "function" if str(row.get("kind", "")) in FUNCTION_KINDS else str(row.get("kind") or "definition")
    return rng.choice(templates).format(sentence=sentence, kind=kind)


def styled_query(row: dict[str, Any], style: str, rng: random.Random) -> str:
    """The row's description in one style (the doc sentence where the style has nothing)."""
    if style == "summary":
        return row.get("summary") or row["query"]
    if style == "words":
        return identifier_words(str(row.get("symbol", ""))) or row["query"]
    if style == "question":
        return question(row, rng)
    return row["query"]


def choose_styles(rows: Sequence[dict[str, Any]], seed: int) -> list[str]:
    """A seeded style for each row, then its query in that style."""
    rng = random.Random(seed)
    out = []
    for row in rows:
        style = rng.choices(STYLES, WEIGHTS)[0]
        out.append(styled_query(row, style, rng))
    return out


def base_verb(word: str) -> str:
    """A verb's -s form back to its base ("returns" -> "return", "fetches" -> "fetch", "applies"
    -> "apply"); other words unchanged, so only verbs in IMPERATIVE match afterwards."""
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith("es") and word[:-2] in IMPERATIVE:
        return word[:-2]
    return word[:-1] if word.endswith("s") else word
