"""How results are shown: to a person in a terminal, or in the shapes editors and scripts read.

Every format prints the same fields (see the JSON schema in README.md). No click here: the
warm path of `codeseek find` imports this and little else.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .lexical import code_terms
from .results import Hit, Results
from .words import count

if TYPE_CHECKING:
    from .parsing import Chunk

SNIPPET_LINES = 4
COLORS = {"magenta": 35, "cyan": 36, "yellow": 33, "green": 32}


def style(text: str, fg: str | None = None, bold: bool = False, dim: bool = False, color: bool = True) -> str:
    """Text in ANSI colours (nothing added when colour is off: a pipe, NO_COLOR)."""
    if not color:
        return text
    codes = [str(COLORS[fg])] if fg else []
    codes += ["1"] if bold else []
    codes += ["2"] if dim else []
    return f"\x1b[{';'.join(codes)}m{text}\x1b[0m" if codes else text


def render(hits: Sequence[Hit], fmt: str, query: str = "", color: bool = False) -> str:
    if fmt == "json":
        return json.dumps([hit.to_json() for hit in hits], indent=2)
    if fmt == "jsonl":
        return "\n".join(json.dumps(hit.to_json()) for hit in hits)
    if fmt == "vimgrep":
        return "\n".join(vimgrep_line(hit) for hit in hits)
    if fmt == "files":
        return "\n".join(dict.fromkeys(quote_path(hit.path) for hit in hits))
    return human(hits, query, explain=fmt == "explain", color=color)


ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r", '"': '\\"', "\\": "\\\\"}


def quote_path(path: str) -> str:
    """A path as one line of text, as git prints it: a name holding a control character (a
    newline would split a --vimgrep or --files line; an escape sequence would drive the
    terminal), a quote or a backslash is shown in double quotes with C escapes (`"a\\nb.py"`);
    every other name as it is. JSON output carries the name itself."""
    if all(c.isprintable() and c not in ESCAPES for c in path):
        return path
    return '"' + "".join(ESCAPES.get(c) or (c if c.isprintable() else _escape(c)) for c in path) + '"'


def _escape(c: str) -> str:
    code = ord(c)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


COMMENT_STARTS = ("#", "//", "/*", "*", "--", ";")


def name_position(hit: Hit) -> tuple[int, int]:
    """(line, column), 1-based, of the symbol's name in its definition (not in a comment
    above it): where an editor should jump."""
    name = re.split(r"[.:#]+", hit.symbol)[-1].strip("()* ")
    pattern = re.compile(rf"\b{re.escape(name)}\b") if name else None
    for offset, line in enumerate(hit.code.split("\n")):
        found = pattern.search(line) if pattern else None
        if found and not line.lstrip().startswith(COMMENT_STARTS):
            return hit.start_line + offset, found.start() + 1
    return hit.start_line, 1


def vimgrep_line(hit: Hit) -> str:
    line, column = name_position(hit)
    text = hit.code.split("\n")[line - hit.start_line].strip()
    return f"{quote_path(hit.path)}:{line}:{column}:{text}  [{hit.symbol} {hit.score:g}]"


def human(hits: Sequence[Hit], query: str = "", explain: bool = False, color: bool = False) -> str:
    if not hits:
        return "no matches"
    terms = set(code_terms(query).split())
    blocks = []
    for hit in hits:
        head = (
            style(f"{quote_path(hit.path)}:{hit.start_line}-{hit.end_line}", fg="magenta", color=color)
            + "  "
            + style(hit.symbol, fg="cyan", bold=True, color=color)
            + "  "
            + style(f"{hit.score:.3f}", dim=True, color=color)
        )
        lines = _dedent(hit.code.split("\n")[:SNIPPET_LINES])
        body = "\n".join("    " + _highlight(line, terms, color) for line in lines)
        if explain and hit.why:
            body = style("    why: " + _reasons(hit.why), fg="green", color=color) + "\n" + body
        blocks.append(f"{head}\n{body}")
    return "\n\n".join(blocks)


def _reasons(why: dict[str, object]) -> str:
    """The ranking's reasons in a line: `meaning 0.42 (cosine 0.61)  words 0.80 at 0.45 [retry backoff] ...`
    (the words' share of the score after `at`: the rest is meaning's)."""
    parts = [f"meaning {why['meaning']} ({_cosines(why)})"]
    matched, share = why.get("matched"), f" at {why['words_share']}" if "words_share" in why else ""
    terms = f" [{' '.join(map(str, matched))}]" if isinstance(matched, list) else ""
    parts.append(f"words {why['words']}{share}{terms}")
    if "name" in why:
        parts.append(f"name: {why['name']}")
    priors = why.get("priors")
    if isinstance(priors, dict):
        parts.extend(f"{name} x{factor}" for name, factor in priors.items())
    bonuses = why.get("bonuses")
    if isinstance(bonuses, dict):
        parts.extend(f"{name} +{value}" for name, value in bonuses.items())
    if "coherence" in why:
        parts.append(f"file +{why['coherence']}")
    if "spread" in why:
        parts.append(f"spread x{why['spread']}")
    return "  ".join(parts)


def _cosines(why: dict[str, object]) -> str:
    """Where a result's meaning came from: `cosine 0.61`, `static cosine 0.84` (the static tier alone, in
    the first minute), `cosine 0.61, static 0.84 at 0.4` (both, the static tier's share last)."""
    if why.get("vectors") == "both":
        return f"cosine {why['cosine']}, static {why['static_cosine']} at {why['static_share']}"
    if why.get("vectors") == "static":
        return f"static cosine {why['static_cosine']}"
    return f"cosine {why['cosine']}" if "cosine" in why else "no vector yet"


def _highlight(line: str, terms: set[str], color: bool) -> str:
    if not terms or not color:
        return line
    return re.sub(
        r"[A-Za-z_][A-Za-z0-9_]*",
        lambda m: style(m.group(), fg="yellow", bold=True) if m.group().lower() in terms else m.group(),
        line,
    )


def _dedent(lines: list[str]) -> list[str]:
    indents = [len(line) - len(line.lstrip()) for line in lines if line.strip()]
    cut = min(indents, default=0)
    return [line[cut:] for line in lines]


def chunks_human(chunks: Sequence[Chunk], color: bool = False) -> str:
    return "\n".join(
        style(f"{quote_path(c.path)}:{c.start_line}-{c.end_line}", fg="magenta", color=color)
        + f"  {c.kind:<10} "
        + style(c.symbol, fg="cyan", bold=True, color=color)
        + style(f"  ({c.language}, {count(len(c.text), 'char')})", dim=True, color=color)
        for c in chunks
    )


def chunks_json(chunks: Sequence[Chunk]) -> str:
    fields = ("path", "start_line", "end_line", "symbol", "kind", "language", "context")
    return json.dumps([{f: getattr(c, f) for f in fields} | {"code": c.text} for c in chunks], indent=2)


def print_results(results: Results, fmt: str, index_dir: Path, query: str = "") -> None:
    """The results on stdout; on stderr, what the user should know about them (chunks still
    without vectors, an engine that could not be reached)."""
    import os
    import sys

    from .progress import duration
    from .progress import read as read_progress

    for note in results.notes:
        print(f"codeseek: {note}", file=sys.stderr)
    if results.unembedded and results.filling:  # one line says what is missing, who fills it in, and how long it takes
        report = read_progress(index_dir)
        left = f", about {duration(report.eta_s)} left" if report is not None and report.eta_s is not None else ""
        who = f", being embedded by {results.embedder}" if results.embedder else ""
        one = results.unembedded == 1
        meanwhile = "the static tier's vectors and their words" if "static" in results.vectors else "their words"
        print(f"codeseek: meaning-based ranking is filling in ({count(results.unembedded, 'chunk')} still without "
              f"{'a vector' if one else 'vectors'}{who}{left}): {'it is' if one else 'those are'} ranked by "
              f"{meanwhile} meanwhile", file=sys.stderr)
    if fmt == "explain":
        print(f"codeseek: meaning from {results.vectors or 'no vectors (words alone)'}", file=sys.stderr)
    color = fmt in ("human", "explain") and sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    text = render(results.hits, fmt, query, color=color)
    if text:
        print(text)

