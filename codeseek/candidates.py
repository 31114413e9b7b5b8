"""A chunk up for ranking, and what the ranking found out about it: the one record ranking.py
fills in signal by signal, and `--explain` and the page read back."""

from __future__ import annotations

from dataclasses import dataclass, field

from .kinds import Kind


@dataclass
class Candidate:
    """One chunk up for ranking, and what the ranking found out about it."""

    id: int
    path: str
    kind: Kind
    symbol: str
    cosine: float | None = None  # None: no vector yet
    terms: tuple[str, str, str] = ("", "", "")  # indexed terms: symbol, path, body
    static_cosine: float | None = None  # in the static tier's space; None: not read, or no vector
    meaning: float = 0.0
    words: float = 0.0
    matched: list[str] = field(default_factory=list)
    name_match: str = ""  # exact, variant, prefix
    factors: dict[str, float] = field(default_factory=dict)
    base: float = 0.0
    coherence: float = 0.0
    score: float = 0.0
    spread: float = 1.0
    start_line: int = 0
    end_line: int = 0
    shape: str = ""  # primary (interface, trait, abstract class), stub (overload, prototype): shape_of
    deprecated: bool = False  # marked so in its source, or its module's, class's (evidence.deprecated)
    bonuses: dict[str, float] = field(default_factory=dict)  # issue 27's additive signals, by name
    meaning_from: str = ""  # the space(s) its meaning came from
    static_share: float = 0.0  # where both: the static tier's share of its meaning (ranking.static_share)
    words_share: float = 0.0  # the words' share of its base, the rest meaning: by the query's kind and length
    quoted: int = 0  # how many of its lines a long query quotes (evidence.quoted)

    def __post_init__(self) -> None:
        self.kind = Kind(self.kind)

    def explain(self) -> dict[str, object]:
        """Why it ranked where it did (`codeseek find --explain`)."""
        why: dict[str, object] = {"meaning": round(self.meaning, 3), "words": round(self.words, 3)}
        if self.cosine is not None:
            why["cosine"] = round(self.cosine, 3)
        if self.static_cosine is not None:
            why["static_cosine"] = round(self.static_cosine, 3)
        if self.meaning_from:
            why["vectors"] = self.meaning_from
        if self.meaning_from == "both":
            why["static_share"] = round(self.static_share, 3)
        if 0.0 < self.words_share < 1.0:  # a hybrid search's: a semantic or lexical one reads one scale
            why["words_share"] = round(self.words_share, 3)
        if self.matched:
            why["matched"] = self.matched
        if self.name_match:
            why["name"] = self.name_match
        if self.factors:
            why["priors"] = {k: round(v, 2) for k, v in self.factors.items()}
        if self.bonuses:
            why["bonuses"] = {k: round(v, 3) for k, v in self.bonuses.items()}
        if self.coherence:
            why["coherence"] = round(self.coherence, 3)
        if self.spread != 1.0:
            why["spread"] = round(self.spread, 3)
        return why
