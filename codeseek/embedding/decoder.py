"""Decoder embedding models (Qwen3-Embedding) on torch through transformers: last-token
pooling over left-padded batches, the way the model was trained. Runs on a CPU (the 0.6B
model is usable there) or a CUDA GPU when vLLM is not installed."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import CodeseekError
from .base import Embedder, ModelInfo, by_length, normalise, query_prompt

DEFAULT_MAX_TOKENS = 8192  # the model allows 32k; on torch, memory grows with the square


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
        batch_size: int = 8,
    ) -> None:
        try:
            import torch
            import transformers
        except ImportError as exc:
            raise CodeseekError(f"the transformers backend needs torch and transformers ({exc})") from None
        self._torch = torch
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        torch_dtype = getattr(torch, dtype) if dtype else (torch.float16 if device.startswith("cuda") else torch.float32)
        try:
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(model, trust_remote_code=trust_remote_code)
            self.model = transformers.AutoModel.from_pretrained(
                model, dtype=torch_dtype, trust_remote_code=trust_remote_code
            ).to(device)
        except OSError as exc:
            raise CodeseekError(f"cannot load model {model!r}: {str(exc).splitlines()[0]}") from None
        self.model.eval()
        self.device = device
        native = int(self.model.config.hidden_size)
        self._dim = dim or native
        if not 1 <= self._dim <= native:
            raise CodeseekError(f"model {model!r} has {native} dimensions; cannot produce {self._dim}")
        eos = self.tokenizer.eos_token_id
        if eos is None:
            raise CodeseekError(f"model {model!r} has no end-of-text token for last-token pooling")
        self.eos_id = int(eos)
        self.pad_id = int(self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else eos)
        limit = int(getattr(self.model.config, "max_position_embeddings", 0) or DEFAULT_MAX_TOKENS)
        self.max_tokens = min(max_tokens or DEFAULT_MAX_TOKENS, limit)
        self._prompt = query_prompt(model, query_instruction)
        self._batch = batch_size
        self.info = ModelInfo(model, self._dim, "transformers", transformers.__version__)

    def token_ids(self, text: str) -> list[int]:
        """Right-truncated ids ending in the end-of-text token, whose state is the embedding."""
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"][: self.max_tokens - 1]
        return [*ids, self.eos_id]

    def _batch_embed(self, texts: list[str]) -> np.ndarray:
        torch = self._torch
        rows = [self.token_ids(t) for t in texts]
        width = max(len(r) for r in rows)
        ids = torch.tensor([[self.pad_id] * (width - len(r)) + r for r in rows], device=self.device)
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=self.device)
        with torch.inference_mode():
            hidden = self.model(input_ids=ids, attention_mask=mask).last_hidden_state
        # Left padding puts every sequence's last token in the last position.
        return normalise(hidden[:, -1].float().cpu().numpy(), self._dim)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        return by_length(list(texts), self._batch_embed, self._batch)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed_documents([self._prompt + t for t in texts])
