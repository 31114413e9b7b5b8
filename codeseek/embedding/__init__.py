"""Choosing and loading an embedding engine.

An existing index decides the engine unless the user names another (which is then refused,
never mixed). Models load only when a vector is actually needed: an update with nothing new
to embed never pays the load time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace

from ..errors import CodeseekError, ModelMismatch
from .base import Embedder, ModelInfo
from .sentence import DEFAULT_MODEL, SentenceTransformerEmbedder

__all__ = ["EngineSettings", "EngineChoice", "Embedder", "ModelInfo", "DEFAULT_MODEL"]


@dataclass(frozen=True)
class EngineSettings:
    backend: str = "auto"
    model: str | None = None
    dim: int | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    query_instruction: str | None = None
    device: str | None = None
    trust_remote_code: bool = False  # only ever set from the command line

    def under(self, defaults: EngineSettings) -> EngineSettings:
        """These settings, with the gaps filled from defaults (a config file's)."""
        merged = {f.name: getattr(self, f.name) for f in fields(self)}
        for f in fields(self):
            if merged[f.name] in (None, "auto") and f.name != "trust_remote_code":
                merged[f.name] = getattr(defaults, f.name)
        return EngineSettings(**merged)


def _load_local(s: EngineSettings) -> Embedder:
    return SentenceTransformerEmbedder(
        s.model or DEFAULT_MODEL, device=s.device, dim=s.dim, trust_remote_code=s.trust_remote_code
    )


LOADERS: dict[str, Callable[[EngineSettings], Embedder]] = {
    "sentence-transformers": _load_local,
}
ALIASES = {"local": "sentence-transformers", "cpu": "sentence-transformers"}


def resolve_backend(settings: EngineSettings) -> str:
    backend = ALIASES.get(settings.backend, settings.backend)
    if backend == "auto":
        return "sentence-transformers"
    if backend not in LOADERS:
        raise CodeseekError(f"unknown backend {settings.backend!r}; choose from auto, {', '.join(sorted(LOADERS))}")
    return backend


class EngineChoice:
    """The engine the settings ask for, loaded on first use."""

    def __init__(self, settings: EngineSettings | None = None, embedder: Embedder | None = None) -> None:
        self.settings = settings or EngineSettings()
        self._embedder = embedder  # an engine already loaded (a warm server, tests)

    def check_compatible(self, stored: ModelInfo) -> None:
        """Adopt the index's engine, or refuse one the user named that differs from it."""
        s = self.settings
        asked = resolve_backend(s) if s.backend != "auto" else stored.engine
        conflicts = [
            (what, want, have)
            for what, want, have in (
                ("model", s.model, stored.model),
                ("dimension", s.dim, stored.dim),
                ("engine", asked, stored.engine),
            )
            if want is not None and want != have
        ]
        if conflicts:
            what, want, have = conflicts[0]
            raise ModelMismatch(
                f"this index was built with {stored.describe()}; the {what} asked for is {want}. "
                "Vectors of different models are never mixed: rebuild with `codeseek index --rebuild`, "
                "or drop the option to use the index's model"
            )
        self.settings = replace(s, backend=stored.engine, model=stored.model, dim=stored.dim)

    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = LOADERS[resolve_backend(self.settings)](self.settings)
        return self._embedder
