"""The int8 file has a name of its own: its vectors are not quite the float32 model's
(benchmarks/README.md, "Identity"). Indexes of before keep working, each with its own vectors
and never the other's: one of v1's float32 model on torch (with torch, and without it: words
and the static tier answer, with one line on how to get torch back or switch), one that v1's
int8 file made under its former name (served by the int8 file under that name), and one of
v1's int8 file beside v2, the default now (`status` says how to switch). Real indexes in real
git repositories; sharing through a real bare remote follows the same rules."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from codeseek import filling, indexing
from codeseek.embedding import DEFAULT_MODEL, EngineChoice, EngineSettings, resolve_backend
from codeseek.embedding.base import Embedder, ModelInfo
from codeseek.embedding.bundled import CODE_MODEL, INT8_MODEL, V2_MODEL
from codeseek.embedding.onnxrt import OnnxEmbedder
from codeseek.errors import CodeseekError, EngineUnavailable, ModelMismatch
from codeseek.index import Store, exists
from codeseek.repo import open_workspace

from .conftest import MakeRepo, codeseek, git, one_line_error, write_files
from .test_onnx_engine import blocker
from .test_sharing import cli, clone

TORCH_V1 = ModelInfo(CODE_MODEL, 384, "sentence-transformers", "5.1.0")  # as the torch engine recorded it
FORMER = ModelInfo(CODE_MODEL, 384, "onnxruntime", "1.23.2")  # the int8 file, before it had its own name
UNDECIDED = ModelInfo(CODE_MODEL, 384, "", "")  # as `pull` left it from Dec 1: either model's vectors
QUERY = "retry a failing call with exponential backoff"


@pytest.fixture(scope="module")
def int8() -> OnnxEmbedder:
    return OnnxEmbedder(INT8_MODEL)


class Declared(Embedder):
    """The int8 file's vectors under an identity an engine of before recorded: an index as
    that engine left it (where its vectors' meaning is not what a test looks at). float32_like:
    each turned aside as the float32 model's are from the int8 file's (cosine 0.997)."""

    def __init__(self, inner: OnnxEmbedder, info: ModelInfo, float32_like: bool = False) -> None:
        self.inner, self.info, self.max_tokens = inner, info, inner.max_tokens
        self.aside = np.random.default_rng(0).standard_normal(384).astype(np.float32) * 0.004 if float32_like else 0.0

    def _embed(self, texts: list[str]) -> np.ndarray:
        vectors = self.inner._embed(texts)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True) + self.aside


def index_as(root: Path, int8: OnnxEmbedder, info: ModelInfo, float32_like: bool = False) -> None:
    filling.index_all(open_workspace(root), EngineChoice(embedder=Declared(int8, info, float32_like)))


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
    assert DEFAULT_MODEL == V2_MODEL not in (INT8_MODEL, CODE_MODEL)
    default = EngineChoice(EngineSettings()).identity()
    assert (default.model, default.dim, default.engine) == (V2_MODEL, 384, "onnxruntime")
    assert FORMER.source == INT8_MODEL and TORCH_V1.source == CODE_MODEL
    assert FORMER.same_vectors(ModelInfo(INT8_MODEL, 384, "onnxruntime", "1.24"))
    assert not FORMER.same_vectors(TORCH_V1)  # one name, two models' vectors
    assert TORCH_V1.same_vectors(ModelInfo(CODE_MODEL, 384, "", ""))  # an imported index records no engine
    assert "the vectors of codeseek-code-minilm-l6-v1-int8" in FORMER.describe()


def test_no_engine_computes_the_other_models_vectors() -> None:
    # The float32 model on ONNX Runtime: it has no ONNX file (the int8 file is another model).
    choice = EngineChoice(EngineSettings(backend="onnxruntime"))
    choice.check_compatible(TORCH_V1)
    with pytest.raises(EngineUnavailable, match="onnxruntime backend cannot compute this index's vectors"):
        choice.embedder_for(TORCH_V1)
    # Nor does an engine whose recorded name would make the int8 file's vectors the float32
    # model's: a server of the int8 file, filling an index of its former name.
    serving = Declared(OnnxEmbedder(INT8_MODEL), ModelInfo(INT8_MODEL, 384, "http", "http://127.0.0.1:9"))
    with pytest.raises(ModelMismatch):
        EngineChoice(embedder=serving).embedder_for(FORMER)
    choice = EngineChoice(EngineSettings(backend="http", base_url="http://127.0.0.1:9"))
    assert "http backend cannot compute" in choice.unavailable_for(FORMER)
    # The int8 file's vectors on torch: never its base weights under its name.
    choice = EngineChoice(EngineSettings(backend="sentence-transformers"))
    with pytest.raises(EngineUnavailable, match="sentence-transformers backend cannot compute"):
        choice.embedder_for(FORMER)
    with pytest.raises(CodeseekError, match="is an ONNX file"):  # nor as a model of its own
        EngineChoice(EngineSettings(backend="sentence-transformers", model=INT8_MODEL)).embedder()
    # On a machine with a GPU and vLLM too, each runs where it always ran.
    for stored, engine in ((TORCH_V1, "sentence-transformers"), (FORMER, "onnxruntime"),
                           (ModelInfo(INT8_MODEL, 384, "", ""), "onnxruntime")):  # (imported: no engine recorded)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("codeseek.embedding.gpu_with_vllm", lambda: True)
            choice = EngineChoice(EngineSettings())
            choice.check_compatible(stored)
            assert resolve_backend(choice.settings)[0] == engine, stored
            # and a new index of a shipped model, named: vLLM would look for it on the Hub
            assert resolve_backend(EngineSettings(model=stored.source))[0] == engine, stored


def test_no_new_index_holds_the_int8_files_vectors_under_the_float32_name(make_repo: MakeRepo) -> None:
    root = make_repo()
    refused = codeseek(root, "index", "--backend", "onnxruntime", "--model", CODE_MODEL)
    assert "not shipped as an ONNX model" in one_line_error(refused)
    assert not exists(open_workspace(root).index_dir)


@pytest.mark.parametrize("made", [FORMER, ModelInfo(INT8_MODEL, 384, "onnxruntime", "1.23.2")], ids=["former", "v1"])
def test_an_index_of_v1s_int8_file_keeps_it_and_says_a_better_default_exists(
        make_repo: MakeRepo, tmp_path: Path, int8: OnnxEmbedder, made: ModelInfo) -> None:
    """v1's int8 file made it, under its former name or its own; v2 is the default now."""
    root = make_repo()
    index_as(root, int8, made)
    before = stored(root)[1]
    env = blocker(tmp_path)  # the default install: no torch
    for server, name in (("0", "add_jitter"), ("1", "cap_delay")):  # in this process, and through the warm process
        add_file(root, name)
        found = codeseek(root, "find", QUERY, "--json", "-k", "1", env={**env, "CODESEEK_SERVER": server})
        assert found.returncode == 0, found.stderr
        assert json.loads(found.stdout)[0]["symbol"] == "retry_with_backoff"
        assert "Traceback" not in found.stderr and "cannot" not in found.stderr, found.stderr
        text, vector = vector_of(root, name)  # the new chunk's vector: v1's int8 file's
        assert vector is not None and cosine(vector, int8.embed_documents([text])[0]) > 0.99999
    codeseek(root, "serve", "--stop", env=env)
    info, after = stored(root)
    assert (info.model, info.engine) == (made.model, "onnxruntime")  # under the name it was made with
    assert all(np.array_equal(after[k], v) for k, v in before.items())  # nothing re-embedded
    said = codeseek(root, "status", env=env).stdout
    assert f"the default model is now {V2_MODEL}" in said and "codeseek index --rebuild" in said
    assert "pip install" not in said  # an ONNX file: nothing to install
    other = codeseek(root, "find", QUERY, "--backend", "sentence-transformers", env={**env, "CODESEEK_SERVER": "0"})
    if made == FORMER:  # the float32 model's name: words answer, never torch vectors beside the int8 file's
        assert f"{CODE_MODEL} is the former name of {INT8_MODEL}, whose vectors this index holds" in said
        assert other.returncode == 0 and "drop the backend setting" in other.stderr
    else:  # the int8 file's own name asked of torch: refused
        assert other.returncode == 1 and "is an ONNX file" in other.stderr
    assert len(other.stderr.splitlines()) == 1, other.stderr
    assert codeseek(root, "index", "--rebuild", env=env).returncode == 0
    report = json.loads(codeseek(root, "status", "--json", env=env).stdout)
    assert (report["model"], report["advice"]) == (V2_MODEL, None)


def test_a_pinned_v1_int8_file_is_told_to_unpin_before_the_rebuild(make_repo: MakeRepo, tmp_path: Path,
                                                                    int8: OnnxEmbedder) -> None:
    """Yesterday's README said to pin v1's int8 file: a rebuild alone would make it again."""
    root = make_repo()
    index_as(root, int8, ModelInfo(INT8_MODEL, 384, "onnxruntime", "1.23.2"))
    write_files(root, {".codeseek.toml": f'model = "{INT8_MODEL}"\n'})
    env = blocker(tmp_path)
    said = codeseek(root, "status", env=env).stdout
    assert f'the default model is now {V2_MODEL}' in said
    assert f'remove `model = "{INT8_MODEL}"` from {root / ".codeseek.toml"} (or set it to {V2_MODEL}), then ' \
           "`codeseek index --rebuild`" in said, said
    said = codeseek(root, "status", env={**env, "CODESEEK_MODEL": INT8_MODEL}).stdout
    assert "unset CODESEEK_MODEL" in said, said  # the variable wins over the file


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
    assert f"the default model is now {V2_MODEL}" in said and "codeseek index --rebuild" in said
    refused = codeseek(root, "index", env=env)
    assert "pip install 'codeseek[torch]'" in one_line_error(refused)


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
    assert f"the default model is now {V2_MODEL}" in said and "codeseek index --rebuild" in said


def test_shared_vectors_keep_their_model(make_repo: MakeRepo, tmp_path: Path, int8: OnnxEmbedder,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The float32 model's name has one ref: an index of the former name never pushes to it
    (its vectors are the int8 file's). An artifact that came without an engine (pushed from an
    index pulled before engines were carried) is probed: the int8 file's vectors never join an
    index of the float32 model, and a clone that pulled them knows whose they are."""
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(make_repo(name="source")), str(bare)], check=True)
    former, torch_made, undecided = (clone(bare, tmp_path, name) for name in ("former", "torch", "undecided"))
    index_as(former, int8, FORMER)
    refused = cli(former, monkeypatch, "push", ok=False)
    assert refused.exit_code == 1 and "codeseek index --rebuild" in refused.output
    assert "refs/codeseek" not in git(bare, "for-each-ref")  # nothing was pushed
    with monkeypatch.context() as patch:  # an index pulled on Dec 1: no engine recorded, never probed
        patch.setattr("codeseek.provenance.settle", lambda store: None)
        index_as(undecided, int8, UNDECIDED)
        cli(undecided, monkeypatch, "push")
    index_as(torch_made, int8, TORCH_V1, float32_like=True)
    refused = cli(torch_made, monkeypatch, "pull", ok=False)
    assert refused.exit_code == 1 and "the vectors of codeseek-code-minilm-l6-v1-int8" in refused.output
    assert stored(torch_made)[0] == TORCH_V1
    cli(former, monkeypatch, "pull")  # the same vectors as its own
    fresh = clone(bare, tmp_path, "fresh")
    cli(fresh, monkeypatch, "pull")  # no chunks here yet to tell by: decided once it has them
    assert stored(fresh)[0].engine == ""
    found = codeseek(fresh, "find", QUERY, "--json", "-k", "1", env={**blocker(tmp_path), "CODESEEK_SERVER": "0"})
    assert found.returncode == 0 and "Traceback" not in found.stderr, found.stderr
    assert stored(fresh)[0].source == INT8_MODEL  # probed: the engine recorded says whose vectors


def test_an_index_pulled_without_an_engine_is_probed_once(make_repo: MakeRepo, tmp_path: Path,
                                                          int8: OnnxEmbedder, monkeypatch: pytest.MonkeyPatch) -> None:
    """Indexes pulled from Dec 1 recorded no engine: the float32 model's name with either
    model's vectors. A few chunks embedded again by the int8 file decide, once, for every
    caller: the int8 file's own vectors come back (cosine 1), the float32 model's do not."""
    from codeseek import provenance

    for float32, engine in ((False, "onnxruntime"), (True, "sentence-transformers")):
        root = make_repo(name=f"pulled-{float32}")
        with monkeypatch.context() as patch:
            patch.setattr(provenance, "settle", lambda store: None)
            index_as(root, int8, UNDECIDED, float32_like=float32)
        assert stored(root)[0].engine == ""
        add_file(root)
        (tmp_path / engine).mkdir()
        env = {**blocker(tmp_path / engine), "CODESEEK_SERVER": "0"}
        for _ in range(2):
            found = codeseek(root, "find", QUERY, "--json", "-k", "1", env=env)
            assert found.returncode == 0 and "Traceback" not in found.stderr, found.stderr
        info = stored(root)[0]
        assert info.engine == engine
        text, vector = vector_of(root, "add_jitter")
        if float32:  # the float32 model's: waits for torch, never the int8 file's vector
            assert vector is None
            assert "pip install 'codeseek[torch]'" in found.stderr
        else:  # the int8 file's: the new chunk got its vector from the int8 file
            assert vector is not None and cosine(vector, int8.embed_documents([text])[0]) > 0.99999
        with monkeypatch.context() as patch, Store(open_workspace(root).index_dir) as store:
            patch.setattr(provenance, "decide", lambda *_: pytest.fail("probed again"))
            provenance.settle(store)  # decided and recorded: never probed again


def test_a_torch_model_without_torch_starts_no_worker_and_says_what_ranked(
        make_repo: MakeRepo, tmp_path: Path, int8: OnnxEmbedder, monkeypatch: pytest.MonkeyPatch) -> None:
    """No torch, an index of the float32 model, a chunk without its vector: nothing can embed
    it here, so no search starts a worker to fail (hooks.log stays clean), `status` says the
    vector waits for torch, `similar` and `find` say in one line what ranked and never that
    ranking is filling in, and the warm process counts the index as settled (no second full
    check on every search)."""
    root = make_repo()
    index_as(root, int8, TORCH_V1)
    add_file(root)
    env = blocker(tmp_path)
    ws = open_workspace(root)
    for server in ("0", "1"):
        for args in (("find", QUERY), ("similar", "retry_with_backoff")):
            found = codeseek(root, *args, env={**env, "CODESEEK_SERVER": server})
            assert found.returncode == 0, found.stderr
            lines = [line for line in found.stderr.splitlines() if "started the warm process" not in line]
            assert len(lines) == 1 and "filling in" not in lines[0], (server, args, lines)
            assert "pip install 'codeseek[torch]'" in lines[0] and "ranked by the static tier" in lines[0]
    codeseek(root, "serve", "--stop", env=env)
    assert not (ws.index_dir / "hooks.log").exists()  # no worker was started, nor failed
    said = codeseek(root, "status", env=env).stdout
    assert "the rest wait" in said and "pip install 'codeseek[torch]'" in said and "nobody is embedding" not in said, said
    assert "pip install" in json.loads(codeseek(root, "status", "--json", env=env).stdout)["waiting"]

    # An index of the float32 model with no vector of it yet: find never asks the engine, and
    # still says in one line why, and what ranked.
    bare = make_repo(name="words")
    indexing.update(open_workspace(bare), EngineChoice(embedder=Declared(int8, TORCH_V1)))
    for server in ("0", "1"):
        found = codeseek(bare, "find", QUERY, env={**env, "CODESEEK_SERVER": server})
        lines = [line for line in found.stderr.splitlines() if "started the warm process" not in line]
        assert found.returncode == 0 and len(lines) == 1, lines
        assert "filling in" not in lines[0] and "ranked by the static tier and words" in lines[0], lines
    codeseek(bare, "serve", "--stop", env=env)

    # In this process, torch hidden: the warm path runs one full check after a change, then none.
    from codeseek import freshness
    from codeseek.embedding import Models, sentence
    from codeseek.protocol import FindRequest, SimilarRequest
    from codeseek.service import Repository

    monkeypatch.setattr(sentence, "torch_installed", lambda: False)
    checks: list[str] = []
    real = freshness.refresh
    monkeypatch.setattr(freshness, "refresh", lambda *a, **k: checks.append("check") or real(*a, **k))
    repo = Repository(ws, Models(), watching=True)
    try:
        first = repo.find(FindRequest(QUERY, k=1), {})
        assert first.hits[0].symbol == "retry_with_backoff" and not first.filling and len(first.notes) == 1
        assert len(checks) == 1 and not repo.busy  # one check, no second one, no thread started
        checks.clear()
        for _ in range(3):
            again = repo.find(FindRequest(QUERY, k=1), {})
            similar = repo.similar(SimilarRequest("retry_with_backoff", k=3), {})
            assert again.notes == first.notes and not again.filling
            assert not similar.filling and "ranked by the static tier" in similar.notes[0]
        assert checks == []  # settled: nothing changed, and nothing can be embedded here
    finally:
        repo.close()


def test_a_backend_that_cannot_compute_the_index_vectors_answers_by_words_and_the_static_tier(
        make_repo: MakeRepo, tmp_path: Path, int8: OnnxEmbedder) -> None:
    root = make_repo()
    index_as(root, int8, TORCH_V1)
    env = blocker(tmp_path)
    write_files(root, {".codeseek.toml": 'backend = "onnx"\n'})
    for args, extra in ((("--backend", "onnxruntime"), {}), ((), {}), ((), {"CODESEEK_BACKEND": "onnx"})):
        found = codeseek(root, "find", QUERY, "--json", "-k", "1", *args, env={**env, **extra, "CODESEEK_SERVER": "0"})
        assert found.returncode == 0, found.stderr
        assert json.loads(found.stdout)[0]["symbol"] == "retry_with_backoff"
        (line,) = found.stderr.splitlines()
        assert "drop the backend setting" in line and "codeseek index --rebuild" in line, line
    assert stored(root)[0] == TORCH_V1


def test_a_shipped_model_is_never_looked_up_on_the_hub(make_repo: MakeRepo) -> None:
    root = make_repo()
    for backend in ("torch", "transformers", "vllm"):
        for model in (CODE_MODEL, INT8_MODEL, V2_MODEL):
            began = time.monotonic()
            refused = codeseek(root, "index", "--backend", backend, "--model", model,
                               env={**os.environ, "HF_HUB_OFFLINE": "0"})
            assert f"{model} ships with codeseek" in one_line_error(refused)
            assert time.monotonic() - began < 20
    assert not exists(open_workspace(root).index_dir)


def test_a_pinned_float32_model_without_torch_says_where_it_was_pinned(
        make_repo: MakeRepo, tmp_path: Path, int8: OnnxEmbedder) -> None:
    """Yesterday's default name pinned in a config file (or a variable, or a flag): `index
    --rebuild` would ask for it again, so the line says where it was set and what to set."""
    root = make_repo()
    index_as(root, int8, TORCH_V1)
    add_file(root)
    env = blocker(tmp_path)
    write_files(root, {".codeseek.toml": f'model = "{CODE_MODEL}"\n'})
    config_file = str(root / ".codeseek.toml")
    for server in ("0", "1"):
        found = codeseek(root, "find", QUERY, env={**env, "CODESEEK_SERVER": server})
        assert found.returncode == 0, found.stderr
        said = "\n".join(line for line in found.stderr.splitlines() if "started the warm process" not in line)
        assert f'remove `model = "{CODE_MODEL}"` from {config_file}' in said and V2_MODEL in said, said
        found = codeseek(root, "find", QUERY, env={**env, "CODESEEK_SERVER": server, "CODESEEK_MODEL": CODE_MODEL})
        assert "unset CODESEEK_MODEL" in found.stderr, found.stderr
        found = codeseek(root, "find", QUERY, "--model", CODE_MODEL, env={**env, "CODESEEK_SERVER": server})
        assert "drop --model" in found.stderr, found.stderr
    codeseek(root, "serve", "--stop", env=env)
    refused = codeseek(root, "index", "--rebuild", env=env)
    assert config_file in one_line_error(refused) and exists(open_workspace(root).index_dir)
