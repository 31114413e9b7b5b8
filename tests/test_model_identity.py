"""The int8 file has a name of its own: its vectors are not quite the float32 model's
(benchmarks/README.md, "Identity"). Indexes of before keep working, each with its own vectors
and never the other's: one of the float32 model on torch (with torch, and without it: words
and the static tier answer, with one line on how to get torch back or switch), and one that
the int8 file made under its former name (served by the int8 file under that name). Real
indexes in real git repositories; sharing through a real bare remote follows the same rules."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from codeseek import filling
from codeseek.embedding import DEFAULT_MODEL, EngineChoice, EngineSettings, resolve_backend
from codeseek.embedding.base import Embedder, ModelInfo
from codeseek.embedding.bundled import CODE_MODEL, INT8_MODEL
from codeseek.embedding.onnxrt import OnnxEmbedder
from codeseek.errors import CodeseekError
from codeseek.index import Store, exists
from codeseek.repo import open_workspace

from .conftest import MakeRepo, codeseek, git, one_line_error, write_files
from .test_onnx_engine import blocker
from .test_sharing import cli, clone

TORCH_V1 = ModelInfo(CODE_MODEL, 384, "sentence-transformers", "5.1.0")  # as the torch engine recorded it
FORMER = ModelInfo(CODE_MODEL, 384, "onnxruntime", "1.23.2")  # the int8 file, before it had its own name
QUERY = "retry a failing call with exponential backoff"


@pytest.fixture(scope="module")
def int8() -> OnnxEmbedder:
    return OnnxEmbedder(INT8_MODEL)


class Declared(Embedder):
    """The int8 file's vectors under an identity an engine of before recorded: an index as
    that engine left it (where its vectors' meaning is not what a test looks at)."""

    def __init__(self, inner: OnnxEmbedder, info: ModelInfo) -> None:
        self.inner, self.info, self.max_tokens = inner, info, inner.max_tokens

    def _embed(self, texts: list[str]) -> np.ndarray:
        return self.inner._embed(texts)


def index_as(root: Path, int8: OnnxEmbedder, info: ModelInfo) -> None:
    filling.index_all(open_workspace(root), EngineChoice(embedder=Declared(int8, info)))


def stored(root: Path) -> tuple[ModelInfo, dict[int, np.ndarray]]:
    """The index's recorded identity and every vector of the model it holds."""
    with Store(open_workspace(root).index_dir) as store:
        info = store.db.model_info()
        assert info is not None
        return info, store.vectors.get(sorted(store.vectors.keys()))


def vector_of(root: Path, symbol: str) -> tuple[str, np.ndarray | None]:
    with Store(open_workspace(root).index_dir) as store:
        (chunk,) = store.chunks.at("", symbol=symbol)
        return chunk.embedding_text(), store.vectors.get([chunk.vector_key]).get(chunk.vector_key)


def add_file(root: Path, name: str = "add_jitter") -> None:
    """A new function, committed: its chunk needs a vector."""
    write_files(root, {f"net/{name}.py": f'''
        def {name}(delay, spread=0.5):
            """Spread retries out: a share of the delay on top of it."""
            return delay * (1 + spread)
        '''})
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", name)


def cosine(stored: np.ndarray, vector: np.ndarray) -> float:
    """Of a stored vector (float16: its norm moves a little) and a computed one."""
    return float(stored @ vector / np.linalg.norm(stored))


def test_the_int8_file_is_the_default_under_its_own_name() -> None:
    assert DEFAULT_MODEL == INT8_MODEL != CODE_MODEL
    default = EngineChoice(EngineSettings()).identity()
    assert (default.model, default.dim, default.engine) == (INT8_MODEL, 384, "onnxruntime")
    assert FORMER.source == INT8_MODEL and TORCH_V1.source == CODE_MODEL
    assert FORMER.same_vectors(ModelInfo(INT8_MODEL, 384, "onnxruntime", "1.24"))
    assert not FORMER.same_vectors(TORCH_V1)  # one name, two models' vectors
    assert TORCH_V1.same_vectors(ModelInfo(CODE_MODEL, 384, "", ""))  # an imported index records no engine
    assert "the vectors of codeseek-code-minilm-l6-v1-int8" in FORMER.describe()


def test_no_engine_computes_the_other_models_vectors() -> None:
    # The float32 model on ONNX Runtime: it has no ONNX file (the int8 file is another model).
    choice = EngineChoice(EngineSettings(backend="onnxruntime"))
    choice.check_compatible(TORCH_V1)
    with pytest.raises(CodeseekError, match="not shipped as an ONNX model.*codeseek-code-minilm-l6-v1-int8"):
        choice.embedder_for(TORCH_V1)
    # The int8 file's vectors on torch: never its base weights under its name.
    choice = EngineChoice(EngineSettings(backend="sentence-transformers"))
    with pytest.raises(CodeseekError, match="is an ONNX file"):
        choice.embedder_for(FORMER)
    # On a machine with a GPU and vLLM too, each runs where it always ran.
    for stored, engine in ((TORCH_V1, "sentence-transformers"), (FORMER, "onnxruntime"),
                           (ModelInfo(INT8_MODEL, 384, "", ""), "onnxruntime")):  # (imported: no engine recorded)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("codeseek.embedding.gpu_with_vllm", lambda: True)
            choice = EngineChoice(EngineSettings())
            choice.check_compatible(stored)
            assert resolve_backend(choice.settings)[0] == engine, stored


def test_no_new_index_holds_the_int8_files_vectors_under_the_float32_name(make_repo: MakeRepo) -> None:
    root = make_repo()
    refused = codeseek(root, "index", "--backend", "onnxruntime", "--model", CODE_MODEL)
    assert "not shipped as an ONNX model" in one_line_error(refused)
    assert not exists(open_workspace(root).index_dir)


def test_an_index_the_int8_file_made_under_its_former_name_keeps_it(make_repo: MakeRepo, tmp_path: Path,
                                                                     int8: OnnxEmbedder) -> None:
    root = make_repo()
    index_as(root, int8, FORMER)
    before = stored(root)[1]
    env = blocker(tmp_path)  # the default install: no torch
    for server, name in (("0", "add_jitter"), ("1", "cap_delay")):  # in this process, and through the warm process
        add_file(root, name)
        found = codeseek(root, "find", QUERY, "--json", "-k", "1", env={**env, "CODESEEK_SERVER": server})
        assert found.returncode == 0, found.stderr
        assert json.loads(found.stdout)[0]["symbol"] == "retry_with_backoff"
        assert "Traceback" not in found.stderr and "cannot" not in found.stderr, found.stderr
        text, vector = vector_of(root, name)  # the new chunk's vector: the int8 file's
        assert vector is not None and cosine(vector, int8.embed_documents([text])[0]) > 0.99999
    codeseek(root, "serve", "--stop", env=env)
    info, after = stored(root)
    assert (info.model, info.engine) == (CODE_MODEL, "onnxruntime")  # under its former name still
    assert all(np.array_equal(after[k], v) for k, v in before.items())  # nothing re-embedded
    said = codeseek(root, "status", env=env).stdout
    assert f"{CODE_MODEL} is the former name of the default model, {INT8_MODEL}" in said
    assert "codeseek index --rebuild" in said
    refused = codeseek(root, "find", QUERY, "--backend", "sentence-transformers", env=env)
    assert "is an ONNX file" in one_line_error(refused)  # never torch vectors beside the int8 file's
    assert codeseek(root, "index", "--rebuild", env=env).returncode == 0
    report = json.loads(codeseek(root, "status", "--json", env=env).stdout)
    assert (report["model"], report["advice"]) == (INT8_MODEL, None)


def test_an_index_of_the_float32_model_without_torch_answers_and_says_how_to_get_it_back(
        make_repo: MakeRepo, tmp_path: Path, int8: OnnxEmbedder) -> None:
    root = make_repo()
    index_as(root, int8, TORCH_V1)
    before = stored(root)[1]
    add_file(root)
    env = blocker(tmp_path)
    for server in ("0", "1"):  # in this process, and through the warm process
        found = codeseek(root, "find", QUERY, "--json", "-k", "1", env={**env, "CODESEEK_SERVER": server})
        assert found.returncode == 0, found.stderr
        assert json.loads(found.stdout)[0]["symbol"] == "retry_with_backoff"  # the static tier and words
        lines = [line for line in found.stderr.splitlines() if "started the warm process" not in line]
        assert len(lines) == 1 and "Traceback" not in found.stderr, lines
        assert "pip install 'codeseek[torch]'" in lines[0] and "codeseek index --rebuild" in lines[0]
    codeseek(root, "serve", "--stop", env=env)
    info, after = stored(root)
    assert (info.model, info.engine) == (CODE_MODEL, "sentence-transformers") and after.keys() == before.keys()
    assert vector_of(root, "add_jitter")[1] is None  # waits for torch: no int8 vector under the float32 name
    said = codeseek(root, "status", env=env).stdout
    assert f"{CODE_MODEL} runs on torch, which is not installed here: `pip install 'codeseek[torch]'`" in said
    assert f"the default model is now {INT8_MODEL}" in said and "codeseek index --rebuild" in said
    refused = codeseek(root, "index", env=env)
    assert "pip install 'codeseek[torch]'" in one_line_error(refused)
    refused = codeseek(root, "find", QUERY, "--backend", "onnxruntime", env=env)
    assert "not shipped as an ONNX model" in one_line_error(refused)


@pytest.mark.torch
def test_an_index_of_the_float32_model_is_served_by_torch_as_before(make_repo: MakeRepo) -> None:
    from codeseek.embedding.sentence import SentenceTransformerEmbedder

    assert EngineChoice(EngineSettings(backend="sentence-transformers")).identity().model == CODE_MODEL  # as before
    root = make_repo()
    assert codeseek(root, "index", "--model", CODE_MODEL).returncode == 0
    add_file(root)
    found = codeseek(root, "find", QUERY, "--json", "-k", "1")
    assert found.returncode == 0 and json.loads(found.stdout)[0]["symbol"] == "retry_with_backoff", found.stderr
    info = stored(root)[0]
    assert (info.model, info.engine) == (CODE_MODEL, "sentence-transformers")
    text, vector = vector_of(root, "add_jitter")
    torch_vector = SentenceTransformerEmbedder(CODE_MODEL).embed_documents([text])[0]
    assert vector is not None and cosine(vector, torch_vector) > 0.9999  # torch's (bf16 at most), not int8's
    said = codeseek(root, "status").stdout
    assert f"the default model is now {INT8_MODEL}" in said and "codeseek index --rebuild" in said


def test_shared_vectors_keep_their_model(make_repo: MakeRepo, tmp_path: Path, int8: OnnxEmbedder,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """An artifact pushed from an index of the former name is the int8 file's vectors in a
    clone too; the float32 model's are never pulled into such an index, nor the other way."""
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(make_repo(name="source")), str(bare)], check=True)
    former, torch_made = clone(bare, tmp_path, "former"), clone(bare, tmp_path, "torch")
    index_as(former, int8, FORMER)
    cli(former, monkeypatch, "push")
    fresh = clone(bare, tmp_path, "fresh")
    cli(fresh, monkeypatch, "pull")
    assert stored(fresh)[0].source == INT8_MODEL  # the engine's name came with it: whose vectors they are
    index_as(torch_made, int8, TORCH_V1)
    refused = cli(torch_made, monkeypatch, "pull", ok=False)
    assert refused.exit_code == 1 and "the vectors of codeseek-code-minilm-l6-v1-int8" in refused.output
    cli(torch_made, monkeypatch, "push")  # the float32 model's, under the same ref
    refused = cli(former, monkeypatch, "pull", ok=False)
    assert refused.exit_code == 1 and "refused" in refused.output
