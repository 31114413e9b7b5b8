"""Local torch models through sentence-transformers (the `torch` extra): the bundled offline models
of torch (bundled.py; the int8 ONNX file is onnxrt.py's) and any Hugging Face model directory or id."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import CodeseekError, EngineUnavailable
from .base import DEFAULT_MODEL, Embedder, ModelInfo, output_dim, to_default
from .bundled import BUNDLED, CODE_MODEL, apply_delta, base_path


class SentenceTransformerEmbedder(Embedder):
    def __init__(
        self,
        model: str = CODE_MODEL,  # v1's float32 weights (the default is v2's int8 file, on ONNX Runtime)
        *,
        device: str | None = None,
        dim: int | None = None,
        query_prompt: str = "",
        trust_remote_code: bool = False,
        batch_size: int = 16,
    ) -> None:
        bundled = BUNDLED.get(model)
        if bundled is not None and bundled.onnx is not None:
            # Loading its base weights instead would give another model's vectors under its name.
            raise CodeseekError(f"{model!r} is an ONNX file: it runs on onnxruntime (`--backend onnxruntime`), "
                                "not sentence-transformers")
        if not torch_installed():
            # Unavailable here, as a model that cannot be loaded is: words still answer a search.
            raise EngineUnavailable(without_torch(model))
        path = base_path() if bundled is not None else model
        if os.path.isdir(path):
            # A local model needs no hub; without this, loading probes the network first.
            # Read by huggingface_hub at import time, so it is set before the import.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            import sentence_transformers
        except ImportError as exc:
            raise EngineUnavailable(f"cannot load model {model!r}: sentence-transformers cannot be imported ({exc}): "
                                    "`pip install 'codeseek[torch]'`") from None
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # codeseek reports progress itself
        hf_logging.set_verbosity_error()
        try:
            self._model = sentence_transformers.SentenceTransformer(
                path, device=device or "cpu", trust_remote_code=trust_remote_code
            )
        except OSError as exc:  # not on this machine: words can still answer a search
            raise EngineUnavailable(f"cannot load model {model!r}: {str(exc).splitlines()[0]}") from None
        if bundled is not None:
            if bundled.delta is not None:
                apply_delta(self._model, bundled.delta, Path(path) / "model.safetensors")
            # all-MiniLM-L6-v2 was trained on 128-token inputs, though its config allows 256:
            # on benchmarks/retrieval.py 128 ranks as well (MRR@10 0.737 against 0.735) for
            # half the tokens; codeseek's own model was trained at 128 too.
            self._model.max_seq_length = bundled.tokens
        out_dim = output_dim(model, self._model.get_embedding_dimension(), dim)
        self.max_tokens = int(self._model.max_seq_length or 512)
        self.query_prefix = query_prompt
        # Batches of 16 length-sorted texts pad least on a CPU (benchmarks/embed_throughput.py
        # --cpu-variants); handing over 256 at a time lets the sort group them well.
        self._batch_size = batch_size
        self.batch_hint = 256
        self.info = ModelInfo(model, out_dim, "sentence-transformers", sentence_transformers.__version__)
        self._bf16 = self._model.device.type == "cpu" and cpu_has_bf16()

    def _embed(self, texts: list[str]) -> np.ndarray:
        import torch

        # On a CPU that multiplies bf16 in hardware, bf16 autocast embeds 1.8x as fast with
        # cosine 0.99998 to the float32 vectors (benchmarks/embed_throughput.py --precision);
        # elsewhere it would be slower, so float32 stays.
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self._bf16):
            vectors = self._model.encode(texts, batch_size=self._batch_size, convert_to_tensor=True,
                                         show_progress_bar=False)
        return vectors.float().cpu().numpy()

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        # One thread: a query is a few tokens, and a search runs SQLite and git beside it;
        # torch's threads on every core made them wait (warm server p50 56 -> 40 ms on the
        # stdlib, benchmarks/latency.py).
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return super().embed_queries(texts)
        finally:
            torch.set_num_threads(threads)


def torch_installed() -> bool:
    """Whether torch and sentence-transformers can be imported (found, not yet imported)."""
    try:
        return all(importlib.util.find_spec(m) is not None for m in ("torch", "sentence_transformers"))
    except (ImportError, ValueError):  # a finder that refuses, or a module without a spec
        return False


def without_torch(model: str, pinned: str = "") -> str:
    """Why a torch model cannot load here, and the two ways on: torch, or the default model.
    `pinned`: where the model was set (a flag, CODESEEK_MODEL, a config file's path), which
    must go first, or every rebuild would ask for the same model again."""
    if not pinned:
        switch = f"`codeseek index --rebuild` for the default model, {DEFAULT_MODEL}, with no torch"
    else:
        switch = f"for the default model, {DEFAULT_MODEL}, with no torch: {to_default(model, pinned)}"
    return (f"cannot load model {model!r}: it runs on torch, which is not installed (`pip install 'codeseek[torch]'`,"
            f" or {switch})")


def cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bf16 matrices in hardware (AMX or AVX-512 BF16), from the
    flags Linux reports; False where it cannot tell."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags
