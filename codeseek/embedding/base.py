"""The one seam every embedding engine satisfies."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is imported where vectors are made: choosing an engine needs none
    import numpy as np

DEFAULT_MODEL = "all-MiniLM-L6-v2"


@dataclass(frozen=True)
class ModelInfo:
    """What made a set of vectors. Their identity is the model and the dimension (documents
    are always embedded plainly, with no instruction): vectors of different identities are
    never mixed. The engine (vLLM in process, a server at some address, transformers...) is
    how they were computed: recorded and shown, never a reason to refuse."""

    model: str
    dim: int
    engine: str
    engine_version: str  # the engine's version, or a server's address

    def same_vectors(self, other: ModelInfo) -> bool:
        return (self.model, self.dim) == (other.model, other.dim)

    def describe(self) -> str:
        return f"{self.model} ({self.dim} dims)"

    def describe_engine(self) -> str:
        return f"{self.engine} {self.engine_version}"


class Embedder(ABC):
    """Turns texts into L2-normalised float32 vectors of shape (n, info.dim)."""

    info: ModelInfo
    max_tokens: int
    batch_hint: int = 64  # texts per call that keep the engine busy (GPU engines batch by length themselves)

    @abstractmethod
    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Embed code chunks as they are, with no instruction."""

    @abstractmethod
    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed search queries, with the model's query instruction where it has one."""


def normalise(vectors: np.ndarray, dim: int | None = None) -> np.ndarray:
    """Truncate to a Matryoshka size (if given), then L2-normalise: in that order."""
    import numpy as np

    vectors = np.asarray(vectors, dtype=np.float32)
    if dim is not None:
        vectors = vectors[:, :dim]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


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


def by_length(texts: Sequence[str], embed: Callable[[list[str]], np.ndarray], batch: int) -> np.ndarray:
    """Embed in batches of similar length (least padding), returning rows in input order."""
    import numpy as np

    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    parts = [embed([texts[i] for i in order[s : s + batch]]) for s in range(0, len(order), batch)]
    out = np.empty((len(texts), parts[0].shape[1]), dtype=np.float32)
    out[order] = np.concatenate(parts)
    return out
