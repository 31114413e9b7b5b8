"""What a training epoch draws: languages balanced, and negatives mined by a previous model.

Balance: the corpus is a quarter Python and has 841 Lua pairs; drawn in proportion, the small
languages are a few batches an epoch. `--balance ALPHA` draws each language in proportion to
count**ALPHA (temperature-scaled sampling, as multilingual models do: 1 is the corpus's own
shares, 0 all languages equal), an epoch keeping the corpus's number of pairs: large languages
are subsampled (a different part each epoch), small ones repeated, but at most `max_repeat`
times (4) an epoch: at ALPHA 0.5 the corpus's 73 Bash pairs would be drawn 17 times each,
which teaches those pairs rather than the language.

Mined negatives: training/mine.py embeds every code with an earlier checkpoint and lists, for
each pair, the definitions of the same package that checkpoint ranks nearest but that are not
its answer; `--mined FILE` gives each pair one of them as a hard negative beside the
same-file one: the near-misses the model itself still confuses.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

MINED_FORMAT = "codeseek-mined-negatives/1"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The rows of a corpus file (pairs.jsonl, valid.jsonl), one JSON object a line."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def language_quotas(languages: Sequence[str], alpha: float, max_repeat: int) -> dict[str, int]:
    """Pairs per language in an epoch of len(languages) pairs, shares proportional to count**alpha,
    none past max_repeat times its count (the epoch is that much shorter)."""
    counts: dict[str, int] = defaultdict(int)
    for lang in languages:
        counts[lang] += 1
    weights = {lang: n ** alpha for lang, n in sorted(counts.items())}
    total = sum(weights.values())
    return {lang: min(max_repeat * counts[lang], max(1, round(len(languages) * w / total)))
            for lang, w in weights.items()}


def balanced_order(
    rows: Sequence[int], languages: Sequence[str], alpha: float, rng: np.random.Generator, max_repeat: int = 4
) -> list[int]:
    """An epoch's rows in seeded order, each language drawn to its quota: a fresh permutation of
    its rows, repeated whole as often as the quota needs."""
    by_language: dict[str, list[int]] = defaultdict(list)
    for row, lang in zip(rows, languages, strict=True):
        by_language[lang].append(row)
    drawn: list[int] = []
    for lang, quota in language_quotas(languages, alpha, max_repeat).items():
        members = by_language[lang]
        while quota > 0:
            take = min(quota, len(members))
            drawn.extend(members[int(i)] for i in rng.permutation(len(members))[:take])
            quota -= take
    return [drawn[int(i)] for i in rng.permutation(len(drawn))]


@dataclass
class Mined:
    """For each row of the training file, its nearest wrong definitions in the same package."""

    neighbours: list[np.ndarray]
    model: str  # what embedded them (a checkpoint or delta), for the run's log

    def pick(self, row: int, rng: np.random.Generator) -> int | None:
        near = self.neighbours[row]
        return int(near[int(rng.integers(len(near)))]) if len(near) else None


def write_mined(path: Path, neighbours: Sequence[Sequence[int]], *, train_digest: str, model: str, k: int) -> None:
    """One header line (format, the training file's digest, model, k), then one JSON list a row."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        handle.write(json.dumps({"format": MINED_FORMAT, "train_digest": train_digest, "model": model, "k": k,
                                 "rows": len(neighbours)}) + "\n")
        for near in neighbours:
            handle.write(json.dumps([int(j) for j in near]) + "\n")
    tmp.replace(path)


def read_mined(path: Path, train_digest: str, rows: int) -> Mined:
    """The mined file, refused (one clear line) unless it was mined from this very training file."""
    try:
        with path.open(encoding="utf-8") as handle:
            header = json.loads(handle.readline())
            neighbours = [np.asarray(json.loads(line), dtype=np.int64) for line in handle]
    except (OSError, ValueError) as error:
        raise SystemExit(f"--mined {path}: cannot read it ({error})") from None
    if not isinstance(header, dict) or header.get("format") != MINED_FORMAT:
        raise SystemExit(f"--mined {path}: not a file written by training/mine.py")
    if header.get("train_digest") != train_digest or len(neighbours) != rows:
        raise SystemExit(f"--mined {path}: mined from another training file (digest or row count differs)")
    return Mined(neighbours, str(header.get("model", "")))
