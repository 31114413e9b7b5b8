"""codeseek's static code model: a table of token vectors, averaged, made from the code model.

    python training/static.py featurize   # the teacher's vectors of code and descriptions
    python training/static.py build --method tokenlearn --dims 256 --out codeseek/models/codeseek-code-static-v1

The teacher is codeseek-code-minilm-l6-v1, loaded through codeseek's own loader (the base
model plus the shipped float16 differences): the float32 weights, whose int8 file (the default,
codeseek-code-minilm-l6-v1-int8) has this static model as its tier too (bundled.py says why). Two ways to make the table, both measured
(training/README.md):

- distill: model2vec's distillation. Every token of the vocabulary goes through the teacher
  alone; its output is the token's vector (then PCA and Zipf weighting).
- tokenlearn: the distilled table is the start; it is then trained so that the mean of a
  text's token vectors points where the teacher's vector of that text points (cosine loss),
  over real code and real descriptions of code (tokenlearn's method, done here directly).

The corpus: (description, code) pairs from the training packages already downloaded by
training/corpus.py (held-out and benchmark projects excluded by name, as there) and whole
chunks of the Python standard library. Then the vocabulary is pruned to the tokens the
corpus uses (the rest are dropped from a text, like unknown tokens), PCA to `--dims`, and
int8 rows with a float32 scale each (codeseek/embedding/static.py reads it).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import corpus as training_corpus  # noqa: E402
import fetch  # noqa: E402
import names  # noqa: E402
from sources import STDLIB, all_sources  # noqa: E402

from codeseek.embedding.bundled import CODE_MODEL  # noqa: E402
from codeseek.embedding.static import FORMAT, MAX_TOKENS  # noqa: E402

WORKDIR = Path("/work/data/static")
CORPUS = Path("/work/data/corpus")
SEED = 29


def teacher():  # noqa: ANN201 - a SentenceTransformerEmbedder (torch), dev only
    from codeseek.embedding.sentence import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(CODE_MODEL)


def gather(sources: int, cap: int, stdlib_chunks: int) -> tuple[list[str], list[str], list[str]]:
    """(codes, descriptions, whole chunks): pairs from downloaded training packages (held-out
    and benchmark projects excluded by name) and whole standard-library chunks."""
    from codeseek.chunking import chunk_many

    benchmark = names.benchmark_corpora()
    excluded = names.build(names.HELDOUT_MD.read_text(), [(c.name, c.package) for c in benchmark])
    ready = [s for s in all_sources() if s.registry != "stdlib" and (fetch.folder(s, CORPUS) / ".done").exists()
             and not excluded.package(s.name)]
    random.Random(SEED).shuffle(ready)
    codes, queries = [], []
    for source in ready[:sources]:
        try:
            found = training_corpus.extract_source(source, CORPUS, excluded, cap, SEED)
        except Exception as exc:  # noqa: BLE001 - a broken download loses one package, not the run
            print(f"{source.key}: {exc}", file=sys.stderr)
            continue
        if found.status != "ok":
            continue
        for pair in found.pairs[:cap]:
            codes.append(pair.code)
            queries.append(pair.query)
    package = fetch.read(STDLIB[0], CORPUS)
    files = [(p, d) for p, d in package.files if not excluded.path(p)]
    chunks = [c.embedding_text() for _, found in chunk_many(files) for c in found]
    random.Random(SEED).shuffle(chunks)
    return codes, queries, chunks[:stdlib_chunks]


def featurize(args: argparse.Namespace) -> None:
    began = time.time()
    WORKDIR.mkdir(parents=True, exist_ok=True)
    if not (WORKDIR / "texts.json").exists():
        codes, queries, chunks = gather(args.sources, args.cap, args.stdlib_chunks)
        (WORKDIR / "texts.json").write_text(json.dumps({"code": codes, "query": queries, "chunk": chunks}))
        print(f"{len(codes)} pairs, {len(chunks)} stdlib chunks gathered in {time.time() - began:.0f}s", flush=True)
    if args.gather_only:
        return
    texts = json.loads((WORKDIR / "texts.json").read_text())
    pairs = sorted(random.Random(SEED).sample(range(len(texts["code"])), min(args.pairs, len(texts["code"]))))
    codes = [texts["code"][i] for i in pairs]
    queries = [texts["query"][i] for i in pairs]
    chunks = texts["chunk"][: args.stdlib_chunks]
    (WORKDIR / "featurized.json").write_text(json.dumps({"code": codes, "query": queries, "chunk": chunks}))
    model = teacher()
    out: dict[str, np.ndarray] = {}
    for name, texts, embed in (("code", codes, model.embed_documents), ("query", queries, model.embed_queries),
                               ("chunk", chunks, model.embed_documents)):
        began = time.time()
        out[name] = np.concatenate([embed(texts[i : i + 512]) for i in range(0, len(texts), 512)])
        print(f"{name}: {len(texts)} texts embedded in {time.time() - began:.0f}s", flush=True)
    np.savez(WORKDIR / "teacher.npz", **out)


def distilled(dims: int):  # noqa: ANN201 - a model2vec StaticModel
    """model2vec's distillation of the teacher (offline: the loaded objects, never a hub id),
    kept in WORKDIR: every token through the teacher takes minutes."""
    from model2vec import StaticModel
    from model2vec.distill import distill_from_model

    kept = WORKDIR / f"m2v-distill-{dims}"
    if (kept / "model.safetensors").exists():
        return StaticModel.from_pretrained(str(kept))
    model = teacher()._model
    made = distill_from_model(model[0].auto_model, model.tokenizer, pca_dims=dims)
    made.save_pretrained(str(kept))
    return made


def token_ids(tokenizer, texts: list[str], unk: int | None) -> list[list[int]]:  # noqa: ANN001
    tokenizer.enable_truncation(MAX_TOKENS)
    tokenizer.no_padding()
    return [[i for i in e.ids if i != unk] for e in tokenizer.encode_batch(texts, add_special_tokens=False)]


def split(n: int, share: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(SEED).permutation(n)
    cut = int(n * share)
    return order[cut:], order[:cut]


def tokenlearn(table: np.ndarray, ids: list[list[int]], targets: np.ndarray, epochs: int, lr: float) -> np.ndarray:
    """Train the token table so that a text's mean token vector has the teacher's direction."""
    import torch

    torch.manual_seed(SEED)
    emb = torch.nn.EmbeddingBag.from_pretrained(torch.tensor(table, dtype=torch.float32), freeze=False, mode="mean")
    optimiser = torch.optim.Adam(emb.parameters(), lr=lr)
    goal = torch.nn.functional.normalize(torch.tensor(targets, dtype=torch.float32), dim=1)
    keep = [i for i, row in enumerate(ids) if row]
    rng = np.random.default_rng(SEED)
    for epoch in range(epochs):
        order = rng.permutation(keep)
        total = 0.0
        for start in range(0, len(order), 256):
            batch = order[start : start + 256]
            flat = torch.tensor([t for i in batch for t in ids[i]], dtype=torch.long)
            offsets = torch.tensor(np.cumsum([0] + [len(ids[i]) for i in batch[:-1]]), dtype=torch.long)
            out = torch.nn.functional.normalize(emb(flat, offsets), dim=1)
            loss = (1 - (out * goal[batch]).sum(1)).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += float(loss) * len(batch)
        print(f"epoch {epoch + 1}: cosine loss {total / len(order):.4f}", flush=True)
    return emb.weight.detach().numpy()


def mean_vectors(table: np.ndarray, ids: list[list[int]]) -> np.ndarray:
    out = np.stack([table[row].mean(0) if row else np.zeros(table.shape[1], np.float32) for row in ids])
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def mrr(queries: np.ndarray, codes: np.ndarray) -> float:
    """MRR@10 of each description finding its own code among all the held-aside codes."""
    scores = queries @ codes.T
    own = scores[np.arange(len(queries)), np.arange(len(queries))]
    ranks = (scores > own[:, None]).sum(1)
    return float(np.mean(np.where(ranks < 10, 1.0 / (ranks + 1), 0.0)))


def build(args: argparse.Namespace) -> None:
    texts = json.loads((WORKDIR / "featurized.json").read_text())
    teacher_vecs = np.load(WORKDIR / "teacher.npz") if (WORKDIR / "teacher.npz").exists() else None
    began = time.time()
    model = distilled(args.dims)
    print(f"distilled in {time.time() - began:.0f}s: {model.embedding.shape}", flush=True)
    tokenizer = model.tokenizer
    unk = tokenizer.token_to_id("[UNK]")
    ids = {k: token_ids(tokenizer, texts[k], unk) for k in ("code", "query", "chunk")}
    table = np.asarray(model.embedding, dtype=np.float32)
    if model.weights is not None:
        table = table * np.asarray(model.weights, dtype=np.float32)[:, None]
    train_pairs, valid_pairs = split(len(texts["code"]))
    if args.method == "tokenlearn":
        every = [ids["code"][i] for i in train_pairs] + [ids["query"][i] for i in train_pairs] + ids["chunk"]
        goal = np.concatenate([teacher_vecs["code"][train_pairs], teacher_vecs["query"][train_pairs],
                               teacher_vecs["chunk"]])
        # The distilled table lives in its own PCA basis: a least-squares map onto the teacher's
        # space is the starting point, then every row is trained.
        start = mean_vectors(table, every)
        table = table @ np.linalg.lstsq(start, goal, rcond=None)[0]
        began = time.time()
        table = tokenlearn(table, every, goal, args.epochs, args.lr)
        print(f"trained in {time.time() - began:.0f}s", flush=True)
    # The vocabulary code uses: every token of every text gathered (all languages), the rest
    # dropped from a text like an unknown token.
    used = np.zeros(len(table), dtype=bool)
    gathered = json.loads((WORKDIR / "texts.json").read_text())
    for kind in ("code", "query", "chunk"):
        for row in token_ids(tokenizer, gathered[kind], unk):
            used[row] = True
    if args.coverage:
        print(f"token occurrences kept in {args.coverage}: {coverage(tokenizer, unk, used, args.coverage):.4f}")
    if args.dims and table.shape[1] > args.dims:
        # PCA over the rows of the tokens the corpus uses: the directions code varies along.
        rows = table[used]
        centre = rows.mean(0)
        _, _, vt = np.linalg.svd(rows - centre, full_matrices=False)
        table = (table - centre) @ vt[: args.dims].T
    mapping = np.where(used, np.cumsum(used) - 1, -1).astype(np.int32)
    kept = table[used].astype(np.float32)
    scales = np.maximum(np.abs(kept).max(1), 1e-12) / 127.0
    quantized = np.round(kept / scales[:, None]).astype(np.int8)
    restored = np.zeros_like(table)
    restored[used] = quantized.astype(np.float32) * scales[:, None]
    q = mean_vectors(restored, [ids["query"][i] for i in valid_pairs])
    c = mean_vectors(restored, [ids["code"][i] for i in valid_pairs])
    taught = (f", teacher {mrr(teacher_vecs['query'][valid_pairs], teacher_vecs['code'][valid_pairs]):.3f}"
              if teacher_vecs is not None else "")
    print(f"held-aside pairs {len(valid_pairs)}: MRR@10 static {mrr(q, c):.3f}{taught}; "
          f"vocabulary {int(used.sum())} of {len(used)} tokens, {kept.shape[1]} dims", flush=True)
    write(args.out, quantized, scales, mapping, tokenizer, args.method)


def coverage(tokenizer, unk: int | None, used: np.ndarray, root: Path) -> float:  # noqa: ANN001
    """The share of token occurrences in a folder's code files that the pruned vocabulary keeps
    (read only to report it: nothing from there shapes the model)."""
    from codeseek import languages

    texts = [p.read_text(errors="replace") for p in sorted(root.rglob("*"))
             if p.is_file() and languages.for_path(p.name) is not None]
    ids = np.concatenate([np.asarray(row, dtype=np.int64) for row in token_ids(tokenizer, texts, unk) if row])
    return float(used[ids].mean())


def write(out: Path, table: np.ndarray, scales: np.ndarray, mapping: np.ndarray, tokenizer, method: str) -> None:  # noqa: ANN001
    from safetensors.numpy import save_file

    out.mkdir(parents=True, exist_ok=True)
    tokenizer.no_truncation()
    tokenizer.save(str(out / "tokenizer.json"))
    save_file({"embeddings": table, "scales": scales.astype(np.float32), "mapping": mapping},
              str(out / "model.safetensors"))
    digest = hashlib.sha256((out / "model.safetensors").read_bytes()).hexdigest()
    config = {"format": FORMAT, "teacher": CODE_MODEL, "method": method, "dims": int(table.shape[1]),
              "max_length": MAX_TOKENS, "normalize": True, "sha256": digest}
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    size = sum(p.stat().st_size for p in out.iterdir())
    print(f"wrote {out}: {size / 1e6:.1f} MB", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="step", required=True)
    feat = sub.add_parser("featurize")
    feat.add_argument("--sources", type=int, default=300, help="training packages read")
    feat.add_argument("--cap", type=int, default=60, help="pairs from one package")
    feat.add_argument("--stdlib-chunks", type=int, default=8000)
    feat.add_argument("--pairs", type=int, default=8000, help="pairs of those gathered given to the teacher")
    feat.add_argument("--gather-only", action="store_true", help="the texts only (no model: needs no lock)")
    make = sub.add_parser("build")
    make.add_argument("--method", choices=("distill", "tokenlearn"), default="tokenlearn")
    make.add_argument("--dims", type=int, default=256)
    make.add_argument("--epochs", type=int, default=3)
    make.add_argument("--lr", type=float, default=1e-3)
    make.add_argument("--out", type=Path, required=True)
    make.add_argument("--coverage", type=Path, help="report the share of this folder's tokens the vocabulary keeps")
    args = parser.parse_args()
    {"featurize": featurize, "build": build}[args.step](args)


if __name__ == "__main__":
    main()
