"""The one seam every embedding engine satisfies, and the work they all share.

An engine only turns a list of texts into raw vectors (`_embed`). The base class handles
what is the same for all of them: empty input, the query instruction, Matryoshka truncation
and normalisation, the dimension check, and grouping texts of similar length into batches.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import CodeseekError
from .bundled import V2_MODEL, vectors_of

if TYPE_CHECKING:  # numpy is imported where vectors are made: choosing an engine needs none
    import numpy as np

# codeseek's own code-search model, version 2, as an int8 ONNX file (bundled.py); indexes built
# with a model of before (v1's int8 file, its float32 weights on torch, all-MiniLM-L6-v2) keep theirs.
DEFAULT_MODEL = V2_MODEL


def to_default(model: str, pinned: str = "") -> str:
    """How to move an index to the default model: `codeseek index --rebuild`, after removing the
    setting that pins `model` where one does (`pinned`: a flag, CODESEEK_MODEL or a config
    file's path), or every rebuild would ask for the same model again."""
    if not pinned:
        return "`codeseek index --rebuild` switches to it"
    drop = {"--model": "drop --model", "CODESEEK_MODEL": "unset CODESEEK_MODEL"}.get(
        pinned, f"remove `model = \"{model}\"` from {pinned}")
    return f"{drop} (or set it to {DEFAULT_MODEL}), then `codeseek index --rebuild` switches to it"


@dataclass(frozen=True)
class ModelInfo:
    """What made a set of vectors. Their identity is the model and the dimension (documents
    are always embedded plainly, with no instruction): vectors of different identities are
    never mixed. The engine (vLLM in process, a server at some address, transformers...) is
    how they were computed: recorded and shown, never a reason to refuse, except where it
    says which model a former name stands for (`source`)."""

    model: str
    dim: int
    engine: str
    engine_version: str  # the engine's version, or a server's address

    @property
    def source(self) -> str:
        """The model whose vectors these are: `model`, except where an index recorded the int8
        file under its former name (bundled.FORMER_NAMES)."""
        return vectors_of(self.model, self.engine)

    def same_vectors(self, other: ModelInfo) -> bool:
        return (self.source, self.dim) == (other.source, other.dim)

    def describe(self) -> str:
        former = f", the vectors of {self.source}" if self.source != self.model else ""
        return f"{self.model} ({self.dim} dims{former})"

    def describe_engine(self) -> str:
        return f"{self.engine} {self.engine_version}"


class Embedder(ABC):
    """Turns texts into L2-normalised float32 vectors of shape (n, info.dim)."""

    info: ModelInfo
    max_tokens: int
    batch_hint: int = 64  # texts per call that keep the engine busy (GPU engines batch by length themselves)
    query_prefix: str = ""  # the model's query instruction, if it has one

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Embed code chunks as they are, with no instruction."""
        import numpy as np

        if not texts:
            return np.zeros((0, self.info.dim), dtype=np.float32)
        return normalise(self._embed(list(texts)), self.info.dim)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed search queries, with the model's query instruction where it has one."""
        return self.embed_documents([self.query_prefix + t for t in texts])

    def shares(self) -> dict[str, int]:
        """Texts embedded so far by each server, where several share the work (else empty)."""
        return {}

    @abstractmethod
    def _embed(self, texts: list[str]) -> np.ndarray:
        """Raw vectors for a non-empty list, one row per text in input order, at least
        `info.dim` wide (the base class truncates and normalises)."""


def output_dim(model: str, native: int, wanted: int | None) -> int:
    """The dimension vectors will have: the model's own, or a smaller Matryoshka size."""
    if wanted is None:
        return native
    if not 1 <= wanted <= native:
        raise CodeseekError(f"model {model!r} has {native} dimensions; cannot produce {wanted}")
    return wanted


def normalise(vectors: np.ndarray, dim: int | None = None) -> np.ndarray:
    """Truncate to a Matryoshka size (if given), then L2-normalise: in that order."""
    import numpy as np

    vectors = np.asarray(vectors, dtype=np.float32)
    if dim is not None:
        vectors = vectors[:, :dim]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def length_batches(lengths: Sequence[int], *, max_items: int, budget: int | None = None) -> list[list[int]]:
    """Indices in length order, grouped so that texts of similar length pad each other least:
    at most `max_items` a batch and, with a budget, at most `budget` padded tokens (one text
    longer than the budget goes alone)."""
    batches: list[list[int]] = []
    current: list[int] = []
    for i in sorted(range(len(lengths)), key=lengths.__getitem__):
        # Ascending order: the newcomer is the longest, so it sets the padded width.
        over_budget = budget is not None and (len(current) + 1) * lengths[i] > budget
        if current and (over_budget or len(current) == max_items):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def in_input_order(batches: Sequence[Sequence[int]], parts: Sequence[np.ndarray]) -> np.ndarray:
    """Rows computed batch by batch, put back in the order of the texts they came from."""
    import numpy as np

    stacked = np.concatenate(parts)
    out = np.empty_like(stacked)
    out[np.concatenate([np.asarray(b, dtype=np.int64) for b in batches])] = stacked
    return out


# Qwen3-Embedding's instruction from its official CosQA evaluation (typo is upstream's: it is
# what the model was trained with). Natural-language questions about code are what users type.
QWEN3_CODE_TASK = "Given a question about coding, retrieval code or passage that can solve user's question"


def is_qwen3_embedding(model: str) -> bool:
    return "qwen3-embedding" in model.lower()


def query_prompt(model: str, instruction: str | None) -> str:
    """The prefix a query gets: Qwen3's `Instruct: {task}\\nQuery:` (no space after the colon).

    An instruction set by the user uses the same template for any model; other models get
    none by default.
    """
    task = instruction or (QWEN3_CODE_TASK if is_qwen3_embedding(model) else None)
    return f"Instruct: {task}\nQuery:" if task else ""
