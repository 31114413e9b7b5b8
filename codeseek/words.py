"""How counts are written, one way everywhere: `1 file`, `2,294 files` (a thousands comma,
and the noun's plural only where the count is not one)."""

from __future__ import annotations


def count(n: int, noun: str, plural: str | None = None) -> str:
    """`n noun`, the noun made plural (`plural`, else noun + s) unless n is 1."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"
