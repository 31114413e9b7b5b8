"""Whose vectors an index holds where its name alone cannot say: the float32 code model's
name with no engine recorded. Indexes imported by `pull` recorded no engine (from Dec 1 until
a former name's engine was carried), and under that name the int8 file's vectors and the
float32 model's both ran (bundled.FORMER_NAMES). One look decides it, once: a few stored
chunks embedded again by the int8 file, their vectors compared with the stored ones (`SAME`).
The answer is recorded as the engine, so the index's model (ModelInfo.source) is known from
then on.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .embedding import local_backend
from .embedding.bundled import FORMER_NAMES
from .errors import CodeseekError, IndexBusy, IndexReadOnly
from .index import Store, exists

PROBES = 3  # chunks embedded to decide
# On 150 of codeseek's own chunks, a stored vector against the int8 file's own embedding of its
# text: the int8 file's, kept in float16, 1.000000; the same after a push and pull's int8
# rounding, 0.999953 at least; the float32 model's, 0.998118 at most (0.997 median). Between them:
SAME = 0.9995


def ambiguous(model: str | None, engine: str) -> bool:
    """Whether vectors recorded under `model` with `engine` may be either of two models'."""
    return not engine.strip() and any(name == model for name, _ in FORMER_NAMES)


def decide(store: Store, model: str, vectors: Mapping[int, np.ndarray]) -> str | None:
    """The engine whose vectors these are (keyed by the texts of the store's chunks): the int8
    file's former engine where a few of them are its own, else the model's own; None where it
    cannot tell (no chunk has one of these keys, or the int8 file cannot load here)."""
    from .embedding.onnxrt import OnnxEmbedder

    keys = list(vectors)[: PROBES * 20]
    chunks = [found[0] for found in store.chunks.for_keys(keys).values()][:PROBES] if keys else []
    if not chunks:
        return None
    ((engine, source),) = [(e, s) for (name, e), s in FORMER_NAMES.items() if name == model]
    try:
        fresh = OnnxEmbedder(source).embed_documents([c.embedding_text() for c in chunks])
    except CodeseekError:
        return None
    stored = np.stack([vectors[c.vector_key] for c in chunks]).astype(np.float32)
    cosines = (stored * fresh).sum(axis=1) / np.linalg.norm(stored, axis=1)
    return engine if float(cosines.min()) >= SAME else local_backend(model)


def settle(store: Store) -> None:
    """Decide, once, and record whose vectors an index of an ambiguous name holds (left for
    later where the index is busy or read-only, or cannot tell yet)."""
    meta = store.db.meta()
    model = meta.get("model")
    if model is None or not ambiguous(model, meta.get("engine", "")):
        return
    keys = store.vectors.keys()[: PROBES * 20]
    engine = decide(store, model, store.vectors.get(keys)) if keys else None
    if engine is None:
        return
    try:
        with store.writing(wait=False):
            store.db.set_meta({"engine": engine, "engine_version": ""})
    except (IndexBusy, IndexReadOnly):
        pass


def engine_of(index_dir: Path, model: str, engine: str, keys: np.ndarray, vectors: np.ndarray) -> str:
    """The engine of vectors shared under `model` (an artifact's): `engine` where it says whose
    they are, else decided by the chunks of the index in `index_dir` that have these keys, if
    any ("": not yet; the index decides once it has chunks of its own, `settle`)."""
    if not ambiguous(model, engine) or not exists(index_dir):
        return engine
    wanted = keys[: PROBES * 20].tolist()
    with Store(index_dir) as store:
        return decide(store, model, dict(zip(wanted, vectors[: len(wanted)], strict=True))) or ""
