"""Meaning from two vector spaces (issue 29): the transformer's, and the static tier's that
every chunk has from its first indexing. Each space is put on its own scale, above its own
background; a chunk with only a static vector competes on the transformer's scale, the two
tied by the candidates that have both."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class Scored(Protocol):
    """What the spaces need of a candidate: its cosine in each space (None: no vector there)."""

    cosine: float | None
    static_cosine: float | None


def above(cosine: float | None, floor: float | None) -> float | None:
    """A cosine as a share of the room above the background of its space (None: none)."""
    if cosine is None or floor is None or floor >= 1.0:
        return None
    return max(0.0, cosine - floor) / (1.0 - floor)


@dataclass(frozen=True)
class Meanings:
    """Both spaces' backgrounds, and the factor that puts the static scale on the transformer's."""

    floor: float | None
    static_floor: float | None
    tie: float

    @classmethod
    def of(cls, candidates: list[Scored], floor: float | None, static_floor: float | None) -> Meanings:
        both = [(above(c.cosine, floor), above(c.static_cosine, static_floor)) for c in candidates]
        pairs = [(t, s) for t, s in both if t is not None and s is not None]
        static_sum = sum(s for _, s in pairs)
        tie = sum(t for t, _ in pairs) / static_sum if pairs and static_sum > 0 else 1.0
        return cls(floor, static_floor, tie)

    def of_candidate(self, c: Scored, blend: float) -> tuple[float, str]:
        """(meaning, which space it came from)."""
        transformer = above(c.cosine, self.floor)
        static = above(c.static_cosine, self.static_floor)
        if transformer is None:
            return (min(1.0, static * self.tie), "static") if static is not None else (0.0, "")
        if static is None or blend <= 0.0:
            return transformer, "transformer"
        return (1.0 - blend) * transformer + blend * min(1.0, static * self.tie), "both"


def spaces_used(transformer: bool, static: bool) -> str:
    """How a search's results say which vectors gave meaning."""
    return {(True, True): "transformer and static", (True, False): "transformer",
            (False, True): "static"}.get((transformer, static), "")
