"""Languages codeseek can parse, each described by one query file in codeseek/queries/.

A query file's header names the grammar wheel and the file extensions (and may inherit
another file's patterns: TSX extends TypeScript); its body captures definitions as
``@definition.<kind>`` with ``@name`` (and optionally ``@receiver`` for Go style methods,
``@trait`` for Rust impls). Adding a language is adding one such file. Where the same node
matches two patterns, the earlier one in the file wins; `; clauses: joined` makes consecutive
same-named functions one chunk (a function written as clauses, `def f(0)` then `def f(n)`).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path, PurePosixPath

from tree_sitter import Language, Parser, Query

QUERY_DIR = Path(__file__).parent / "queries"


@dataclass(frozen=True)
class LanguageSpec:
    name: str
    grammar: str  # "module:function" returning the tree-sitter language pointer
    extensions: tuple[str, ...]
    filenames: tuple[str, ...] = ()
    separator: str = "."
    inherits: str = ""  # another query file whose patterns this one includes
    clauses: bool = False  # a function may be written as several same-named clauses (Elixir, Haskell)
    query_text: str = field(default="", repr=False)

    @property
    def language(self) -> Language:
        return _language(self.grammar)

    @property
    def query(self) -> Query:
        return _query(self.name)

    def parser(self) -> Parser:
        return Parser(self.language)


def _parse_header(name: str, text: str) -> LanguageSpec:
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.startswith(";"):
            break
        key, _, value = line.lstrip("; ").partition(":")
        fields[key.strip()] = value.strip()
    if "grammar" not in fields:
        raise ValueError(f"query file for {name} has no '; grammar:' header")
    return LanguageSpec(
        name=name,
        grammar=fields["grammar"],
        extensions=tuple(fields.get("extensions", "").split()),
        filenames=tuple(fields.get("filenames", "").split()),
        separator=fields.get("separator", "."),
        inherits=fields.get("inherits", ""),
        clauses=fields.get("clauses") == "joined",
        query_text=text,
    )


@cache
def registry() -> dict[str, LanguageSpec]:
    texts = {path.stem: path.read_text(encoding="utf-8") for path in sorted(QUERY_DIR.glob("*.scm"))}
    specs = {}
    for name, text in texts.items():
        spec = _parse_header(name, text)
        if spec.inherits:
            spec = replace(spec, query_text=texts[spec.inherits] + "\n" + text)
        specs[name] = spec
    return specs


@cache
def _by_extension() -> dict[str, LanguageSpec]:
    table = {}
    for spec in registry().values():
        for ext in spec.extensions:
            table[ext.lower()] = spec
        for filename in spec.filenames:
            table[filename] = spec
    return table


def for_path(path: str) -> LanguageSpec | None:
    """The language of a repository path, by file name first, then extension."""
    p = PurePosixPath(path)
    table = _by_extension()
    return table.get(p.name) or table.get(p.suffix.lower())


@cache
def _language(grammar: str) -> Language:
    module_name, _, func = grammar.partition(":")
    module = importlib.import_module(module_name)
    return Language(getattr(module, func or "language")())


@cache
def _query(name: str) -> Query:
    spec = registry()[name]
    return Query(spec.language, spec.query_text)
