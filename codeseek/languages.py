"""Languages codeseek can parse, each described by one query file in codeseek/queries/.

A query file's header names the grammar wheel and the file extensions (and may inherit
another file's patterns: TSX extends TypeScript); its body captures definitions as
``@definition.<kind>`` with ``@name`` (and optionally ``@receiver`` for Go style methods,
``@trait`` for Rust impls). Adding a language is adding one such file. Where the same node
matches two patterns, the earlier one in the file wins; `; clauses: joined` makes consecutive
same-named functions one chunk (a function written as clauses, `def f(0)` then `def f(n)`).

A file's name decides its language, except where the name leaves it open (`for_file`): a `.h`
header is C++ when it holds what C has not (most C++ libraries name their headers `.h`; parsed
as C, a header of classes was one module chunk), and a script without a known extension is its
`#!` line's interpreter's (`libexec/tool`, an installer: 50-line text windows before).
"""

from __future__ import annotations

import importlib
import itertools
import re
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path, PurePosixPath

from tree_sitter import Language, Parser, Query, Tree

QUERY_DIR = Path(__file__).parent / "queries"
# What only C++ writes, at a line's start: a namespace or a class with a body, a template, an
# access label. (`extern "C"` guards are in C headers too.)
CPP_HEADER = re.compile(rb"^[ \t]*(?:namespace\s+[\w:]+\s*\{|template\s*<|class\s+\w+[^;(){]*\{|"
                        rb"(?:public|private|protected)\s*:)", re.MULTILINE)
HEADER_READ = 1 << 16  # a header's first 64 KiB decide
NOT_BREAK = re.compile(rb"[^\n]")
# `#!/bin/sh`, `#!/usr/bin/env -S bash -e`, `#!/usr/bin/python3.11`: the interpreter's name, version dropped.
SHEBANG = re.compile(rb"#![ \t]*(?:/\S*/)?(?:env[ \t]+(?:-\S+[ \t]+)*)?([A-Za-z]+)")
INTERPRETERS = {"sh": "bash", "bash": "bash", "zsh": "bash", "dash": "bash", "ksh": "bash", "python": "python",
                "node": "javascript", "nodejs": "javascript", "ruby": "ruby", "php": "php", "lua": "lua",
                "luajit": "lua"}


@dataclass(frozen=True)
class LanguageSpec:
    name: str
    grammar: str  # "module:function" returning the tree-sitter language pointer
    extensions: tuple[str, ...]
    filenames: tuple[str, ...] = ()
    separator: str = "."
    inherits: str = ""  # another query file whose patterns this one includes
    clauses: bool = False  # a function may be written as several same-named clauses (Elixir, Haskell)
    # Where the grammar misreads a macro (C++'s `class SPDLOG_API logger {` is a function named
    # logger), patterns whose first group is blanked with spaces before parsing (one `; blank:`
    # line each; never on a preprocessor line).
    blank: tuple[re.Pattern[bytes], ...] = ()
    # Where the grammar misreads a line break (Kotlin's nested `class Builder` with its
    # `internal constructor(...)` on the next line), a pattern whose first group, the break and
    # the next line's indentation, is moved to the end of that next line (see _joined).
    join: re.Pattern[bytes] | None = None
    query_text: str = field(default="", repr=False)

    @property
    def language(self) -> Language:
        return _language(self.grammar)

    @property
    def query(self) -> Query:
        return _query(self.name)

    def parser(self) -> Parser:
        return Parser(self.language)

    def parse(self, data: bytes) -> Tree:
        """The tree of a file's bytes, its `blank` macros read as spaces and its `join` line
        breaks moved: the bytes keep their length and the rows after each change theirs, so
        rows and slices of the original bytes still line up with the tree."""
        if self.blank:
            blanked = bytearray(data)
            for pattern in self.blank:
                for match in pattern.finditer(data):
                    start, end = match.span(1)
                    if data[data.rfind(b"\n", 0, start) + 1 : start].lstrip().startswith(b"#"):
                        continue  # a preprocessor line (`#define SPDLOG_INLINE inline`) stays as written
                    blanked[start:end] = NOT_BREAK.sub(b" ", data[start:end])  # line breaks stay
            data = bytes(blanked)
        if self.join is not None:
            data = _joined(self.join, data)
        return self.parser().parse(data)


def _joined(pattern: re.Pattern[bytes], data: bytes) -> bytes:
    """Each match's first group (a line break and at least one character of indentation) made
    spaces, one fewer, and the break put back at the end of the line it joined: the two lines
    parse as one, and every byte and row after that line stays where it was."""
    out: list[bytes] = []
    last = 0
    for match in pattern.finditer(data):
        start, end = match.span(1)
        if start < last or end - start < 2:
            continue
        line_end = data.find(b"\n", end)
        line_end = len(data) if line_end == -1 else line_end
        out += [data[last:start], b" " * (end - start - 1), data[end:line_end], b"\n"]
        last = line_end
    return b"".join(out) + data[last:] if out else data


def _parse_header(name: str, text: str) -> LanguageSpec:
    fields: dict[str, str] = {}
    blank: list[re.Pattern[bytes]] = []
    for line in text.splitlines():
        if not line.startswith(";"):
            break
        key, _, value = line.lstrip("; ").partition(":")
        fields[key.strip()] = value.strip()
        if key.strip() == "blank":
            blank.append(re.compile(value.strip().encode()))
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
        blank=tuple(blank),
        join=re.compile(fields["join"].encode()) if fields.get("join") else None,
        query_text=text,
    )


def _with_includes(text: str) -> str:
    """A query file with the shared patterns its `; includes:` header names (queries/shared/NAME.scm,
    written once for the grammars that share their node types) after it."""
    header = itertools.takewhile(lambda line: line.startswith(";"), text.splitlines())  # as _parse_header reads it
    names = next((line.partition(":")[2].split() for line in header if line.lstrip("; ").startswith("includes:")), [])
    return "\n".join([text, *((QUERY_DIR / "shared" / f"{n}.scm").read_text(encoding="utf-8") for n in names)])


@cache
def registry() -> dict[str, LanguageSpec]:
    texts = {path.stem: _with_includes(path.read_text(encoding="utf-8")) for path in sorted(QUERY_DIR.glob("*.scm"))}
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


def for_file(path: str, data: bytes) -> LanguageSpec | None:
    """The language a file is parsed as: by its name, then by what it holds where the name
    leaves it open (the module's docstring)."""
    spec = for_path(path)
    if spec is not None:
        if _c_or_cpp(spec, path) and CPP_HEADER.search(data, 0, HEADER_READ):
            return registry().get("cpp", spec)
        return spec
    found = SHEBANG.match(data)
    name = INTERPRETERS.get(found[1].decode().lower()) if found else None
    return registry().get(name) if name else None


def possible(path: str) -> set[str]:
    """Every language a file at this path may be parsed as (`text`: line windows)."""
    spec = for_path(path)
    if spec is None:
        return {"text", *INTERPRETERS.values()}
    return {"c", "cpp"} if _c_or_cpp(spec, path) else {spec.name}


def _c_or_cpp(spec: LanguageSpec, path: str) -> bool:
    """A `.h` header: C by its name, C++ by what it may hold."""
    return spec.name == "c" and path.lower().endswith(".h")


def detection(name: str) -> str:
    """The content rules that can give a file this language (`text` included), for its chunker's
    digest: a change to them chunks the files they may move again."""
    if name in ("c", "cpp"):
        return CPP_HEADER.pattern.decode()
    return f"{SHEBANG.pattern.decode()} {sorted(INTERPRETERS.items())}" if name == "text" else ""


@cache
def _language(grammar: str) -> Language:
    module_name, _, func = grammar.partition(":")
    module = importlib.import_module(module_name)
    return Language(getattr(module, func or "language")())


@cache
def _query(name: str) -> Query:
    spec = registry()[name]
    return Query(spec.language, spec.query_text)
