"""The models that ship with codeseek: codeseek's own code-search model loads offline on torch
from its small file of differences, refuses weights it was not made from, and an index of the
old default keeps working while `status` says how to switch (the int8 file, the default:
test_onnx_engine.py; indexes of the float32 model: test_model_identity.py)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from codeseek.embedding import DEFAULT_MODEL
from codeseek.embedding.bundled import (
    BUNDLED,
    CODE_MODEL,
    INT8_MODEL,
    MINILM,
    V2_MODEL,
    V2_SPLIT_MODEL,
    apply_delta,
    base_path,
)
from codeseek.errors import CodeseekError

from .conftest import MakeRepo, codeseek

TEXTS = ["serialize the object into its JSON representation",
         "Gson.java > class Gson\npublic String toJson(Object src) {\n    return toJson(src, src.getClass());\n}",
         "def retry_with_backoff(fn, attempts=5):\n    for attempt in range(attempts):\n        return fn()"]


def test_the_code_model_is_the_default_and_ships_small() -> None:
    assert DEFAULT_MODEL == V2_MODEL
    assert BUNDLED[V2_SPLIT_MODEL].static == BUNDLED[V2_MODEL].static == BUNDLED[INT8_MODEL].static == BUNDLED[CODE_MODEL].static
    delta = BUNDLED[CODE_MODEL].delta
    assert delta is not None and delta.stat().st_size <= 25_000_000
    for model in (INT8_MODEL, V2_MODEL):
        onnx = BUNDLED[model].onnx
        assert onnx is not None and onnx.stat().st_size <= 30_000_000


def test_version_2_is_another_model_than_version_1() -> None:
    """Two files, two models: the same texts get other vectors (a copy shipped under v2's
    name would give the same)."""
    from codeseek.embedding.onnxrt import OnnxEmbedder

    v1, v2 = OnnxEmbedder(INT8_MODEL).embed_documents(TEXTS), OnnxEmbedder(V2_MODEL).embed_documents(TEXTS)
    assert np.sum(v1 * v2, axis=1).max() < 0.999


def test_v2_split_reads_identifiers_split_into_their_words() -> None:
    """v2-split is v2's file reading `toJson` as `to Json`: a text with a camelCase name gets
    another vector than under v2 (so the two never share an index), the same vector as v2 gives
    the text split by hand, and a text with no case boundary the same vector as under v2."""
    from codeseek.embedding.onnxrt import OnnxEmbedder
    from codeseek.embedding.tokens import split_case

    assert split_case("isTerminal XMLHttpRequest HTTP2Server snake_case") == "is Terminal XML Http Request HTTP2 Server snake_case"
    v2, split = OnnxEmbedder(V2_MODEL), OnnxEmbedder(V2_SPLIT_MODEL)
    assert split.info.model == V2_SPLIT_MODEL != v2.info.model
    camel, plain = TEXTS[1], TEXTS[2]
    assert float(np.dot(split.embed_documents([camel])[0], v2.embed_documents([camel])[0])) < 0.99
    assert np.allclose(split.embed_documents([camel]), v2.embed_documents([split_case(camel)]), atol=1e-6)
    assert np.allclose(split.embed_queries(["parseHeaderValue"]), v2.embed_queries(["parse Header Value"]), atol=1e-6)
    assert np.allclose(split.embed_documents([plain]), v2.embed_documents([plain]), atol=1e-6)


def test_an_index_of_v2_split_is_a_choice_and_status_suggests_no_switch(make_repo: MakeRepo) -> None:
    """v2-split is chosen, never a former default: its index keeps it without advice, as the
    default's does; an index of v1's int8 file is told the default is now v2."""
    from codeseek.report import better_model

    assert better_model(V2_SPLIT_MODEL, "onnxruntime") is None and better_model(V2_MODEL, "onnxruntime") is None
    assert f"the default model is now {V2_MODEL}" in (better_model(INT8_MODEL, "onnxruntime") or "")
    root = make_repo()
    found = codeseek(root, "find", "retry", "--model", V2_SPLIT_MODEL, "--json", env={**os.environ, "CODESEEK_SERVER": "0"})
    assert found.returncode == 0, found.stderr
    status = codeseek(root, "status", env={**os.environ, "CODESEEK_SERVER": "0"})
    assert V2_SPLIT_MODEL in status.stdout and "the default model is now" not in status.stdout + status.stderr


@pytest.mark.torch
def test_the_code_model_loads_offline_from_its_differences() -> None:
    from codeseek.embedding.sentence import SentenceTransformerEmbedder

    code = SentenceTransformerEmbedder(CODE_MODEL)
    assert code.info.model == CODE_MODEL and code.info.dim == 384 and code.max_tokens == 128
    base = SentenceTransformerEmbedder(MINILM)
    ours, theirs = code.embed_documents(TEXTS), base.embed_documents(TEXTS)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert (np.sum(ours * theirs, axis=1) < 0.999).all()  # the differences were applied
    again = SentenceTransformerEmbedder(CODE_MODEL).embed_documents(TEXTS)
    assert np.allclose(ours, again, atol=1e-6)  # and the same way every time


@pytest.mark.torch
def test_differences_for_other_weights_are_refused(tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file
    from sentence_transformers import SentenceTransformer

    other = tmp_path / "other-minilm"
    shutil.copytree(base_path(), other)
    weights = load_file(str(other / "model.safetensors"))
    name = sorted(weights)[0]
    weights[name] = weights[name] + 1e-3  # another model of the same shape
    save_file(weights, str(other / "model.safetensors"))
    model = SentenceTransformer(str(other), device="cpu")
    delta = BUNDLED[CODE_MODEL].delta
    assert delta is not None
    with pytest.raises(CodeseekError, match="other base weights"):
        apply_delta(model, delta, other / "model.safetensors")


@pytest.mark.torch
def test_an_index_of_the_old_default_keeps_working_and_status_says_how_to_switch(make_repo: MakeRepo) -> None:
    root = make_repo()
    assert codeseek(root, "index", "--model", MINILM).returncode == 0
    found = codeseek(root, "find", "retry a failing call with exponential backoff", "--json", "-k", "1")
    assert json.loads(found.stdout)[0]["symbol"] == "retry_with_backoff"
    assert json.loads(codeseek(root, "status", "--json").stdout)["model"] == MINILM  # nothing was re-embedded
    said = codeseek(root, "status").stdout
    assert f"the default model is now {DEFAULT_MODEL}" in said and "codeseek index --rebuild" in said
    assert codeseek(root, "index", "--rebuild").returncode == 0
    report = json.loads(codeseek(root, "status", "--json").stdout)
    assert report["model"] == DEFAULT_MODEL and report["embedded"] == report["total"] and report["advice"] is None
