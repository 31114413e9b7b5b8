"""A peer's ranking on codeseek's question set: MinishLab's semble (0.7.0) with codeseek's own
static model (codeseek-code-static-v2) as its embedding model, so the meaning source is the same
and only the ranking (chunking, BM25, fusion, boosts, penalties) differs.

Three steps, each in the interpreter that has what it needs (semble's venv cannot import
codeseek's benchmark modules: usearch, tree-sitter grammars):

    # 1. questions and codeseek's file lists (codeseek's venv)
    PYTHONPATH=/work/main /work/venv/bin/python benchmarks/semble_peer.py prepare
    # 2. the model as a model2vec folder, the conversion check, semble's indexes and answers
    PYTHONPATH=/work/main /tmp/semble-venv/bin/python benchmarks/semble_peer.py run
    #    variant: chunks embedded from their first 128 tokens, as codeseek's static tier does
    PYTHONPATH=/work/main /tmp/semble-venv/bin/python benchmarks/semble_peer.py run \
        --out /work/data/semble-peer/chunk128 --chunk-tokens 128
    # 3. file-level scores with tasks.file_score, beside codeseek's run (retrieval.py --cases)
    PYTHONPATH=/work/main /work/venv/bin/python benchmarks/semble_peer.py score \
        [--codeseek /work/data/semble-peer/codeseek_cases.json]

Everything goes under --out (/work/data/semble-peer).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

OUT = Path("/work/data/semble-peer")
WORKDIR = Path("/tmp/codeseek-retrieval")
STATIC = HERE.parent / "codeseek" / "models" / "codeseek-code-static-v2"
K = 10


# -- 1. prepare (codeseek's venv) ---------------------------------------------------------------

def prepare(out: Path, workdir: Path) -> None:
    from corpora import CORPORA
    from queries import Corpus
    from retrieval import git_files
    from tasks import questions

    rows, files = [], {}
    for corpus in CORPORA:
        root = workdir / "corpora" / corpus.name
        if not (root / ".git").exists():
            print(f"{corpus.name}: no checkout at {root}, skipped")
            continue
        paths = git_files(root)
        source = Corpus.read(root, paths)
        todo = questions(corpus.name, source)
        files[corpus.name] = sorted(paths)
        for q in todo:
            rows.append({"corpus": corpus.name, "language": corpus.language, "root": str(root),
                         "query": q.query, "kind": q.kind, "heldout": q.heldout, "files": sorted(q.files)})
        print(f"{corpus.name}: {len(todo)} questions, {len(paths)} files codeseek indexes")
    (out / "questions.json").write_text(json.dumps(rows, indent=1))
    (out / "codeseek_files.json").write_text(json.dumps(files))


# -- 2. run (semble's venv) ---------------------------------------------------------------------

def convert(folder: Path) -> None:
    """codeseek's table (float16 by token id, unknown and pruned tokens zero) as model2vec's
    folder: `embeddings` float32, the same tokenizer.json, normalize true."""
    import numpy as np
    from safetensors.numpy import save_file

    from codeseek.embedding import static

    model = static.load(STATIC)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({"embeddings": model.table.astype(np.float32)}, str(folder / "model.safetensors"))
    shutil.copyfile(STATIC / "tokenizer.json", folder / "tokenizer.json")
    config = {"model_type": "model2vec", "architectures": ["StaticModel"],
              "tokenizer_name": "codeseek-code-static-v2", "apply_pca": None, "apply_zipf": None,
              "hidden_dim": int(model.table.shape[1]), "seq_length": 1000000, "normalize": True,
              "max_length": model.max_length}
    (folder / "config.json").write_text(json.dumps(config, indent=2))


def check(folder: Path, questions: list[dict]) -> dict:
    """Cosine of model2vec's vectors to codeseek's (`pool`, normalised) for queries and chunks."""
    import numpy as np
    from model2vec import StaticModel

    from codeseek.embedding import static

    ours = static.load(STATIC)
    theirs = StaticModel.from_pretrained(str(folder), force_download=False)
    texts = [q["query"] for q in questions]
    chunks = []
    for q in questions[::7]:
        data = (Path(q["root"]) / q["files"][0]).read_text(errors="replace")
        chunks += [data[i : i + 1500] for i in range(0, min(len(data), 6000), 1500)]

    def unit(v):
        n = np.linalg.norm(v, axis=1, keepdims=True)
        return v / np.where(n == 0, 1, n)

    report = {}
    for name, batch, lengths in (("queries", texts, (None,)), ("chunks", chunks, (ours.max_length, None))):
        a = unit(static.pool(ours, batch))
        for length in lengths:
            kw = {} if length is None and name == "queries" else {"max_length": length}
            b = unit(np.asarray(theirs.encode(batch, **kw), dtype=np.float32))
            cos = (a * b).sum(1)
            key = f"{name} (model2vec max_length={kw.get('max_length', 'config')})"
            report[key] = {"n": len(batch), "min": float(cos.min()), "mean": float(cos.mean()),
                           "share>=0.99": float((cos >= 0.99).mean())}
    return report


def run(out: Path, chunk_tokens: int | None) -> None:
    os.environ.setdefault("SEMBLE_CACHE_LOCATION", str(out / "semble-cache"))
    folder = OUT / "model"
    convert(folder)
    questions = json.loads((OUT / "questions.json").read_text())
    report = check(folder, questions)
    print(json.dumps(report, indent=1))
    (out / "conversion_check.json").write_text(json.dumps(report, indent=1))

    from semble import SembleIndex

    if chunk_tokens:
        # A variant: chunks embedded from their first `chunk_tokens` tokens, as codeseek's static
        # tier reads them (semble itself passes max_length=None: the whole chunk).
        import numpy as np
        import semble.index.create as create

        def embed_chunks(model, chunks):
            if not chunks:
                return np.empty((0, model.dim), dtype=np.float32)
            return np.asarray(model.encode([c.content for c in chunks], use_multiprocessing=False,
                                           max_length=chunk_tokens), dtype=np.float32)

        create.embed_chunks = embed_chunks

    by_corpus = defaultdict(list)
    for q in questions:
        by_corpus[q["corpus"]].append(q)
    results, timings, indexed = [], {}, {}
    for corpus, todo in by_corpus.items():
        began = time.perf_counter()
        index = SembleIndex.from_path(todo[0]["root"], model_path=str(folder))
        timings[corpus] = time.perf_counter() - began
        indexed[corpus] = sorted(index._file_mapping)
        latencies = []
        for q in todo:
            began = time.perf_counter()
            hits = index.search(q["query"], top_k=K)
            latencies.append((time.perf_counter() - began) * 1000)
            results.append({**q, "hits": [[h.chunk.file_path, h.chunk.start_line, h.chunk.end_line, h.score]
                                          for h in hits]})
        print(f"{corpus}: {index.stats.indexed_files} files, {index.stats.total_chunks} chunks, "
              f"index {timings[corpus]:.1f} s, query p50 {statistics.median(latencies):.1f} ms", flush=True)
    (out / "semble_results.json").write_text(json.dumps(results, indent=1))
    (out / "semble_index_times.json").write_text(json.dumps(timings, indent=1))
    (out / "semble_files.json").write_text(json.dumps(indexed))


# -- 3. score (codeseek's venv) -----------------------------------------------------------------

def codeseek_hits(path: Path) -> dict[str, dict[tuple[str, str], list[str]]]:
    """retrieval.py --cases: each codeseek system's hit paths by (corpus, query)."""
    out: dict[str, dict[tuple[str, str], list[str]]] = defaultdict(dict)
    for d in json.loads(path.read_text()):
        if d["set"].startswith("question:") and d["system"].startswith("codeseek"):
            out[d["system"]][d["corpus"], d["query"]] = [h["path"] for h in d["hits"]]
    return out


def score(out: Path, cases: Path | None) -> None:
    from tasks import KINDS, file_score

    results = json.loads((out / "semble_results.json").read_text())
    systems: dict[str, dict[tuple[str, str], list[str]]] = {
        "semble": {(r["corpus"], r["query"]): [h[0] for h in r["hits"]] for r in results}}
    for extra in sorted(out.glob("*/semble_results.json")):  # variants (run --out OUT/NAME)
        systems[f"semble[{extra.parent.name}]"] = {
            (r["corpus"], r["query"]): [h[0] for h in r["hits"]] for r in json.loads(extra.read_text())}
    if cases and cases.exists():
        systems.update(codeseek_hits(cases))
    tally = defaultdict(list)  # (group, part, system) -> [FileScore]
    per_question = []
    for r in results:
        part = "heldout" if r["heldout"] else "tuned"
        row = {k: r[k] for k in ("corpus", "language", "query", "kind", "heldout", "files")}
        for system, hits in systems.items():
            paths = hits.get((r["corpus"], r["query"]))
            if paths is None:
                continue
            s = file_score(paths, frozenset(r["files"]), K)
            for group in (r["kind"], "all", f"lang:{r['language']}"):
                for p in (part, "all"):
                    tally[group, p, system].append(s)
            row[system] = {"ndcg": s.ndcg, "mrr": s.mrr, "top": list(dict.fromkeys(paths))[:K]}
        per_question.append(row)
    (out / "per_question.json").write_text(json.dumps(per_question, indent=1))

    names = list(systems)
    lines = ["| group | system | NDCG@10 all | tuned | held aside | MRR@10 all | tuned | held aside | n (tuned + held) |",
             "|---|---|---|---|---|---|---|---|---|"]
    groups = [*KINDS, "all"] + sorted({g for g, _, _ in tally if g.startswith("lang:")})
    for group in groups:
        for system in names:
            if (group, "all", system) not in tally:
                continue
            cells = []
            for metric in ("ndcg", "mrr"):
                for p in ("all", "tuned", "heldout"):
                    scores = tally.get((group, p, system), [])
                    cells.append(f"{statistics.fmean(getattr(s, metric) for s in scores):.3f}" if scores else "-")
            n = f"{len(tally.get((group, 'tuned', system), []))} + {len(tally.get((group, 'heldout', system), []))}"
            lines.append(f"| {group} | {system} | " + " | ".join(cells) + f" | {n} |")
    table = "\n".join(lines)
    print(table)
    (out / "table.md").write_text(table + "\n")

    # Coverage: answer files semble's default selection leaves out.
    indexed = json.loads((out / "semble_files.json").read_text())
    missing = sorted({(r["corpus"], f) for r in results for f in r["files"] if f not in set(indexed[r["corpus"]])})
    ours = json.loads((out / "codeseek_files.json").read_text())
    for corpus in indexed:
        a, b = set(indexed[corpus]), set(ours.get(corpus, []))
        print(f"{corpus}: semble {len(a)} files, codeseek {len(b)}, both {len(a & b)}")
    print(f"answer files semble does not index: {missing or 'none'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=("prepare", "run", "score"))
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--workdir", type=Path, default=WORKDIR)
    parser.add_argument("--codeseek", type=Path, help="retrieval.py --cases JSON of the same questions")
    parser.add_argument("--chunk-tokens", type=int, help="run: embed chunks from their first N tokens (a variant; "
                        "put it in its own --out, e.g. OUT/chunk128, and score reads it beside semble)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.step == "prepare":
        prepare(args.out, args.workdir)
    elif args.step == "run":
        run(args.out, args.chunk_tokens)
    else:
        score(args.out, args.codeseek)


if __name__ == "__main__":
    main()
