"""The ranking's words scale: the idf-weighted share of a query's terms a chunk holds, a term in
its name counting most, one in another form (`variables` as `variable`, Query.held) earning its
own idf's share of the term's. 0..1 for every query, so it needs no scaling beside meaning
(ranking.py)."""

from __future__ import annotations

from dataclasses import dataclass

from .lexical import idf
from .query import Query


@dataclass(frozen=True)
class QueryWords:
    """A query's terms as the words scale weighs them."""

    weights: dict[str, float]  # each term's idf
    forms: dict[str, tuple[tuple[str, float], ...]]  # each term's forms, the term first, and the share each earns

    @classmethod
    def of(cls, query: Query, counts: dict[str, int], total: int, inflection: float) -> QueryWords:
        """The term as written earns fully; another form `inflection` times its idf over the
        term's, at most 1, so a common form (`parser` for `parsers`) earns less than the rare word
        asked for. A term the index lacks weighs as its commonest form."""
        weights: dict[str, float] = {}
        forms: dict[str, tuple[tuple[str, float], ...]] = {}
        held = query.forms_by_term
        for term in query.terms:
            written = held.get(term, (term,))
            weight = idf(counts, total, term) if counts.get(term, 0) else idf(counts, total, *written)
            weights[term] = weight
            forms[term] = ((term, 1.0), *((f, inflection * min(1.0, idf(counts, total, f) / weight)) for f in written[1:]))
        return cls(weights, forms)

    @property
    def total(self) -> float:
        return sum(self.weights.values()) or 1.0

    def share(self, terms: tuple[str, str, str], path_weight: float, body_weight: float) -> tuple[float, list[str]]:
        """The share of the query's weight a chunk's indexed symbol, path and body terms hold (a
        term in the path counts `path_weight`, in the body `body_weight`), and the forms found."""
        symbol_terms, path_terms, body_terms = (f" {t} " for t in terms)
        got, matched = 0.0, []
        for term, weight in self.weights.items():
            found, form = 0.0, term
            for written, credit in self.forms[term]:
                probe = f" {written} "
                here = (1.0 if probe in symbol_terms else path_weight if probe in path_terms
                        else body_weight if probe in body_terms else 0.0) * credit
                if here > found:
                    found, form = here, written
            if found:
                matched.append(form)
                got += weight * found
        return got / self.total, matched
