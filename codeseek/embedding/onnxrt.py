"""codeseek's own code models on ONNX Runtime: the offline CPU default, with no torch.

A model file is the fine-tuned MiniLM exported and quantized by training/export_onnx.py
(which also measures it against the float32 torch model). Its vectors are not quite the
float32 model's, so it has a name of its own, `codeseek-code-minilm-l6-v2-int8` (the default;
and `codeseek-code-minilm-l6-v2-split-int8`, the same file reading its texts' identifiers split
at their case boundaries) or `codeseek-code-minilm-l6-v1-int8` (bundled.py says why, and which
indexes know v1's by its former name). What happens around the network is exactly what
sentence-transformers did for it: the tokenizer's truncation to 128 tokens (tokens.py), then the
mean of the last hidden states over the attention mask, normalised (base.normalise).

Each text runs alone. Dynamic int8 quantization picks one scale for a whole activation
tensor, so in a batch a text's vector would depend on its neighbours and their padding
(cosine 0.995 mean, 0.989 min between batches of 16 and single texts on standard-library
chunks). Alone, a text's vector is a function of the text: the same in an index, a query,
on another machine and in vectors shared through git, and a little closer to the float32
model (0.9969 against 0.9965 mean). Nothing is padded. The matrices of one text are small,
so one thread computes each and texts run side by side, one per core: twice the chunks/s
of two threads on one text at a time (one run on 2 cores).

ONNX Runtime's own telemetry is switched off before it is imported: since 1.29 its Linux and
macOS wheels send usage events (model file name, graph and weight hashes) to Microsoft and keep
a device id and an event database under ~/.cache/Microsoft, unless ORT_DISABLE_TELEMETRY is set
when it starts. codeseek's default engine is offline: it never makes a connection. A user who
sets the variable themselves keeps their choice.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..errors import CodeseekError
from .base import DEFAULT_MODEL, Embedder, ModelInfo, output_dim
from .bundled import BUNDLED
from .tokens import Tokens

NATIVE_DIM = 384


def mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """sentence-transformers' mean pooling: the average of the real tokens' hidden states."""
    weights = mask[:, :, None].astype(np.float32)
    summed = (hidden.astype(np.float32) * weights).sum(axis=1)
    return summed / np.maximum(weights.sum(axis=1), 1e-9)


def import_onnxruntime():  # noqa: ANN201 - the module
    """onnxruntime, imported with its telemetry off (read once, when it first starts)."""
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    try:
        import onnxruntime
    except ImportError as exc:
        raise CodeseekError(f"cannot import onnxruntime ({exc}): `pip install onnxruntime`") from None
    return onnxruntime


class OnnxEmbedder(Embedder):
    """A shipped model on ONNX Runtime's CPU provider. `path` replaces the shipped model file
    (training/export_onnx.py measures its candidates through this same engine); `threads`
    texts run at once (default: the cores this process may use)."""

    def __init__(self, model: str = DEFAULT_MODEL, *, dim: int | None = None, query_prompt: str = "",
                 path: Path | None = None, threads: int | None = None) -> None:
        bundled = BUNDLED.get(model)
        if bundled is None or bundled.onnx is None:
            raise CodeseekError(f"{model!r} is not shipped as an ONNX model; the onnxruntime backend runs "
                                f"{', '.join(n for n, b in BUNDLED.items() if b.onnx is not None)}")
        onnxruntime = import_onnxruntime()
        path = path or bundled.onnx
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # one thread a text; texts run side by side (_embed)
        options.inter_op_num_threads = 1
        self._workers = threads or len(os.sched_getaffinity(0))
        options.log_severity_level = 3  # warnings about unused initializers are not the user's concern
        try:
            self._session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own untyped errors for a bad file
            raise CodeseekError(f"cannot load the model file {path}: {str(exc).splitlines()[0]}") from None
        self._inputs = {i.name for i in self._session.get_inputs()}
        self.tokens = Tokens(bundled.tokenizer, bundled.tokens, split_case=bundled.split_case)
        self.max_tokens = bundled.tokens
        self.query_prefix = query_prompt
        self.batch_hint = 256
        self.info = ModelInfo(model, output_dim(model, NATIVE_DIM, dim), "onnxruntime", onnxruntime.__version__)

    def _one(self, ids: list[int]) -> np.ndarray:
        row = np.asarray([ids], dtype=np.int64)
        mask = np.ones_like(row)
        feed = {"input_ids": row, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(row)
        (hidden,) = self._session.run(["last_hidden_state"], feed)
        return mean_pool(hidden, mask)[0]

    def _embed(self, texts: list[str]) -> np.ndarray:
        rows = self.tokens.encode(texts)
        if len(rows) == 1 or self._workers == 1:
            return np.stack([self._one(ids) for ids in rows])
        with ThreadPoolExecutor(max_workers=self._workers) as pool:  # ONNX Runtime releases the GIL
            return np.stack(list(pool.map(self._one, rows)))
