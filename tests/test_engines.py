"""Embedding engines behind the one interface: a real local HTTP server, a real tiny Qwen3
(random weights, built from a config), and vLLM (a stand-in where there is no GPU)."""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
import types
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from codeseek import cli as cli_module
from codeseek import progress
from codeseek.embedding import EngineChoice, EngineSettings, gpu_with_vllm, resolve_backend
from codeseek.embedding.base import QWEN3_CODE_TASK, normalise, query_prompt
from codeseek.embedding.http import HttpEmbedder
from codeseek.errors import CodeseekError, ModelMismatch

from .conftest import EmbeddingServer, MakeRepo, codeseek, fake_vector


def http(server: EmbeddingServer, **kwargs) -> HttpEmbedder:
    return HttpEmbedder(server.url, **{"backoff": 0.001, **kwargs})


def test_http_embeds_in_order_in_token_budget_batches(server: EmbeddingServer, monkeypatch) -> None:
    monkeypatch.setenv("CODESEEK_API_KEY", "sekret")
    embedder = http(server, batch_tokens=200, batch_size=8, concurrency=3)
    assert embedder.info.model == "tiny-embedder" and embedder.info.dim == 16  # from /v1/models
    texts = [f"def f{i}(x):\n    return x" + " + 1" * (i % 40) for i in range(60)]
    server.requests.clear()
    vectors = embedder.embed_documents(texts)
    assert np.allclose(vectors, normalise(np.array([fake_vector(t, 16) for t in texts])), atol=1e-6)
    sizes = [len(r["input"]) for r in server.requests]
    assert sum(sizes) == 60 and len(sizes) > 60 // 8 and max(sizes) <= 8
    for request in server.requests:
        assert sum(len(t) // 3 + 1 for t in request["input"]) <= 200 or len(request["input"]) == 1
        assert request["authorization"] == "Bearer sekret"


def test_http_retries_429_5xx_and_dropped_connections(server: EmbeddingServer) -> None:
    embedder = http(server)
    server.requests.clear()
    server.failures = [429, 500, "drop", 503]
    assert embedder.embed_documents(["x"]).shape == (1, 16)
    assert len(server.requests) == 5


def test_http_gives_up_with_the_url_after_retries(server: EmbeddingServer) -> None:
    embedder = http(server, retries=2)
    server.failures = [500, 500, 500]
    with pytest.raises(CodeseekError, match=f"{server.url}/embeddings answered HTTP 500"):
        embedder.embed_documents(["x"])


def test_http_does_not_retry_client_errors(server: EmbeddingServer) -> None:
    embedder = http(server)
    server.requests.clear()
    server.failures = [400]
    with pytest.raises(CodeseekError, match="answered HTTP 400"):
        embedder.embed_documents(["x"])
    assert len(server.requests) == 1


def test_http_matryoshka_dimensions_and_wrong_dimension(server: EmbeddingServer) -> None:
    embedder = http(server, dim=8)
    assert embedder.info.dim == 8 and embedder.embed_documents(["x"]).shape == (1, 8)
    assert server.requests[-1]["dimensions"] == 8
    server.wrong_dim = 12
    with pytest.raises(CodeseekError, match=r"returned 12-dimensional vectors, not the 8 asked for"):
        embedder.embed_documents(["y"])


def test_http_refuses_a_server_that_serves_another_model(server: EmbeddingServer) -> None:
    with pytest.raises(ModelMismatch, match="serves tiny-embedder, not m: vectors of different models are never"):
        http(server, model="m")


def test_http_dead_port_is_a_clear_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(CodeseekError, match=f"cannot reach the embedding server at http://127.0.0.1:{port}/v1"):
        HttpEmbedder(f"http://127.0.0.1:{port}/v1", "m", retries=1, backoff=0.001)


def test_http_backend_end_to_end_through_the_cli(
    server: EmbeddingServer, make_repo: MakeRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_repo()
    monkeypatch.chdir(root)
    monkeypatch.setenv("CODESEEK_BASE_URL", server.url)
    result = CliRunner().invoke(cli_module.cli, ["index"])
    assert result.exit_code == 0, result.output
    assert f"a server is configured at {server.url}" in result.stderr
    status = json.loads(CliRunner().invoke(cli_module.cli, ["status", "--json"]).stdout)
    assert (status["model"], status["dim"], status["engine"]) == ("tiny-embedder", 16, f"http {server.url}")
    monkeypatch.delenv("CODESEEK_BASE_URL")  # the index remembers its server
    found = CliRunner().invoke(cli_module.cli, ["find", "retry", "--json", "--no-update"])
    assert found.exit_code == 0 and json.loads(found.stdout)
    assert server.requests[-1]["input"] == ["retry"]  # no instruction for a non-Qwen model
    # Another engine may run the index's model (this one cannot load it here: words answer)...
    engine = CliRunner().invoke(cli_module.cli, ["find", "retry", "--backend", "local", "--json"])
    assert engine.exit_code == 0 and json.loads(engine.stdout)
    assert "cannot load model 'tiny-embedder'" in engine.stderr and "words" in engine.stderr
    # ...but another model is never mixed in.
    other = CliRunner().invoke(cli_module.cli, ["find", "retry", "--backend", "local", "--model", "all-MiniLM-L6-v2"])
    assert other.exit_code == 1 and "never mixed" in other.output


# -- choosing an engine ------------------------------------------------------------------------


def test_auto_choice_without_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("codeseek.embedding.gpu_with_vllm", lambda: False)  # this machine has no GPU
    assert resolve_backend(EngineSettings())[0] == "onnxruntime"  # the shipped model needs no torch
    assert resolve_backend(EngineSettings(backend="local"))[0] == "onnxruntime"
    for other in ("all-MiniLM-L6-v2", "/some/sentence-transformers/model"):  # no ONNX file: torch
        assert resolve_backend(EngineSettings(model=other))[0] == "sentence-transformers"
        assert resolve_backend(EngineSettings(backend="cpu", model=other))[0] == "sentence-transformers"
    assert resolve_backend(EngineSettings(base_url="http://127.0.0.1:1/v1"))[0] == "http"
    monkeypatch.setattr("codeseek.embedding.gpu_with_vllm", lambda: True)  # as on a CUDA machine with vllm
    assert resolve_backend(EngineSettings(base_url="http://127.0.0.1:1/v1")) == (
        "vllm", "a CUDA GPU and vllm are present")
    with pytest.raises(CodeseekError, match="unknown backend 'gpu'"):
        resolve_backend(EngineSettings(backend="gpu"))


def test_a_different_model_is_refused(engine: EngineChoice) -> None:
    stored = engine.embedder().info
    EngineChoice(EngineSettings()).check_compatible(stored)
    with pytest.raises(ModelMismatch, match="never mixed"):
        EngineChoice(EngineSettings(model="Qwen/Qwen3-Embedding-0.6B")).check_compatible(stored)
    with pytest.raises(ModelMismatch, match="dimension asked for is 128"):
        EngineChoice(EngineSettings(dim=128)).check_compatible(stored)


def test_qwen3_query_instruction() -> None:
    assert query_prompt("Qwen/Qwen3-Embedding-4B", None) == f"Instruct: {QWEN3_CODE_TASK}\nQuery:"
    assert query_prompt("all-MiniLM-L6-v2", None) == ""
    assert query_prompt("any", "Find the code") == "Instruct: Find the code\nQuery:"


# -- a real tiny Qwen3 on torch ----------------------------------------------------------------


@pytest.fixture(scope="session")
def tiny_qwen3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight Qwen3 model and a small BPE tokenizer, saved like a hub checkout."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen3Config, Qwen3Model

    path = tmp_path_factory.mktemp("models") / "Qwen3-Embedding-tiny"
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel()
    corpus = ["def retry(fn, attempts):\n    return fn()", "class Cache:\n    def get(self, key): pass"] * 20
    tokenizer.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>", "<unk>"]))
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|endoftext|>", pad_token="<|endoftext|>",
                                   unk_token="<unk>")
    fast.save_pretrained(path)
    torch.manual_seed(0)
    config = Qwen3Config(vocab_size=len(fast), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=128,
                         eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id)
    Qwen3Model(config).save_pretrained(path)
    return path


@pytest.mark.torch
def test_qwen3_last_token_pooling_padding_and_eot(tiny_qwen3: Path) -> None:
    import torch

    from codeseek.embedding.decoder import DecoderEmbedder

    embedder = DecoderEmbedder(str(tiny_qwen3), device="cpu")
    texts = ["def retry(fn):", "class Cache:\n    def get(self, key): return self.items[key]", "x"]
    ids = embedder.token_ids(texts[1])
    assert ids[-1] == embedder.eos_id == embedder.tokenizer.convert_tokens_to_ids("<|endoftext|>")
    batch = embedder.embed_documents(texts)
    assert batch.shape == (3, 64) and np.allclose(np.linalg.norm(batch, axis=1), 1, atol=1e-5)
    for i, text in enumerate(texts):
        with torch.inference_mode():
            hidden = embedder.model(input_ids=torch.tensor([embedder.token_ids(text)])).last_hidden_state
        single = normalise(hidden[:, -1].numpy())[0]
        assert np.allclose(batch[i], single, atol=1e-4)  # padding in a batch changes nothing


@pytest.mark.torch
def test_qwen3_right_truncation_keeps_the_start_and_the_eot(tiny_qwen3: Path) -> None:
    from codeseek.embedding.decoder import DecoderEmbedder

    embedder = DecoderEmbedder(str(tiny_qwen3), device="cpu", max_tokens=32)
    long_text = "def retry(fn, attempts):\n" + "    return fn()\n" * 50
    ids = embedder.token_ids(long_text)
    full = embedder.tokenizer(long_text, add_special_tokens=False)["input_ids"]
    assert len(ids) == 32 and ids[:31] == full[:31] and ids[-1] == embedder.eos_id


@pytest.mark.torch
def test_qwen3_matryoshka_truncates_then_normalises(tiny_qwen3: Path) -> None:
    from codeseek.embedding.decoder import DecoderEmbedder

    full = DecoderEmbedder(str(tiny_qwen3), device="cpu")
    small = DecoderEmbedder(str(tiny_qwen3), device="cpu", dim=16)
    texts = ["def retry(fn):", "class Cache:"]
    assert small.info.dim == 16
    assert np.allclose(small.embed_documents(texts), normalise(full.embed_documents(texts)[:, :16]), atol=1e-5)


@pytest.mark.torch
def test_qwen3_queries_get_the_instruction(tiny_qwen3: Path) -> None:
    from codeseek.embedding.decoder import DecoderEmbedder

    embedder = DecoderEmbedder(str(tiny_qwen3), device="cpu")
    prompted = embedder.embed_documents([f"Instruct: {QWEN3_CODE_TASK}\nQuery:retry"])
    assert np.allclose(embedder.embed_queries(["retry"]), prompted, atol=1e-5)


# -- vLLM --------------------------------------------------------------------------------------


@pytest.fixture
def vllm_stand_in(monkeypatch: pytest.MonkeyPatch, tiny_qwen3: Path):
    """No GPU here, and vLLM cannot be installed: a stand-in module records the adapter's calls
    and answers with vectors of the right shape. The real thing runs in the GPU-only test below."""
    from transformers import AutoTokenizer

    calls: dict[str, list] = {"llm": [], "embed": []}

    class PoolingParams:
        def __init__(self, dimensions=None):
            self.dimensions = dimensions

    class LLM:
        def __init__(self, **kwargs):
            calls["llm"].append(kwargs)

        def get_tokenizer(self):
            return AutoTokenizer.from_pretrained(tiny_qwen3)

        def embed(self, prompts, pooling_params=None, use_tqdm=True):
            calls["embed"].append((prompts, pooling_params))
            dim = pooling_params.dimensions if pooling_params else 64
            return [types.SimpleNamespace(outputs=types.SimpleNamespace(
                embedding=fake_vector(str(p["prompt_token_ids"]), 64)[:dim])) for p in prompts]

    module = types.ModuleType("vllm")
    module.__version__ = "0.0-stand-in"
    module.LLM = LLM
    module.PoolingParams = PoolingParams
    module.inputs = types.SimpleNamespace(TokensPrompt=lambda prompt_token_ids: {"prompt_token_ids": prompt_token_ids})
    monkeypatch.setitem(sys.modules, "vllm", module)
    return calls


@pytest.mark.torch
def test_vllm_adapter_calls(vllm_stand_in) -> None:
    from codeseek.embedding.vllm import MAX_MODEL_LEN, VllmEmbedder

    embedder = VllmEmbedder(dim=32)
    (kwargs,) = vllm_stand_in["llm"]
    assert kwargs["model"] == "Qwen/Qwen3-Embedding-4B" and kwargs["runner"] == "pooling"
    assert kwargs["hf_overrides"] == {"is_matryoshka": True} and kwargs["max_model_len"] == MAX_MODEL_LEN
    assert kwargs["trust_remote_code"] is False
    assert embedder.info.model == "Qwen/Qwen3-Embedding-4B" and embedder.info.dim == 32
    assert embedder.info.engine == "vllm"
    texts = ["short", "a much longer piece of code " * 5, "mid length text"]
    vectors = embedder.embed_documents(texts)
    assert vectors.shape == (3, 32) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    prompts, params = vllm_stand_in["embed"][-1]
    assert params.dimensions == 32
    lengths = [len(p["prompt_token_ids"]) for p in prompts]
    assert lengths == sorted(lengths)  # ordered by length
    assert all(p["prompt_token_ids"][-1] == embedder.eos_id for p in prompts)
    assert all(len(p["prompt_token_ids"]) < MAX_MODEL_LEN for p in prompts)
    # Rows come back in input order despite the sorting.
    again = embedder.embed_documents([texts[2]])
    assert np.allclose(vectors[2], again[0])


@pytest.mark.torch
def test_vllm_full_dimension_sends_no_dimensions(vllm_stand_in) -> None:
    from codeseek.embedding.vllm import VllmEmbedder

    embedder = VllmEmbedder()
    embedder.embed_documents(["x"])
    assert vllm_stand_in["embed"][-1][1] is None and embedder.info.dim == 64


@pytest.mark.skipif(not gpu_with_vllm(), reason="needs a CUDA GPU and vllm")
def test_vllm_on_a_real_gpu() -> None:
    from codeseek.embedding.vllm import VllmEmbedder

    embedder = VllmEmbedder(dim=256)
    docs = embedder.embed_documents(["def retry_with_backoff(fn):\n    ...", "class LruCache:\n    ..."])
    query = embedder.embed_queries(["retry a call with exponential backoff"])
    assert docs.shape == (2, 256) and (docs @ query[0]).argmax() == 0


@pytest.mark.torch
def test_qwen3_batches_stay_within_the_token_budget_and_rows_keep_their_order(tiny_qwen3: Path) -> None:
    from codeseek.embedding.decoder import DecoderEmbedder

    embedder = DecoderEmbedder(str(tiny_qwen3), device="cpu", batch_tokens=64)
    texts = [f"def f{i}(x):\n" + "    x = x + 1\n" * (i % 7) for i in range(40)]
    lengths = [len(ids) for ids in embedder.encode(texts)]
    batches = embedder.batches(lengths)
    assert sorted(i for b in batches for i in b) == list(range(40))
    for batch in batches:
        width = max(lengths[i] for i in batch)
        assert len(batch) * width <= 64 or len(batch) == 1
    # Batched vectors are the vectors of each text alone, in the order given.
    together = embedder.embed_documents(texts)
    alone = np.concatenate([embedder.embed_documents([t]) for t in texts[:6]])
    assert np.allclose(together[:6], alone, atol=1e-5)


@pytest.mark.torch
def test_fused_rms_norms_compute_what_the_model_did(tiny_qwen3: Path) -> None:
    import torch
    from transformers import AutoModel

    from codeseek.embedding.decoder import fuse_rms_norms

    model = AutoModel.from_pretrained(tiny_qwen3).eval()
    ids = torch.tensor([[5, 17, 42, 9, 7, 3]])
    with torch.inference_mode():
        before = model(input_ids=ids).last_hidden_state
        assert fuse_rms_norms(model) == 2 * 2 + 2 * 2 + 1  # per layer: 2 norms + q/k norms; then the final one
        after = model(input_ids=ids).last_hidden_state
    assert torch.allclose(before, after, atol=1e-5)


def test_the_default_models_identity_is_known_before_it_loads(shared_engine: EngineChoice) -> None:
    loaded = shared_engine.embedder()
    assert EngineChoice(EngineSettings()).identity() == loaded.info
    assert loaded.max_tokens == 128  # the length all-MiniLM-L6-v2 was trained on


@pytest.fixture
def replicas():
    """Four stand-ins for vLLM replicas, each taking a fixed time a request (a GPU's work)."""
    made = [EmbeddingServer() for _ in range(4)]
    for server in made:
        server.delay = 0.05
    yield made
    for server in made:
        server.close()


def test_several_servers_share_the_work(replicas: list[EmbeddingServer]) -> None:
    # Each request's stand-in GPU time well above the client's own HTTP work on a loaded 2-core
    # machine (at 0.05 s a request, 0.13 s of overhead held four servers to 2.8-2.9x under CI).
    for server in replicas:
        server.delay = 0.2
    texts = [f"def f{i}(x):\n    return x * {i}" for i in range(512)]
    one = HttpEmbedder(replicas[0].url, batch_size=8, backoff=0.001)
    began = time.perf_counter()
    alone = one.embed_documents(texts)
    single = time.perf_counter() - began
    four = HttpEmbedder([s.url for s in replicas], batch_size=8, backoff=0.001)
    began = time.perf_counter()
    together = four.embed_documents(texts)
    shared = time.perf_counter() - began
    assert np.allclose(alone, together)
    assert single / shared >= 3.0, (single, shared)
    shares = four.shares()
    assert sorted(shares) == sorted(s.url for s in replicas) and sum(shares.values()) == 512
    assert min(shares.values()) > 0


def test_a_server_killed_midway_loses_nothing_and_repeats_nothing(
    replicas: list[EmbeddingServer], make_repo: MakeRepo
) -> None:
    files = {f"mod{i}.py": "\n\n".join(f"def f_{i}_{j}(x):\n    return x * {j}" for j in range(100)) for i in range(48)}
    root = make_repo(files)  # 4,800 chunks: seconds of work, so that `status` reports while it runs
    for server in replicas:
        server.delay = 0.3
    replicas[1].kill_after = 64  # dies for good once it has been asked for 64 texts
    urls = ",".join(s.url for s in replicas)
    seen: list[dict[str, int]] = []  # each server's share, as `status` shows it while they work
    indexing = threading.Thread(target=lambda: seen.append({}) or seen.append(
        {"rc": codeseek(root, "index", "--base-url", urls).returncode}), daemon=True)
    indexing.start()
    while indexing.is_alive():
        report = progress.read(root / ".git" / "codeseek")
        if report is not None and report.shares:
            seen.append(report.shares)
        time.sleep(0.02)
    assert seen[-1] == {"rc": 0}
    assert any(set(shares) == {s.url for s in replicas} for shares in seen[1:-1]), seen
    status = json.loads(codeseek(root, "status", "--json").stdout)
    assert status["embedded"] == status["total"] == 4800 and status["unembedded"] == 0
    delivered = [text for s in replicas for text in s.embedded if text != "dimension probe"]
    assert len(delivered) == len(set(delivered)) == 4800  # each chunk embedded once, by one server
    assert 0 < len(replicas[1].embedded) <= 128 and replicas[1].taken > len(replicas[1].embedded)  # it died
