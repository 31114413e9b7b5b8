"""What a search returns: plain data, cheap to import (the CLI builds these from a warm
server's answer without loading the search machinery)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .protocol import Mode


@dataclass(frozen=True)
class Hit:
    path: str  # relative to the repository root, with /
    start_line: int  # 1-based, inclusive
    end_line: int
    symbol: str
    kind: str
    language: str
    score: float
    code: str
    why: dict[str, object] | None = None  # the ranking's reasons, when asked for (--explain)

    def to_json(self) -> dict[str, object]:
        out = asdict(self)
        out["kind"] = str(self.kind)
        if self.why is None:
            del out["why"]
        return out


@dataclass(frozen=True)
class Results:
    hits: list[Hit]
    mode: Mode
    unembedded: int = 0  # chunks without a vector yet: found by the lexical ranker only
    notes: tuple[str, ...] = ()  # what the user should know about these results (one line each)
    embedder: str = ""  # who this search started to embed the missing vectors, if it started one
    vectors: str = ""  # the vector spaces meaning came from: "transformer", "static", both, or "" (words only)
    filling: bool = True  # whether missing vectors are on their way (False: the engine cannot load here; a note says why)

    def to_json(self) -> dict[str, Any]:
        return {"hits": [h.to_json() for h in self.hits], "mode": str(self.mode), "unembedded": self.unembedded,
                "notes": list(self.notes), "embedder": self.embedder, "vectors": self.vectors,
                "filling": self.filling}

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Results:
        return cls([Hit(**hit) for hit in body["hits"]], Mode(body["mode"]), int(body["unembedded"]),
                   tuple(body.get("notes", ())), str(body.get("embedder", "")), str(body.get("vectors", "")),
                   bool(body.get("filling", True)))
