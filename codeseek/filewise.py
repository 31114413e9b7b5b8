"""How a query's results of one file bear on each other, after each is scored alone (ranking.py,
whose `Signals` hold the weights and the gains that justified them): a file with several good
candidates is likelier the place (coherence), a subsystem's own file passes a neighbour's one
matching method (a file's top chunk), and further results from a file already listed yield to
other files (the spread, and past a file's second result for a question its saturation)."""

from __future__ import annotations

import heapq

from .candidates import Candidate


def add_coherence(candidates: list[Candidate], coherence: float) -> None:
    """A file with several good candidates is likelier the place: each candidate gains a
    share of the best two others of its file."""
    by_file: dict[str, list[Candidate]] = {}
    for c in candidates:
        by_file.setdefault(c.path, []).append(c)
    for group in by_file.values():
        best = sorted(group, key=lambda c: -c.base)[:3]
        for c in group:
            c.coherence = coherence * sum([o.base for o in best if o is not c][:2])
            c.score = c.base + c.coherence


def add_file_top(candidates: list[Candidate], file_top: float) -> None:
    """Semble's file coherence: a file's best candidate gains in proportion to its file's summed
    score (how many of its definitions answer), so a subsystem's own file can pass a neighbour's
    one matching method."""
    if not file_top or not candidates:
        return
    sums: dict[str, float] = {}
    best: dict[str, Candidate] = {}
    for c in candidates:
        sums[c.path] = sums.get(c.path, 0.0) + max(c.base, 0.0)
        if c.path not in best or c.score > best[c.path].score:
            best[c.path] = c
    top, most = max(c.base for c in candidates), max(sums.values())
    if top <= 0 or most <= 0:
        return
    for path, c in best.items():
        gain = file_top * top * sums[path] / most
        c.bonuses["file_top"] = gain
        c.score += gain


def spread(candidates: list[Candidate], factor: float, limit: int, saturation: float = 1.0) -> list[Candidate]:
    """The best `limit` in turn, each result already listed from a file lowering that file's
    next one by `factor` (past its second, by `saturation` as well); the rest after them by score."""
    heap = [(-c.score, i, 0) for i, c in enumerate(candidates)]
    heapq.heapify(heap)
    listed: dict[str, int] = {}
    out: list[Candidate] = []
    while heap and len(out) < limit:
        _, i, seen = heapq.heappop(heap)
        c = candidates[i]
        now = listed.get(c.path, 0)
        if now != seen:  # its file gained a result since this entry was scored
            heapq.heappush(heap, (-c.score * _lowered(now, factor, saturation), i, now))
            continue
        c.spread = _lowered(now, factor, saturation)
        listed[c.path] = now + 1
        out.append(c)
    rest = sorted((candidates[i] for _, i, _ in heap), key=lambda c: -c.score)
    return out + rest


def _lowered(listed: int, factor: float, saturation: float) -> float:
    return factor**listed * saturation ** max(0, listed - 1)
