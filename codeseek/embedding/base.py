"""The one seam every embedding engine satisfies."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ModelInfo:
    """What made a set of vectors. Vectors from different ones are never mixed in an index."""

    model: str
    dim: int
    engine: str
    engine_version: str

    def describe(self) -> str:
        return f"{self.model} ({self.dim} dims) on {self.engine} {self.engine_version}"


class Embedder(ABC):
    """Turns texts into L2-normalised float32 vectors of shape (n, info.dim)."""

    info: ModelInfo
    max_tokens: int

    @abstractmethod
    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Embed code chunks as they are, with no instruction."""

    @abstractmethod
    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed search queries, with the model's query instruction where it has one."""


def normalise(vectors: np.ndarray, dim: int | None = None) -> np.ndarray:
    """Truncate to a Matryoshka size (if given), then L2-normalise: in that order."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if dim is not None:
        vectors = vectors[:, :dim]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)
