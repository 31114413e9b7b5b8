"""The baselines codeseek is measured against, in the spirit of a fifty-line script: plain
definition chunks (each function, method and class as its source text: no header, no
module-level code, nothing split), all-MiniLM-L6-v2 through the same engine as codeseek's
(128 tokens, batches of 16: the baseline gets the faster settings too), Okapi BM25 over
words (each identifier whole and split into its words: the stronger of the tokenizations
tried, see benchmarks/README.md), and reciprocal rank fusion of the two."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from codeseek.lexical import code_terms, query_terms
from codeseek.parsing import chunk_file

WORD = re.compile(r"\w+")
PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
RRF_K = 60
DEPTH = 100


def tokens(text: str) -> list[str]:
    out = []
    for word in WORD.findall(text):
        out.append(word.lower())
        parts = PART.findall(word)
        if len(parts) > 1:
            out.extend(p.lower() for p in parts)
    return out


@dataclass(frozen=True)
class Chunk:
    path: str
    start_line: int
    end_line: int
    text: str


def plain_chunks(files: dict[str, bytes]) -> list[Chunk]:
    """Every definition, whole, as the file has it."""
    out = []
    for path, data in sorted(files.items()):
        lines = data.decode("utf-8", "replace").split("\n")
        for c in chunk_file(path, data):
            if c.kind not in ("module", "text"):
                out.append(Chunk(path, c.start_line, c.end_line, "\n".join(lines[c.start_line - 1 : c.end_line])))
    return out


class Baseline:
    def __init__(self, chunks: list[Chunk], embed: Callable[[Sequence[str]], np.ndarray]) -> None:
        self.chunks = chunks
        self.embed = embed
        self.vectors = embed([c.text for c in chunks])
        docs = [Counter(tokens(c.text)) for c in chunks]
        self.lengths = np.array([sum(d.values()) for d in docs], dtype=np.float32)
        self.postings: dict[str, list[tuple[int, int]]] = {}
        for i, doc in enumerate(docs):
            for term, count in doc.items():
                self.postings.setdefault(term, []).append((i, count))

    def bm25(self, query: str, k1: float = 1.2, b: float = 0.75) -> list[int]:
        n, mean = len(self.chunks), float(self.lengths.mean())
        scores = np.zeros(n, dtype=np.float32)
        for term in set(tokens(query)):
            posting = self.postings.get(term, [])
            idf = math.log(1 + (n - len(posting) + 0.5) / (len(posting) + 0.5))
            for i, tf in posting:
                scores[i] += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * self.lengths[i] / mean))
        order = np.argsort(-scores)[:DEPTH]
        return [int(i) for i in order if scores[i] > 0]

    def dense(self, query: str) -> list[int]:
        return [int(i) for i in np.argsort(-(self.vectors @ self.embed([query])[0]))[:DEPTH]]

    def rrf(self, query: str) -> list[int]:
        fused: Counter[int] = Counter()
        for ranking in (self.dense(query), self.bm25(query)):
            for rank, i in enumerate(ranking):
                fused[i] += 1 / (RRF_K + rank + 1)
        return [i for i, _ in fused.most_common(DEPTH)]


class FileBM25:
    """Okapi BM25 (k1=1.2, b=0.75) over whole files, each file's path and text as one document,
    in codeseek's own code-aware terms (lexical.py: identifiers whole and in their words; the
    query without English function words): the plain file-level baseline an issue or a
    subsystem question is measured against."""

    def __init__(self, files: dict[str, bytes], k1: float = 1.2, b: float = 0.75) -> None:
        self.paths = sorted(files)
        self.k1, self.b = k1, b
        docs = [Counter(code_terms(p + "\n" + files[p].decode("utf-8", "replace")).split()) for p in self.paths]
        self.lengths = np.array([sum(d.values()) for d in docs], dtype=np.float32)
        self.mean = float(self.lengths.mean()) if docs else 0.0
        self.postings: dict[str, list[tuple[int, int]]] = {}
        for i, doc in enumerate(docs):
            for term, count in doc.items():
                self.postings.setdefault(term, []).append((i, count))

    def search(self, query: str) -> list[str]:
        n = len(self.paths)
        scores = np.zeros(n, dtype=np.float32)
        for term in query_terms(query):
            posting = self.postings.get(term, [])
            idf = math.log(1 + (n - len(posting) + 0.5) / (len(posting) + 0.5))
            for i, tf in posting:
                norm = tf + self.k1 * (1 - self.b + self.b * self.lengths[i] / self.mean)
                scores[i] += idf * tf * (self.k1 + 1) / norm
        order = np.argsort(-scores, kind="stable")[:DEPTH]
        return [self.paths[i] for i in order if scores[i] > 0]
