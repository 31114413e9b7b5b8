"""Hybrid ranking, filters, every output format, similar, and the warm server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from codeseek import indexing, ranking, report, search
from codeseek.embedding import EngineChoice
from codeseek.errors import CodeseekError
from codeseek.index import Store
from codeseek.lexical import code_terms, derivations, inflections, match_expression, match_expressions
from codeseek.protocol import Filters, Mode
from codeseek.repo import open_workspace

from .conftest import MakeRepo, codeseek, git, index_all, wait_for


@pytest.fixture
def indexed(make_repo: MakeRepo, engine: EngineChoice) -> tuple[Path, Store]:
    root = make_repo()
    index_all(open_workspace(root), engine)
    with Store(root / ".git" / "codeseek") as store:
        yield root, store


def symbols(results: search.Results) -> list[str]:
    return [h.symbol for h in results.hits]


def test_code_aware_terms() -> None:
    assert code_terms("LruCache.get retry_with_backoff") == "lrucache lru cache get retry_with_backoff retry with backoff"
    assert match_expression("retryWithBackoff!") == '"retrywithbackoff" OR "retry" OR "backoff"'
    assert match_expression("return the parsed header") == '"parsed" OR "header"'
    assert match_expression("the") == '"the"'
    assert match_expression("?!") is None
    # What an apostrophe leaves is no term (`s`, `t`: code's commonest one-letter names), but alone it is asked.
    assert match_expression("the file's top chunk doesn't change") == '"file" OR "top" OR "chunk" OR "change"'
    assert match_expression("t") == '"t"'


@pytest.mark.parametrize(("word", "forms"), [
    ("variables", {"variable"}), ("retries", {"retry", "retried", "retrying"}), ("parsing", {"parse", "parsed", "parses"}),
    ("classes", {"class"}), ("indexes", {"index", "indexed", "indexing"}), ("padding", {"pad", "pads", "padded"}),
    ("loaded", {"load", "loads", "loading"}), ("queue", {"queues", "queued", "queuing"}), ("delay", {"delays", "delayed"}),
])
def test_a_word_s_other_forms_are_its_plural_singular_ing_and_ed(word: str, forms: set[str]) -> None:
    assert forms <= set(inflections(word))


@pytest.mark.parametrize("word", ["string", "during", "status", "analysis", "uses", "key", "retry_count", "x86"])
def test_words_that_are_not_inflected_or_too_short_keep_their_form(word: str) -> None:
    # `string` is no `str` + ing, `status` no plural of `statu`; an identifier or a number is not English.
    assert not {"str", "dur", "statu", "analysi", "use", "ke"} & set(inflections(word))
    if not word.isalpha() or len(word) < 4:
        assert inflections(word) == ()


def test_a_term_s_forms_include_code_s_abbreviations_of_it_and_back() -> None:
    from codeseek.query import Query

    forms = Query.parse("environments ctx").inflected()
    assert {"environment", "env", "context"} <= set(forms)  # the singular's abbreviation too
    assert "env" not in Query.parse("environments").inflected(short=False)


@pytest.mark.parametrize(("word", "family"), [
    ("optimization", {"optimize", "optimizer"}),
    ("iteration", {"iterate", "iterator"}),
    ("selector", {"select", "selection"}),
    ("parser", {"parse"}),
    ("compile", {"compiler", "compilation"}),
])
def test_a_word_s_family_is_its_action_and_its_agent(word: str, family: set[str]) -> None:
    assert family <= set(derivations(word))


def test_a_family_keeps_no_stem_too_short_to_be_its_word() -> None:
    # `iter` is a word of its own in code, `rend` and `numb` no stems of `render` and `number`.
    assert not {"iter", "rend", "numb"} & {*derivations("iteration"), *derivations("render"), *derivations("number")}
    assert derivations("user") == () and derivations("x2y_z9") == ()


def test_a_term_held_in_other_forms_matches_in_any_of_them() -> None:
    forms = {"variables": ("variables", "variable")}
    assert match_expression("environment variables", forms) == '"environment" OR ("variables" OR "variable")'
    assert match_expressions("environment variables", forms)[0] == '"environment" AND ("variables" OR "variable")'


def test_candidates_by_any_word_until_an_index_is_large(make_repo: MakeRepo, engine: EngineChoice) -> None:
    """Sixty chunks mention both words in passing; one is about pipes. Asking for chunks holding
    every word first (what keeps BM25 affordable at a kernel's size: Signals.all_words_from)
    fills the candidates with the sixty; below that size BM25 over either word finds the one."""
    filler = " ".join(f"word{j}" for j in range(120))
    files = {f"drivers/dev{i}.py": f"def setup_{i}(dev):\n    # {filler} pipe ring\n    return dev.configure({i})\n"
             for i in range(60)}
    files |= {f"util/u{i}.py": f"def helper_{i}(x):\n    return x + {i}\n" for i in range(40)}
    files["fs/pipe.py"] = "def pipe_read(pipe):\n    pipe.lock()\n    data = pipe.take()\n    pipe.unlock()\n    return data\n"
    ws = open_workspace(make_repo(files))
    indexing.update(ws, engine)
    with Store(ws.index_dir) as store:
        total = store.chunks.counts().chunks
        staged, at_once = (replace(ranking.DEFAULT, all_words_from=n) for n in (total, total + 1))
        assert symbols(search.find(store, None, "pipe ring", 10, mode=Mode.LEXICAL, signals=at_once))[0] == "pipe_read"
        assert symbols(search.find(store, None, "pipe ring", 10, mode=Mode.LEXICAL))[0] == "pipe_read"  # the default
        assert "pipe_read" not in symbols(search.find(store, None, "pipe ring", 10, mode=Mode.LEXICAL, signals=staged))


def test_exact_identifiers_found_in_every_spelling(indexed, engine: EngineChoice) -> None:
    _, store = indexed
    for query in ("LoadConfig", "load_config", "loadConfig"):
        assert symbols(search.find(store, None, query, 1, mode=Mode.LEXICAL)) == ["LoadConfig"]
    assert symbols(search.find(store, engine, "LruCache", 1)) == ["LruCache"]


def test_lexical_mode_needs_no_model(indexed) -> None:
    _, store = indexed
    assert search.find(store, None, "RateLimiter wait", 1, mode=Mode.LEXICAL).hits[0].symbol == "RateLimiter.wait"
    with pytest.raises(CodeseekError, match="needs an embedding engine"):
        search.find(store, None, "x", mode=Mode.SEMANTIC)


def test_filters(indexed, engine: EngineChoice) -> None:
    _, store = indexed

    def paths(**kwargs) -> set[str]:
        return {h.path for h in search.find(store, engine, "function", 20, Filters(**kwargs)).hits}

    assert paths(languages=("go",)) == {"server/server.go"}
    assert paths(paths=("net",)) == {"net/retry.py"}
    assert paths(paths=("*.ts",)) == {"web/api.ts"}
    assert "net/retry.py" not in paths(paths=("!net/**",))
    kinds = {h.kind for h in search.find(store, engine, "x", 20, Filters(kinds=("method",))).hits}
    assert kinds == {"method"}
    scored = search.find(store, engine, "retry", 20, Filters(min_score=0.5)).hits
    assert scored and all(h.score >= 0.5 for h in scored)
    assert len(scored) < len(search.find(store, engine, "retry", 20).hits)


def test_a_long_definition_is_one_result_with_its_whole_span(make_repo: MakeRepo, engine: EngineChoice) -> None:
    body = "".join(f"    total += weights[{i}] * prices[{i}]  # weighted price {i}\n" for i in range(80))
    root = make_repo({"prices.py": f"def weighted_price_total(weights, prices):\n    total = 0\n{body}    return total\n"})
    index_all(open_workspace(root), engine)
    with Store(root / ".git" / "codeseek") as store:
        assert [c.symbol for c in store.chunks.at("", symbol="weighted_price_total")] == ["weighted_price_total"]
        for mode in Mode:
            hits = [h for h in search.find(store, engine, "weighted price total", 10, mode=mode).hits
                    if h.symbol == "weighted_price_total"]
            assert [(h.start_line, h.end_line) for h in hits] == [(1, 83)], mode


def test_similar_finds_the_nearest_other_code(indexed, engine: EngineChoice) -> None:
    root, store = indexed
    (root / "net" / "again.py").write_text(
        "import time\n\n\ndef call_with_retries(fn, tries=5):\n    for n in range(tries):\n        try:\n"
        "            return fn()\n        except ConnectionError:\n            time.sleep(0.1 * 2 ** n)\n"
    )
    index_all(open_workspace(root), engine)
    target = search.locate(store, "net/again.py:5")
    assert target.symbol == "call_with_retries"
    assert search.similar(store, engine, target, 1).hits[0].symbol == "retry_with_backoff"
    assert search.locate(store, "LruCache.get").symbol == "LruCache.get"
    with pytest.raises(CodeseekError, match="no indexed chunk"):
        search.locate(store, "net/retry.py:999")


def test_output_formats(run, make_repo: MakeRepo) -> None:
    root = make_repo()
    args = ["find", "read the server configuration from a YAML file", "-k", "2"]
    vimgrep = run(root, *args, "--vimgrep").stdout.splitlines()
    assert vimgrep[0].startswith("server/server.go:20:6:func LoadConfig(path string) (*Config, error) {  [LoadConfig ")
    jsonl = [json.loads(line) for line in run(root, *args, "--jsonl").stdout.splitlines()]
    assert [h["symbol"] for h in jsonl] == [h["symbol"] for h in json.loads(run(root, *args, "--json").stdout)]
    assert run(root, *args, "--files").stdout.splitlines()[0] == "server/server.go"
    human = run(root, *args).stdout
    assert human.startswith("server/server.go:19-28  LoadConfig  ")


def test_similar_command(run, make_repo: MakeRepo) -> None:
    root = make_repo()
    out = run(root, "similar", "util/strings.js:13", "--json", "-k", "2").stdout
    hits = json.loads(out)
    assert hits and all(h["symbol"] != "LruCache.get" for h in hits)


def test_pending_embeddings_are_served_by_the_static_tier_and_said(run, make_repo: MakeRepo,
                                                                   engine: EngineChoice) -> None:
    root = make_repo()
    indexing.update(open_workspace(root), engine)
    result = run(root, "find", "LoadConfig", "--no-update", "--json", "-k", "1")
    assert json.loads(result.stdout)[0]["symbol"] == "LoadConfig"
    assert "18 chunks still without vectors" in result.stderr
    assert "ranked by the static tier's vectors and their words" in result.stderr
    assert report.status(open_workspace(root)).unembedded > 0
    run(root, "update")
    assert "without vectors" not in run(root, "find", "LoadConfig", "--no-update").stderr


def test_warm_server(make_repo: MakeRepo, warm) -> None:
    root = make_repo()
    proc = subprocess.Popen([sys.executable, "-P", "-m", "codeseek", "serve", "--idle", "30"], cwd=root,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: warm.running() is not None)
        sock = warm.runtime_dir() / "server.sock"
        assert oct(os.stat(sock).st_mode & 0o777) == "0o600"
        assert oct(os.stat(sock.parent).st_mode & 0o777) == "0o700"
        second = codeseek(root, "serve")
        assert second.returncode == 0 and f"already runs (pid {proc.pid})" in second.stderr
        # find goes through the server, which indexes the change first: no stale lines.
        (root / "net" / "fresh.py").write_text("def brand_new_parser(text):\n    return text.split()\n")
        found = codeseek(root, "find", "brand_new_parser", "--json", "-k", "1")
        assert json.loads(found.stdout)[0]["path"] == "net/fresh.py"
        # An edit that moves the function: the next answer carries its new lines, never stale ones.
        (root / "net" / "fresh.py").write_text("import os\n\n\ndef brand_new_parser(text):\n    return text.split()\n")
        moved = json.loads(codeseek(root, "find", "brand_new_parser", "--json", "-k", "1").stdout)[0]
        assert (moved["path"], moved["start_line"], moved["end_line"]) == ("net/fresh.py", 4, 5)
        status = warm.call("/status", {"repo": {"root": str(root)}})
        assert status is not None and status["server"]["requests"] >= 2 and status["pending"] == 0
        with pytest.raises(CodeseekError, match="no such route: /nope"):
            warm.call("/nope", {"repo": {"root": str(root)}})
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_server_exits_when_idle(make_repo: MakeRepo, warm) -> None:
    root = make_repo()
    codeseek(root, "index")
    proc = subprocess.Popen([sys.executable, "-P", "-m", "codeseek", "serve", "--idle", "2"], cwd=root,
                            stderr=subprocess.DEVNULL)
    wait_for(lambda: warm.running() is not None)
    assert json.loads(codeseek(root, "find", "retry", "--json", "-k", "1").stdout)[0]["symbol"] == "retry_with_backoff"
    assert proc.wait(timeout=120) == 0
    assert warm.address() is None and not (warm.runtime_dir() / "server.sock").exists()
    assert git(root, "status", "--porcelain") == ""  # the repository is untouched by the server's files


def test_mcp_over_stdio(make_repo: MakeRepo) -> None:
    root = make_repo()
    codeseek(root, "index")
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize",
         "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
         "params": {"name": "find", "arguments": {"query": "retry with exponential backoff", "k": 2}}},
        {"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "similar", "arguments": {"where": "x"}}},
        {"jsonrpc": "2.0", "id": 5, "method": "resources/list"},
    ]
    result = subprocess.run([sys.executable, "-P", "-m", "codeseek", "mcp"], cwd=root, text=True, capture_output=True,
                            input="".join(json.dumps(m) + "\n" for m in messages), timeout=300)
    replies = {r["id"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert sorted(replies) == [1, 2, 3, 4, 5]
    assert replies[1]["result"]["serverInfo"]["name"] == "codeseek"
    assert [t["name"] for t in replies[2]["result"]["tools"]] == ["find", "similar"]
    found = replies[3]["result"]
    assert found["isError"] is False and found["structuredContent"]["hits"][0]["symbol"] == "retry_with_backoff"
    assert replies[4]["result"]["isError"] is True and "no indexed chunk" in replies[4]["result"]["content"][0]["text"]
    assert replies[5]["error"]["code"] == -32601


def test_a_long_querys_vector_leans_to_its_first_line(indexed: tuple[Path, Store], engine: EngineChoice,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """An issue pasted whole: its vector is its text's plus `long_title` times its first line's
    (the title, what is wrong), each normalised; a one-line query, or a traceback's, is embedded
    alone."""
    _, store = indexed
    issue = ("Retries give up too early when the server answers 503\n\n"
             + "We call fetch_user in a loop and the backoff helper stops after the first failure. " * 6)
    embedder = engine.embedder()
    asked: list[list[str]] = []
    real = embedder.embed_queries
    monkeypatch.setattr(embedder, "embed_queries", lambda texts: asked.append(list(texts)) or real(texts))
    search.find(store, engine, issue, 5)
    assert [issue, issue.split("\n")[0]] in asked
    info = store.db.model_info()
    whole, title = real([issue, issue.split("\n")[0]])
    want = whole + 0.5 * title
    assert np.allclose(search._query_vector(engine, info, issue, 0.5), want / np.linalg.norm(want), atol=1e-6)
    assert np.allclose(search._query_vector(engine, info, issue, 0.0), whole, atol=1e-6)
    one_line = issue.replace("\n", " ")
    assert np.allclose(search._query_vector(engine, info, one_line, 0.5), real([one_line])[0], atol=1e-6)
    pasted = "Traceback (most recent call last):\n" + issue  # a traceback's first line is no title
    assert np.allclose(search._query_vector(engine, info, pasted, 0.5), real([pasted])[0], atol=1e-6)
