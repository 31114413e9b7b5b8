"""The names a search filter accepts: every language codeseek parses and every kind of chunk,
each with the aliases and spellings people type (`py`, `Python`, `c++`, `fn`). A filter
given a name that is none of these is refused with the list, never answered "no matches".

The canonical names are languages.py's (one per query file, plus `text`) and kinds.Kind's;
tests/test_cli_input.py checks that this table names each of them. (This module stays on
the lowest floor: the quick path checks filters without importing the parser.)
"""

from __future__ import annotations

from .kinds import Kind

LANGUAGES: dict[str, tuple[str, ...]] = {
    "bash": ("sh", "shell", "zsh"),
    "c": ("h",),
    "c_sharp": ("cs", "csharp", "c#", "c-sharp"),
    "cpp": ("c++", "cc", "cxx", "hpp", "hh", "hxx", "h++", "ipp", "cplusplus"),
    "elixir": ("ex", "exs"),
    "go": ("golang",),
    "haskell": ("hs",),
    "java": (),
    "javascript": ("js", "jsx", "mjs", "cjs", "node", "ecmascript"),
    "kotlin": ("kt", "kts"),
    "lua": (),
    "php": ("phtml",),
    "python": ("py", "pyi", "pyw", "python3", "py3"),
    "ruby": ("rb", "rake", "gemspec"),
    "rust": ("rs",),
    "scala": ("sc",),
    "swift": (),
    "tsx": (),
    "typescript": ("ts", "mts", "cts"),
    "zig": (),
    "text": ("txt", "plain"),
}
KINDS: dict[str, tuple[str, ...]] = {
    Kind.FUNCTION: ("fn", "func", "fun", "def", "proc"),
    Kind.METHOD: ("meth",),
    Kind.CLASS: ("cls",),
    Kind.STRUCT: (),
    Kind.INTERFACE: ("iface", "protocol"),
    Kind.TRAIT: (),
    Kind.IMPL: ("implementation",),
    Kind.ENUM: ("enumeration",),
    Kind.TYPE: ("typedef", "alias"),
    Kind.MODULE: ("mod",),
    Kind.NAMESPACE: ("ns", "package"),
    Kind.OBJECT: (),
    Kind.EXTENSION: (),
    Kind.MACRO: (),
    Kind.TEXT: (),
}


def _table(names: dict[str, tuple[str, ...]]) -> dict[str, str]:
    return {alias: str(name) for name, aliases in names.items() for alias in (str(name), *aliases)}


_LANGUAGE = _table(LANGUAGES)
_KIND = _table(KINDS)


def language(name: str) -> str | None:
    """The canonical name of a language as typed (any case), or None."""
    return _LANGUAGE.get(name.strip().lower())


def kind(name: str) -> str | None:
    """The canonical name of a kind as typed (any case, singular or plural), or None."""
    typed = name.strip().lower()
    for candidate in (typed, typed.removesuffix("s"), typed.removesuffix("es")):
        if candidate in _KIND:
            return _KIND[candidate]
    return None
