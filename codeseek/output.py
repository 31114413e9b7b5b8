"""How hits are shown: to a person in a terminal, or as JSON for editors and scripts."""

from __future__ import annotations

import json
from collections.abc import Sequence

import click

from .parsing import Chunk
from .search import Hit

SNIPPET_LINES = 4


def human(hits: Sequence[Hit]) -> str:
    if not hits:
        return "no matches"
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
        body = "\n".join("    " + line for line in lines)
        blocks.append(f"{head}\n{body}")
    return "\n\n".join(blocks)


def _dedent(lines: list[str]) -> list[str]:
    indents = [len(line) - len(line.lstrip()) for line in lines if line.strip()]
    cut = min(indents, default=0)
    return [line[cut:] for line in lines]


def as_json(hits: Sequence[Hit]) -> str:
    return json.dumps([hit.to_json() for hit in hits], indent=2)


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
