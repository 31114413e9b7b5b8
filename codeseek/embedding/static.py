"""Static models: a table of token vectors, averaged. No transformer and no torch, only numpy
and `tokenizers`: a chunk's vector costs its tokenization and a few row additions, so every
chunk of the standard library has one in seconds.

Three folder formats load:
- codeseek's own (`config.json` says `codeseek-static/1`): int8 rows, a float32 scale each, and
  a map from token id to row (tokens the training corpus never used map to -1: dropped);
  training/static.py makes it, and writes `"split_case": true` where its table was taught on
  identifiers split at case boundaries (wordpiece.split_case), as it then reads every text (the
  key is read from any format's config.json);
- model2vec's (`model.safetensors` with `embeddings`, optional `weights` and `mapping`);
- sentence-transformers' StaticEmbedding (`0_StaticEmbedding/` or the module's own folder,
  `embedding.weight`).

Each becomes one table indexed by token id (float16: 15 MB for a BERT vocabulary at 256
dims), with model2vec's per-token weights folded in and the unknown token zeroed (model2vec
drops it). A text's vector is the mean of its tokens' rows, normalised (so the mean is a
sum: the count cancels). A config's `lead_tokens` and `lead_weight` add the mean of the
text's first tokens again, at that weight: a chunk's opening (its file, scope, name and
signature) counts more than its body, as its place in a bag of tokens cannot say (issue 29,
benchmarks/README.md: codeseek's tier reads its first 32 tokens again at half weight).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import CodeseekError
from .base import Embedder, ModelInfo, output_dim
from .tokens import Tokens

FORMAT = "codeseek-static/1"
# Static models have no position limit; a chunk's first 512 tokens hold nearly all of it
# (a longer mean drifts to the file's common words), and tokenizing more costs time.
MAX_TOKENS = 512
BATCH = 64  # texts counted and summed at a time: a batch's product grows with its distinct tokens
CHARS_PER_TOKEN = 8  # more than any text's tokens take: no token within max_length is lost


@dataclass(frozen=True)
class StaticModel:
    """A static model, loaded: the table by token id (float16), and its tokenizer."""

    table: np.ndarray
    tokenizer: Tokens  # truncating at max_length, no padding
    max_length: int
    format: str
    digest: str  # of its table file, length, splitting and lead: a static model is identified by its values, not its name
    lead: int = 0  # the first tokens counted again (config.json's `lead_tokens`; 0: none)
    lead_weight: float = 0.0


def layout(folder: Path) -> tuple[Path, str] | None:
    """(the folder holding model.safetensors and tokenizer.json, its format), if this is a
    static model's folder."""
    for inner in (folder, folder / "0_StaticEmbedding"):
        if (inner / "model.safetensors").is_file() and (inner / "tokenizer.json").is_file():
            config = _config(inner) if inner == folder else {}
            if config.get("format") == FORMAT:
                return inner, FORMAT
            if inner != folder or (folder / "modules.json").is_file() and _names(inner) == {"embedding.weight"}:
                return inner, "sentence-transformers"
            if "embeddings" in _names(inner):
                return inner, "model2vec"
    return None


def is_static(model: str) -> bool:
    """Whether `model` names a static model's folder on this machine."""
    path = Path(model)
    return path.is_dir() and layout(path) is not None


def _config(folder: Path) -> dict[str, object]:
    try:
        data = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _names(folder: Path) -> set[str]:
    from safetensors import safe_open

    with safe_open(str(folder / "model.safetensors"), framework="numpy") as handle:
        return set(handle.keys())


def load(folder: Path) -> StaticModel:
    """A static model's folder, read into one table by token id (see the module's docstring)."""
    found = layout(folder)
    if found is None:
        raise CodeseekError(f"{folder} is not a static model (model.safetensors and tokenizer.json)")
    inner, kind = found
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    config = _config(inner if kind != "sentence-transformers" else folder)
    length = config.get("max_length")
    max_length = length if isinstance(length, int) and 0 < length <= MAX_TOKENS else MAX_TOKENS
    # A table trained on identifiers split at case boundaries (wordpiece.split_case) reads them so.
    split = config.get("split_case") is True
    lead, weight = config.get("lead_tokens", 0), config.get("lead_weight", 0.0)
    if not (type(lead) is int and 0 < lead < max_length and type(weight) in (int, float) and 0 < weight < math.inf):
        lead, weight = 0, 0.0
    try:
        tensors = load_file(str(inner / "model.safetensors"))
        tokenizer = Tokens(inner / "tokenizer.json", max_length, split_case=split)
    except (OSError, SafetensorError, ValueError, CodeseekError) as exc:
        raise CodeseekError(f"cannot load the static model in {folder}: {exc}") from None
    vocab = tokenizer.vocab_size()
    if kind == FORMAT:
        # Rounded to float16 before the rows are laid out by token id (the same values as after:
        # rounding is per value), so no float32 table of the whole vocabulary is made, and
        # checked while they are few: the load is on every worker's path to its first file.
        rows = tensors["embeddings"].astype(np.float32) * tensors["scales"].astype(np.float32)[:, None]
        table = _by_token(_finite_half(rows, folder), tensors["mapping"], vocab)
    elif kind == "model2vec":
        rows = tensors["embeddings"].astype(np.float32)
        table = _by_token(rows, tensors.get("mapping"), vocab)
        if "weights" in tensors:
            table *= tensors["weights"].astype(np.float32)[: len(table), None]
    else:
        table = _by_token(tensors["embedding.weight"].astype(np.float32), None, vocab)
    unknown = tokenizer.unknown_id()
    if unknown is not None and unknown < len(table):
        table[unknown] = 0.0
    if table.dtype != np.float16:
        table = _finite_half(table, folder)
    # How much it reads and how it splits a text are part of what a vector is: a config that
    # reads fewer tokens, or reads identifiers split, makes other vectors.
    content = (inner / "model.safetensors").read_bytes() + f"max_length={max_length}".encode()
    if split:
        content += b";split_case"  # (an unsplit model's digest is what it was before the option)
    if lead:
        content += f";lead={lead}x{float(weight)}".encode()
    digest = hashlib.sha256(content).hexdigest()[:12]
    return StaticModel(table, tokenizer, max_length, kind, digest, lead, float(weight))


def _finite_half(rows: np.ndarray, folder: Path) -> np.ndarray:
    """The rows as float16 (half of the warm process's share); rows are summed exactly (`pool`),
    which needs them finite (an infinite row times a zero count is NaN)."""
    half = np.ascontiguousarray(rows, dtype=np.float16)
    if not np.isfinite(half).all():
        raise CodeseekError(f"the static model in {folder} has values past float16's range")
    return half


def _by_token(rows: np.ndarray, mapping: np.ndarray | None, vocab: int) -> np.ndarray:
    """One row per token id, of the rows' type; ids mapped to -1 (pruned) or past the table get
    zeros."""
    if rows.ndim != 2:
        raise CodeseekError("a static model's table must have two dimensions")
    ids = np.arange(max(vocab, len(rows) if mapping is None else 0))
    index = np.asarray(mapping, dtype=np.int64) if mapping is not None else ids
    table = np.zeros((len(index), rows.shape[1]), dtype=rows.dtype)
    valid = (index >= 0) & (index < len(rows))
    table[valid] = rows[index[valid]]
    return table


def pool(model: StaticModel, texts: list[str]) -> np.ndarray:
    """Each text's summed token rows (unnormalised; a text with no known token is zeros); with a
    lead (`lead_tokens`), its first `max_length` tokens' sum and `lead_weight` times its first
    `lead` tokens' sum, each normalised, and the two together normalised.

    A chunk repeats its tokens (`self`, `(`, its names): each text's tokens are counted
    (`Tokens.count`, once for both sums), and a batch's sums are one product of its counts by
    the rows of the tokens it holds, in float64, where they are exact: every row value is a
    float16 (a multiple of 2**-24 below 2**16) and a count at most MAX_TOKENS, so no product or
    partial sum rounds, in whatever order BLAS adds them. A text's vector is computed from its
    exact sums alone and rounded once to float32, whatever texts share its batch. Normalised a
    batch at a time, while its sums are in cache (the whole input's float64 sums at once were
    82 MB for 20,000 texts, and their normalising a sixth of the time)."""
    out = np.zeros((len(texts), model.table.shape[1]), dtype=np.float32)
    for start, sums in _sums(model, texts, (model.max_length, model.lead) if model.lead else (model.max_length,)):
        if model.lead:
            whole, lead = sums
            out[start : start + len(whole)] = _unit(_unit(whole) + model.lead_weight * _unit(lead))
        else:
            out[start : start + len(sums[0])] = sums[0]
    return out


def _unit(sums: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return np.divide(sums, norms, out=np.zeros_like(sums), where=norms > 0)


def _sums(model: StaticModel, texts: list[str], limits: tuple[int, ...]) -> Iterator[tuple[int, list[np.ndarray]]]:
    """A batch at a time, where it starts in `texts` and for each limit each of its texts' exact
    (float64) sum of its first `limit` tokens' rows."""
    table = model.table
    vocab = len(table)
    for start in range(0, len(texts), BATCH):
        # Cut first, as model2vec does: the tokenizer would read a whole long file, then truncate.
        batch = [text[: model.max_length * CHARS_PER_TOKEN] for text in texts[start : start + BATCH]]
        out = []
        for counted in model.tokenizer.count(batch, limits):
            sums = np.zeros((len(batch), table.shape[1]), dtype=np.float64)
            known = counted.ids < vocab  # a tokenizer with more ids than rows: the rest count as unknown
            if known.any():
                ids, column = np.unique(counted.ids[known], return_inverse=True)
                counts = np.zeros((len(batch), len(ids)), dtype=np.float64)
                counts[counted.texts[known], column.reshape(-1)] = counted.counts[known]
                sums = counts @ table[ids].astype(np.float64)
            out.append(sums)
        yield start, out


class StaticEmbedder(Embedder):
    """A static model as an engine: the whole model (`--backend static`, or a model2vec
    folder through `--backend local`), or an index's static tier (`embedding.static_tier`)."""

    batch_hint = 4096

    def __init__(self, folder: Path, name: str | None = None, *, dim: int | None = None,
                 query_prompt: str = "") -> None:
        self.model = load(Path(folder))
        label = name or str(folder)
        self.max_tokens = self.model.max_length
        self.query_prefix = query_prompt
        import tokenizers

        self.info = ModelInfo(label, output_dim(label, self.model.table.shape[1], dim), "static",
                              f"tokenizers {tokenizers.__version__}")

    def _embed(self, texts: list[str]) -> np.ndarray:
        return pool(self.model, texts)
