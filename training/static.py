"""codeseek's static code model: a table of token vectors, averaged, made from the code model.

    python training/static.py featurize   # texts, and the teacher's vector of each
    python training/static.py build --epochs 8 --contrastive 2 --out codeseek/models/codeseek-code-static-v2
    python training/static.py featurize --teacher v2   # the same, taught by version 2 of the code model
    python training/static.py featurize --teacher v2-split   # v2 reading identifiers split (so does the table)

Two ways to make the table, both measured (training/README.md):

- distill: model2vec's distillation of codeseek-code-minilm-l6-v1 (its float32 weights, through
  codeseek's own loader: the base model plus the shipped float16 differences). Every token of
  the vocabulary goes through the model alone; its output is the token's vector (then PCA and
  Zipf weighting). A token alone is not what a model fine-tuned on whole definitions reads.
- tokenlearn: the distilled table is the start; it is then trained so that the mean of a
  text's token vectors points where the teacher's vector of that text points (cosine loss),
  over real code and real descriptions of code (tokenlearn's method, done here directly). The
  teacher is v1's int8 file, codeseek-code-minilm-l6-v1-int8, the default when the shipped
  tier was made (bundled.py says why the other code models share it; a tier taught by another
  teacher is another static model, with a name of its own). `--contrastive W` adds an in-batch loss
  over every pair of the training corpus: each description nearer its own code than the
  batch's others, as static retrieval models are trained beside distillation.

The corpus: the training corpus's pairs (training/corpus.py: held-out and benchmark projects
excluded by name) and whole chunks of the Python standard library; validation on valid.jsonl,
whose packages no training pair comes from. Then the vocabulary is pruned to the tokens the
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import fetch  # noqa: E402
import names  # noqa: E402
import sampling  # noqa: E402
import styles  # noqa: E402
from sources import STDLIB  # noqa: E402

from codeseek.embedding.bundled import BUNDLED, CODE_MODEL, INT8_MODEL, V2_MODEL, V2_SPLIT_MODEL, apply_delta, base_path  # noqa: E402
from codeseek.embedding.static import FORMAT, MAX_TOKENS  # noqa: E402
from codeseek.embedding.tokens import split_case  # noqa: E402

CORPUS = Path("/work/data/corpus")
SEED = 29
TEACHER_TOKENS = 128  # what the teacher reads of a text (the shipped model's input length)
QUERY_KINDS = frozenset({"query", "styled", "valid_query", "valid_question"})  # embedded as queries


@dataclass(frozen=True)
class Teacher:
    """A code model a static tier is made from: its int8 file teaches the table (tokenlearn's
    targets, on ONNX Runtime: 3x faster than torch on 2 cores, so the targets cover ten times
    the texts in the same time), its float32 differences are what model2vec distils token by
    token. Each teacher's texts, targets and distillation live in a folder of their own."""

    name: str  # the int8 model, recorded in the tier's config.json
    float32: str  # the float32 weights' name, recorded as what the table was distilled from
    delta: Path  # float32 differences from the base model (train.py --export)
    workdir: Path
    split_case: bool = False  # reads identifiers split at case boundaries (wordpiece.split_case): so does its table


TEACHERS = {
    "v1": Teacher(INT8_MODEL, CODE_MODEL, BUNDLED[CODE_MODEL].delta, Path("/work/data/static")),
    # v2's float32 differences are not shipped (package size): its training run's export.
    "v2": Teacher(V2_MODEL, "codeseek-code-minilm-l6-v2", Path("/work/data/train2/run-v2/codeseek-code-minilm-l6-v2.safetensors"),
                  Path("/work/data/static-v2")),
    # v2 reading split identifiers (V2_SPLIT_MODEL): the same float32 weights and distillation
    # as v2's, its texts and targets read split, and a table that reads them split too.
    "v2-split": Teacher(V2_SPLIT_MODEL, "codeseek-code-minilm-l6-v2",
                        Path("/work/data/train2/run-v2/codeseek-code-minilm-l6-v2.safetensors"),
                        Path("/work/data/static-v2split"), split_case=True),
}


def float32_teacher(chosen: Teacher):  # noqa: ANN201 - a SentenceTransformer (torch), dev only
    """The teacher's float32 weights on torch (the base model plus its differences)."""
    import sentence_transformers

    model = sentence_transformers.SentenceTransformer(base_path(), device="cpu")
    apply_delta(model, chosen.delta, Path(base_path()) / "model.safetensors")
    model.max_seq_length = TEACHER_TOKENS
    return model


def light_teacher(chosen: Teacher):  # noqa: ANN201 - an OnnxEmbedder
    from codeseek.embedding.onnxrt import OnnxEmbedder

    return OnnxEmbedder(chosen.name)


def stdlib_chunks(count: int) -> list[str]:
    """Whole chunks of the Python standard library (module code and classes beside the pairs'
    single definitions), benchmark files excluded by name."""
    from codeseek.chunking import chunk_many

    benchmark = names.benchmark_corpora()
    excluded = names.build(names.HELDOUT_MD.read_text(), [(c.name, c.package) for c in benchmark])
    package = fetch.read(STDLIB[0], CORPUS)
    files = [(p, d) for p, d in package.files if not excluded.path(p)]
    chunks = [c.embedding_text() for _, found in chunk_many(files) for c in found]
    random.Random(SEED).shuffle(chunks)
    return chunks[:count]


def gather(pairs: int, chunks: int) -> dict[str, list[str]]:
    """The texts tokenlearn is taught on and validated with. Training: a seeded sample of the
    training corpus's pairs (held-out and benchmark projects were excluded when it was built),
    each code with its doc sentence and one query in a seeded style (styles.py: summary,
    identifier words, a question), and whole standard-library chunks. Validation: valid.jsonl
    (packages no training pair comes from), its doc sentences and the same rows as questions."""
    rows = sampling.read_jsonl(CORPUS / "pairs.jsonl")
    rows = [rows[i] for i in sorted(random.Random(SEED).sample(range(len(rows)), min(pairs, len(rows))))]
    valid = sampling.read_jsonl(CORPUS / "valid.jsonl")
    rng = random.Random(SEED)
    return {
        "code": [r["code"] for r in rows],
        "query": [r["query"] for r in rows],
        "styled": styles.choose_styles(rows, SEED),
        "chunk": stdlib_chunks(chunks),
        "valid_code": [r["code"] for r in valid],
        "valid_query": [r["query"] for r in valid],
        "valid_question": [styles.question(r, rng) for r in valid],
    }


def featurize(args: argparse.Namespace) -> None:
    """The texts (texts.json) and the teacher's vector of each (one .npy a kind, so a stopped
    run keeps the kinds it finished)."""
    chosen = TEACHERS[args.teacher]
    workdir = chosen.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    if not (workdir / "texts.json").exists():
        began = time.time()
        (workdir / "texts.json").write_text(json.dumps(gather(args.pairs, args.stdlib_chunks)))
        print(f"texts gathered in {time.time() - began:.0f}s", flush=True)
    if args.gather_only:
        return
    texts = json.loads((workdir / "texts.json").read_text())
    model = light_teacher(chosen)
    for kind, items in texts.items():
        out = workdir / f"teacher-{kind}.npy"
        if out.exists():
            continue
        embed = model.embed_queries if kind in QUERY_KINDS else model.embed_documents
        began = time.time()
        vectors = np.concatenate([embed(items[i : i + 512]) for i in range(0, len(items), 512)])
        np.save(out, vectors.astype(np.float32))
        print(f"{kind}: {len(items)} texts embedded in {time.time() - began:.0f}s", flush=True)


def teacher_vectors(workdir: Path) -> dict[str, np.ndarray]:
    return {p.stem.removeprefix("teacher-"): np.load(p) for p in workdir.glob("teacher-*.npy")}


def distilled(chosen: Teacher, dims: int):  # noqa: ANN201 - a model2vec StaticModel
    """model2vec's distillation of the teacher (offline: the loaded objects, never a hub id),
    kept in the teacher's folder: every token through the teacher takes minutes."""
    from model2vec import StaticModel
    from model2vec.distill import distill_from_model

    kept = chosen.workdir / f"m2v-distill-{dims}"
    if (kept / "model.safetensors").exists():
        return StaticModel.from_pretrained(str(kept))
    model = float32_teacher(chosen)
    made = distill_from_model(model[0].auto_model, model.tokenizer, pca_dims=dims)
    made.save_pretrained(str(kept))
    return made


def token_ids(tokenizer, texts: list[str], unk: int | None, limit: int = MAX_TOKENS,  # noqa: ANN001
              split: bool = False) -> list[list[int]]:
    """Each text's token ids as the table reads them (split at case boundaries where `split`),
    the unknown token dropped."""
    if split:
        texts = [split_case(text) for text in texts]
    tokenizer.enable_truncation(limit)
    tokenizer.no_padding()
    return [[i for i in e.ids if i != unk] for e in tokenizer.encode_batch(texts, add_special_tokens=False)]


def tokenlearn(table: np.ndarray, ids: list[list[int]], targets: np.ndarray, epochs: int, lr: float,
               pairs: tuple[list[list[int]], list[list[int]]] | None = None, weight: float = 0.0) -> np.ndarray:
    """Train the token table so that a text's mean token vector has the teacher's direction;
    with `pairs` (queries, codes) also so that each query's vector is nearer its own code than
    the batch's other codes (in-batch contrastive loss, scale 20, as the code model was trained),
    weighted by `weight`: what static retrieval models trained on pairs do beside distillation."""
    import torch

    torch.manual_seed(SEED)
    emb = torch.nn.EmbeddingBag.from_pretrained(torch.tensor(table, dtype=torch.float32), freeze=False, mode="mean")
    optimiser = torch.optim.Adam(emb.parameters(), lr=lr)
    goal = torch.nn.functional.normalize(torch.tensor(targets, dtype=torch.float32), dim=1)
    keep = [i for i, row in enumerate(ids) if row]
    both = [] if pairs is None else [i for i, (q, c) in enumerate(zip(*pairs, strict=True)) if q and c]
    rng = np.random.default_rng(SEED)

    def vectors(rows: list[list[int]], batch: np.ndarray) -> torch.Tensor:
        flat = torch.tensor([t for i in batch for t in rows[i]], dtype=torch.long)
        offsets = torch.tensor(np.cumsum([0] + [len(rows[i]) for i in batch[:-1]]), dtype=torch.long)
        return torch.nn.functional.normalize(emb(flat, offsets), dim=1)

    for epoch in range(epochs):
        order, matched = rng.permutation(keep), rng.permutation(both)
        steps = max(len(order), len(matched)) // 256 + 1
        taught = contrasted = 0.0
        for step in range(steps):
            batch = order[(step * 256) % len(order):][:256]
            distance = (1 - (vectors(ids, batch) * goal[batch]).sum(1)).mean()
            loss = distance
            taught += float(distance.detach())
            if len(matched):
                pair = matched[(step * 256) % len(matched):][:256]
                logits = 20.0 * vectors(pairs[0], pair) @ vectors(pairs[1], pair).T
                ranking = torch.nn.functional.cross_entropy(logits, torch.arange(len(pair)))
                loss = loss + weight * ranking
                contrasted += float(ranking.detach())
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        print(f"epoch {epoch + 1}: cosine loss {taught / steps:.4f}"
              + (f", contrastive loss {contrasted / steps:.4f}" if len(matched) else ""), flush=True)
    return emb.weight.detach().numpy()


def mean_vectors(table: np.ndarray, ids: list[list[int]]) -> np.ndarray:
    out = np.stack([table[row].mean(0) if row else np.zeros(table.shape[1], np.float32) for row in ids])
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def mrr(queries: np.ndarray, codes: list[str], vectors: np.ndarray) -> float:
    """MRR@10 of each validation query finding its code among the distinct validation codes
    (`vectors`: one per code row; rows with the same code count as one candidate)."""
    first: dict[str, int] = {}
    target = np.array([first.setdefault(code, i) for i, code in enumerate(codes)])
    pool = np.unique(target)
    scores = queries @ vectors[pool].T
    own = (queries * vectors[target]).sum(1)
    ranks = (scores > own[:, None] + 1e-6).sum(1)
    return float(np.mean(np.where(ranks < 10, 1.0 / (ranks + 1), 0.0)))


def validation(vectors: Callable[[str], np.ndarray], codes: list[str]) -> str:
    c = vectors("valid_code")
    return " / ".join(f"{mrr(vectors(kind), codes, c):.3f}" for kind in ("valid_query", "valid_question"))


def build(args: argparse.Namespace) -> None:
    """The table (distilled, then tokenlearn's training when asked), pruned, PCA, int8; with the
    validation MRR@10 of distilled, built and teacher (doc sentences / questions) printed."""
    chosen = TEACHERS[args.teacher]
    if args.lead_tokens and (not 0 < args.lead_tokens < args.max_length or args.lead_weight <= 0):
        raise SystemExit(f"--lead-tokens must be 0 or below --max-length ({args.max_length}), --lead-weight above 0")
    texts = json.loads((chosen.workdir / "texts.json").read_text())
    taught = teacher_vectors(chosen.workdir)
    began = time.time()
    model = distilled(chosen, args.dims)
    print(f"distilled in {time.time() - began:.0f}s: {model.embedding.shape}", flush=True)
    tokenizer = model.tokenizer
    unk = tokenizer.token_to_id("[UNK]")
    table = np.asarray(model.embedding, dtype=np.float32)
    if model.weights is not None:
        table = table * np.asarray(model.weights, dtype=np.float32)[:, None]
    split = chosen.split_case
    checks = {k: token_ids(tokenizer, texts[k], unk, args.max_length, split) for k in ("valid_code", "valid_query", "valid_question")}
    codes = texts["valid_code"]
    print(f"validation MRR@10 (doc sentences / questions): teacher {validation(taught.__getitem__, codes)}, "
          f"distilled {validation(lambda k: mean_vectors(table, checks[k]), codes)}", flush=True)
    if args.method == "tokenlearn":
        kinds = ("code", "query", "styled", "chunk")
        # The teacher read each text's first TEACHER_TOKENS tokens: the table learns from the same.
        every = [row for k in kinds for row in token_ids(tokenizer, texts[k], unk, TEACHER_TOKENS, split)]
        goal = np.concatenate([taught[k] for k in kinds])
        if args.project and args.dims < goal.shape[1]:
            # Learn in the teacher's own top `dims` directions, so no PCA is needed afterwards.
            _, _, vt = np.linalg.svd(goal - goal.mean(0), full_matrices=False)
            goal = goal @ vt[: args.dims].T
        # The distilled table lives in its own PCA basis: a least-squares map onto the teacher's
        # space is the starting point, then every row is trained.
        table = table @ np.linalg.lstsq(mean_vectors(table, every), goal, rcond=None)[0]
        print(f"mapped: validation {validation(lambda k: mean_vectors(table, checks[k]), codes)}", flush=True)
        began = time.time()
        pairs = None
        if args.contrastive:
            rows = sampling.read_jsonl(CORPUS / "pairs.jsonl")
            pairs = (token_ids(tokenizer, styles.choose_styles(rows, SEED + 1), unk, TEACHER_TOKENS, split),
                     token_ids(tokenizer, [r["code"] for r in rows], unk, TEACHER_TOKENS, split))
        table = tokenlearn(table, every, goal, args.epochs, args.lr, pairs, args.contrastive)
        print(f"trained in {time.time() - began:.0f}s: validation "
              f"{validation(lambda k: mean_vectors(table, checks[k]), codes)}", flush=True)
    # The vocabulary code uses: every token of every training text (all languages), the rest
    # dropped from a text like an unknown token.
    used = np.zeros(len(table), dtype=bool)
    for kind in ("code", "query", "styled", "chunk"):
        for row in token_ids(tokenizer, texts[kind], unk, MAX_TOKENS, split):
            used[row] = True
    if args.coverage:
        print(f"token occurrences kept in {args.coverage}: {coverage(tokenizer, unk, used, args.coverage, split):.4f}")
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
    # As codeseek reads it: with a lead, a text's first tokens counted again (codeseek/embedding/static.py).
    lead = {k: token_ids(tokenizer, texts[k], unk, args.lead_tokens, split) for k in checks} if args.lead_tokens else {}

    def shipped(kind: str) -> np.ndarray:
        vectors = mean_vectors(restored, checks[kind])
        if lead:
            vectors = vectors + args.lead_weight * mean_vectors(restored, lead[kind])
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    print(f"shipped (pruned, {table.shape[1]} dims, int8): validation "
          f"{validation(shipped, codes)}; "
          f"vocabulary {int(used.sum())} of {len(used)} tokens", flush=True)
    made = {"method": args.method, "distilled_from": chosen.float32, "max_length": args.max_length}
    if args.lead_tokens:
        made |= {"lead_tokens": args.lead_tokens, "lead_weight": args.lead_weight}
    if split:
        made["split_case"] = True
    if args.method == "tokenlearn":
        made |= {"teacher": chosen.name, "epochs": args.epochs, "contrastive": args.contrastive}
    write(args.out, quantized, scales, mapping, tokenizer, made)


def coverage(tokenizer, unk: int | None, used: np.ndarray, root: Path, split: bool) -> float:  # noqa: ANN001
    """The share of token occurrences in a folder's code files that the pruned vocabulary keeps
    (read only to report it: nothing from there shapes the model)."""
    from codeseek import languages

    texts = [p.read_text(errors="replace") for p in sorted(root.rglob("*"))
             if p.is_file() and languages.for_path(p.name) is not None]
    ids = np.concatenate([np.asarray(row, dtype=np.int64) for row in token_ids(tokenizer, texts, unk, MAX_TOKENS, split) if row])
    return float(used[ids].mean())


def write(out: Path, table: np.ndarray, scales: np.ndarray, mapping: np.ndarray, tokenizer,  # noqa: ANN001
          made: dict[str, object]) -> None:
    from safetensors.numpy import save_file

    out.mkdir(parents=True, exist_ok=True)
    tokenizer.no_truncation()
    tokenizer.save(str(out / "tokenizer.json"))
    save_file({"embeddings": table, "scales": scales.astype(np.float32), "mapping": mapping},
              str(out / "model.safetensors"))
    digest = hashlib.sha256((out / "model.safetensors").read_bytes()).hexdigest()
    config = {"format": FORMAT, **made, "dims": int(table.shape[1]), "normalize": True, "sha256": digest}
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    size = sum(p.stat().st_size for p in out.iterdir())
    print(f"wrote {out}: {size / 1e6:.1f} MB", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="step", required=True)
    feat = sub.add_parser("featurize")
    make = sub.add_parser("build")
    for step in (feat, make):
        step.add_argument("--teacher", choices=sorted(TEACHERS), default="v1",
                          help="the code model the tier is made from (v1: the shipped codeseek-code-static-v2)")
    feat.add_argument("--pairs", type=int, default=60000, help="a seeded sample of the corpus's pairs")
    feat.add_argument("--stdlib-chunks", type=int, default=8000)
    feat.add_argument("--gather-only", action="store_true", help="the texts only (no model: needs no lock)")
    make.add_argument("--method", choices=("distill", "tokenlearn"), default="tokenlearn")
    make.add_argument("--dims", type=int, default=256)
    make.add_argument("--epochs", type=int, default=3)
    make.add_argument("--lr", type=float, default=1e-3)
    make.add_argument("--out", type=Path, required=True)
    make.add_argument("--contrastive", type=float, default=0.0,
                      help="weight of an in-batch contrastive loss over every corpus pair (0: distillation only)")
    make.add_argument("--project", action="store_true", help="train in the teacher's top --dims directions (no PCA after)")
    make.add_argument("--max-length", type=int, default=TEACHER_TOKENS,
                      help="tokens of a text the model reads at run time (config.json)")
    make.add_argument("--lead-tokens", type=int, default=32,
                      help="a text's first tokens, counted again at run time (config.json; 0: none)")
    make.add_argument("--lead-weight", type=float, default=0.5, help="the weight of the lead's mean")
    make.add_argument("--coverage", type=Path, help="report the share of this folder's tokens the vocabulary keeps")
    args = parser.parse_args()
    {"featurize": featurize, "build": build}[args.step](args)


if __name__ == "__main__":
    main()
