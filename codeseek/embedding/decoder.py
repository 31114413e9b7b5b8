"""Decoder embedding models (Qwen3-Embedding) on torch through transformers: last-token
pooling, the way the model was trained. Runs on a CPU (the 0.6B model is usable there) or a
CUDA GPU when vLLM is not installed.

On a GPU the work is matrix products, so the engine keeps them large and free of waste:
inputs are sorted by length and batched under a token budget (padding stays small, batch
size adapts to length); weights and activations are bf16; RMS norms run as PyTorch's fused
kernel, not as six elementwise passes in fp32; batches are padded on the right,
where causal attention already keeps every real token from seeing the padding, so no
attention mask is needed and PyTorch's fused causal kernel runs (memory linear in length:
a 32k-token chunk fits); host buffers are pinned and nothing waits for the GPU until a
call's vectors are all computed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import CodeseekError, EngineUnavailable
from .base import Embedder, ModelInfo, in_input_order, length_batches, output_dim, query_prompt

CPU_MAX_TOKENS = 8192  # the model allows 32k; on a CPU a longer chunk takes minutes
# Padded tokens per forward pass. Large enough that the GPU's matrix units stay busy; the
# activations of one pass (about 80 KB a token for the 4B model) stay a few GB.
GPU_BATCH_TOKENS = 16384
CPU_BATCH_TOKENS = 4096
MAX_BATCH = 512  # sequences per pass, whatever their length


def fuse_rms_norms(model: object) -> int:
    """Swap transformers' RMS norm modules (fp32 upcast, then six elementwise kernels) for
    torch.nn.RMSNorm, one fused kernel with the same arithmetic up to bf16 rounding. On a
    GPU, norms were a quarter of the 4B model's time at code's chunk lengths (profiled in
    benchmarks/gpu_embed.py). Returns how many modules were swapped."""
    import torch

    swapped = 0
    for parent in list(model.modules()):  # type: ignore[attr-defined]
        for name, child in list(parent.named_children()):
            eps = getattr(child, "variance_epsilon", None)
            weight = getattr(child, "weight", None)
            if type(child).__name__.endswith("RMSNorm") and eps is not None and weight is not None:
                fused = torch.nn.RMSNorm(weight.shape, eps=eps, device=weight.device, dtype=weight.dtype)
                fused.weight = weight
                setattr(parent, name, fused)
                swapped += 1
    return swapped


class DecoderEmbedder(Embedder):
    def __init__(
        self,
        model: str,
        *,
        dim: int | None = None,
        device: str | None = None,
        dtype: str | None = None,
        max_tokens: int | None = None,
        query_instruction: str | None = None,
        trust_remote_code: bool = False,
        batch_tokens: int | None = None,
    ) -> None:
        try:
            import torch
            import transformers
        except ImportError as exc:
            raise EngineUnavailable(f"the transformers backend needs torch: `pip install 'codeseek[torch]'` ({exc})") from None
        self._torch = torch
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.cuda = device.startswith("cuda")
        torch_dtype = getattr(torch, dtype) if dtype else (torch.bfloat16 if self.cuda else torch.float32)
        try:
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(model, trust_remote_code=trust_remote_code)
            self.model = transformers.AutoModel.from_pretrained(
                model, dtype=torch_dtype, attn_implementation="sdpa", trust_remote_code=trust_remote_code
            ).to(device)
        except OSError as exc:  # not on this machine: words can still answer a search
            raise EngineUnavailable(f"cannot load model {model!r}: {str(exc).splitlines()[0]}") from None
        self.model.eval()
        if self.cuda:
            fuse_rms_norms(self.model)
        self.device = device
        self.hidden = int(self.model.config.hidden_size)
        out_dim = output_dim(model, self.hidden, dim)
        eos = self.tokenizer.eos_token_id
        if eos is None:
            raise CodeseekError(f"model {model!r} has no end-of-text token for last-token pooling")
        self.eos_id = int(eos)
        self.pad_id = int(self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else eos)
        limit = int(getattr(self.model.config, "max_position_embeddings", 0) or CPU_MAX_TOKENS)
        self.max_tokens = min(max_tokens or (limit if self.cuda else CPU_MAX_TOKENS), limit)
        self.batch_tokens = batch_tokens or (GPU_BATCH_TOKENS if self.cuda else CPU_BATCH_TOKENS)
        # Hand the engine many texts at once on a GPU: it batches them by length itself.
        self.batch_hint = 4096 if self.cuda else 64
        self.query_prefix = query_prompt(model, query_instruction)
        self.info = ModelInfo(model, out_dim, "transformers", transformers.__version__)

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Right-truncated ids (the signature is at the start of code), each ending in the
        end-of-text token, whose hidden state is the embedding."""
        encoded = self.tokenizer(list(texts), add_special_tokens=False, truncation=True,
                                 max_length=self.max_tokens - 1)["input_ids"]
        return [[*ids, self.eos_id] for ids in encoded]

    def token_ids(self, text: str) -> list[int]:
        return self.encode([text])[0]

    def batches(self, lengths: Sequence[int]) -> list[list[int]]:
        """Indices in length order, each padded batch within the token budget."""
        return length_batches(lengths, max_items=MAX_BATCH, budget=self.batch_tokens)

    def _padded(self, rows: list[list[int]]) -> tuple[object, object]:
        """Right-padded ids, and where each row's last real token is, on the device."""
        torch = self._torch
        width = max(len(r) for r in rows)
        ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
        for j, row in enumerate(rows):
            ids[j, : len(row)] = row
        last = np.array([len(r) - 1 for r in rows], dtype=np.int64)
        tensors = [torch.from_numpy(ids), torch.from_numpy(last)]
        if self.cuda:  # pinned: the copy runs alongside the GPU's work instead of before it
            tensors = [t.pin_memory().to(self.device, non_blocking=True) for t in tensors]
        return tensors[0], tensors[1]

    def _embed(self, texts: list[str]) -> np.ndarray:
        torch = self._torch
        rows = self.encode(texts)
        batches = self.batches([len(r) for r in rows])
        pooled = []
        with torch.inference_mode():
            for batch in batches:
                ids, last = self._padded([rows[i] for i in batch])
                hidden = self.model(input_ids=ids).last_hidden_state  # causal: no mask needed
                pooled.append(hidden[torch.arange(len(batch), device=self.device), last])
            vectors = torch.cat(pooled).float().cpu().numpy()  # the one wait for the GPU
        return in_input_order(batches, [vectors])
