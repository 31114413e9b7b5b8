"""The static tier: every chunk has a vector as soon as its words are indexed, meaning ranks
before any transformer vector exists, the vectors travel with the model's through push and
pull, and any model2vec or sentence-transformers static model runs as an engine."""

from __future__ import annotations

import email
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

from codeseek import chunking, indexing, ranking, search
from codeseek.embedding import DEFAULT_MODEL, STATIC_BUNDLED, EngineChoice, EngineSettings, static, static_tier
from codeseek.embedding.bundled import BUNDLED, CODE_MODEL, STATIC_MODEL
from codeseek.embedding.static import StaticEmbedder, pool
from codeseek.embedding.tokens import Tokens
from codeseek.index import STATIC_MODEL as STATIC_KEY
from codeseek.index import Store
from codeseek.parsing import chunk_file
from codeseek.repo import Workspace, open_workspace

from .conftest import EmbeddingServer, MakeRepo, codeseek, git, index_all
from .test_sharing import cli, clone

WORDS = ["retry", "backoff", "sleep", "failure", "attempt", "slug", "title", "lowercase", "cache", "capacity",
         "config", "yaml", "file", "user", "fetch", "http", "server", "rate", "limit", "wait"]


def tiny_static_model(folder: Path, layout: str) -> Path:
    """A static model of a few words, in model2vec's layout or sentence-transformers'
    StaticEmbedding one (whose unbounded length once crashed `--backend local`). Related
    words share a direction, so a question finds code by meaning, not only by its words."""
    vocab = {"[UNK]": 0, **{w: i + 1 for i, w in enumerate(WORDS)}}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    rng = np.random.default_rng(7)
    topics = rng.normal(size=(4, 32)).astype(np.float32)
    table = rng.normal(scale=0.3, size=(len(vocab), 32)).astype(np.float32)
    for i in range(len(WORDS)):
        table[i + 1] += topics[i // 5]  # five words a topic: retrying, slugs, caches and configs, ...
    inner = folder / "0_StaticEmbedding" if layout == "sentence-transformers" else folder
    inner.mkdir(parents=True)
    tokenizer.save(str(inner / "tokenizer.json"))
    if layout == "sentence-transformers":
        save_file({"embedding.weight": table}, str(inner / "model.safetensors"))
        modules = [{"idx": 0, "name": "0", "path": "0_StaticEmbedding",
                    "type": "sentence_transformers.models.StaticEmbedding"}]
        (folder / "modules.json").write_text(json.dumps(modules))
    else:
        save_file({"embeddings": table}, str(folder / "model.safetensors"))
        (folder / "config.json").write_text(json.dumps({"model_type": "model2vec", "normalize": True}))
    return folder


@pytest.mark.parametrize("layout", ["model2vec", "sentence-transformers"])
def test_a_static_model_indexes_and_searches_through_the_local_backend(
        make_repo: MakeRepo, tmp_path: Path, layout: str) -> None:
    model = tiny_static_model(tmp_path / "model", layout)
    root = make_repo()
    indexed = codeseek(root, "index", "--backend", "local", "--model", str(model))
    assert indexed.returncode == 0, indexed.stderr
    found = codeseek(root, "find", "sleep after a failure", "--mode", "semantic", "--json", "-k", "1")
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)[0]["symbol"] == "retry_with_backoff"
    report = json.loads(codeseek(root, "status", "--json").stdout)
    assert report["unembedded"] == 0 and report["engine"].startswith("static")


def test_a_static_model_pools_as_model2vec_does(tmp_path: Path) -> None:
    """The mean of the text's known tokens' rows, normalised; unknown tokens dropped, the
    length bounded."""
    model = tiny_static_model(tmp_path / "model", "model2vec")
    engine = StaticEmbedder(model)
    table = engine.model.table.astype(np.float32)
    got = engine.embed_documents(["retry backoff nonsense", "", "nothing known here"])
    want = table[1] + table[2]
    assert np.allclose(got[0], want / np.linalg.norm(want), atol=1e-6)
    assert not got[1].any() and not got[2].any()
    assert engine.max_tokens == 512


def test_a_static_models_identity_includes_how_much_it_reads(tmp_path: Path) -> None:
    """The same table reading fewer tokens makes other vectors: its digest (which names its
    stored vectors) differs, so an index computes them again rather than mixing the two."""
    model = tiny_static_model(tmp_path / "model", "model2vec")
    before = static.load(model)
    (model / "config.json").write_text(json.dumps({"model_type": "model2vec", "normalize": True, "max_length": 2}))
    after = static.load(model)
    assert after.max_length == 2 and after.digest != before.digest
    engine = StaticEmbedder(model)
    assert np.allclose(engine.embed_documents(["retry backoff sleep"]), engine.embed_documents(["retry backoff"]))


def test_a_static_models_lead_counts_a_texts_first_tokens_again(tmp_path: Path) -> None:
    """`lead_tokens` and `lead_weight` in its config: a text's vector is its tokens' mean plus
    the weight times its first tokens' mean (each normalised), so `retry backoff sleep` leans
    to `retry`; the digest differs (stored vectors are computed again); a lead past what the
    model reads, or without a positive weight, is no lead."""
    model = tiny_static_model(tmp_path / "model", "model2vec")
    config = json.loads((model / "config.json").read_text())
    plain = StaticEmbedder(model)
    (model / "config.json").write_text(json.dumps({**config, "lead_tokens": 1, "lead_weight": 0.5}))
    led = StaticEmbedder(model)
    whole, first = plain.embed_documents(["retry backoff sleep", "retry"])
    want = whole + 0.5 * first
    assert np.allclose(led.embed_documents(["retry backoff sleep"])[0], want / np.linalg.norm(want), atol=1e-6)
    assert np.allclose(led.embed_documents(["retry"]), plain.embed_documents(["retry"]), atol=1e-6)
    assert not led.embed_documents(["nothing known here"]).any()
    assert led.model.digest != plain.model.digest
    for lead, weight in ((512, 0.5), (0, 0.5), (1, 0), (1, "half"), (True, 0.5)):
        (model / "config.json").write_text(json.dumps({**config, "lead_tokens": lead, "lead_weight": weight}))
        assert static.load(model).digest == plain.model.digest


def test_a_static_model_taught_on_split_identifiers_reads_every_text_split(tmp_path: Path) -> None:
    """`"split_case": true` in its config: `retryWithBackoff` is read as `retry With Backoff`
    (two known words), where the same table unsplit reads one unknown word; and the digest
    differs, so vectors stored by the unsplit reading are computed again."""
    model = tiny_static_model(tmp_path / "model", "model2vec")
    tokenizer = Tokenizer.from_file(str(model / "tokenizer.json"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.save(str(model / "tokenizer.json"))
    plain = StaticEmbedder(model)
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "split_case": True}))
    split = StaticEmbedder(model)
    assert not plain.embed_documents(["retryWithBackoff"]).any()
    assert np.allclose(split.embed_documents(["retryWithBackoff"]), plain.embed_documents(["retry backoff"]))
    assert np.allclose(split.embed_queries(["how to retry"]), plain.embed_queries(["how to retry"]))
    assert split.model.digest != plain.model.digest


def test_a_fresh_index_has_a_static_vector_for_every_chunk_and_meaning_before_the_model(
        make_repo: MakeRepo) -> None:
    root = make_repo()
    ws = open_workspace(root)
    engine = EngineChoice(EngineSettings())
    indexing.update(ws, engine)
    with Store(ws.index_dir) as store:
        keys = {c.vector_key for c in store.chunks.by_ids(range(1, 1000)).values()}
        assert store.vectors.count() == 0 and len(keys) > 5
        assert not store.static.missing(keys)
        assert store.db.meta()[STATIC_KEY].startswith(STATIC_MODEL + "@")
        results = search.find(store, engine, "sleep longer after each failed attempt", 3, explain=True)
    assert results.vectors == "static" and not engine.loaded  # no transformer was loaded
    assert results.hits[0].symbol == "retry_with_backoff"
    assert results.hits[0].why is not None and results.hits[0].why["vectors"] == "static"


def test_once_every_chunk_has_the_models_vector_both_spaces_give_meaning(make_repo: MakeRepo) -> None:
    """With the transformer's vector for every chunk, a fifth of a chunk's meaning still comes
    from the static tier (Signals.static_blend: it ranked better than the transformer alone; two
    fifths for a question, Signals.static_asked), and `status` says it is read."""
    root = make_repo()
    ws = open_workspace(root)
    engine = EngineChoice(EngineSettings())
    index_all(ws, engine)
    with Store(ws.index_dir) as store:
        assert store.chunks.unembedded_count() == 0
        results = search.find(store, engine, "sleep longer after each failed attempt", 3, explain=True)
        no_blend = replace(ranking.DEFAULT, static_blend=0.0)
        # A description (a third person's verb): a fifth of its meaning from the static tier, none here.
        alone = search.find(store, engine, "Sleeps longer after each failed attempt", 3, explain=True, signals=no_blend)
        asked = search.find(store, engine, "how does the retry loop wait", 3, signals=no_blend)
    assert results.vectors == "transformer and static" and alone.vectors == "transformer"
    assert asked.vectors == "transformer and static"  # a question reads it still (Signals.static_asked)
    assert results.hits[0].symbol == "retry_with_backoff" and results.hits[0].why["vectors"] == "both"
    assert alone.hits[0].why["vectors"] == "transformer"
    status = codeseek(root, "status").stdout
    assert "static tier codeseek-code-static-v2@" in status and "every chunk (blended with the model's vectors)" in status


def handlers(count: int) -> dict[str, str]:
    """So many files of one small function each: PARALLEL_MIN_FILES or more are prepared in
    worker processes."""
    return {f"pkg/mod{i}.py": f"def handler_{i}(request):\n    return retry_{i}(request, attempts={i})\n"
            for i in range(count)}


def test_static_vectors_made_in_the_worker_processes_are_the_tiers_own(make_repo: MakeRepo) -> None:
    """Enough files that chunking (and the static vectors with it) runs in worker processes:
    each chunk's stored vector is the one the tier gives its text here, and a text two files
    hold (one name in two folders: one key) is stored once."""
    files = handlers(chunking.PARALLEL_MIN_FILES + 6)
    files |= {f"{folder}/shared.py": "def shared(x):\n    return x + 1\n" for folder in ("first", "last")}
    root = make_repo(files)
    ws = open_workspace(root)
    indexing.update(ws, EngineChoice(EngineSettings()))
    tier = static_tier(DEFAULT_MODEL)
    assert tier is not None
    with Store(ws.index_dir) as store:
        chunks = list(store.chunks.by_ids(range(1, 1000)).values())
        stored = store.static.get([c.vector_key for c in chunks])
        static_count = store.static.count()
    want = tier.embed_documents([c.embedding_text() for c in chunks])
    keys = {c.vector_key for c in chunks}
    assert len(chunks) >= len(files) > len(keys) and set(stored) == keys and static_count == len(keys)
    got = np.stack([stored[c.vector_key] for c in chunks])
    assert np.allclose(got, want.astype(np.float16).astype(np.float32), atol=1e-3)


@pytest.mark.parametrize("count", [84, 87])  # cut, the last part is short, or full (then it is marked last)
def test_files_handed_over_in_parts_and_batches_make_the_index_one_batch_makes(
        count: int, make_repo: MakeRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    """A first index hands its workers parts of PART_FILES files as they are read, and writes a
    batch's terms and static segment once BATCH_BYTES are read: however the files are cut, the
    chunks, their words, their terms' counts and their static vectors are the same."""
    files = handlers(count)

    def indexed(name: str) -> tuple[object, ...]:
        ws = open_workspace(make_repo(files, name=name))
        indexing.update(ws, EngineChoice(EngineSettings()))
        return _contents(ws)

    whole = indexed("whole")
    monkeypatch.setattr(chunking, "PART_FILES", 5)
    monkeypatch.setattr(indexing, "BATCH_BYTES", 30 * len(files["pkg/mod10.py"]))  # about 30 files a batch
    cut = indexed("cut")
    assert whole[:3] == cut[:3] and len(whole[0]) >= len(files)
    assert np.array_equal(whole[3], cut[3])
    assert whole[4] == 1 and cut[4] == 3  # a static segment a batch


FIRST_INDEX = """
import multiprocessing, sys
from codeseek import forking
forking.load_numpy()
from codeseek import indexing
from codeseek.embedding import EngineChoice, EngineSettings
from codeseek.repo import open_workspace

methods = []
made = multiprocessing.get_context
multiprocessing.get_context = lambda method=None: methods.append(method) or made(method)
indexing.update(open_workspace(sys.argv[1]), EngineChoice(EngineSettings()))
print(*methods)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers fork from the command line on Linux alone")
def test_a_first_index_from_the_command_line_forks_its_workers_after_the_tier_loaded_beside_git(
        make_repo: MakeRepo) -> None:
    """The static tier loads in a thread while git finds the changes (static_updates.loading);
    the thread is gone before the pool starts, so the workers still fork (one thread to copy)."""
    root = make_repo(handlers(chunking.PARALLEL_MIN_FILES + 6))
    done = subprocess.run([sys.executable, "-P", "-c", FIRST_INDEX, str(root)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["fork"]


def test_workers_forked_from_the_command_line_make_the_index_the_forkservers_make(make_repo: MakeRepo) -> None:
    """The command line forks its workers (forking.start_method); this process, numpy loaded
    before, has the forkserver's: the same chunks, words, term counts and static vectors."""
    files = handlers(chunking.PARALLEL_MIN_FILES + 6)
    forked = open_workspace(make_repo(files, name="forked"))
    made = codeseek(forked.root, "index", env={**os.environ, "CODESEEK_SERVER": "0"})
    assert made.returncode == 0, made.stderr
    served = open_workspace(make_repo(files, name="served"))
    indexing.update(served, EngineChoice(EngineSettings()))
    one, other = _contents(forked), _contents(served)
    assert one[:3] == other[:3] and np.array_equal(one[3], other[3]) and len(one[0]) >= len(files)


def _contents(ws: Workspace) -> tuple[object, ...]:
    """An index's chunks and their words, its terms' counts, its static vectors, its segments."""
    with Store(ws.index_dir) as store:
        rows = store.db.connection.execute(
            "SELECT c.path, c.symbol, c.vector_key, f.symbol, f.path, f.body FROM chunks c "
            "JOIN chunks_fts f ON f.rowid = c.id ORDER BY c.path, c.start_line").fetchall()
        terms = store.db.connection.execute("SELECT term, doc FROM term_docs ORDER BY term").fetchall()
        keys = sorted(store.static.keys())
        vectors = store.static.get(keys)
        return rows, terms, keys, np.stack([vectors[k] for k in keys]), len(store.static.names())


def test_a_process_held_to_one_core_prepares_its_files_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker a core this process may run on (its affinity: `taskset`, a container's cpuset),
    not a core the machine has: held to one, it starts no workers."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3}, raising=False)
    chunker = chunking.Chunker(_blas_threads)
    try:
        assert chunker.workers == 1
        done = chunker.submit([("a.py", b"")] * chunking.PARALLEL_MIN_FILES)
        assert len(done) == 1 and done[0].done() and chunker._pool is None  # here, at once
    finally:
        chunker.close()
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    assert chunking.Chunker(_blas_threads).workers == 3


def _blas_threads(items: list[tuple[str, bytes]]) -> list[str | None]:
    return [os.environ.get("OPENBLAS_NUM_THREADS") for _ in items]


def test_the_chunking_workers_sum_static_vectors_on_one_blas_thread() -> None:
    """The workers are one a core: BLAS threads in each (numpy's, in `pool`'s product) would
    spin against the others. Their forkserver starts with one BLAS thread; this process's
    environment stays as it was."""
    before = dict(os.environ)
    chunker = chunking.Chunker(_blas_threads, workers=2)
    try:
        got = [value for part in chunker.submit([("a.py", b"")] * chunking.PARALLEL_MIN_FILES) for value in part.result()]
    finally:
        chunker.close()
    assert set(got) == {"1"} and dict(os.environ) == before


FORKED = """
import os, sys, threading
from codeseek import forking
{before}
forking.load_numpy()
import numpy
from codeseek import chunking

def threads(items):
    numpy.ones((256, 256)) @ numpy.ones((256, 256))  # BLAS at work: its threads, if it has more than one
    return [(len(os.listdir("/proc/self/task")), os.getppid())]

if __name__ == "__main__":
    method = forking.start_method()
    {after}
    print(method, forking.start_method())
    if forking.start_method() == "fork":
        chunker = chunking.Chunker(threads, workers=2)
        got = {{t for part in chunker.submit([("a.py", b"")] * chunking.PARALLEL_MIN_FILES) for t in part.result()}}
        chunker.close()
        assert got == {{(2, os.getpid())}}, got  # this process's children: their own thread, and the one watching it
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers fork from the command line on Linux alone")
@pytest.mark.parametrize(("before", "after", "methods"), [
    ("", "", "fork fork"),
    ("", "threading.Thread(target=threading.Event().wait, args=(5,), daemon=True).start()", "fork forkserver"),
    ("import numpy", "", "forkserver forkserver"),
])
def test_the_command_line_forks_its_workers_where_that_is_safe(before: str, after: str, methods: str) -> None:
    """The command line loads numpy with one BLAS thread (forking.load_numpy), then forks its
    workers from itself: no forkserver to start and load. Each worker has no thread but its own
    and its watcher's, BLAS at work. Not where another thread runs (a child could inherit its
    locks held) or numpy was loaded before (its BLAS threads are set): the forkserver then."""
    script = FORKED.format(before=before, after=after)
    done = subprocess.run([sys.executable, "-P", "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == methods.split()
    assert "OPENBLAS_NUM_THREADS" not in done.stderr


def test_static_vectors_are_pushed_and_pulled_with_the_models(
        make_repo: MakeRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = EmbeddingServer(model=DEFAULT_MODEL)  # stands in for the default; its static tier is the real one
    try:
        source = make_repo(name="source")
        bare = tmp_path / "remote.git"
        subprocess.run(["git", "clone", "-q", "--bare", str(source), str(bare)], check=True)
        a = clone(bare, tmp_path, "a")
        cli(a, monkeypatch, "index", "--base-url", server.url)
        cli(a, monkeypatch, "push")
        b = clone(bare, tmp_path, "b")
        cli(b, monkeypatch, "pull")
    finally:
        server.close()
    with Store(open_workspace(a).index_dir) as store:
        keys = sorted(store.static.keys())
        pushed = store.static.get(keys)
    with Store(open_workspace(b).index_dir) as store:
        pulled = store.static.get(keys)
        assert store.db.meta()[STATIC_KEY].startswith(STATIC_MODEL + "@")
    assert len(keys) > 5 and set(pulled) == set(keys)
    assert all(float(pushed[k] @ pulled[k]) > 0.999 for k in keys)  # int8 in transit
    tier = static_tier(DEFAULT_MODEL)
    assert tier is not None and tier.info.model.startswith(STATIC_MODEL + "@")
    assert git(b, "status", "--porcelain") == ""


def test_past_the_transformer_limit_the_static_tier_is_the_whole_answer(
        make_repo: MakeRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_repo()
    (root / ".codeseek.toml").write_text("transformer_limit = 5\n")  # the sample has 18 chunks
    found = codeseek(root, "find", "sleep longer after each failed attempt", "--json", "-k", "1")
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)[0]["symbol"] == "retry_with_backoff"
    assert "static tier's vectors" in found.stderr and "being embedded" not in found.stderr
    report = json.loads(codeseek(root, "status", "--json").stdout)
    assert report["embedded"] == 0 and report["static_chunks"] == report["chunks"] and report["embedding"] is None
    assert codeseek(root, "index").returncode == 0  # asked for, everything is embedded
    assert json.loads(codeseek(root, "status", "--json").stdout)["unembedded"] == 0
    (root / ".codeseek.toml").write_text("transformer_limit = -1\n")
    refused = codeseek(root, "find", "retry")
    assert refused.returncode == 1 and "transformer_limit = -1 is not a whole number" in refused.stderr


def test_plain_ascii_is_tokenized_by_the_cheaper_twin_into_the_same_ids() -> None:
    """The shipped tokenizers' BERT normaliser is replaced by lowercasing for printable ASCII
    (a third of a static vector's time): every text gets the ids the full tokenizer gives."""
    texts = ["def Retry_With_Backoff(fn):\n\treturn fn()\r\n", "Café au lait", "form\x0cfeed", "nul\x00byte",
             "中文 code", "ÀÉÎ ß", "x" * 9000, "", "   ", "MixedCASE_ident + 'quoted' # comment"]
    tier = static_tier(CODE_MODEL)
    assert isinstance(tier, StaticEmbedder)
    for tokens in (tier.model.tokenizer, Tokens(BUNDLED[CODE_MODEL].tokenizer, 128)):
        assert tokens._plain is not None
        for special in (False, True):
            full = [e.ids for e in tokens._tokenizer.encode_batch(texts, add_special_tokens=special)]
            assert tokens.encode(texts, special=special) == full


def _corpus() -> list[str]:
    """Real code: every chunk of codeseek's own package and of a few standard-library files
    (as the static tier embeds them), and texts at each edge of counting by words."""
    folders = [Path(chunking.__file__).parent, Path(email.__file__).parent, Path(json.__file__).parent]
    texts = [chunk.embedding_text() for folder in folders for path in sorted(folder.rglob("*.py"))
             for chunk in chunk_file(path.name, path.read_bytes())]
    piece = "unfathomablyxq"  # several word pieces: the limit falls inside it
    return texts + [
        "x " * 511 + piece, "x " * 512, "x " * 513, "x " * 510 + piece + " y", "(" * 600,
        "def f(): return '" + "a1" * 80 + "'",  # a word past max_input_chars_per_word: one [UNK]
        "a [PAD] b [UNK] c", "lowercase [pad] and [unk] are words", "Café au lait", "form\x0cfeed",
        "nul\x00byte", "中文 code", "", "   \n\t", "MixedCASE_ident + 'quoted' # comment 0x1F", "\r\n".join("ab" * 40),
        "x " * 510 + "isTerminal y", "XMLHttpRequest.parseURL2Html(aB, AbC, ABc)", "x " * 511 + "getHTTPResponseCode",
    ]


def test_plain_text_is_counted_by_its_words_into_the_tokenizers_own_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    """Counting a plain text's words (embedding/wordpiece.py) gives the tokens the tokenizer
    gives it whole, truncation included, on real code: both shipped tokenizers, a word cache
    small enough to be forgotten between batches, and texts read split at case boundaries (each
    word split when it is learnt, against whole texts split before the tokenizer)."""
    from codeseek.embedding import wordpiece

    texts = [text[:4096] for text in _corpus()]
    static_tokens = STATIC_BUNDLED[STATIC_MODEL] / "tokenizer.json"
    for path, limit, cache, split in ((static_tokens, 512, wordpiece.CACHE_WORDS, False),
                                      (static_tokens, 512, 300, False),
                                      (BUNDLED[CODE_MODEL].tokenizer, 128, wordpiece.CACHE_WORDS, False),
                                      (static_tokens, 512, wordpiece.CACHE_WORDS, True),
                                      (static_tokens, 512, 300, True),
                                      (BUNDLED[CODE_MODEL].tokenizer, 128, wordpiece.CACHE_WORDS, True)):
        monkeypatch.setattr(wordpiece, "CACHE_WORDS", cache)
        tokens = Tokens(path, limit, split_case=split)
        assert tokens._words is not None
        for start in range(0, len(texts), 64):
            batch = texts[start : start + 64]
            # Shorter limits too, in the same call: its first tokens, a word cut where a limit falls inside it.
            cuts = [limit] if start % 128 else [limit, 7, 32]
            for cut, got in zip(cuts, tokens.count(batch, cuts), strict=True):
                encoded = [e[:cut] for e in tokens.encode(batch, special=False)]
                owner = np.repeat(np.arange(len(batch)), [len(e) for e in encoded])
                ids = np.concatenate([np.asarray(e, dtype=np.int64) for e in encoded])
                pairs, counts = np.unique(owner * 100_000 + ids, return_counts=True)
                assert np.array_equal(got.texts, pairs // 100_000) and np.array_equal(got.ids, pairs % 100_000)
                assert np.array_equal(got.counts, counts)


def test_a_static_vector_is_the_exact_sum_of_its_tokens_rows_whatever_its_batch() -> None:
    """`pool` on real code: each text's vector comes from the exact (float64) sums of its first
    `max_length` tokens' rows and of its first `lead` ones (the shipped tier's config), each
    normalised, added and normalised, rounded once to float32, the same alone as in a batch of
    others."""
    texts = _corpus()
    tier = static_tier(CODE_MODEL)
    assert isinstance(tier, StaticEmbedder)
    model = tier.model
    assert 0 < model.lead < model.max_length and model.lead_weight > 0
    table = model.table.astype(np.float64)
    encoded = model.tokenizer.encode([text[: 512 * 8] for text in texts], special=False)

    def unit(rows: np.ndarray) -> np.ndarray:
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        return np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)

    def sums(limit: int) -> np.ndarray:
        return np.stack([table[e[:limit]].sum(axis=0) if e else np.zeros(table.shape[1]) for e in encoded])

    want = unit(unit(sums(model.max_length)) + model.lead_weight * unit(sums(model.lead))).astype(np.float32)
    got = pool(model, texts)
    assert np.array_equal(got, want)
    assert np.array_equal(pool(replace(model, lead=0), texts), np.stack(
        [table[e].sum(axis=0) if e else np.zeros(table.shape[1]) for e in encoded]).astype(np.float32))
    alone = np.stack([pool(model, [text])[0] for text in texts[::7]])
    assert np.array_equal(alone, got[::7])
