"""The search commands' options, declared once as data: the click command line is built from
this table, and so is the quick parser that answers a warm `codeseek find` without importing
click (about a third of a warm search's time was click's import)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Option:
    flags: tuple[str, ...]
    dest: str
    help: str
    type: type | None = None  # None: a flag that sets `value`
    value: object = True  # what a flag sets
    multiple: bool = False
    metavar: str | None = None


FILTERS = (
    Option(("-k", "-n", "--top"), "k", "How many results (default 10).", int),  # -n: as head and llm similar count
    Option(("--path",), "paths", "Only paths matching GLOB (repeatable; a leading ! excludes; a folder matches all "
           "below).", str, multiple=True, metavar="GLOB"),
    Option(("--lang",), "languages", "Only this language (repeatable).", str, multiple=True),
    Option(("--kind",), "kinds", "Only this kind: function, method, class... (repeatable).", str, multiple=True),
    Option(("--min-score",), "min_score", "Drop results scoring below this.", float),
    Option(("--no-update",), "no_update", "Search the index as it is, without indexing changes first."),
)
FORMATS = (
    Option(("--json",), "fmt", "A JSON array (schema in README).", value="json"),
    Option(("--jsonl",), "fmt", "One JSON object per line.", value="jsonl"),
    Option(("--vimgrep",), "fmt", "path:line:col:text lines, for quickfix lists.", value="vimgrep"),
    Option(("--files",), "fmt", "Unique file paths only.", value="files"),
)
FIND_ONLY = (
    Option(("--mode",), "mode", "Rank by meaning and words (hybrid, the default), meaning only (semantic), or words "
           "only (lexical).", str),
    Option(("--explain",), "explain", "Show why each result ranked where it did."),
    Option(("--wait",), "wait", "Wait until every chunk has its vector (on a first search: the whole repository).",
           value="all"),
    Option(("--no-wait",), "wait", "Index changed files but embed nothing before answering.", value="none"),
)
COMMANDS = {"find": FILTERS + FORMATS + FIND_ONLY, "similar": FILTERS + FORMATS}


def quick_parse(argv: list[str]) -> tuple[str, str, dict[str, object]] | None:
    """(command, argument, options) for a plain `find QUERY ...` or `similar WHERE ...` using
    only the options above; None for anything else (click then parses it, help included)."""
    if not argv or argv[0] not in COMMANDS:
        return None
    by_flag = {flag: option for option in COMMANDS[argv[0]] for flag in option.flags}
    found: dict[str, object] = {}
    positional: list[str] = []
    words = argv[1:]
    i = 0
    while i < len(words):
        word = words[i]
        if not word.startswith("-") or word == "-":
            positional.append(word)
            i += 1
            continue
        name, eq, text = word.partition("=")
        option = by_flag.get(name)
        if option is None:
            return None
        if option.type is None:
            if eq:
                return None
            found[option.dest] = option.value
            i += 1
            continue
        if not eq:
            if i + 1 >= len(words):
                return None
            text = words[i + 1]
            i += 1
        i += 1
        try:
            value = option.type(text)
        except ValueError:
            return None  # click says what is wrong
        if option.multiple:
            found[option.dest] = (*found.get(option.dest, ()), value)  # type: ignore[misc]
        else:
            found[option.dest] = value
    if len(positional) != 1:
        return None
    return argv[0], positional[0], found
