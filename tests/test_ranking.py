"""Ranking behaviours users rely on, whatever the weights: a flat dense signal never buries an
exact lexical match (nor the reverse), a name query finds its definition first, tests yield
to the implementation, results spread over files."""

from __future__ import annotations

import json
from dataclasses import replace
from functools import partial
from pathlib import Path

import pytest
from click.testing import CliRunner

from codeseek import cli as cli_module
from codeseek import ranking, search
from codeseek.candidates import Candidate
from codeseek.index import Store
from codeseek.kinds import Role, legacy_part, names_path, role_of_path
from codeseek.lexical import code_terms
from codeseek.protocol import Mode
from codeseek.query import FileMention, file_mentions
from codeseek.ranking import Query, rank

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


def test_a_sentence_lowers_tests_further_than_a_name_does() -> None:
    test = candidate(1, "test_retry_backoff", 0.70, path="tests/test_retry.py", body="retry backoff delay")
    code = candidate(2, "compute_delay", 0.60, path="src/retry.py", body="retry backoff delay")
    factors = {}
    for query in ("how is the retry backoff delay computed", "test_retry_backoff"):
        parsed = Query.parse(query)
        found = rank(parsed, [replace(test), replace(code)], {t: 1 for t in parsed.terms}, 1000, 0.3, "hybrid", 10)
        factors[query] = next(c.factors["test"] for c in found if c.symbol == "test_retry_backoff")
    assert factors["how is the retry backoff delay computed"] == ranking.DEFAULT.test * ranking.DEFAULT.sentence_roles
    assert factors["test_retry_backoff"] == ranking.DEFAULT.test


def test_a_folder_named_after_its_package_is_read_by_its_words() -> None:
    assert role_of_path("containers-tests/test-utils/IntMapValidity.hs") == Role.TEST
    assert role_of_path("test/Polly.Core.Tests/Hedging/Strategy.cs") == Role.TEST
    assert role_of_path("bench/Polly.Core.Benchmarks/HedgingBenchmark.cs") == Role.AUXILIARY
    assert role_of_path("typing-examples/mypy.py") == Role.AUXILIARY
    assert role_of_path("kotlinpoet/src/jvmTest/kotlin/com/squareup/kotlinpoet/TestFiler.kt") == Role.TEST
    for path in ("src/Polly.Core/Hedging/Strategy.cs", "src/attestation/check.py", "lib/latest-docs.py",
                 "src/jvmMain/kotlin/Table.kt", "src/Contest/Rules.cs", "src/latestResults/Sum.kt"):
        assert role_of_path(path) == Role.IMPLEMENTATION, path


def test_a_jvm_class_named_spec_is_code_and_a_spec_in_a_test_folder_a_test() -> None:
    """KotlinPoet's `FileSpec`, `TypeSpec` and `FunSpec` are its code, as a Java `PBEKeySpec` is;
    a Kotest or ScalaTest spec is a test by its folder."""
    for path in ("kotlinpoet/src/jvmMain/kotlin/com/squareup/kotlinpoet/FileSpec.kt",
                 "src/main/java/org/acme/crypto/PBEKeySpec.java"):
        assert role_of_path(path) == Role.IMPLEMENTATION, path
    for path in ("src/test/scala/cats/FunctorSpec.scala", "src/jvmTest/kotlin/ParserSpec.kt", "test/MapSpec.hs",
                 "lib/capybara/spec/session/visit_spec.rb", "src/parse.spec.ts", "FooTest.java"):
        assert role_of_path(path) == Role.TEST, path


def test_a_folder_that_says_it_is_a_copy_is_legacy_by_its_words() -> None:
    assert legacy_part("os/zip/src/os/shaded_org_apache_tools_zip/ZipFile.java", {}) == "shaded_org_apache_tools_zip"
    assert legacy_part("api/legacy-v1/client.go", {}) == "legacy-v1"
    for path in ("src/threshold/old_values.js", "lib/compat_checks/run.py", "golden_old/x.py", "src/shadows/x.py"):
        assert legacy_part(path, {}) == "", path


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


def test_explain_says_which_space_gave_meaning_and_the_static_tiers_share() -> None:
    from codeseek.output import _reasons

    both = {"meaning": 0.5, "words": 0.2, "cosine": 0.61, "static_cosine": 0.84, "vectors": "both", "static_share": 0.4,
            "words_share": 0.63}
    assert _reasons(both).startswith("meaning 0.5 (cosine 0.61, static 0.84 at 0.4)  words 0.2 at 0.63")
    first_minute = {"meaning": 0.5, "words": 0.2, "static_cosine": 0.84, "vectors": "static"}
    assert _reasons(first_minute).startswith("meaning 0.5 (static cosine 0.84)")
    assert _reasons({"meaning": 0.0, "words": 0.2}).startswith("meaning 0.0 (no vector yet)")
    candidate = Candidate(1, "a.py", "function", "f", 0.61, static_cosine=0.84, meaning_from="both", static_share=0.4)
    assert candidate.explain()["static_share"] == 0.4


# -- issue 27's signals, each through a real repository and index (words only: no meaning is
# tested, so the index is filled by the meaningless server and searched lexically) ------------


def searcher(make_repo: MakeRepo, server: EmbeddingServer, files: dict[str, str], monkeypatch: pytest.MonkeyPatch):
    """find(query, **changed signals) -> [(path, symbol, line)] best first, over a real index of `files`."""
    root = make_repo(files)
    monkeypatch.chdir(root)
    result = CliRunner().invoke(cli_module.cli, ["index", "--base-url", server.url])
    assert result.exit_code == 0, result.output
    store = Store(root / ".git" / "codeseek")

    def find(query: str, k: int = 5, **changed: float) -> list[tuple[str, str, int]]:
        signals = replace(ranking.DEFAULT, **changed)
        hits = search.find(store, None, query, k, mode=Mode.LEXICAL, signals=signals).hits
        return [(h.path, h.symbol, h.start_line) for h in hits]

    find.why = lambda query: search.find(store, None, query, 1, mode=Mode.LEXICAL, explain=True).hits[0].why
    return find


OTHER_FORMS = {
    # A docstring says `environment variable`; a question asks about `environment variables`.
    "inflection": ({
        "tool/settings.py": "def lookup_setting(name):\n    \"\"\"The option's value from its environment variable, "
                            "parsed.\"\"\"\n    return name\n",
        "tool/screen.py": "def wipe():\n    \"\"\"Wipe the screen, whatever the environment.\"\"\"\n"
                          "    return None\n",
    }, "where are environment variables parsing options", "tool/screen.py", "tool/settings.py",  # `environment` alone
        ["environment", "variable", "parsed", "option"]),
    # Twig's optimizer is `OptimizerNodeVisitor`; a developer asks for the `optimization` pass.
    "derivation": ({
        "src/NodeVisitor/OptimizerNodeVisitor.php": "<?php\nclass OptimizerNodeVisitor\n{\n    /** a node of the tree */\n"
                                                    "    public function enterNode($node) { return $node; }\n}\n",
        "src/Parser.php": "<?php\nclass Parser\n{\n    /** the tree of a template, or a syntax error */\n"
                          "    public function parse($stream) { return $stream; }\n}\n",
    }, "syntax tree optimization pass", "src/Parser.php", "src/NodeVisitor/OptimizerNodeVisitor.php",
        ["tree", "optimizer"]),
}


@pytest.mark.parametrize("signal", list(OTHER_FORMS))
def test_a_question_finds_its_words_in_other_forms(make_repo, meaningless, monkeypatch, signal: str) -> None:
    files, query, without, found, matched = OTHER_FORMS[signal]
    find = searcher(make_repo, meaningless, files, monkeypatch)
    assert find(query, **{signal: 0.0})[0][0] == without
    assert find(query)[0][0] == found
    assert find.why(query)["matched"] == matched


def test_a_question_finds_the_abbreviations_code_writes(make_repo, meaningless, monkeypatch) -> None:
    find = searcher(make_repo, meaningless, {
        "app/db.py": "def open_db_conn(cfg):\n    return connect(cfg.db_url)\n",
        "app/pool.py": "def open_pool(size):\n    \"\"\"Open a pool of workers.\"\"\"\n    return [None] * size\n",
        "app/web.py": "def request_scope():\n    \"\"\"The current request's context.\"\"\"\n    return None\n\n\n"
                      "def now():\n    \"\"\"The current time.\"\"\"\n    return 0\n",
    }, monkeypatch)
    query = "open a database connection from the configuration"
    # `open` alone (`connection`'s family finds the body's `connect` call)
    assert find(query, abbreviation=0.0, derivation=0.0)[0][1] == "open_pool"
    assert find(query)[0][1] == "open_db_conn"
    assert find.why(query)["matched"] == ["open", "db", "conn", "cfg"]
    # And back: a query's abbreviation finds the word spelled out.
    assert find("current ctx")[0][1] == "request_scope"
    assert find.why("current ctx")["matched"] == ["current", "context"]


def test_a_legacy_copy_yields_to_the_current_code(make_repo, meaningless, monkeypatch) -> None:
    body = "def open_session(host, retries=3):\n    \"\"\"Open a session to the host, with retries.\"\"\"\n"
    find = searcher(make_repo, meaningless, {
        "client/v1/session.py": body + "    # old session handshake: open a session to a host\n    return host\n",
        "client/v2/session.py": body + "    return connect(host, retries)\n",
        "client/deprecated/session.py": body + "    # open session to host (deprecated session)\n    return host\n",
    }, monkeypatch)
    query = "open a session to the host"
    assert find(query, legacy=1.0)[0][0] != "client/v2/session.py"  # the old copies hold more of its words
    assert find(query)[0][0] == "client/v2/session.py"
    assert find("the deprecated session")[0][0] == "client/deprecated/session.py"  # asked for by name


def test_a_version_tree_is_legacy_beside_one_the_index_holds(make_repo, meaningless, monkeypatch) -> None:
    # glanceclient: nothing of `v2/` answers this question, so no `v2/` path is among its
    # candidates; `v1/` is legacy because the index holds a `v2/`, not because the query found one.
    find = searcher(make_repo, meaningless, {
        "client/v1/apiclient/exceptions.py": "def from_response(response):\n    \"\"\"The exception class that "
                                             "matches an HTTP error status code.\"\"\"\n    return HttpError\n",
        "client/exc.py": "def from_response(response):\n    \"\"\"The exception class that matches an HTTP error.\"\"\"\n"
                         "    return HTTPException\n",
        "client/v2/images.py": "def upload(image):\n    return image\n",
    }, monkeypatch)
    query = "pick the exception class that matches an HTTP error status code"
    assert find(query, legacy_trees=0.0)[0][0] == "client/v1/apiclient/exceptions.py"
    assert find(query)[0][0] == "client/exc.py"


def test_the_version_trees_follow_the_index_while_it_stays_open(make_repo, meaningless, monkeypatch) -> None:
    # The warm process keeps its index open across updates: a `v2/` added later makes `v1/` legacy.
    find = searcher(make_repo, meaningless, {
        "client/v1/exceptions.py": "def from_response(response):\n    \"\"\"An HTTP error status and its reason.\"\"\"\n",
        "client/exc.py": "def from_response(response):\n    \"\"\"An HTTP error status.\"\"\"\n",
    }, monkeypatch)
    assert find("HTTP error status reason")[0][0] == "client/v1/exceptions.py"  # no v2/ yet: v1/ is current
    Path("client/v2").mkdir()
    Path("client/v2/images.py").write_text("def upload(image):\n    return image\n")
    result = CliRunner().invoke(cli_module.cli, ["index", "--base-url", meaningless.url])
    assert result.exit_code == 0, result.output
    assert find("HTTP error status reason")[0][0] == "client/exc.py"


DEPRECATED = {  # a deprecated definition and its current one, in each language's own way
    "a.rs": ("#[deprecated(since = \"0.8.0\")]\npub fn weighted() -> u32 { 1 }\n", "weighted"),
    "A.java": ("class A {\n    @Deprecated\n    public void run() { }\n}\n", "A.run"),
    "a.kt": ("class A {\n    @Deprecated(\"use go\")\n    fun run() { }\n}\n", "A.run"),
    "a.cs": ("public class A {\n    [Obsolete(\"use B\")]\n    public void Run() { }\n}\n", "A.Run"),
    "a.py": ("from typing_extensions import deprecated\n\n@deprecated(\"use new\")\ndef old(x):\n    return x\n",
             "old"),
    "b.py": ("def old(x):\n    \"\"\"Do it.\n\n    .. deprecated:: 2.0\n       Use new.\n    \"\"\"\n    return x\n", "old"),
    "a.js": ("class K {\n  /** @deprecated use other */\n  go() { return 2; }\n}\n", "K.go"),
    "a.php": ("<?php\nclass A {\n    /**\n     * @deprecated since 2.0\n     */\n    public function run() {}\n}\n",
              "A::run"),
    "a.go": ("package a\n\n// Run runs.\n//\n// Deprecated: use Other.\nfunc Run() int { return 1 }\n", "Run"),
}


@pytest.mark.parametrize("name", sorted(DEPRECATED))
def test_a_deprecation_is_read_from_the_definitions_own_source(name: str) -> None:
    from codeseek.evidence import deprecated
    from codeseek.parsing import chunk_file

    text, symbol = DEPRECATED[name]
    marked = {c.symbol for c in chunk_file(name, text.encode()) if deprecated(c.text, c.path)}
    assert marked == {symbol}  # not its class, whose chunk holds the member's attribute too


def test_a_deprecated_definition_yields_to_the_current_one(make_repo, meaningless, monkeypatch) -> None:
    # rand keeps `WeightedIndex::new` in a `#[deprecated] pub mod alias_method`; its path says nothing.
    find = searcher(make_repo, meaningless, {
        "src/distributions/weighted.rs": "#[deprecated(since = \"0.8.0\", note = \"moved to rand_distr\")]\n"
                                         "pub mod alias_method {\n    pub struct WeightedIndex<W> {\n        w: W,\n    }\n\n"
                                         "    impl<W> WeightedIndex<W> {\n        /// A new weighted index from weights.\n"
                                         "        pub fn new(weights: Vec<W>) -> Self {\n            todo!()\n        }\n    }\n}\n",
        "src/distributions/weighted_index.rs": "pub struct WeightedIndex<X> {\n    total: X,\n}\n\n"
                                               "impl<X> WeightedIndex<X> {\n    pub fn new(w: Vec<X>) -> Self {\n"
                                               "        todo!()\n    }\n}\n",
        # commons-io's deprecated overload beside the current one, in one file: no copy, kept
        "src/IOUtils.java": "class IOUtils {\n    /** Writes chars from a StringBuffer to an OutputStream. */\n"
                            "    @Deprecated\n    public static void write(StringBuffer data, OutputStream out) { }\n\n"
                            "    public static void write(CharSequence data, OutputStream out) { }\n}\n",
    }, monkeypatch)
    assert find("WeightedIndex::new", deprecated=1.0)[0][0] == "src/distributions/weighted.rs"  # more of its words
    assert find("WeightedIndex::new")[0][:2] == ("src/distributions/weighted_index.rs", "WeightedIndex<X>::new")
    assert find.why("WeightedIndex::new")["name"] == "qualified"
    assert find("the deprecated WeightedIndex::new")[0][0] == "src/distributions/weighted.rs"  # asked for
    assert find("writes chars from a StringBuffer")[0][1:] == ("IOUtils.write", 2)


def test_a_qualified_name_resolves_to_its_definition(make_repo, meaningless, monkeypatch) -> None:
    find = searcher(make_repo, meaningless, {
        "lib/sinatra/base.rb": "module Sinatra\n  class Base\n    # Sinatra helpers: helpers helpers\n"
                               "    def helpers(*extensions, &block)\n      class_eval(&block)\n    end\n  end\n"
                               "  class Application < Base\n    def helpers(*extensions)\n      super\n    end\n  end\nend\n",
        "lib/sinatra/helpers.rb": "module Sinatra\n  module Helpers\n    def status(value = nil)\n      response.status\n"
                                  "    end\n  end\nend\n",
        "lib/other/helpers.rb": "module Other\n  module Helpers\n    def halt\n    end\n  end\nend\n",
    }, monkeypatch)
    assert find("Sinatra::Helpers", qualified=0.0)[0][1] != "Sinatra.Helpers"
    assert find("Sinatra::Helpers")[0][1] == "Sinatra.Helpers"
    assert find("Base#helpers")[0][:2] == ("lib/sinatra/base.rb", "Sinatra.Base.helpers")
    assert find("Other::Helpers")[0][1] == "Other.Helpers"
    why = find.why("Sinatra::Helpers")
    assert why["name"] == "qualified" and why["bonuses"]["qualified"] > 0


def test_a_qualified_name_is_not_an_inner_scopes_namesake(make_repo, meaningless, monkeypatch) -> None:
    """`Capybara.using_session` is the method of `Capybara` itself, not `Capybara::DSL`'s;
    `CodeBlock.Builder.beginControlFlow` is CodeBlock's builder's, not CodeBlockHolder's."""
    find = searcher(make_repo, meaningless, {
        "lib/capybara/dsl.rb": "module Capybara\n  module DSL\n    # using session: the session using_session\n"
                               "    def using_session(name, &block)\n      Capybara.using_session(name, &block)\n"
                               "    end\n  end\nend\n",
        "lib/capybara.rb": "module Capybara\n  class << self\n    def using_session(name)\n      yield\n    end\n"
                           "  end\nend\n",
        "src/CodeBlockHolder.kt": "interface CodeBlockHolder {\n  interface Builder {\n"
                                  "    fun beginControlFlow(controlFlow: String): Builder // begin control flow block\n"
                                  "  }\n}\n",
        "src/CodeBlock.kt": "class CodeBlock {\n  class Builder {\n    fun beginControlFlow(controlFlow: String): Builder {\n"
                            "      return this\n    }\n  }\n}\n",
    }, monkeypatch)
    assert find("Capybara.using_session")[0][0] == "lib/capybara.rb"
    assert find.why("Capybara.using_session")["name"] == "qualified"
    assert find("CodeBlock.Builder.beginControlFlow")[0][0] == "src/CodeBlock.kt"
    assert find("CodeBlockHolder.Builder.beginControlFlow")[0][0] == "src/CodeBlockHolder.kt"
    assert find("DSL.using_session")[0][0] == "lib/capybara/dsl.rb"


def test_the_primary_definition_of_a_shared_name_comes_first(make_repo, meaningless, monkeypatch) -> None:
    find = searcher(make_repo, meaningless, {
        "store/store.go": "package store\n\n// Store keeps values by key.\ntype Store interface {\n"
                          "\tGet(key string) string\n}\n",
        "memory/store.go": "package memory\n\ntype Store struct {\n\tvalues map[string]string\n}\n\n"
                           "func (s *Store) Get(key string) string {\n\treturn s.values[key]\n}\n\n"
                           "func (s *Store) Put(key, value string) {\n\ts.values[key] = value\n}\n",
    }, monkeypatch)
    assert find("Store", primary=0.0)[0][0] == "memory/store.go"  # its methods lend it their file's weight
    assert find("Store")[0][:2] == ("store/store.go", "Store")


@pytest.mark.parametrize(("imported", "decorator"), [
    ("from typing import overload", "overload"),
    ("import typing as t", "t.overload"),  # a common way
    ("import typing_extensions", "typing_extensions.overload"),
])
def test_an_overload_stub_yields_to_the_implementation(make_repo, meaningless, monkeypatch, imported: str,
                                                       decorator: str) -> None:
    find = searcher(make_repo, meaningless, {
        "pkg/api.py": f"{imported}\n\n\n@{decorator}\ndef parse(data: str) -> dict:\n"
                      "    \"\"\"Parse a document from text.\"\"\"\n    ...\n\n\n\n\n"
                      "def helper():\n    return 1\n\n\n\n\n"
                      "def parse(data):\n    return {\"value\": data}\n",
    }, monkeypatch)
    assert find("parse", stub=1.0)[0][1:] == ("parse", 4)  # the stub, with its docstring's words
    assert find("parse")[0][1:] == ("parse", 18)


def test_a_stub_file_declaration_yields_to_the_implementation(make_repo, meaningless, monkeypatch) -> None:
    # attrs ships `__init__.pyi` beside `_make.py`: every definition in a `.pyi` is a declaration
    # (body `...`), overloaded or not, and `Attribute.evolve` found the stub first.
    find = searcher(make_repo, meaningless, {
        "src/attr/__init__.pyi": "class Attribute:\n    def evolve(self, **changes) -> Attribute: ...\n\n"
                                 "def fields_dict(cls: type) -> dict: ...\n",
        "src/attr/_make.py": "class Attribute:\n    def evolve(self, **changes):\n        new = copy.copy(self)\n"
                             "        return new\n\n\ndef fields_dict(cls):\n    return dict(cls.fields)\n",
    }, monkeypatch)
    assert find("Attribute.evolve", stub=1.0)[0][0] == "src/attr/__init__.pyi"
    assert find("Attribute.evolve")[0][:2] == ("src/attr/_make.py", "Attribute.evolve")
    assert find("fields_dict")[0][:2] == ("src/attr/_make.py", "fields_dict")


def test_a_qualified_name_finds_a_generic_types_method(make_repo, meaningless, monkeypatch) -> None:
    # Rust names a generic type's methods `WeightedIndex<X>::new`: the qualifier is `WeightedIndex`.
    find = searcher(make_repo, meaningless, {
        "src/distributions/weighted_index.rs": "pub struct WeightedIndex<X> {\n    total: X,\n}\n\n"
                                               "impl<X> WeightedIndex<X> {\n    pub fn new(weights: Vec<X>) -> Self {\n"
                                               "        todo!()\n    }\n}\n",
        "src/distributions/uniform.rs": "pub struct Uniform<X>(X);\n\nimpl<X> Uniform<X> {\n"
                                        "    /// Like a weighted index (WeightedIndex new) over one range.\n"
                                        "    pub fn new(low: X) -> Self {\n        todo!()\n    }\n}\n",
    }, monkeypatch)
    assert find("WeightedIndex::new")[0][:2] == ("src/distributions/weighted_index.rs", "WeightedIndex<X>::new")
    assert find("Uniform::new")[0][:2] == ("src/distributions/uniform.rs", "Uniform<X>::new")
    assert find.why("WeightedIndex::new")["name"] == "qualified"


def test_a_subsystem_question_finds_the_file_that_implements_it(make_repo, meaningless, monkeypatch) -> None:
    # lib/client/connect.c implements it in several definitions, none holding all the words;
    # a neighbour's single function holds more of them.
    steps = [("resolve_name", "look up the address of a name"), ("open_socket", "a socket for the address of the host"),
             ("try_address", "the address connects with a timeout"), ("happy_eyeballs", "try IPv6 and IPv4 at once")]
    files = {
        "lib/client/connect.c": "".join(f"static int {name}(struct conn *c) {{\n  /* {doc} */\n  return 0;\n}}\n\n"
                                        for name, doc in steps),
        "lib/misc.c": "int wait_remote(struct conn *c) {\n  /* resolve the remote host, then connect */\n  return 0;\n}\n",
        "lib/url.c": "int parse_remote(const char *s) {\n  /* remote host and port of a client url */\n  return 0;\n}\n",
    }
    files |= {f"lib/part{n}.c": f"int part_{n}(int x) {{\n  /* unrelated work number {n} on buffers and lists */\n"
                                "  return x;\n}\n" for n in range(12)}
    find = searcher(make_repo, meaningless, files, monkeypatch)
    query = "how does the client resolve and connect to a remote host"
    assert find(query, file_name=0.0, file_top=0.0)[0][0] == "lib/misc.c"
    assert find(query)[0][0] == "lib/client/connect.c"
    assert {"file_name", "file_top"} <= set(find.why(query)["bonuses"])
    # Typed into a search box as a phrase (a topic), it is answered the same way.
    topic = "client resolve and connect to remote host"
    assert find(topic, topic=0.0)[0][0] == "lib/misc.c"
    assert find(topic)[0][0] == "lib/client/connect.c"
    assert {"file_name", "file_top"} <= set(find.why(topic)["bonuses"])


OUTLINE = ("pcp-htop user-defined meters: reading ini-style meter definition files from the config and system "
           "directories, binding them to performance metrics, and showing their values in the header")


@pytest.mark.parametrize(("text", "topic"), [
    ("WebSocket client implementation", True),
    ("XPath queries on parsed documents", True),
    ("hooks for outgoing requests", True),
    ("how does the client connect", False),  # a question already
    ("Returns the user's home directory", False),  # a doc comment's sentence
    ("encode a code point as UTF-8", False),  # a verb and its object
    ("parse sql and return a list of statements", False),
    ("The user's home directory", False),
    ("Name registers a new route with a name", False),  # Go's doc comments open with the name
    ("visit_For in the code generator", False),  # it names a definition
    ("List:partition", False),
    ("---", False),  # no term to ask about
    ("cache compiled templates on disk, keyed by name and checked for staleness when loaded", False),  # long
    (OUTLINE, True),  # a subsystem outlined by its parts, on one line
    ("Reads " + OUTLINE, False),  # a doc comment's, however long
])
def test_a_short_phrase_naming_a_feature_is_a_topic(text: str, topic: bool) -> None:
    assert Query.parse(text).is_topic is topic


def test_one_line_of_many_terms_is_a_question_not_an_issue() -> None:
    """An issue or a traceback has lines; one line of 20-39 terms is a developer's question or
    outline (12 of the benchmark's), asked like one. Flattened onto one line, an issue has more."""
    asked = ("How does the JavaScript-free driver fake a browser: sending requests through Rack::Test, following "
             "redirects, parsing the returned page and submitting forms with their fields and file uploads")
    assert len(Query.parse(asked).terms) >= 20
    assert not Query.parse(asked).is_long and Query.parse(asked).is_question
    assert Query.parse(asked.replace(": ", "\n", 1)).is_long  # a title and a body
    flattened = ("Session reset leaks cookies between tests after upgrading: when two examples run in the same "
                 "thread, the second visit still carries the first one's login, because reset clears the browser's "
                 "cookie jar only after the server has answered pending requests; seen with puma workers, selenium "
                 "chrome headless, rspec hooks and database cleaner truncation on ruby 3.3")
    assert len(Query.parse(flattened).terms) >= 40 and Query.parse(flattened).is_long


@pytest.mark.parametrize(("text", "question"), [
    ("how does the router match a path", True),
    ("explain how the router matches a path", True),  # a request before its question word
    ("show me where retries are scheduled", True),
    ("Can you find where the config is loaded?", True),
    ("find the first element matching a selector", False),  # a description
    ("Describe sharing permissions by image", False),
    ("how-to guide for the parser", False),
])
def test_a_request_that_asks_how_or_where_is_a_question(text: str, question: bool) -> None:
    assert Query.parse(text).is_question is question


def test_a_subsystem_question_lists_other_files_before_a_fifth_chunk_of_one(make_repo, meaningless,
                                                                          monkeypatch) -> None:
    big = "".join(f"def cache_step_{n}(entry):\n    \"\"\"evict a cache entry\"\"\"\n    return entry\n\n\n"
                  for n in range(8))
    find = searcher(make_repo, meaningless, {
        "cache/lru.py": big,
        "cache/store.py": "def keep(entry):\n    \"\"\"a cache entry kept\"\"\"\n    return entry\n",
        "cache/ttl.py": "def expire(entry):\n    \"\"\"evict an entry past its time\"\"\"\n    return entry\n",
    }, monkeypatch)
    query = "how are cache entries evicted"
    paths = [p for p, *_ in find(query, k=8, saturation=1.0, file_top=0.0, file_name=0.0, inflection=0.0)]
    assert paths[:5] == ["cache/lru.py"] * 5
    paths = [p for p, *_ in find(query, k=8)]
    assert set(paths[:5]) >= {"cache/store.py", "cache/ttl.py"}


ISSUE = """Session refresh fails with KeyError after the token expires

When the access token expires, calling client.refresh() raises instead of fetching a new token.
This started after upgrading; the docs say refresh should be transparent. Steps: create a client,
wait for the token to expire, then call any method. The session should refresh the token.
Expected the token refreshed and the request retried. Our tests also fail with the same error.

Traceback (most recent call last):
  File "/home/me/venv/lib/python3.12/site-packages/app/session.py", line 6, in refresh
    token = self.tokens["refresh"]
KeyError: 'refresh'
"""


@pytest.mark.parametrize("root", ["", "src/"])  # the checkout's layout; the traceback's path is an installed one
def test_an_issue_with_a_traceback_finds_the_file_and_function_it_names(root, make_repo, meaningless,
                                                                        monkeypatch) -> None:
    prose = "the session token expires refresh the access token transparent client request retried error"
    find = searcher(make_repo, meaningless, {
        f"{root}app/session.py": "class Session:\n    def __init__(self):\n        self.tokens = {}\n\n"
                                 "    def refresh(self):\n        token = self.tokens['refresh']\n        return token\n",
        f"{root}app/client.py": "class Client:\n    def request(self, method):\n        return method\n",
        "docs/documentation.md": f"# Sessions\n\n{prose}\n\n{prose}\n",
        "CHANGELOG.md": f"# 1.2\n\n- {prose}\n",
        "tests/test_session.py": f"def test_refresh_after_the_token_expires():\n    \"\"\"{prose}\"\"\"\n",
    }, monkeypatch)
    off = dict(mentioned_file=0.0, mentioned_line=0.0, long_prose=1.0, file_pass=0.0)
    assert find(ISSUE, **off)[0][0] != f"{root}app/session.py"
    assert find(ISSUE)[0][:2] == (f"{root}app/session.py", "Session.refresh")
    assert {"mentioned_file", "mentioned_line"} <= set(find.why(ISSUE)["bonuses"])
    # Three thousand characters of it still find candidates (its rarest terms, not all of them).
    long = ISSUE + "\n".join(f"More context {n}: the refresh of the session token fails." for n in range(60))
    assert len(long) > 3000 and find(long)[0][0] == f"{root}app/session.py"


PROSE = ("configuring duration reproduce observe likely populated specifically appear calculating apple leave "
         "created unix displays affected rather looking represent certain individual expected cause logic backend "
         "similar epoch properly shows valid sudo blank abnormally")


def test_an_issue_is_searched_by_the_code_it_quotes_before_its_rarest_prose(make_repo, meaningless,
                                                                             monkeypatch) -> None:
    """An issue's rarest words are its prose's, held by a changelog alone; the name it quotes
    in backticks is what the code holds (Signals.long_coded)."""
    files = {"CHANGELOG.md": f"# 3.5\n\n- {PROSE}\n", "darwin/process.c": "void scan_threads(struct proc* p) {\n"
             "   p->starttime_ctime = 0;\n}\n"}
    files |= {f"src/part{n}.c": f"int part{n}_value(void) {{\n   return {n};\n}}\n" for n in range(30)}
    issue = f"Start time is blank for some tasks\n\n{PROSE}.\n\nThe field `starttime_ctime` is never set."
    parsed = Query.parse(issue)
    assert parsed.is_long and {"starttime_ctime", "starttime", "ctime"} <= parsed.coded_terms
    counts = dict.fromkeys(parsed.terms, 1)
    assert "starttime_ctime" not in parsed.informative(counts, 40, 30)  # the 30 rarest: a tie, in the text's order
    assert parsed.informative(counts, 40, 30, coded_under=0.05)[:3] == ["starttime_ctime", "starttime", "ctime"]
    find = searcher(make_repo, meaningless, files, monkeypatch)
    assert "darwin/process.c" not in [path for path, _, _ in find(issue, long_coded=0.0)]
    assert find(issue)[0][:2] == ("darwin/process.c", "scan_threads")


def test_an_issue_that_pastes_a_functions_own_lines_points_at_it(make_repo, meaningless, monkeypatch) -> None:
    """An issue names the function its reproducer runs, and pastes the lines that fail: their
    function comes first (Signals.quoted), though the one named holds more of its words."""
    files = {"src/text.c": "static int text_write_wide(Text* this, const char* data_c, int len) {\n"
                           "   wchar_t wide_data[len + 1];\n   len = mbstowcs(wide_data, data_c, len);\n   return len;\n}\n",
             "src/table.c": "void table_read_command_line(Process* process) {\n   // a stray byte\n"
                            "   char command[4096];\n"
                            "   int amount = read_file(process, command);\n"
                            "   text_write_wide(process->text, command, amount);\n}\n"}
    issue = ("Invalid multibyte encoding leaves a column empty\n\nSeen while testing table_read_command_line with a "
             "process whose arguments hold a stray byte: nothing is shown at all. The return here is taken, so the "
             "whole text is dropped:\n\n```c\n   wchar_t wide_data[len + 1];\n   len = mbstowcs(wide_data, data_c, len);\n```\n")
    assert Query.parse(issue).is_long and "len = mbstowcs(wide_data, data_c, len);" in Query.parse(issue).code_lines
    # A diff's marker and its indentation go before lines are compared; a task list's item is no code.
    diff = Query.parse(issue.replace("   len = mbstowcs", "+      len = mbstowcs") + "\n- [x] I have searched = issues (all)\n")
    assert "len = mbstowcs(wide_data, data_c, len);" in diff.code_lines
    assert not [line for line in diff.code_lines if "searched" in line]
    find = searcher(make_repo, meaningless, files, monkeypatch)
    assert find(issue, quoted=0.0)[0][1] == "table_read_command_line"
    assert find(issue)[0][1] == "text_write_wide"
    assert find.why(issue)["bonuses"]["quoted"] == ranking.DEFAULT.quoted  # both lines: all of it


STACK = """NullPointerException when a fragment closes a table

Exception in thread "main" java.lang.NullPointerException
    at java.base/java.util.ArrayList.remove(ArrayList.java:551)
    at org.acme.parser.TableState.close(TableState.java:2)
    at org.acme.parser.TreeBuilder.process(TreeBuilder.java:3)
    at org.acme.Parser.parse(Parser.java:3)
"""


@pytest.mark.parametrize("trace", ["java", "python"])
def test_the_innermost_frame_the_index_holds_is_named_first(trace, make_repo, meaningless, monkeypatch) -> None:
    # The frame that failed is listed first in a stack trace and last in a Python traceback; its callers' files are
    # named as well, and the one holding more of the issue's words would otherwise come first.
    words = "a fragment closes the table"
    files = {"src/org/acme/parser/TableState.java": "class TableState {\n    void close() { pop(); }\n}\n",
             "src/org/acme/parser/TreeBuilder.java": f"class TreeBuilder {{\n    // {words}\n"
                                                     f"    void process() {{ state.close(); }}\n}}\n",
             "src/org/acme/Parser.java": f"class Parser {{\n    // {words}\n    void parse() {{ }}\n}}\n"}
    issue = STACK
    if trace == "python":
        words += " attribute error pop"  # (the words of its own traceback's last line)
        files = {"src/acme/" + p.rsplit("/", 1)[1].lower().replace(".java", ".py"): f"# {words}\ndef run():\n    pass\n"
                 for p in files}
        files["src/acme/tablestate.py"] = "def close():\n    pop()\n"
        issue = ("NullPointerException when a fragment closes a table\n\nTraceback (most recent call last):\n"
                 '  File "/venv/site-packages/acme/parser.py", line 2, in run\n'
                 '  File "/venv/site-packages/acme/treebuilder.py", line 2, in run\n'
                 '  File "/venv/site-packages/acme/tablestate.py", line 2, in close\nAttributeError: pop\n')
    find = searcher(make_repo, meaningless, files, monkeypatch)
    failed = next(p for p in files if "ablestate" in p.lower())
    assert find(issue, mentioned_order=1.0)[0][0] != failed
    assert find(issue)[0][0] == failed


def test_a_query_names_files_by_path_and_by_a_repository_hosts_address() -> None:
    text = ("Panics at src/hir/translate.rs:203:18; the check in "
            "https://github.com/o/r/blob/v1.2/assert/assertions.go#L311 is wrong (see https://example.com/guide.py)")
    assert file_mentions(text) == (FileMention("src/hir/translate.rs", 203), FileMention("assert/assertions.go", 311))


def test_a_named_file_is_matched_by_its_tail_and_past_a_package_root() -> None:
    installed = "/home/me/venv/lib/python3.12/site-packages/jinja2/compiler.py"
    for path in ("jinja2/compiler.py", "src/jinja2/compiler.py", "lib/jinja2/compiler.py"):
        assert names_path(installed, path), path
    assert names_path("compiler.py", "src/jinja2/compiler.py")
    assert names_path("context.go", "context.go") and names_path("/go/pkg/mod/x@v1/context.go", "context.go")
    # A package manager's release folder names its version; the repository's folder does not.
    registry = "/home/u/.cargo/registry/src/index.crates.io-6f17d22b/regex-syntax-0.6.2/src/hir/translate.rs"
    assert names_path(registry, "regex-syntax/src/hir/translate.rs")
    assert not names_path(registry, "regex-automata/src/hir/translate.rs")
    for path in ("src/jinja/compiler.py", "tests/jinja2/compiler.py", "src/index.js", "lib/index.js"):
        assert not names_path("node_modules/jinja2/index.js" if path.endswith(".js") else installed, path), path


def test_a_chunk_with_only_a_static_vector_competes_on_the_transformers_scale() -> None:
    """Static cosines run higher and flatter than the transformer's: each space is put above
    its own background, and the static scale is tied to the transformer's by the chunks that
    have both, so a half-filled index ranks a static-only chunk by what it would be worth."""
    from codeseek.meanings import Meanings

    both = [Candidate(i, "src/a.py", "function", f"f{i}", 0.3 + 0.02 * i, static_cosine=0.7 + 0.005 * i)
            for i in range(20)]
    alone = Candidate(99, "src/b.py", "function", "g", None, static_cosine=0.7 + 0.005 * 19)
    meanings = Meanings.of([*both, alone], floor=0.3, static_floor=0.7)
    best_with_both, _ = meanings.of_candidate(both[-1], blend=0.0)
    meaning, space = meanings.of_candidate(alone, blend=0.0)
    assert space == "static" and meaning == pytest.approx(best_with_both)
    assert meanings.of_candidate(both[-1], blend=0.0)[1] == "transformer"
    assert meanings.of_candidate(Candidate(7, "c.py", "function", "h"), blend=0.0) == (0.0, "")


def test_a_search_by_the_static_tier_alone_leans_on_words_more() -> None:
    """A first search has only the static tier's meaning, weaker than the transformer's: the
    words scale weighs more there (Signals.words_static), so a chunk holding the question's
    words passes one the static space merely places nearer."""
    near = candidate(1, "unrelated", 0.95, path="src/a.py")
    worded = candidate(2, "other", 0.70, path="src/b.py", body="parse header")
    parsed = Query.parse("parse the header")
    counts = {t: 1 for t in parsed.terms}
    by_transformer = rank(parsed, [near, worded], counts, 1000, 0.5, Mode.HYBRID, limit=10)
    assert [c.symbol for c in by_transformer] == ["unrelated", "other"]
    static = [replace(c, cosine=None, static_cosine=c.cosine) for c in (near, worded)]
    by_static = rank(parsed, static, counts, 1000, None, Mode.HYBRID, limit=10, static_floor=0.5)
    assert [c.symbol for c in by_static] == ["other", "unrelated"]
    same_share = replace(ranking.DEFAULT, words_static=ranking.DEFAULT.words_sentence)
    assert [c.symbol for c in rank(parsed, static, counts, 1000, None, Mode.HYBRID, limit=10, signals=same_share,
                                   static_floor=0.5)] == ["unrelated", "other"]


def test_a_question_reads_more_of_the_static_tier_than_a_description() -> None:
    """A chunk with both vectors takes a share of its meaning from the static tier: a fifth for
    a description (Signals.static_blend), more for a question or a topic, which files answer
    (Signals.static_asked): a file's bag of tokens places a subsystem well."""
    both = [candidate(i, f"f{i}", 0.3 + 0.02 * i, path=f"src/m{i}.py") for i in range(20)]
    both = [replace(c, static_cosine=0.9 - 0.01 * i) for i, c in enumerate(both)]

    def meanings(query: str, signals: ranking.Signals = ranking.DEFAULT) -> dict[str, float]:
        parsed = Query.parse(query)
        ranked = rank(parsed, [replace(c) for c in both], {t: 1 for t in parsed.terms}, 1000, 0.3, Mode.HYBRID,
                      limit=20, signals=signals, static_floor=0.7)
        return {c.symbol: c.meaning for c in ranked}

    described = meanings("open the connection pool")
    asked = meanings("how does the connection pool work")
    assert Query.parse("how does the connection pool work").is_question
    # f0 has the weakest transformer cosine and the strongest static one: a question lifts it.
    assert asked["f0"] > described["f0"] and asked["f19"] < described["f19"]
    assert meanings("connection pool implementation") == pytest.approx(asked)  # a topic, as a question
    same = replace(ranking.DEFAULT, static_asked=ranking.DEFAULT.static_blend)
    assert meanings("how does the connection pool work", same) == pytest.approx(described)


def test_a_sentence_of_many_parts_takes_more_of_its_meaning_from_the_static_tier() -> None:
    """A bag of tokens holds a query of many parts better than one transformer vector: past
    WORDS_RAMP_FROM terms each adds Signals.static_per_term to the static tier's share, a
    description's and a question's alike; a short sentence, a name and an issue keep theirs."""
    many = ("close idle connections of the pool after a timeout, keeping a minimum of warm ones, and log each "
            "connection that was reaped with its age and host")
    share = partial(ranking.static_share, signals=ranking.DEFAULT)
    assert share(Query.parse("Closes idle connections of the pool")) == ranking.DEFAULT.static_blend
    assert ranking.DEFAULT.static_blend < share(Query.parse(many)) <= 1.0
    assert share(Query.parse("how does the pool close idle connections")) == ranking.DEFAULT.static_asked
    assert share(Query.parse("how does the pool " + many)) > ranking.DEFAULT.static_asked
    assert share(Query.parse("Pool.close")) == ranking.DEFAULT.static_blend
    assert share(Query.parse(many.replace(", and log", "\n\nand log") + " " + OUTLINE)) == ranking.DEFAULT.static_blend
    off = replace(ranking.DEFAULT, static_per_term=0.0)
    assert ranking.static_share(Query.parse(many), off) == ranking.DEFAULT.static_blend


def test_a_pasted_issue_leans_on_words_more() -> None:
    """A long query's vector reads its first 128 tokens only, while its words all count: a
    chunk holding the issue's words passes one its vector merely places nearer
    (Signals.words_long)."""
    issue = ("Splitting statements breaks inside BEGIN END transaction blocks\n\nThe splitter treats every semicolon "
             "as a statement boundary, so a procedure body with nested DECLARE cursor loops comes back in pieces "
             "after upgrading the parser release")
    assert Query.parse(issue).is_long
    order, _ = near_or_worded(issue, 0.95, 0.70)
    assert order(ranking.DEFAULT) == ["other", "unrelated"]
    assert order(replace(ranking.DEFAULT, words_long=ranking.DEFAULT.words_sentence)) == ["unrelated", "other"]


def near_or_worded(text: str, near_cosine: float, worded_cosine: float):
    """A chunk the query's vector places nearer (`unrelated`) and one holding all its words
    (`other`): their order under given signals, and the worded candidate (its explanation)."""
    parsed = Query.parse(text)
    near = candidate(1, "unrelated", near_cosine, path="src/a.py")
    worded = candidate(2, "other", worded_cosine, path="src/b.py", body=text)

    def order(signals: ranking.Signals) -> list[str]:
        return [c.symbol for c in rank(parsed, [near, worded], {t: 1 for t in parsed.terms}, 1000, 0.5, Mode.HYBRID,
                                       limit=10, signals=signals)]

    return order, worded


@pytest.mark.parametrize(("text", "words_win"), [
    ("table column sizing: measuring each column's minimum and maximum content width, shrinking the widest "
     "wrappable columns when the console is narrow", True),
    ("shrink table columns to fit", False),
])
def test_a_sentence_of_many_parts_leans_on_its_words_more(text: str, words_win: bool) -> None:
    """One vector holds a query of many parts less well than its words do: past
    WORDS_RAMP_FROM terms each adds Signals.words_per_term to the words' share, so the chunk
    holding the parts passes one the vector merely places nearer; a short query is unchanged."""
    assert not Query.parse(text).is_long
    order, worded = near_or_worded(text, 0.90, 0.62)
    flat = order(replace(ranking.DEFAULT, words_per_term=0.0))
    assert flat == ["unrelated", "other"]  # at words_sentence the nearer vector wins
    assert order(ranking.DEFAULT) == (["other", "unrelated"] if words_win else flat)
    said = worded.explain()["words_share"]  # --explain says the share: `words 0.5 at 0.63`
    assert (said > ranking.DEFAULT.words_sentence) if words_win else said == ranking.DEFAULT.words_sentence


def test_a_qualified_word_in_a_sentence_picks_its_scope() -> None:
    """`insertWith of the value-strict Data.Map`: three files define `insertWith`; the one whose
    folders spell Data.Map comes first, and `Gettext.Macros` finds the module's function."""
    same = "insertWith f k new old = insert combined value strict map"
    maps = [candidate(1, "insertWith", 0.62, "src/Data/IntMap/Strict/Internal.hs", same),
            candidate(2, "insertWith", 0.60, "src/Data/Map/Strict/Internal.hs", same),
            candidate(3, "insertWith", 0.61, "src/Data/IntMap/Internal.hs", same)]
    asked = "insertWith of the value-strict Data.Map"
    paths = lambda found: [c.path for c in found]  # noqa: E731
    parsed = Query.parse(asked)
    counts = {t: 1 for t in parsed.terms}
    assert paths(rank(parsed, maps, counts, 1000, 0.3, Mode.HYBRID, 10))[0] == "src/Data/Map/Strict/Internal.hs"
    off = ranking.Signals(scope=0.0)
    assert paths(rank(parsed, maps, counts, 1000, 0.3, Mode.HYBRID, 10, signals=off))[0] != "src/Data/Map/Strict/Internal.hs"
    macros = [candidate(4, "Gettext.Macros.expand_to_binary", 0.50, "lib/gettext/macros.ex", "expand to binary"),
              candidate(5, "Gettext.Compiler.expand_to_binary", 0.55, "lib/gettext/compiler.ex", "expand to binary")]
    found = rank(Query.parse("expand_to_binary in Gettext.Macros, the one that raises"), macros,
                 {"expand": 1, "binary": 1, "raises": 1}, 1000, 0.3, Mode.HYBRID, 10)
    assert found[0].path == "lib/gettext/macros.ex" and found[0].bonuses["scope"] == 0.1  # inside it, not named by it
    linked = rank(Query.parse("Same as [Gettext.Macros.expand_to_binary] with a default domain"), macros,
                  {"expand": 1, "binary": 1, "domain": 1}, 1000, 0.3, Mode.HYBRID, 10)
    assert all("scope" not in c.bonuses for c in linked)  # a doc link names another definition

