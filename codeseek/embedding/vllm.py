"""Qwen3-Embedding (or any pooling model) in process on vLLM: the flagship engine.

Checked against vLLM's pooling API (`runner="pooling"`, `LLM.embed`, `PoolingParams`). Three
traps are handled here: Qwen's config lacks the Matryoshka flag (hence `hf_overrides`),
vLLM's own truncation keeps the *last* tokens (cutting a function's signature), and an input
exactly `max_model_len` long can hang, so ids are truncated on the right here, end with the
end-of-text token, and stay under `max_model_len - 1`.
"""

from __future__ import annotations

import numpy as np

from ..errors import CodeseekError
from .base import Embedder, ModelInfo, in_input_order, length_batches, output_dim, query_prompt

FLAGSHIP = "Qwen/Qwen3-Embedding-4B"
MAX_MODEL_LEN = 32768


class VllmEmbedder(Embedder):
    def __init__(
        self,
        model: str = FLAGSHIP,
        *,
        dim: int | None = None,
        dtype: str = "auto",
        gpu_memory_utilization: float = 0.85,
        max_model_len: int = MAX_MODEL_LEN,
        query_instruction: str | None = None,
        trust_remote_code: bool = False,
        batch_size: int = 256,
    ) -> None:
        try:
            import vllm
        except ImportError:
            raise CodeseekError("the vllm backend needs `pip install codeseek[gpu]` and a CUDA GPU") from None
        self._vllm = vllm
        self.llm = vllm.LLM(
            model=model,
            runner="pooling",
            hf_overrides={"is_matryoshka": True},
            max_model_len=max_model_len,
            dtype=dtype,
            gpu_memory_utilization=gpu_memory_utilization,
            trust_remote_code=trust_remote_code,
        )
        self.tokenizer = self.llm.get_tokenizer()
        self.eos_id = int(self.tokenizer.eos_token_id)
        self.max_tokens = max_model_len - 1
        self.query_prefix = query_prompt(model, query_instruction)
        self._batch = batch_size
        self.batch_hint = 4 * batch_size  # vLLM schedules its own batches on the GPU
        native = len(self._pooled(["dimension probe"], None)[0])
        out_dim = output_dim(model, native, dim)
        # Matryoshka: vLLM truncates (and the base class re-normalises) only when asked for fewer dims.
        self._dim = out_dim if out_dim < native else None
        self.info = ModelInfo(model, out_dim, "vllm", vllm.__version__)

    def token_ids(self, text: str) -> list[int]:
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"][: self.max_tokens - 1]
        return [*ids, self.eos_id]

    def _pooled(self, texts: list[str], dim: int | None) -> np.ndarray:
        prompts = [self._vllm.inputs.TokensPrompt(prompt_token_ids=self.token_ids(t)) for t in texts]
        params = self._vllm.PoolingParams(dimensions=dim) if dim else None
        outputs = self.llm.embed(prompts, pooling_params=params, use_tqdm=False)
        return np.array([o.outputs.embedding for o in outputs], dtype=np.float32)

    def _embed(self, texts: list[str]) -> np.ndarray:
        batches = length_batches([len(t) for t in texts], max_items=self._batch)
        return in_input_order(batches, [self._pooled([texts[i] for i in b], self._dim) for b in batches])
