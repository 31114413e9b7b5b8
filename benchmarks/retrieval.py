"""Retrieval quality on real projects in six languages, beside the baselines of the same run.

    python benchmarks/retrieval.py [--workdir DIR] [--only NAME ...] [--systems ...] [--fresh]

Query sets, each reported on its own:
- docs: a function's doc-comment first sentence, asked of a copy whose doc comments are
  blanked out (tests kept as distractors);
- identifier:exact / :variant / :partial: a definition's name, its other case style, its
  leading words (same copy);
- question: questions written by hand in a developer's words (questions.toml), asked of the
  project as released, each with its answer spans, some in several files.
A hit is the right file and lines: a result whose span overlaps an answer's by half of their
union, or lies inside it. Metrics: Recall@1/5/10 (share of a case's answers found), MRR@10,
NDCG@10, beside BM25 alone, dense alone and reciprocal rank fusion over plain definition
chunks (baseline.py). Index time and query latency are measured in the same run; vectors are
cached by model and text across runs unless --fresh.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sqlite3
import statistics
import subprocess
import time
import tomllib
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from baseline import Baseline, plain_chunks
from corpora import CORPORA, DEFAULT_WORKDIR, fetch
from index_stdlib import commit_all, git
from queries import Case, Corpus, Target

from codeseek import filling, indexing, ranking, search
from codeseek.embedding import DEFAULT_MODEL, LOADERS, EngineChoice, EngineSettings, local_backend
from codeseek.embedding.base import Embedder
from codeseek.index import Store
from codeseek.repo import open_workspace
from codeseek.skipping import SkipRules

QUESTIONS = Path(__file__).with_name("questions.toml")
K = 10
LIMITS = {"docs": 80, "identifier": 30}  # cases per corpus: docs, and each identifier kind
BASELINES = ("bm25", "dense", "rrf")


class CachedEmbedder(Embedder):
    """Vectors remembered by model, context length and text, so that ranking experiments
    re-embed nothing. Not used with --fresh, where index times are measured."""

    def __init__(self, inner: Embedder, path: Path) -> None:
        self.inner, self.info, self.max_tokens = inner, inner.info, inner.max_tokens
        self.db = sqlite3.connect(path)
        self.db.execute("CREATE TABLE IF NOT EXISTS v(key BLOB PRIMARY KEY, vec BLOB)")
        # The torch engine's keys predate engines in the key: other engines' vectors differ a little.
        engine = "" if inner.info.engine == "sentence-transformers" else f"{inner.info.engine}\0"
        self.salt = f"{inner.info.model}\0{inner.max_tokens}\0{engine}".encode()

    def _key(self, text: str, role: str) -> bytes:
        prefix = b"query\0" if role == "query" else b""  # documents' keys predate queries'
        return hashlib.blake2b(self.salt + prefix + text.encode("utf-8", "surrogatepass"), digest_size=16).digest()

    def _cached(self, texts: Sequence[str], role: str, embed: Callable[[Sequence[str]], np.ndarray]) -> np.ndarray:
        keys = [self._key(t, role) for t in texts]
        known: dict[bytes, np.ndarray] = {}
        for i in range(0, len(keys), 500):
            part = keys[i : i + 500]
            rows = self.db.execute(f"SELECT key, vec FROM v WHERE key IN ({','.join('?' * len(part))})", part)
            known.update((k, np.frombuffer(v, dtype=np.float32)) for k, v in rows)
        todo = [i for i, k in enumerate(keys) if k not in known]
        if todo:
            fresh = embed([texts[i] for i in todo])
            with self.db:
                self.db.executemany("INSERT OR REPLACE INTO v VALUES (?, ?)",
                                    ((keys[i], fresh[j].tobytes()) for j, i in enumerate(todo)))
            known.update((keys[i], fresh[j]) for j, i in enumerate(todo))
        return np.stack([known[k] for k in keys]) if keys else np.zeros((0, self.info.dim), np.float32)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._cached(texts, "query", self.inner.embed_queries)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._cached(texts, "document", self.inner.embed_documents)

    def _embed(self, texts: list[str]) -> np.ndarray:
        return self.embed_documents(texts)


@dataclass
class Hit:
    path: str
    start_line: int
    end_line: int


def matches(hit: Hit, target: Target) -> bool:
    if hit.path != target.path:
        return False
    overlap = min(hit.end_line, target.end_line) - max(hit.start_line, target.start_line) + 1
    union = max(hit.end_line, target.end_line) - min(hit.start_line, target.start_line) + 1
    inside = target.start_line <= hit.start_line and hit.end_line <= target.end_line
    return overlap > 0 and (inside or overlap * 2 >= union)


@dataclass
class Score:
    recall: dict[int, float]
    mrr: float
    ndcg: float


def score(hits: list[Hit], targets: Sequence[Target]) -> Score:
    found: dict[int, int] = {}  # target -> rank (0-based) at which it was first found
    gains = []
    for rank, hit in enumerate(hits[:K]):
        gain = 0
        for t, target in enumerate(targets):
            if t not in found and matches(hit, target):
                found[t], gain = rank, 1
                break
        gains.append(gain)
    first = min(found.values(), default=None)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(len(targets), K)))
    return Score(
        recall={k: sum(r < k for r in found.values()) / len(targets) for k in (1, 5, 10)},
        mrr=1 / (first + 1) if first is not None else 0.0,
        ndcg=sum(g / math.log2(r + 2) for r, g in enumerate(gains)) / ideal,
    )


@dataclass
class Tally:
    scores: list[Score] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)

    def row(self) -> list[str]:
        n = len(self.scores)
        cells = [statistics.fmean(s.recall[k] for s in self.scores) for k in (1, 5, 10)]
        cells += [statistics.fmean(s.mrr for s in self.scores), statistics.fmean(s.ndcg for s in self.scores)]
        return [f"{c:.3f}" for c in cells] + [f"{statistics.median(self.latencies):.1f}", str(n)]


def git_files(root: Path) -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, text=True, check=True).stdout
    rules = SkipRules()
    return [p for p in out.split("\0") if p and not rules.reason(p, (root / p).read_bytes())]


def stripped_copy(workdir: Path, name: str, files: dict[str, bytes]) -> Path:
    root = workdir / "stripped" / name
    if (root / ".git").exists():
        return root
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    git(root, "init", "-q")
    commit_all(root, "doc comments stripped")
    return root


def question_cases(name: str, source: Corpus) -> list[Case]:
    """The hand-written questions for one corpus. An answer is `PATH:LINE label`: the
    definition holding that line, doc comment included; the label must be in its first lines."""
    cases = []
    for q in tomllib.loads(QUESTIONS.read_text())["question"]:
        if q["corpus"] != name:
            continue
        targets = []
        for answer in q["answers"]:
            where, _, label = answer.partition(" ")
            path, _, line = where.rpartition(":")
            target = source.enclosing(path, int(line))
            head = b"\n".join(source.files[path].split(b"\n")[target.start_line - 1 : int(line) + 2])
            if label.encode() not in head:
                raise SystemExit(f"questions.toml: {answer}: {label!r} is not in that definition's first lines")
            targets.append(target)
        cases.append(Case(q["query"], tuple(targets), "question"))
    return cases


Searcher = Callable[[str], list[Hit]]


def variant(system: str) -> tuple[str, ranking.Signals]:
    """`codeseek-lexical[spread=1,coherence=0]`: a mode and the signals changed from the defaults."""
    name, _, overrides = system.partition("[")
    changes = dict(item.split("=") for item in overrides.rstrip("]").split(",") if item)
    mode = name.partition("-")[2] or "hybrid"
    return mode, replace(ranking.DEFAULT, **{k: float(v) for k, v in changes.items()})


def codeseek_searcher(index_dir: Path, engine: EngineChoice, system: str) -> tuple[Searcher, Callable[[], None]]:
    store = Store(index_dir)
    mode, signals = variant(system.partition("@")[0])

    def find(query: str) -> list[Hit]:
        found = search.find(store, engine, query, K, mode=mode, signals=signals).hits
        return [Hit(h.path, h.start_line, h.end_line) for h in found]

    return find, store.close


def baseline_searcher(model: Baseline, kind: str) -> Searcher:
    rank = {"bm25": model.bm25, "dense": model.dense, "rrf": model.rrf}[kind]

    def find(query: str) -> list[Hit]:
        return [Hit(c.path, c.start_line, c.end_line) for c in (model.chunks[i] for i in rank(query)[:K])]

    return find


def print_table(title: str, rows: dict[tuple[str, str], Tally], systems: list[str]) -> None:
    print(f"\n### {title}\n")
    print("| set | system | R@1 | R@5 | R@10 | MRR@10 | NDCG@10 | p50 ms | n |")
    print("|---|---|---|---|---|---|---|---|---|")
    for group in dict.fromkeys(g for g, _ in rows):
        for system in systems:
            if (group, system) in rows:
                print(f"| {group} | {system} | " + " | ".join(rows[group, system].row()) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--only", nargs="*", help="corpus names")
    parser.add_argument("--systems", nargs="*", default=["codeseek", *BASELINES],
                        help="codeseek, codeseek-semantic, codeseek-lexical (each may name changed signals: "
                             "codeseek[spread=1,coherence=0]), bm25, dense, rrf")
    parser.add_argument("--fresh", action="store_true", help="embed everything anew (for index times)")
    parser.add_argument("--models", nargs="*", default=[DEFAULT_MODEL],
                        help="codeseek's systems run once per model (named system@model); the baselines use the "
                             "first model. MODEL:ENGINE names the engine (onnxruntime, sentence-transformers), "
                             "else codeseek's choice for the model")
    parser.add_argument("--cases", type=Path, help="write every case's ranks to this JSON file")
    args = parser.parse_args()

    embedders: dict[str, Embedder] = {}
    for name in args.models:
        model, _, backend = name.partition(":")
        inner = LOADERS[backend or local_backend(model)](EngineSettings(model=model))
        embedders[name] = inner if args.fresh else CachedEmbedder(inner, args.workdir / "vectors.sqlite")
    embedder = embedders[args.models[0]]
    several = len(args.models) > 1
    by_set: dict[tuple[str, str], Tally] = defaultdict(Tally)
    by_language: dict[tuple[str, str], Tally] = defaultdict(Tally)
    index_times: dict[str, dict[str, float]] = defaultdict(dict)
    details = []
    for corpus in CORPORA:
        if args.only and corpus.name not in args.only:
            continue
        original = fetch(corpus, args.workdir)
        source = Corpus.read(original, git_files(original))
        stripped = stripped_copy(args.workdir, corpus.name, source.stripped())
        cases = {
            stripped: source.doc_cases(LIMITS["docs"]) + source.identifier_cases(LIMITS["identifier"]),
            original: question_cases(corpus.name, source),
        }
        for root, todo in cases.items():
            if not todo:
                continue
            copy = "original" if root == original else "stripped"
            searchers: dict[str, Searcher] = {}
            closers = []
            for model, model_embedder in embedders.items() if any(
                    s.startswith("codeseek") for s in args.systems) else ():
                # One index a model (an index holds one model's vectors), outside the repository.
                ws = open_workspace(root, args.workdir / "indexes" / f"{corpus.name}-{copy}-{model.replace('/', '_').replace(':', '@')}")
                if args.fresh:
                    indexing.remove_index(ws)
                engine = EngineChoice(embedder=model_embedder)
                began = time.perf_counter()
                filling.index_all(ws, engine)
                suffix = f"@{model}" if several else ""
                index_times[f"{corpus.name} ({copy})"][f"codeseek{suffix}"] = time.perf_counter() - began
                for system in args.systems:
                    if system.startswith("codeseek"):
                        searchers[system + suffix], close = codeseek_searcher(ws.index_dir, engine, system)
                        closers.append(close)
            if any(s in BASELINES for s in args.systems):
                began = time.perf_counter()
                files = {p: (root / p).read_bytes() for p in git_files(root)}
                model = Baseline(plain_chunks(files), lambda texts: embedder.embed_documents(list(texts)))
                index_times[f"{corpus.name} ({copy})"]["baseline"] = time.perf_counter() - began
                for system in args.systems:
                    if system in BASELINES:
                        searchers[system] = baseline_searcher(model, system)
            for case in todo:
                group = case.kind
                for system, find in searchers.items():
                    began = time.perf_counter()
                    hits = find(case.query)
                    latency = (time.perf_counter() - began) * 1000
                    result = score(hits, case.targets)
                    for table, key in ((by_set, group), (by_language, corpus.language), (by_set, "all")):
                        table[key, system].scores.append(result)
                        table[key, system].latencies.append(latency)
                    details.append({"corpus": corpus.name, "set": group, "query": case.query, "system": system,
                                    "mrr": result.mrr, "targets": [t.__dict__ for t in case.targets],
                                    "hits": [h.__dict__ for h in hits]})
            for close in closers:
                close()
        print(f"{corpus.name}: {sum(len(c) for c in cases.values())} cases", flush=True)
    shown = [f"{s}@{m}" if several and s.startswith("codeseek") else s for s in args.systems
             for m in (args.models if several and s.startswith("codeseek") else [""])]
    print_table("by query set", by_set, shown)
    print_table("by language (all sets)", by_language, shown)
    print("\n### index time (s)\n")
    columns = sorted({s for t in index_times.values() for s in t})
    print("| corpus | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    for name, times in index_times.items():
        print(f"| {name} | " + " | ".join(f"{times[s]:.1f}" for s in sorted(times)) + " |")
    if args.cases:
        args.cases.write_text(json.dumps(details))


if __name__ == "__main__":
    main()
