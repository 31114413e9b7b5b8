"""Choosing and loading an embedding engine.

An existing index decides the engine unless the user names another (which is then refused,
never mixed). Models load only when a vector is actually needed: an update with nothing new
to embed never pays the load time.
"""

from __future__ import annotations

import functools
import importlib.util
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from ..errors import CodeseekError, EngineUnavailable, ModelMismatch
from .base import DEFAULT_MODEL, Embedder, ModelInfo, query_prompt
from .bundled import BUNDLED, CODE_MODEL, MODELS_DIR, vectors_of

__all__ = ["BACKENDS", "EngineSettings", "EngineChoice", "Embedder", "ModelInfo", "DEFAULT_MODEL", "static_tier"]


@dataclass(frozen=True)
class EngineSettings:
    """How to embed: the one settings type for flags, environment and config file
    (config.py checks each value where it is read)."""

    backend: str = "auto"
    model: str | None = None
    dim: int | None = None
    base_url: str | tuple[str, ...] | None = None  # one server, or several sharing the work
    api_key_env: str | None = None
    query_instruction: str | None = None
    device: str | None = None
    # Above this many chunks, a model with a static tier leaves the rest of its vectors to
    # `codeseek index`: searches rank by the static tier and words. 0: always; None (the
    # default: the distilled tier ranks little above words alone, benchmarks/README.md): never.
    transformer_limit: int | None = None
    trust_remote_code: bool = False  # only ever set from the command line
    api_key: str | None = field(default=None, repr=False)  # a request's own key ("": none); None: the environment's
    # Where `model` was set (--model, CODESEEK_MODEL or a config file's path), named where that
    # setting keeps a model from loading: no engine is chosen by it (nor models shared apart).
    model_from: str = field(default="", compare=False)


def _load_onnx(s: EngineSettings) -> Embedder:
    from .onnxrt import OnnxEmbedder

    model = s.model or DEFAULT_MODEL
    return OnnxEmbedder(model, dim=s.dim, query_prompt=query_prompt(model, s.query_instruction))


def _load_local(s: EngineSettings) -> Embedder:
    from . import static

    model = s.model or CODE_MODEL  # the torch engine's own default: the code model's float32 weights
    if static.is_static(model):  # a model2vec or StaticEmbedding folder: no transformer to run
        return static.StaticEmbedder(Path(model), model, dim=s.dim, query_prompt=query_prompt(model, s.query_instruction))
    from .sentence import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(
        model,
        device=s.device,
        dim=s.dim,
        query_prompt=query_prompt(model, s.query_instruction),
        trust_remote_code=s.trust_remote_code,
    )


def _load_static(s: EngineSettings) -> Embedder:
    from .static import StaticEmbedder, is_static

    model = s.model or BUNDLED[DEFAULT_MODEL].static or ""
    if model in STATIC_BUNDLED:
        return StaticEmbedder(STATIC_BUNDLED[model], model, dim=s.dim)
    if not is_static(model):
        raise CodeseekError(f"{model!r} is not a static model's folder (model.safetensors and tokenizer.json)")
    return StaticEmbedder(Path(model), model, dim=s.dim, query_prompt=query_prompt(model, s.query_instruction))


def _load_transformers(s: EngineSettings) -> Embedder:
    from .decoder import DecoderEmbedder

    return DecoderEmbedder(
        s.model or "Qwen/Qwen3-Embedding-0.6B",
        dim=s.dim,
        device=s.device,
        query_instruction=s.query_instruction,
        trust_remote_code=s.trust_remote_code,
    )


def _load_vllm(s: EngineSettings) -> Embedder:
    from .vllm import FLAGSHIP, VllmEmbedder

    return VllmEmbedder(
        s.model or FLAGSHIP, dim=s.dim, query_instruction=s.query_instruction, trust_remote_code=s.trust_remote_code
    )


def _load_http(s: EngineSettings) -> Embedder:
    from .http import HttpEmbedder

    if not s.base_url:
        raise CodeseekError("the http backend needs a server: --base-url or CODESEEK_BASE_URL")
    return HttpEmbedder(
        s.base_url, s.model, dim=s.dim, api_key_env=s.api_key_env, api_key=s.api_key,
        query_instruction=s.query_instruction,
    )


LOADERS: dict[str, Callable[[EngineSettings], Embedder]] = {
    "onnxruntime": _load_onnx,
    "sentence-transformers": _load_local,
    "static": _load_static,
    "transformers": _load_transformers,
    "vllm": _load_vllm,
    "http": _load_http,
}
ALIASES = {"onnx": "onnxruntime", "torch": "transformers", "openai": "http"}
# The engines that load a model by its Hugging Face id: a shipped model is not there.
HUB_ENGINES = ("transformers", "vllm")
# The CPU engine for the model: ONNX Runtime for a model shipped as ONNX, else sentence-transformers.
LOCAL = ("local", "cpu")
BACKENDS = (*LOADERS, *ALIASES, *LOCAL)


def local_backend(model: str | None) -> str:
    """ONNX Runtime for a model that ships as ONNX (no torch), sentence-transformers on torch
    for any other (all-MiniLM-L6-v2, a model folder or id)."""
    bundled = BUNDLED.get(model or DEFAULT_MODEL)
    return "onnxruntime" if bundled is not None and bundled.onnx is not None else "sentence-transformers"


def gpu_with_vllm() -> bool:
    """Whether vllm is installed and a CUDA GPU is visible (torch is imported only if so)."""
    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def resolve_backend(settings: EngineSettings) -> tuple[str, str]:
    """The backend to use, and why (shown to the user)."""
    backend = ALIASES.get(settings.backend, settings.backend)
    if backend in LOCAL:
        return local_backend(settings.model), "as configured"
    if backend != "auto":
        if backend not in LOADERS:
            raise CodeseekError(
                f"unknown backend {settings.backend!r}; choose from auto, {', '.join(sorted(LOADERS))}"
            )
        return backend, "as configured"
    if settings.model in BUNDLED and not settings.base_url:  # vLLM would look for it on the Hugging Face Hub
        return local_backend(settings.model), "a model shipped with codeseek runs on its own engine"
    if gpu_with_vllm():
        return "vllm", "a CUDA GPU and vllm are present"
    if settings.base_url:
        return "http", f"a server is configured at {settings.base_url}"
    return local_backend(settings.model), "no CUDA GPU with vllm and no server configured: the offline CPU model"


# The static models that ship in the package, by name.
STATIC_BUNDLED = {b.static: MODELS_DIR / b.static for b in BUNDLED.values() if b.static}


def static_tier(model: str) -> Embedder | None:
    """The static model distilled from `model`, loaded once: the tier that gives every chunk
    a vector as its words are indexed (None: `model` has none). It belongs to that model:
    its vectors are stored under the same keys, beside that model's, and shared with them."""
    bundled = BUNDLED.get(model)
    return None if bundled is None or bundled.static is None else _static(bundled.static)


@functools.cache
def _static(name: str) -> Embedder:
    """A shipped static model, loaded once however many models it serves (the code models
    share theirs: bundled.py)."""
    from .static import StaticEmbedder

    tier = StaticEmbedder(STATIC_BUNDLED[name], name)
    # Named with its digest: static vectors stored by another build of it are computed again.
    tier.info = replace(tier.info, model=f"{name}@{tier.model.digest}")
    return tier

LOCAL_ENGINES = ("onnxruntime", "sentence-transformers")

# The bundled models' dimension, so a first index is keyed before the model loads (seconds
# on a CPU). tests/test_engines.py checks it against the loaded models.
DEFAULT_DIM = 384


class Models:
    """Engines loaded once and shared: the warm process serves many repositories, and those
    that use the same model and engine share one copy of it (and one lock on it)."""

    def __init__(self) -> None:
        self._loaded: dict[tuple[str, EngineSettings], tuple[Embedder, threading.Lock]] = {}
        self._loading = threading.Lock()

    def load(self, backend: str, settings: EngineSettings) -> tuple[Embedder, threading.Lock]:
        key = (backend, replace(settings, backend=backend))
        with self._loading:
            if key not in self._loaded:
                self._loaded[key] = (LOADERS[backend](settings), threading.Lock())
            return self._loaded[key]

    def loaded(self) -> list[dict[str, object]]:
        """Each loaded model's fields (model, dim, engine, engine_version), for `status --json`."""
        return [asdict(embedder.info) for embedder, _ in self._loaded.values()]


class EngineChoice:
    """The engine the settings ask for, loaded on first use (from `models` when given)."""

    def __init__(self, settings: EngineSettings | None = None, embedder: Embedder | None = None,
                 models: Models | None = None) -> None:
        self.settings = settings or EngineSettings()
        self._embedder = embedder  # an engine already loaded (tests)
        self._models = models
        self.reason = "already loaded"
        # One caller at a time runs the model: a warm server embeds in the background while
        # it answers queries, and both use the one model.
        self.lock = threading.Lock()

    def check_compatible(self, stored: ModelInfo) -> None:
        """Adopt the index's model (by its own name where the index records a former one) and
        dimension, or refuse others the user named. How the model runs is the user's choice
        where they made one (flags, environment, config); otherwise the engine that last
        embedded for this index."""
        s = self.settings
        conflicts = [
            (what, want, have)
            for what, want, have, also in (("model", s.model, stored.model, stored.source),
                                           ("dimension", s.dim, stored.dim, stored.dim))
            if want is not None and want not in (have, also)
        ]
        if conflicts:
            what, want, have = conflicts[0]
            raise ModelMismatch(
                f"this index holds vectors of {stored.describe()}; the {what} asked for is {want}. "
                "Vectors of different models are never mixed: rebuild with `codeseek index --rebuild`, "
                "or drop the option to use the index's model"
            )
        backend, base_url = s.backend, s.base_url
        # An index embedded on a CPU takes the local engine that runs its model here (the int8
        # file ONNX Runtime, any other torch: without torch, words and the static tier answer),
        # and nothing else computes its vectors: neither engine's are the other's.
        if stored.source != stored.model and ALIASES.get(backend, backend) in ("auto", *LOCAL):
            backend = "onnxruntime"  # the int8 file under its former name
        elif backend == "auto" and not base_url and stored.engine in LOADERS and stored.engine not in LOCAL_ENGINES:
            # Recorded by this machine's own earlier runs (an imported index records none).
            backend = stored.engine
            if stored.engine == "http":
                urls = tuple(u for u in stored.engine_version.split(",") if u)
                base_url = urls[0] if len(urls) == 1 else urls
        elif backend == "auto" and not base_url and stored.source in BUNDLED:
            backend = local_backend(stored.source)  # never vLLM, which cannot load a shipped model
        self.settings = replace(s, backend=backend, model=stored.source, dim=stored.dim, base_url=base_url)

    def identity(self) -> ModelInfo:
        """What the vectors will be, loading the model only where that cannot be known otherwise."""
        s = self.settings
        backend = resolve_backend(s)[0]
        model = s.model or (CODE_MODEL if backend == "sentence-transformers" else DEFAULT_MODEL)
        # A shipped model on the one engine that runs it (another's loading says why it cannot).
        if self._embedder is None and model in BUNDLED and backend == local_backend(model) and s.dim in (None, DEFAULT_DIM):
            import importlib.metadata  # here, not above: the quick path imports this package

            try:
                version = importlib.metadata.version(backend)  # each local engine's package has its name
            except importlib.metadata.PackageNotFoundError:
                return self.embedder().info  # loading says which package to install
            return ModelInfo(model, DEFAULT_DIM, backend, version)
        return self.embedder().info

    def embedder(self) -> Embedder:
        if self._embedder is None:
            backend, self.reason = resolve_backend(self.settings)
            model = self.settings.model
            if backend in HUB_ENGINES and model in BUNDLED:
                raise CodeseekError(f"{model} ships with codeseek and runs on {local_backend(model)}; the {backend} "
                                    "backend would look for it on the Hugging Face Hub: drop the backend setting, "
                                    "or give `--backend local`")
            if missing := self._missing(backend):
                raise EngineUnavailable(missing)
            if self._models is not None:
                self._embedder, self.lock = self._models.load(backend, self.settings)
            else:
                self._embedder = LOADERS[backend](self.settings)
        return self._embedder

    @property
    def loaded(self) -> bool:
        return self._embedder is not None

    def describe(self) -> str:
        """Which engine runs the model, and why it was chosen."""
        info = self.embedder().info
        return f"{info.describe_engine()}: {self.reason}"

    def unavailable_for(self, stored: ModelInfo) -> str:
        """Why the engine chosen for an index cannot compute its vectors here, found without
        loading anything: a backend whose recorded name would make them another model's (the
        int8 file's under the float32 model's name, or the other way), or a torch model with
        no torch. "" where it may (a server's answer is known only by asking it)."""
        self.check_compatible(stored)
        if self._embedder is not None:
            return ""
        backend = resolve_backend(self.settings)[0]
        if vectors_of(stored.model, backend) != stored.source:
            return (f"the {backend} backend cannot compute this index's vectors, those of {stored.source}: drop "
                    "the backend setting (--backend, CODESEEK_BACKEND, the config file) to use the index's own, "
                    "or `codeseek index --rebuild` to index again with it")
        return self._missing(backend)

    def _missing(self, backend: str) -> str:
        """What this machine lacks to load the model on `backend` ("" where nothing is known to
        be missing): torch, for a torch model (found, not imported)."""
        model = self.settings.model or CODE_MODEL
        bundled = BUNDLED.get(model)
        if backend != "sentence-transformers" or (bundled is not None and bundled.onnx is not None):
            return ""  # (the int8 file on torch is refused by that engine, with its own reason)
        from .sentence import torch_installed, without_torch

        if torch_installed():
            return ""
        if model not in BUNDLED:
            from .static import is_static

            if is_static(model):
                return ""
        return without_torch(model, self.settings.model_from)

    def embedder_for(self, stored: ModelInfo) -> Embedder:
        """The engine that built an index, loaded: anything else is refused, never mixed."""
        if why := self.unavailable_for(stored):
            raise EngineUnavailable(why)
        embedder = self.embedder()
        # The engine it records must keep saying whose vectors they are (bundled.vectors_of).
        if not embedder.info.same_vectors(stored) or vectors_of(stored.model, embedder.info.engine) != stored.source:
            raise ModelMismatch(
                f"this index holds vectors of {stored.describe()}, not {embedder.info.describe()}; "
                "rebuild it with `codeseek index --rebuild` to switch models"
            )
        return embedder
