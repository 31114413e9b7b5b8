"""Ranking behaviours users rely on, whatever the weights: a flat dense signal never buries an
exact lexical match (nor the reverse), a name query finds its definition first, tests yield
to the implementation, results spread over files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from codeseek import cli as cli_module
from codeseek.lexical import code_terms
from codeseek.ranking import Candidate, Query, rank

from .conftest import EmbeddingServer, MakeRepo


def candidate(i: int, symbol: str, cosine: float, path: str = "src/lib.py", body: str = "", kind: str = "function"):
    return Candidate(i, path, kind, symbol, cosine, (code_terms(symbol), code_terms(path), code_terms(body)))


def ranked(query: str, candidates: list[Candidate], floor: float = 0.3, mode: str = "hybrid") -> list[str]:
    parsed = Query.parse(query)
    counts = {t: 1 for t in parsed.terms}  # every term rare: all count
    return [c.symbol for c in rank(parsed, candidates, counts, 1000, floor, mode, limit=10)]


def test_a_flat_dense_signal_never_buries_an_exact_lexical_match() -> None:
    # A model whose vectors say little: every cosine within a hair of the background.
    noise = [candidate(i, f"unrelated_{i}", 0.500 + i * 0.001) for i in range(30)]
    match = candidate(99, "wait_for_port", 0.495, body="while not connected: sleep()")
    assert ranked("wait for the port to open", [*noise, match], floor=0.49)[0] == "wait_for_port"
    assert ranked("wait_for_port", [*noise, match], floor=0.49)[0] == "wait_for_port"


def test_a_strong_dense_signal_wins_where_words_say_nothing() -> None:
    weak = [candidate(i, f"helper_{i}", 0.30 + i * 0.002) for i in range(30)]
    meant = candidate(99, "throttle", 0.85, body="delay = self.last + 1 / self.rate - now")
    assert ranked("limit how often something may run", [*weak, meant])[0] == "throttle"


def test_a_name_query_puts_that_definition_first_in_any_spelling() -> None:
    pool = [
        candidate(1, "load_config_from_env", 0.6, body="load config"),
        candidate(2, "test_load_config", 0.7, path="tests/test_config.py", body="load_config()"),
        candidate(3, "LoadConfig", 0.4, path="server/config.go"),
        candidate(4, "RateLimiter", 0.5, kind="class"),
        candidate(5, "RateLimiter.wait", 0.3, kind="method"),
    ]
    for query in ("LoadConfig", "load_config", "loadConfig"):
        assert ranked(query, pool)[0] == "LoadConfig", query
    assert ranked("RateLimiter wait", pool)[0] == "RateLimiter.wait"
    assert ranked("load_config_from", pool)[0] == "load_config_from_env"  # a partial name


def test_tests_yield_to_the_implementation_unless_asked_for() -> None:
    pool = [candidate(1, "test_parse_header", 0.62, path="tests/test_headers.py", body="parse header"),
            candidate(2, "parse_header", 0.60, path="src/headers.py", body="parse header")]
    assert ranked("parse a header line", pool)[0] == "parse_header"
    assert ranked("test that parses a header line", pool)[0] == "test_parse_header"


def test_results_spread_over_files() -> None:
    same_file = [candidate(i, f"step_{i}", 0.70 - i * 0.001, path="src/big.py") for i in range(6)]
    other = candidate(9, "elsewhere", 0.69, path="src/other.py")
    order = ranked("do the steps", [*same_file, other])
    assert order.index("elsewhere") < 3


@pytest.fixture
def meaningless():
    """An OpenAI-compatible server whose vectors are hashes of the text: they carry no meaning."""
    server = EmbeddingServer(dim=64)
    yield server
    server.close()


def test_a_meaningless_model_still_finds_the_exact_function(
    make_repo: MakeRepo, meaningless: EmbeddingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_repo({
        "app/net.py": "import socket\nimport time\n\n\ndef wait_for_port(host, port, timeout=30):\n"
                      "    deadline = time.monotonic() + timeout\n    while time.monotonic() < deadline:\n"
                      "        try:\n            socket.create_connection((host, port), 1).close()\n"
                      "            return True\n        except OSError:\n            time.sleep(0.1)\n"
                      "    return False\n",
        "app/retry.py": "import random\nimport time\n\n\nclass RetryPolicy:\n    def call(self, fn, attempts=5):\n"
                        "        # retry the call with exponential backoff and jitter\n"
                        "        for attempt in range(attempts):\n            try:\n                return fn()\n"
                        "            except Exception:\n                time.sleep(2 ** attempt + random.random())\n",
        "web/index.php": "<?php\nnamespace App;\n",
        "web/util.php": "<?php\nfunction port_of($url) { return parse_url($url, PHP_URL_PORT); }\n",
    })
    monkeypatch.chdir(root)
    for query, expected in (("wait_for_port", "wait_for_port"),
                            ("retry a call with exponential backoff", "RetryPolicy.call")):
        result = CliRunner().invoke(cli_module.cli, ["find", query, "--json", "--wait", "--base-url", meaningless.url])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)[0]["symbol"] == expected, (query, result.stdout[:300])


def test_explain_says_why(make_repo: MakeRepo, run) -> None:
    root: Path = make_repo()
    hits = json.loads(run(root, "find", "LoadConfig", "--json", "--explain", "-k", "2").stdout)
    why = hits[0]["why"]
    assert why["name"] == "exact" and "loadconfig" in why["matched"] and 0 <= why["meaning"] <= 1
    human = run(root, "find", "retry with backoff", "--explain", "-k", "1").stdout
    assert "why: meaning" in human and "words" in human


def test_a_chunk_with_only_a_static_vector_competes_on_the_transformers_scale() -> None:
    """Static cosines run higher and flatter than the transformer's: each space is put above
    its own background, and the static scale is tied to the transformer's by the chunks that
    have both, so a half-filled index ranks a static-only chunk by what it would be worth."""
    from codeseek.ranking import Meanings

    both = [Candidate(i, "src/a.py", "function", f"f{i}", 0.3 + 0.02 * i, static_cosine=0.7 + 0.005 * i)
            for i in range(20)]
    alone = Candidate(99, "src/b.py", "function", "g", None, static_cosine=0.7 + 0.005 * 19)
    meanings = Meanings.of([*both, alone], floor=0.3, static_floor=0.7)
    best_with_both, _ = meanings.of_candidate(both[-1], blend=0.0)
    meaning, space = meanings.of_candidate(alone, blend=0.0)
    assert space == "static" and meaning == pytest.approx(best_with_both)
    assert meanings.of_candidate(both[-1], blend=0.0)[1] == "transformer"
    assert meanings.of_candidate(Candidate(7, "c.py", "function", "h"), blend=0.0) == (0.0, "")
