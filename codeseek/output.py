"""How results are shown: to a person in a terminal, or in the shapes editors and scripts read.

Every format prints the same fields (see the JSON schema in README.md).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from .lexical import code_terms
from .results import Hit

if TYPE_CHECKING:
    from .parsing import Chunk

SNIPPET_LINES = 4
FORMATS = ("human", "explain", "json", "jsonl", "vimgrep", "files")


def render(hits: Sequence[Hit], fmt: str, query: str = "") -> str:
    if fmt == "json":
        return json.dumps([hit.to_json() for hit in hits], indent=2)
    if fmt == "jsonl":
        return "\n".join(json.dumps(hit.to_json()) for hit in hits)
    if fmt == "vimgrep":
        return "\n".join(vimgrep_line(hit) for hit in hits)
    if fmt == "files":
        return "\n".join(dict.fromkeys(hit.path for hit in hits))
    return human(hits, query, explain=fmt == "explain")


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
    return f"{hit.path}:{line}:{column}:{text}  [{hit.symbol} {hit.score:g}]"


def human(hits: Sequence[Hit], query: str = "", explain: bool = False) -> str:
    if not hits:
        return "no matches"
    terms = set(code_terms(query).split())
    blocks = []
    for hit in hits:
        head = (
            click.style(f"{hit.path}:{hit.start_line}-{hit.end_line}", fg="magenta")
            + "  "
            + click.style(hit.symbol, fg="cyan", bold=True)
            + "  "
            + click.style(f"{hit.score:.3f}", dim=True)
        )
        lines = _dedent(hit.code.split("\n")[:SNIPPET_LINES])
        body = "\n".join("    " + _highlight(line, terms) for line in lines)
        if explain and hit.why:
            body = click.style("    why: " + _reasons(hit.why), fg="green") + "\n" + body
        blocks.append(f"{head}\n{body}")
    return "\n\n".join(blocks)


def _reasons(why: dict[str, object]) -> str:
    """The ranking's reasons in a line: `meaning 0.42 (cosine 0.61)  words 0.80 [retry backoff] ...`."""
    parts = [f"meaning {why['meaning']}" + (f" (cosine {why['cosine']})" if "cosine" in why else " (no vector yet)")]
    matched = why.get("matched")
    parts.append(f"words {why['words']}" + (f" [{' '.join(map(str, matched))}]" if isinstance(matched, list) else ""))
    if "name" in why:
        parts.append(f"name: {why['name']}")
    priors = why.get("priors")
    if isinstance(priors, dict):
        parts.extend(f"{name} x{factor}" for name, factor in priors.items())
    if "coherence" in why:
        parts.append(f"file +{why['coherence']}")
    if "spread" in why:
        parts.append(f"spread x{why['spread']}")
    return "  ".join(parts)


def _highlight(line: str, terms: set[str]) -> str:
    if not terms:
        return line
    return re.sub(
        r"[A-Za-z_][A-Za-z0-9_]*",
        lambda m: click.style(m.group(), fg="yellow", bold=True) if m.group().lower() in terms else m.group(),
        line,
    )


def _dedent(lines: list[str]) -> list[str]:
    indents = [len(line) - len(line.lstrip()) for line in lines if line.strip()]
    cut = min(indents, default=0)
    return [line[cut:] for line in lines]


def chunks_human(chunks: Sequence[Chunk]) -> str:
    return "\n".join(
        click.style(f"{c.path}:{c.start_line}-{c.end_line}", fg="magenta")
        + f"  {c.kind:<10} "
        + click.style(c.symbol, fg="cyan", bold=True)
        + click.style(f"  ({c.language}, {len(c.text)} chars)", dim=True)
        for c in chunks
    )


def chunks_json(chunks: Sequence[Chunk]) -> str:
    fields = ("path", "start_line", "end_line", "symbol", "kind", "language", "context")
    return json.dumps([{f: getattr(c, f) for f in fields} | {"code": c.text} for c in chunks], indent=2)
