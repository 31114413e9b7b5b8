"""What the command line, the HTTP API and MCP do with input a user (or an attacker) types:
odd bytes, aliases, bad globs, file names with newlines, usage mistakes, deep nesting; and
the words they answer with (issue 26: items 12, 13, 16, 26-30)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from codeseek import __version__
from codeseek import cli as cli_module
from codeseek.parsing import chunk_file

from .conftest import MakeRepo, codeseek, one_line_error


class Typed:
    """The command line in this process (no model loaded): for what it refuses."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch

    def __call__(self, root: Path, *args: str) -> Result:
        self.monkeypatch.chdir(root)
        return CliRunner().invoke(cli_module.cli, list(args), prog_name="codeseek")

    def error(self, root: Path, *args: str, words: str = "") -> str:
        """The one line a refused command printed (exit 1, nothing else on stderr)."""
        result = self(root, *args)
        assert result.exit_code == 1, (result.exit_code, result.output, result.exception)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "internal error" not in lines[0], lines
        assert words in lines[0], lines[0]
        return lines[0]


@pytest.fixture
def typed(monkeypatch: pytest.MonkeyPatch) -> Typed:
    return Typed(monkeypatch)


def _seconds(path: str, text: str) -> float:
    """The least of three runs of chunking a file (the least is the least disturbed)."""
    best = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        chunk_file(path, text.encode())
        best = min(best, time.perf_counter() - began)
    return best


def test_deeply_nested_code_is_chunked_in_linear_time() -> None:
    n = 3000  # on the quadratic chunker: 4 s against 0.1 s for the flat file
    nested = "".join(f"function f{i}() {{\n" for i in range(n)) + "return 1;\n" + "}\n" * n
    flat_count = len(nested) // len("function f0000() {\nreturn 1;\n}\n")
    flat = "".join(f"function f{i}() {{\nreturn 1;\n}}\n" for i in range(flat_count))
    assert abs(len(flat) - len(nested)) < len(nested) // 5  # files of about the same size
    chunks = chunk_file("deep.js", nested.encode())
    assert [c.symbol for c in chunks[:2]] == ["f0", "f0.f1"] and len(chunks) == 16  # the nesting bound
    assert _seconds("deep.js", nested) < 3 * _seconds("flat.js", flat) + 0.05


FILTERED = {"app/utils.py": "def retry_later():\n    return 1\n",
            "lib/deep/utils.py": "def retry_sooner():\n    return 2\n",
            "lib/utils.go": "package lib\n\nfunc RetryGo() int {\n\treturn 3\n}\n",
            "web/retry.ts": "export function retryTs(): number {\n  return 4;\n}\n"}


# -- item 13: text that is no text, NUL in paths, strict booleans ---------------------------------


def test_an_undecodable_byte_in_a_query_is_one_line_on_the_command_line(make_repo: MakeRepo, typed) -> None:
    root = make_repo({"a.py": "def retry():\n    return 1\n"})
    one_line_error(codeseek(root, "find", "\udcff"), "UTF-8")  # the byte \xff reaches Python as a lone surrogate
    for args in (("find", "retry \udced\udca0\udc80"), ("similar", "\udcff"), ("find", "retry", "--path", "\udcff"),
                 ("find", "retry", "--lang", "\udcff")):
        typed.error(root, *args, words="UTF-8")


def test_the_http_api_refuses_lone_surrogates_nuls_loose_booleans_and_unknown_filters(make_repo: MakeRepo,
                                                                                      warm) -> None:
    root = make_repo(FILTERED)
    assert warm.start(__version__)
    repo = {"root": str(root)}
    bad = [("/find", {"repo": repo, "request": {"query": "retry \ud800"}}, "UTF-8"),
           ("/similar", {"repo": repo, "request": {"where": "\udfff"}}, "UTF-8"),
           ("/find", {"repo": repo, "request": {"query": "x", "languages": ["\ud800"]}}, "UTF-8"),
           ("/find", {"repo": {"root": str(root) + "\0"}, "request": {"query": "x"}}, "repo.root"),
           ("/find", {"repo": {**repo, "index_dir": "/tmp/x\0y"}, "request": {"query": "x"}}, "repo.index_dir"),
           ("/status", {"repo": repo, "check": "yes"}, "check"),
           ("/status", {"repo": repo, "check": 1}, "check"),
           ("/find", {"repo": repo, "request": {"query": "retry", "kinds": ["fnord"]}},
            "unknown kind 'fnord'; known: function"),
           ("/find", {"repo": repo, "request": {"query": "retry", "paths": ["[x"]}}, "never closed")]
    for route, body, words in bad:
        conn = warm.connect()
        status, answer = conn.request("POST", route, body)
        conn.close()
        assert status == 400 and words in answer["error"] and "\n" not in answer["error"], (route, body, answer)
    ok = warm.call("/find", {"repo": repo, "request": {"query": "retry", "mode": "lexical", "languages": ["Go"]}})
    assert [hit["path"] for hit in ok["hits"]] == ["lib/utils.go"]


def mcp_call(root: Path, *arguments: dict[str, object]) -> list[dict[str, Any]]:
    """The replies of `codeseek mcp` to a `find` call with each of these arguments."""
    lines = [json.dumps({"jsonrpc": "2.0", "id": i, "method": "tools/call",
                         "params": {"name": "find", "arguments": args}}) for i, args in enumerate(arguments)]
    result = subprocess.run([sys.executable, "-P", "-m", "codeseek", "mcp"], cwd=root, text=True, capture_output=True,
                            input="\n".join(lines) + "\n", timeout=300)
    assert "Traceback" not in result.stderr, result.stderr
    return [json.loads(line)["result"] for line in result.stdout.splitlines()]


# -- item 26: filters take aliases and case, refuse what they do not know ---------------------------

def found(run, root: Path, *args: str) -> set[tuple[str, str]]:
    hits = json.loads(run(root, "find", "retry", "--mode", "lexical", "--json", "-k", "20", *args).stdout)
    return {(hit["path"], hit["symbol"]) for hit in hits}


@pytest.mark.parametrize(("args", "expected"), [
    (("--lang", "py"), {"app/utils.py", "lib/deep/utils.py"}),
    (("--lang", "Python"), {"app/utils.py", "lib/deep/utils.py"}),
    (("--lang", "golang"), {"lib/utils.go"}),
    (("--lang", "TS"), {"web/retry.ts"}),
    (("--lang", "ts", "--lang", "go"), {"web/retry.ts", "lib/utils.go"}),
    (("--kind", "fn", "--lang", "rs"), set()),
    (("--path", "utils.py"), {"app/utils.py", "lib/deep/utils.py"}),
    (("--path", "deep"), {"lib/deep/utils.py"}),
    (("--path", "/utils.py"), set()),
    (("--path", "lib/utils.go"), {"lib/utils.go"}),
    (("--path", "!utils.py"), {"lib/utils.go", "web/retry.ts"}),
    (("--path", "util?.*"), {"app/utils.py", "lib/deep/utils.py", "lib/utils.go"}),
])
def test_filters_take_aliases_case_and_bare_file_names(run, make_repo: MakeRepo, args: tuple[str, ...],
                                                        expected: set[str]) -> None:
    root = make_repo(FILTERED)
    assert {path for path, _ in found(run, root, *args)} == expected


def test_kind_aliases(run, make_repo: MakeRepo) -> None:
    root = make_repo(FILTERED)
    functions = found(run, root, "--kind", "function")
    assert len(functions) == 4
    for alias in ("fn", "func", "FUNCTION", "functions", "def"):
        assert found(run, root, "--kind", alias) == functions, alias


@pytest.mark.parametrize(("args", "words"), [
    (("--lang", "klingon"), "unknown language 'klingon'; known: bash, c, c_sharp, cpp, go, java, javascript"),
    (("--kind", "fnord"), "unknown kind 'fnord'; known: function, method, class"),
    (("--path", "src/[ab"), "never closed"),
    (("--path", "!"), "is empty"),
])
def test_an_unknown_filter_is_refused_with_what_is_known(make_repo: MakeRepo, typed, args: tuple[str, ...],
                                                         words: str) -> None:
    root = make_repo(FILTERED)
    typed.error(root, "find", "retry", "--mode", "lexical", *args, words=words)
    typed.error(root, "similar", "retry_later", *args, words=words)


def test_mcp_takes_the_same_filters(make_repo: MakeRepo) -> None:
    root = make_repo(FILTERED)
    replies = mcp_call(root, {"query": "retry \ud800"}, {"query": "retry", "mode": "lexical", "languages": ["GOLANG"]},
                       {"query": "retry", "languages": ["cobol"]})
    assert replies[0]["isError"] is True and "UTF-8" in replies[0]["content"][0]["text"], replies[0]
    assert [hit["path"] for hit in replies[1]["structuredContent"]["hits"]] == ["lib/utils.go"]
    assert replies[2]["isError"] and "unknown language 'cobol'; known: bash" in replies[2]["content"][0]["text"]


def test_the_alias_table_names_every_language_and_kind() -> None:
    from codeseek import aliases, languages
    from codeseek.kinds import Kind

    assert set(aliases.LANGUAGES) == {*languages.registry(), "text"}
    assert set(aliases.KINDS) == set(Kind)
    for spec in languages.registry().values():  # a file's extension names its language
        for extension in spec.extensions:
            assert aliases.language(extension.removeprefix(".")) == spec.name, extension


# -- item 27: a usage mistake is one line and exit 1, like every other error ------------------------


@pytest.mark.parametrize("args", [
    ("chunks", "missing.py"), ("chunks",), ("find",), ("fnd", "x"), ("--bogus",), ("find", "x", "--top", "abc"),
    ("find", "x", "--mode", "psychic"), ("index", "--bogus"), ("index", "no/such/folder"), ("hooks", "bogus"),
    ("serve", "--port", "99999"), ("push", "--dtype", "f64"), ("web", "--port", "-1"), ("similar", "a", "b"),
    ("status", "--json=yes"), ("mcp", "--repo", "no/such/folder"),
])
def test_a_usage_mistake_is_one_line_and_exit_1(make_repo: MakeRepo, typed, args: tuple[str, ...]) -> None:
    root = make_repo({"a.py": "def retry():\n    return 1\n"})
    line = typed.error(root, *args, words="Error: ")
    assert line.startswith("Error: ") and "--help` says how" in line, line


def test_every_error_line_begins_the_same_way(make_repo: MakeRepo, typed) -> None:
    root = make_repo({"a.py": "def retry():\n    return 1\n"})
    for args in (("status",), ("find", "retry", "--lang", "klingon"), ("find", "retry", "--backend", "nope"),
                 ("chunks", "missing.py")):
        assert typed.error(root, *args).startswith("Error: "), args
    (reply,) = mcp_call(root, {"query": "retry", "kinds": ["fnord"]})
    assert reply["isError"] and reply["content"][0]["text"].startswith("Error: unknown kind")


# -- item 16: a file name with a newline keeps every line one line -------------------------------


def test_a_file_name_with_a_newline_is_quoted_in_every_line_format(run, make_repo: MakeRepo) -> None:
    root = make_repo({"plain.py": "def retry_plain():\n    return 1\n",
                      "new\nline.py": "def retry_newline():\n    return 2\n",
                      "esc\x1b[31m.py": "def retry_escape():\n    return 3\n"})
    args = ("find", "retry", "--mode", "lexical", "-k", "3")
    hits = json.loads(run(root, *args, "--json").stdout)
    assert {hit["path"] for hit in hits} == {"plain.py", "new\nline.py", "esc\x1b[31m.py"}  # JSON: the names
    vimgrep = run(root, *args, "--vimgrep").stdout.splitlines()
    assert len(vimgrep) == 3 and all(re.match(r'^("[^"]*"|[^":]+):\d+:\d+:def retry_\w+\(\):', line) for line in vimgrep)
    assert any(line.startswith('"new\\nline.py":1:5:def retry_newline') for line in vimgrep), vimgrep
    assert any(line.startswith('"esc\\x1b[31m.py":1:5:') for line in vimgrep), vimgrep
    assert set(run(root, *args, "--files").stdout.splitlines()) == {"plain.py", '"new\\nline.py"',
                                                                     '"esc\\x1b[31m.py"'}
    human = run(root, *args).stdout
    assert '"new\\nline.py":1-2' in human and "\x1b" not in human
