"""Retrieval quality on the Python standard library.

Queries are the first sentence of function docstrings; the corpus is the same code with every
docstring removed (so a query never matches its own text). Reports Recall@1, Recall@10 and
MRR@10 for lexical, semantic and hybrid search.

    python benchmarks/quality.py [--modules N] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import ast
import re
import sysconfig
import tempfile
import time
from pathlib import Path

from index_stdlib import commit_all, git

from codeseek import indexing, search
from codeseek.embedding import EngineChoice
from codeseek.repo import open_workspace
from codeseek.storage import Store


def first_sentence(doc: str) -> str | None:
    text = " ".join(doc.strip().split("\n\n")[0].split())
    sentence = re.split(r"(?<=[.!?])\s", text)[0].rstrip(".")
    return sentence if len(sentence.split()) >= 4 else None


def strip_docstrings(source: str) -> tuple[str, list[tuple[str, str]]]:
    """The source with docstrings replaced by `pass`, and (qualified name, query) pairs."""
    tree = ast.parse(source)
    lines = source.split("\n")
    queries: list[tuple[str, str]] = []

    def visit(node: ast.AST, scope: list[str]) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                doc = ast.get_docstring(child, clean=True)
                body0 = child.body[0]
                if doc and isinstance(body0, ast.Expr):
                    if not isinstance(child, ast.ClassDef) and (sentence := first_sentence(doc)):
                        queries.append((".".join([*scope, child.name]), sentence))
                    indent = " " * body0.col_offset
                    lines[body0.lineno - 1] = indent + "pass"
                    for i in range(body0.lineno, body0.end_lineno or body0.lineno):
                        lines[i] = ""
                visit(child, [*scope, child.name])

    visit(tree, [])
    return "\n".join(lines), queries


def build_corpus(root: Path, modules: int) -> list[tuple[str, str, str]]:
    """Write the stripped modules into a git repository; return (path, symbol, query)."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in stdlib.glob("*.py"))
    step = max(1, len(files) // modules)
    cases = []
    root.mkdir(parents=True)
    for path in files[::step][:modules]:
        try:
            stripped, queries = strip_docstrings(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        (root / path.name).write_text(stripped)
        cases.extend((path.name, symbol, query) for symbol, query in queries)
    git(root, "init", "-q")
    commit_all(root, "corpus")
    return cases


def evaluate(store: Store, engine: EngineChoice, cases: list[tuple[str, str, str]], mode: str) -> tuple[float, ...]:
    r1 = r10 = mrr = 0.0
    for path, symbol, query in cases:
        seen: list[tuple[str, str]] = []
        for hit in search.find(store, engine, query, 30, mode=mode).hits:
            if (hit.path, hit.symbol) not in seen:  # parts of a split function count once
                seen.append((hit.path, hit.symbol))
        rank = seen.index((path, symbol)) + 1 if (path, symbol) in seen[:10] else None
        r1 += rank == 1
        r10 += rank is not None
        mrr += 1 / rank if rank else 0
    n = len(cases)
    return r1 / n, r10 / n, mrr / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--modules", type=int, default=40)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="codeseek-quality-"))
    root = workdir / "corpus"
    cases = build_corpus(root, args.modules)
    engine = EngineChoice()
    began = time.perf_counter()
    result = indexing.update(open_workspace(root), engine)
    print(f"corpus: {result.files_changed} modules, {result.chunks} chunks, indexed in "
          f"{time.perf_counter() - began:.0f} s with {result.model}; {len(cases)} queries")
    store = Store(open_workspace(root).index_dir)
    print("| mode | Recall@1 | Recall@10 | MRR@10 |")
    print("|---|---|---|---|")
    for mode in ("lexical", "semantic", "hybrid"):
        r1, r10, mrr = evaluate(store, engine, cases, mode)
        print(f"| {mode} | {r1:.3f} | {r10:.3f} | {mrr:.3f} |")
    store.close()


if __name__ == "__main__":
    main()
