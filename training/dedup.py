"""Exact and near-duplicate code: whitespace-normalised hashes, and MinHash over token
5-shingles with LSH banding.

Near duplicates (a function copied into a second package, the same code in a CommonJS and an
ES build) would let the model see one example twice and, worse, put a copy of a validation or
benchmark function in training. Jaccard >= 0.8 on 5-shingles of word tokens is the usual bar
for "the same code, lightly edited". Signatures are deterministic (seeded permutations, CRC32
token hashes), so a re-run keeps and drops the same pairs.
"""

from __future__ import annotations

import hashlib
import re
import zlib

import numpy as np

SHINGLE = 5
PERMUTATIONS = 128
BANDS = 16  # 16 bands of 8 rows: pairs above Jaccard ~0.7 share a band with high probability
ROWS = PERMUTATIONS // BANDS
THRESHOLD = 0.8
MAX_TOKENS = 3000
TOKEN = re.compile(r"\w+|[^\w\s]")
_rng = np.random.default_rng(20240601)
_A = _rng.integers(1, 1 << 61, PERMUTATIONS, dtype=np.uint64) | np.uint64(1)
_B = _rng.integers(0, 1 << 61, PERMUTATIONS, dtype=np.uint64)
_token_hash: dict[str, int] = {}


def exact_key(code: str) -> str:
    """The hash of the code with all whitespace runs made one space."""
    return hashlib.sha1(" ".join(code.split()).encode()).hexdigest()


def signature(code: str) -> np.ndarray:
    """A MinHash signature (PERMUTATIONS uint32 values) of the code's token 5-shingles."""
    words = TOKEN.findall(code)[:MAX_TOKENS]
    ids = np.fromiter((_token_hash.setdefault(w, zlib.crc32(w.encode())) for w in words), dtype=np.uint64,
                      count=len(words))
    if len(ids) < SHINGLE:
        ids = np.concatenate([ids, np.zeros(SHINGLE - len(ids), dtype=np.uint64)])
    n = len(ids) - SHINGLE + 1
    shingles = np.zeros(n, dtype=np.uint64)
    for k in range(SHINGLE):
        shingles = shingles * np.uint64(1_000_003) + ids[k:k + n]
    shingles = np.unique(shingles)
    mixed = (_A[:, None] * shingles[None, :] + _B[:, None]) >> np.uint64(32)
    return mixed.min(axis=1).astype(np.uint32)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of two signatures."""
    return float(np.mean(a == b))


class LSHIndex:
    """Signatures banded into buckets; `near` finds stored keys at or above THRESHOLD."""

    def __init__(self) -> None:
        self.buckets: list[dict[bytes, list[int]]] = [{} for _ in range(BANDS)]
        self.signatures: list[np.ndarray] = []
        self.labels: list[str] = []

    def add(self, sig: np.ndarray, label: str) -> None:
        index = len(self.signatures)
        self.signatures.append(sig)
        self.labels.append(label)
        for band, bucket in enumerate(self.buckets):
            bucket.setdefault(sig[band * ROWS:(band + 1) * ROWS].tobytes(), []).append(index)

    def near(self, sig: np.ndarray) -> str | None:
        """The label of the first stored signature similar enough to this one, or None."""
        seen: set[int] = set()
        for band, bucket in enumerate(self.buckets):
            for index in bucket.get(sig[band * ROWS:(band + 1) * ROWS].tobytes(), ()):
                if index in seen:
                    continue
                seen.add(index)
                if similarity(sig, self.signatures[index]) >= THRESHOLD:
                    return self.labels[index]
        return None
