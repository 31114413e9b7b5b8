"""Retrieval quality on real projects in ten languages, beside the baselines of the same run.

    python benchmarks/retrieval.py [--workdir DIR] [--only NAME ...] [--sets ...] [--systems ...] [--fresh]

Query sets, each reported on its own:
- docs: a function's doc-comment first sentence, asked of a copy whose doc comments are
  blanked out (tests kept as distractors);
- identifier:exact / :variant / :partial: a definition's name, its other case style, its
  leading words (same copy);
- question: questions written by hand in a developer's words (questions.toml), asked of the
  project as released, in five kinds (architecture, semantic, name-plain, name-qualified,
  name-multi), a fifth of them held out from tuning (with --whole, of all of each release:
  its tests, docs, examples and changelogs too, as a developer's clone holds them); scored
  at file level (NDCG@10, MRR@10 of the distinct files of the first ten results) by kind and
  by language, tuned and held-out parts apart, and at span level where a definition answers;
  architecture and semantic questions also by their form: opening with a question word
  ("how does ... work") or a phrase ("WebSocket client implementation", "encode a code point");
- issue: real issues (issues.toml), title and description as written, asked of the tree
  just before their fixing commit; file-level MRR of the first fixed file, first result right.
A span hit is the right file and lines: a result whose span overlaps an answer's by half of
their union, or lies inside it. Span metrics: Recall@1/5/10 (share of a case's answers
found), MRR@10, NDCG@10, beside BM25 alone, dense alone and reciprocal rank fusion over plain
definition chunks (baseline.py); file-level ones also beside `bm25-files`, BM25 over whole
files (`bm25-code-files`: source files only; `bm25-impl-files`: implementation source files).
Index time and query latency are measured in the same run; vectors are cached by model and
text across runs unless --fresh.
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
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

import numpy as np
import tasks
from baseline import Baseline, FileBM25, plain_chunks
from corpora import CORPORA, DEFAULT_WORKDIR, fetch
from index_stdlib import commit_all, git
from queries import Case, Corpus, Target
from tasks import KINDS, FileScore, Issue, Question, file_score, issue_tree, issues, questions

from codeseek import filling, indexing, ranking, search
from codeseek.embedding import DEFAULT_MODEL, LOADERS, EngineChoice, EngineSettings, local_backend
from codeseek.embedding.base import Embedder
from codeseek.embedding.bundled import FORMER_NAMES
from codeseek.index import Store
from codeseek.kinds import Role, role_of_path
from codeseek.query import CODE_EXTENSIONS, Query
from codeseek.repo import open_workspace
from codeseek.skipping import SkipRules

K = 10
LIMITS = {"docs": 80, "identifier": 30}  # cases per corpus: docs, and each identifier kind
BASELINES = ("bm25", "dense", "rrf")


class CachedEmbedder(Embedder):
    """Vectors remembered by model, context length and text, so that ranking experiments
    re-embed nothing. Not used with --fresh, where index times are measured."""

    def __init__(self, inner: Embedder, path: Path) -> None:
        self.inner, self.info, self.max_tokens = inner, inner.info, inner.max_tokens
        path.parent.mkdir(parents=True, exist_ok=True)  # a fresh machine has no workdir yet
        self.db = sqlite3.connect(path)
        self.db.execute("CREATE TABLE IF NOT EXISTS v(key BLOB PRIMARY KEY, vec BLOB)")
        # The torch engine's keys predate engines in the key: other engines' vectors differ a little.
        engine = "" if inner.info.engine == "sentence-transformers" else f"{inner.info.engine}\0"
        # The int8 file's vectors were cached under its former name (bundled.FORMER_NAMES), and still are.
        former = {(to, by): name for (name, by), to in FORMER_NAMES.items()}
        model = former.get((inner.info.model, inner.info.engine), inner.info.model)
        self.salt = f"{model}\0{inner.max_tokens}\0{engine}".encode()

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


Searcher = Callable[..., list[Hit]]  # (query, k=K) -> hits


def variant(system: str) -> tuple[str, ranking.Signals]:
    """`codeseek-lexical[spread=1,coherence=0]`: a mode and the signals changed from the defaults."""
    name, _, overrides = system.partition("[")
    changes = dict(item.split("=") for item in overrides.rstrip("]").split(",") if item)
    mode = name.partition("-")[2] or "hybrid"
    return mode, replace(ranking.DEFAULT, **{k: float(v) for k, v in changes.items()})


def codeseek_searcher(index_dir: Path, engine: EngineChoice, system: str) -> tuple[Searcher, Callable[[], None]]:
    store = Store(index_dir)
    mode, signals = variant(system.partition("@")[0])

    def find(query: str, k: int = K) -> list[Hit]:
        found = search.find(store, engine, query, k, mode=mode, signals=signals).hits
        return [Hit(h.path, h.start_line, h.end_line) for h in found]

    return find, store.close


def baseline_searcher(model: Baseline, kind: str) -> Searcher:
    rank = {"bm25": model.bm25, "dense": model.dense, "rrf": model.rrf}[kind]

    def find(query: str, k: int = K) -> list[Hit]:
        return [Hit(c.path, c.start_line, c.end_line) for c in (model.chunks[i] for i in rank(query)[:k])]

    return find


def file_searcher(model: FileBM25) -> Searcher:
    """Whole files as hits: scored at file level only (a file is no definition's span)."""

    def find(query: str, k: int = K) -> list[Hit]:
        return [Hit(p, 1, 1 << 30) for p in model.search(query)[:k]]

    return find


@dataclass
class FileTally:
    scores: list[FileScore] = field(default_factory=list)

    def mean(self, what: str) -> float:
        return statistics.fmean(getattr(s, what) for s in self.scores) if self.scores else float("nan")


def print_table(title: str, rows: dict[tuple[str, str], Tally], systems: list[str]) -> None:
    print(f"\n### {title}\n")
    print("| set | system | R@1 | R@5 | R@10 | MRR@10 | NDCG@10 | p50 ms | n |")
    print("|---|---|---|---|---|---|---|---|---|")
    for group in dict.fromkeys(g for g, _ in rows):
        for system in systems:
            if (group, system) in rows:
                print(f"| {group} | {system} | " + " | ".join(rows[group, system].row()) + " |")


def print_parts(title: str, rows: dict[tuple[str, str, str], FileTally], systems: list[str]) -> None:
    """File-level NDCG@10 and MRR@10 of the questions, both parts and each apart."""
    print(f"\n### {title}\n")
    print("| group | system | NDCG@10 | tuned | heldout | MRR@10 | tuned | heldout | n (tuned + heldout) |")
    print("|---|---|---|---|---|---|---|---|---|")
    groups = dict.fromkeys(g for g, _, _ in rows)
    for group in sorted(groups, key=lambda g: KINDS.index(g) if g in KINDS else len(KINDS)):
        for system in systems:
            if (group, "all", system) not in rows:
                continue
            parts = [rows.get((group, part, system), FileTally()) for part in ("all", "tuned", "heldout")]
            cells = [f"{t.mean(m):.3f}" for m in ("ndcg", "mrr") for t in parts]
            print(f"| {group} | {system} | " + " | ".join(cells)
                  + f" | {len(parts[1].scores)} + {len(parts[2].scores)} |")


def print_issues(rows: dict[tuple[str, str], FileTally], systems: list[str]) -> None:
    print(f"\n### issues (file level, the first {ISSUE_FILES} files)\n")
    print("| project | system | MRR | first right | n |")
    print("|---|---|---|---|---|")
    for group in sorted(dict.fromkeys(g for g, _ in rows), key=lambda g: g.startswith("all")):
        for system in systems:
            if (group, system) in rows:
                t = rows[group, system]
                print(f"| {group} | {system} | {t.mean('mrr'):.3f} | {t.mean('first'):.3f} | {len(t.scores)} |")


ISSUE_HITS = 50  # chunks asked of a chunk-level system for an issue
ISSUE_FILES = 20  # the files its MRR is taken over, for every system


@dataclass
class Run:
    """Everything one run measures, filled corpus by corpus."""

    systems: list[str]
    embedders: dict[str, Embedder]
    workdir: Path
    fresh: bool
    by_set: dict[tuple[str, str], Tally] = field(default_factory=lambda: defaultdict(Tally))
    by_language: dict[tuple[str, str], Tally] = field(default_factory=lambda: defaultdict(Tally))
    by_kind: dict[tuple[str, str, str], FileTally] = field(default_factory=lambda: defaultdict(FileTally))
    by_question_language: dict[tuple[str, str, str], FileTally] = field(
        default_factory=lambda: defaultdict(FileTally))
    by_issue: dict[tuple[str, str], FileTally] = field(default_factory=lambda: defaultdict(FileTally))
    index_times: dict[str, dict[str, float]] = field(default_factory=lambda: defaultdict(dict))
    details: list[dict] = field(default_factory=list)

    def searchers(self, root: Path, label: str, chunk_baselines: bool) -> tuple[dict[str, Searcher], list]:
        """Every system's searcher over one tree (codeseek indexed once a model, outside it)."""
        searchers: dict[str, Searcher] = {}
        closers = []
        several = len(self.embedders) > 1
        if any(s.startswith("codeseek") for s in self.systems):
            for model, model_embedder in self.embedders.items():
                ws = open_workspace(root, self.workdir / "indexes" / f"{label}-{model.replace('/', '_').replace(':', '@')}")
                if self.fresh:
                    indexing.remove_index(ws)
                engine = EngineChoice(embedder=model_embedder)
                began = time.perf_counter()
                updated = indexing.update(ws, engine)
                words = time.perf_counter() - began
                with Store(ws.index_dir) as store:
                    filling.fill(ws, store, engine)
                suffix = f"@{model}" if several else ""
                times = self.index_times[label]
                static = updated.timings.get("static", 0.0)
                # Words alone, words with the static tier, and everything (the transformer's vectors too).
                times[f"words{suffix}"] = words - static
                times[f"static+words{suffix}"] = words
                times[f"codeseek{suffix}"] = time.perf_counter() - began
                for system in self.systems:
                    if system.startswith("codeseek"):
                        searchers[system + suffix], close = codeseek_searcher(ws.index_dir, engine, system)
                        closers.append(close)
        files = {p: (root / p).read_bytes() for p in git_files(root)}
        if chunk_baselines and any(s in BASELINES for s in self.systems):
            began = time.perf_counter()
            first = next(iter(self.embedders.values()))
            model = Baseline(plain_chunks(files), lambda texts: first.embed_documents(list(texts)))
            self.index_times[label]["baseline"] = time.perf_counter() - began
            for system in self.systems:
                if system in BASELINES:
                    searchers[system] = baseline_searcher(model, system)
        for system, keep in FILE_BASELINES.items():
            if system in self.systems:
                searchers[system] = file_searcher(FileBM25({p: text for p, text in files.items() if keep(p)}))
        return searchers, closers

    def ask(self, corpus: str, language: str, group: str, query: str, targets: Sequence[Target],
            searchers: dict[str, Searcher]) -> None:
        """A docs or identifier case: span-level scores."""
        for system, find in searchers.items():
            if system in FILE_BASELINES:
                continue
            began = time.perf_counter()
            hits = find(query)
            latency = (time.perf_counter() - began) * 1000
            result = score(hits, targets)
            for table, key in ((self.by_set, group), (self.by_language, language), (self.by_set, "all")):
                table[key, system].scores.append(result)
                table[key, system].latencies.append(latency)
            self.details.append({"corpus": corpus, "set": group, "query": query, "system": system,
                                 "mrr": result.mrr, "targets": [t.__dict__ for t in targets],
                                 "hits": [h.__dict__ for h in hits]})

    def question(self, q: Question, language: str, searchers: dict[str, Searcher]) -> None:
        """A question: file-level scores for every system, and span-level ones where a
        definition answers it."""
        part = "heldout" if q.heldout else "tuned"
        groups = [q.kind, "all"]
        if q.kind in ("architecture", "semantic"):
            groups.append("asked with a question word" if Query.parse(q.query).is_question else "a phrase")
        for system, find in searchers.items():
            began = time.perf_counter()
            hits = find(q.query)
            latency = (time.perf_counter() - began) * 1000
            result = file_score([h.path for h in hits], q.files, K)
            for group in groups:
                for key in ((group, part), (group, "all")):
                    self.by_kind[(*key, system)].scores.append(result)
            for key in ((language, part), (language, "all")):
                self.by_question_language[(*key, system)].scores.append(result)
            if q.targets and system not in FILE_BASELINES:
                span = score(hits, q.targets)
                self.by_set["question", system].scores.append(span)
                self.by_set["question", system].latencies.append(latency)
            self.details.append({"corpus": q.corpus, "set": f"question:{q.kind}", "heldout": q.heldout,
                                 "query": q.query, "system": system, "mrr": result.mrr, "ndcg": result.ndcg,
                                 "files": sorted(q.files), "targets": [t.__dict__ for t in q.targets],
                                 "hits": [h.__dict__ for h in hits]})

    def issue(self, issue: Issue, searchers: dict[str, Searcher]) -> None:
        for system, find in searchers.items():
            hits = find(issue.query, ISSUE_HITS)
            result = file_score([h.path for h in hits], issue.files, ISSUE_FILES)
            named = "all: its text names a fixed file" if issue.names_fix else "all: names none"
            for key in (issue.project, named, "all"):
                self.by_issue[key, system].scores.append(result)
            self.details.append({"corpus": issue.project, "set": "issue", "query": issue.query[:200],
                                 "issue": f"{issue.repo}#{issue.number}", "system": system, "mrr": result.mrr,
                                 "files": sorted(issue.files), "hits": [h.path for h in hits]})


FILE_BASELINE = "bm25-files"


def _source(path: str) -> bool:
    return PurePosixPath(path).suffix[1:].lower() in CODE_EXTENSIONS


# Whole-file BM25 over every file, over source files only, and over implementation source files
# (no tests, examples or docs): the held-out evaluation's "plain file-level BM25" is not said to
# see prose and tests, and over our issues the last is the strongest (MRR 0.592 against 0.388).
FILE_BASELINES: dict[str, Callable[[str], bool]] = {
    FILE_BASELINE: lambda path: True,
    "bm25-code-files": _source,
    "bm25-impl-files": lambda path: _source(path) and role_of_path(path) == Role.IMPLEMENTATION,
}
SETS = ("docs", "identifier", "question", "issue")


def run_corpus(run: Run, corpus, sets: Sequence[str], whole: bool = False, asked: Path = tasks.QUESTIONS) -> None:
    original = fetch(corpus, run.workdir, whole)
    source = Corpus.read(original, git_files(original))
    if "docs" in sets or "identifier" in sets:
        stripped = stripped_copy(run.workdir, corpus.name, source.stripped())
        cases: list[Case] = []
        if "docs" in sets:
            cases += source.doc_cases(LIMITS["docs"])
        if "identifier" in sets:
            cases += source.identifier_cases(LIMITS["identifier"])
        searchers, closers = run.searchers(stripped, f"{corpus.name}-stripped", chunk_baselines=True)
        for case in cases:
            run.ask(corpus.name, corpus.language, case.kind, case.query, case.targets, searchers)
        for close in closers:
            close()
    todo = questions(corpus.name, source, asked) if "question" in sets else []
    if todo:
        searchers, closers = run.searchers(original, f"{corpus.name}-{'whole' if whole else 'original'}",
                                           chunk_baselines=True)
        for q in todo:
            run.question(q, corpus.language, searchers)
        for close in closers:
            close()
    print(f"{corpus.name}: {len(todo)} questions", flush=True)


def run_issues(run: Run, only: Sequence[str] | None, path: Path = tasks.ISSUES) -> None:
    """Each issue asked of its own tree: codeseek and the file-level BM25 (the chunk baselines
    answer spans, and an issue has none)."""
    by_tree: dict[Path, list[Issue]] = defaultdict(list)
    for issue in issues(path):
        if not only or issue.project in only:
            by_tree[issue_tree(issue, run.workdir)].append(issue)
    for root, todo in by_tree.items():
        searchers, closers = run.searchers(root, f"issue-{root.name}", chunk_baselines=False)
        for issue in todo:
            run.issue(issue, searchers)
        for close in closers:
            close()
    print(f"issues: {sum(len(t) for t in by_tree.values())} in {len(by_tree)} trees", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--only", nargs="*", help="corpus (and issue project) names")
    parser.add_argument("--sets", nargs="*", default=list(SETS), choices=SETS, help="query sets to run")
    parser.add_argument("--systems", nargs="*", default=["codeseek", *BASELINES, FILE_BASELINE],
                        help="codeseek, codeseek-semantic, codeseek-lexical (each may name changed signals: "
                             "codeseek[spread=1,coherence=0]), bm25, dense, rrf, bm25-files (whole files), "
                             "bm25-code-files (source files), bm25-impl-files (implementation source files)")
    parser.add_argument("--fresh", action="store_true", help="embed everything anew (for index times)")
    parser.add_argument("--whole", action="store_true",
                        help="ask the questions of all of each release (tests, docs, examples), not its code's folders")
    parser.add_argument("--models", nargs="*", default=[DEFAULT_MODEL],
                        help="codeseek's systems run once per model (named system@model); the baselines use the "
                             "first model. MODEL:ENGINE names the engine (onnxruntime, sentence-transformers), "
                             "else codeseek's choice for the model")
    parser.add_argument("--cases", type=Path, help="write every case's ranks to this JSON file")
    parser.add_argument("--questions", type=Path, default=tasks.QUESTIONS,
                        help="the questions' file (questions_unseen.toml: projects nobody tuned on, its own "
                             "[[corpus]] list, never tuned on)")
    parser.add_argument("--issues", type=Path, default=tasks.ISSUES,
                        help="the issue set's file (issues_unseen.toml: projects nobody tuned on, never tuned on)")
    args = parser.parse_args()

    embedders: dict[str, Embedder] = {}
    for name in args.models:
        model, _, backend = name.partition(":")
        inner = LOADERS[backend or local_backend(model)](EngineSettings(model=model))
        embedders[name] = inner if args.fresh else CachedEmbedder(inner, args.workdir / "vectors.sqlite")
    if args.whole and {"docs", "identifier"} & set(args.sets):
        parser.error("--whole asks questions and issues only: the docs and identifier sets strip the code's folders")
    run = Run(args.systems, embedders, args.workdir, args.fresh)
    for corpus in CORPORA if args.questions == tasks.QUESTIONS else tasks.releases(args.questions):
        if (not args.only or corpus.name in args.only) and set(args.sets) - {"issue"}:
            run_corpus(run, corpus, args.sets, args.whole, args.questions)
    if "issue" in args.sets:
        run_issues(run, args.only, args.issues)
    several = len(args.models) > 1
    shown = [f"{s}@{m}" if several and s.startswith("codeseek") else s for s in args.systems
             for m in (args.models if several and s.startswith("codeseek") else [""])]
    if run.by_kind:
        print_parts("questions by kind (file level)", run.by_kind, shown)
        print_parts("questions by language (file level)", run.by_question_language, shown)
    if run.by_set:
        print_table("by query set (span level; question: those a definition answers)", run.by_set, shown)
    if run.by_language:
        print_table("by language (docs and identifier sets)", run.by_language, shown)
    if run.by_issue:
        print_issues(run.by_issue, shown)
    columns = sorted({s for t in run.index_times.values() for s in t})
    if columns:
        print("\n### index time (s)\n")
        print("| tree | " + " | ".join(columns) + " |")
        print("|---|" + "---|" * len(columns))
        for name, times in run.index_times.items():
            print(f"| {name} | " + " | ".join(f"{times[s]:.1f}" if s in times else "" for s in columns) + " |")
    if args.cases:
        args.cases.write_text(json.dumps(run.details))


if __name__ == "__main__":
    main()
