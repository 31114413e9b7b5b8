"""What a chunk is beyond its words and meaning, read for the ranking (ranking.py): whether a
definition is the primary one of a shared name or a stub of it, whether its source marks it
deprecated, whether it is the one a qualified name means, how much its file's name says.
Plain functions of a chunk's symbol, path and first lines: ranking.py decides what they weigh."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from .kinds import Kind
from .lexical import code_terms, name_key
from .query import code_line, name_parts

# A definition's own words that make it the primary one of a shared name (with its kind).
ABSTRACT = re.compile(r"\b(abstract|ABC|ABCMeta|Protocol|interface|trait|protocol|@runtime_checkable)\b")
# `@overload` however typing is imported: `typing.`, `t.` (`import typing as t`), `typing_extensions.`.
OVERLOAD = re.compile(r"^\s*@(?:\w+\.)*overload\b", re.MULTILINE)
HEADERS = (".h", ".hh", ".hpp", ".hxx")
# Typing stub files: every definition in one declares what a `.py` beside it implements (attrs'
# `__init__.pyi` beside `_make.py`), with or without `@overload`.
STUB_FILES = (".pyi",)
# A generic type's arguments in a scope (`<X>` in Rust's `WeightedIndex<X>::new`, `<K, Vec<V>>`):
# no part of its name. Only after a name and starting like a type: C++'s `operator<=>` keeps its own.
GENERIC_ARGS = re.compile(r"(?<=\w)<[\w'&*\[(?][^<>]*>")
# A definition its own source marks deprecated: Rust's `#[deprecated]` (PHP's `#[\Deprecated]`),
# Java's and Kotlin's `@Deprecated`, Python's `@deprecated` (typing_extensions, warnings),
# JSDoc's and PHPDoc's `@deprecated`, C#'s `[Obsolete]`, a Go doc comment's `Deprecated:`
# paragraph; read in its preamble (attributes, decorators, doc comment) and header only.
DEPRECATED = re.compile(r"(?i:#\[\\?deprecated\b|@(?:[\w.]+\.)?deprecated\b|\[(?:System\.)?Obsolete)"
                        r"|^[\s/*#]*Deprecated:", re.MULTILINE)
# A Python docstring's Sphinx directive. A container's members are elided to their headers in
# its chunk, so one in a class's text is the class's own docstring.
DEPRECATED_DOC = re.compile(r"^\s*\.\. deprecated::", re.MULTILINE)
# Lines that come before a definition's header and belong to it.
PREAMBLE = ("*", "/*", "//", "#", "@", "[", "--")


def shape_of(kind: Kind, content: str, path: str, context: str = "") -> str:
    """`primary` for the definition a shared name's others implement (an interface, a trait, an
    abstract class or protocol), `stub` for one that only declares it (an `@overload`, a C
    prototype, anything in a `.pyi` stub file but a protocol or abstract class), else "". Read
    from the chunk's first lines, so a long body costs nothing."""
    head = content[:400]
    if kind in (Kind.FUNCTION, Kind.METHOD):
        if OVERLOAD.search(head) or path.endswith(STUB_FILES):
            return "stub"
        if context.startswith(("interface ", "trait ")):  # what the implementations' methods implement
            return "primary"
        if path.endswith(HEADERS) and "{" not in content and content.rstrip().endswith(";"):
            return "stub"
        return ""
    if kind in (Kind.INTERFACE, Kind.TRAIT):
        return "primary"
    if kind in (Kind.CLASS, Kind.STRUCT, Kind.TYPE, Kind.OBJECT):
        if ABSTRACT.search(_declaration(head)):
            return "primary"
        if path.endswith(STUB_FILES):
            return "stub"
    return ""


def deprecated(content: str, path: str) -> bool:
    """Whether a definition's own source marks it deprecated. Its preamble and header only: a
    class's chunk also holds its methods' decorators and attributes, which are theirs."""
    lines = content[:1500].splitlines()
    header = next((i for i, line in enumerate(lines) if line.strip() and not line.lstrip().startswith(PREAMBLE)),
                  len(lines))
    if DEPRECATED.search("\n".join(lines[: header + 1])):
        return True
    return path.endswith((".py", ".pyi")) and bool(DEPRECATED_DOC.search(content[:1500]))


def definition_key(symbol: str) -> str:
    """A definition's name and its nearest scope's, generic arguments aside: the deprecated
    `alias_method::WeightedIndex<W>::new` and the current `WeightedIndex<X>::new` are one
    (`weightedindex.new`); `FileUtils.write` and `IOUtils.write` are two."""
    scopes = _scopes(symbol)
    return f"{name_key(scopes[-1]) if scopes else ''}.{name_key(symbol)}"


def _declaration(head: str) -> str:
    """A definition's decorators and header, up to where its body opens (not its doc comment)."""
    lines: list[str] = []
    for line in head.splitlines()[:12]:
        if line.lstrip().startswith(("*", "/*", "//", "#", "--")):
            continue
        lines.append(line)
        if line.rstrip().endswith((":", "{")) or "{" in line:
            break
    return "\n".join(lines)


def qualified_match(symbol: str, path: str, parts: tuple[str, ...]) -> str:
    """How a definition answers a qualified name (`Sinatra::Helpers`, `pkg.Type`, `Class#method`,
    `a.b.c`): `qualified` when its last part is the name's, in its case, and its scopes or its
    file's folders and name hold its nearest qualifier (its nearest scope, where its scopes hold
    it; and the next qualifier too, where both have another); `variant` for another of that name
    (the `helpers` methods beside the module, an inner scope's namesake); `prefix` for a longer
    one; else ""."""
    own = name_parts(symbol) or (symbol,)
    last, wanted = own[-1], parts[-1]
    if name_key(last) != name_key(wanted):
        return "prefix" if len(name_key(wanted)) >= 4 and name_key(last).startswith(name_key(wanted)) else ""
    scopes = [p.lower() for p in _scopes(symbol)]
    where = set(scopes) | {p.lower() for p in PurePosixPath(path).with_suffix("").parts}
    same_case = last.rstrip("?!=") == wanted.rstrip("?!=")  # Ruby's `block?`
    # The nearest qualifier decides (`Html` in `Kramdown::Converter::Html#convert`); outer ones
    # are often a root namespace no folder spells (`Twig` over `src/`).
    qualifiers = [p.lower() for p in parts[:-1]]
    if not same_case or qualifiers[-1] not in where:
        return "variant"
    if qualifiers[-1] in scopes and scopes[-1] != qualifiers[-1]:
        return "variant"  # an inner scope's (`Capybara::DSL#using_session` for `Capybara.using_session`)
    if len(qualifiers) > 1 and len(scopes) > 1 and qualifiers[-2] not in where:
        return "variant"  # another type's nested one (`CodeBlockHolder.Builder` for `CodeBlock.Builder`)
    return "qualified"


def in_scope(symbol: str, path: str, parts: tuple[str, ...]) -> bool:
    """Whether a definition lies inside what a sentence's qualified word names (`Data.Map` in
    `Data/Map/Strict/Internal.hs`, `gettext.extract` in `tasks/gettext.extract.ex`, `Polly.Core` in
    `src/Polly.Core/`): its parts, next to each other and in order, among its file's folders and
    name (split at dots) or its scopes and name."""
    wanted = [p.lower() for p in parts]
    where = [p.lower() for part in PurePosixPath(path).with_suffix("").parts for p in part.split(".")]
    named = [p.lower() for p in name_parts(symbol)]
    return any(seq[i : i + len(wanted)] == wanted for seq in (where, named) for i in range(len(seq) - len(wanted) + 1))


def _scopes(symbol: str) -> tuple[str, ...]:
    """The names a definition's symbol puts it in, without generic arguments (nested ones
    peeled from the inside: `WeightedIndex<X>::new` is in WeightedIndex). Only the scopes: an
    `impl Foo<T>` block's own name is left as it was, so it does not tie with `Foo` itself."""
    while (bare := GENERIC_ARGS.sub("", symbol)) != symbol:
        symbol = bare
    return name_parts(symbol)[:-1]


def file_name_share(path: str, weights: dict[str, float], all_weight: float) -> float:
    """The idf share of a sentence's terms in a file's name and its folder's (`connect` in
    `lib/connect.c`, `client` in `client_ws.py`), a word's longer forms included."""
    where = PurePosixPath(path)
    words = set(code_terms(f"{where.stem} {where.parent.name}").split())
    got = sum(w for t, w in weights.items()
              if any(t == word or (min(len(t), len(word)) >= 4 and (t.startswith(word) or word.startswith(t)))
                     for word in words))
    return got / all_weight


def quoted(content: str, lines: frozenset[str]) -> int:
    """How many of a chunk's lines a query quotes (`Query.code_lines`, both read by
    `query.code_line`): an issue that pastes a function's own lines points at it, however few
    of its words it has."""
    if not lines:
        return 0
    return len(lines.intersection(map(code_line, content.splitlines())))
