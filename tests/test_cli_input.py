"""What the command line, the HTTP API and MCP do with input a user (or an attacker) types:
odd bytes, aliases, bad globs, file names with newlines, usage mistakes, deep nesting; and
the words they answer with (issue 26: items 12, 13, 16, 26-30)."""

from __future__ import annotations

import json
import os
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

from .conftest import EmbeddingServer, MakeRepo, codeseek, one_line_error


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


def mcp_call(root: Path, *arguments: dict[str, object], env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The replies of `codeseek mcp` to a `find` call with each of these arguments."""
    lines = [json.dumps({"jsonrpc": "2.0", "id": i, "method": "tools/call",
                         "params": {"name": "find", "arguments": args}}) for i, args in enumerate(arguments)]
    result = subprocess.run([sys.executable, "-P", "-m", "codeseek", "mcp"], cwd=root, text=True, capture_output=True,
                            input="\n".join(lines) + "\n", timeout=300, env=env)
    assert "Traceback" not in result.stderr, result.stderr
    return [json.loads(line)["result"] for line in result.stdout.splitlines()]


# -- item 26: filters take aliases and case, refuse what they do not know ---------------------------

def found(run, root: Path, *args: str) -> set[tuple[str, str]]:
    # Hybrid: this process embeds the few chunks itself (lexical would start a background worker).
    hits = json.loads(run(root, "find", "retry", "--json", "-k", "20", *args).stdout)
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
    (("--lang", "klingon"), "unknown language 'klingon'; known: bash, c, c_sharp, cpp, elixir, go, haskell, java, javascript"),
    (("--kind", "fnord"), "unknown kind 'fnord'; known: function, method, class"),
    (("--path", "src/[ab"), "never closed"),
    (("--path", "!"), "is empty"),
])
def test_an_unknown_filter_is_refused_with_what_is_known(make_repo: MakeRepo, typed, args: tuple[str, ...],
                                                         words: str) -> None:
    root = make_repo(FILTERED)
    typed.error(root, "find", "retry", "--mode", "lexical", *args, words=words)
    typed.error(root, "similar", "retry_later", *args, words=words)


def test_mcp_takes_the_same_filters(make_repo: MakeRepo, server: EmbeddingServer) -> None:
    root = make_repo(FILTERED)
    # The background worker a words-only search starts embeds through a small local server.
    env = {**os.environ, "CODESEEK_BASE_URL": server.url}
    replies = mcp_call(root, {"query": "retry \ud800"}, {"query": "retry", "mode": "lexical", "languages": ["GOLANG"]},
                       {"query": "retry", "languages": ["cobol"]}, env=env)
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


def test_a_bare_command_shows_the_help_it_asks_for(make_repo: MakeRepo, typed) -> None:
    root = make_repo({"a.py": "def retry():\n    return 1\n"})
    for args in ((), ("hooks",)):
        result = typed(root, *args)
        assert result.exit_code == 0 and result.stdout.startswith(f"Usage: {' '.join(('codeseek', *args))} "), args


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
    args = ("find", "retry", "-k", "3")
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


# -- item 28: index -v and the summary agree with status; numbers written one way -------------------


def test_the_summary_and_index_v_agree_with_status(run, make_repo: MakeRepo) -> None:
    root = make_repo({"a.py": "def one():\n    return 1\n", "b.py": "def two():\n    return 2\n",
                      "data.bin": "\0\0binary\0", "gen.py": "# @generated\ndef g():\n    return 3\n"})
    first = run(root, "index", "-v").stderr
    report = json.loads(run(root, "status", "--json").stdout)
    assert (report["files"], report["skipped"]) == (2, 2)
    assert "2 files indexed" in first and "2 skipped (1 binary, 1 generated)" in first, first
    again = run(root, "index", "-v").stderr  # up to date: nothing indexed, the skipped files still listed
    assert "skipped data.bin: binary" in again and "skipped gen.py: generated" in again, again
    assert "0 files indexed" in again
    (root / "a.py").write_text("def one():\n    return 11\n")
    assert "1 file indexed" in run(root, "update").stderr


def test_counts_are_written_one_way() -> None:
    from codeseek.indexing import UpdateResult
    from codeseek.words import count

    assert (count(1, "file"), count(0, "file"), count(2294, "chunk")) == ("1 file", "0 files", "2,294 chunks")
    assert count(1, "repository", "repositories") == "1 repository"
    summary = UpdateResult(files_changed=2294, files_deleted=1200, chunks=12345, embedded=1001, reused=1000).summary()
    assert summary.startswith("2,294 files indexed, 1,200 removed, 12,345 chunks, 1,001 embedded, 1,000 reused")


# -- item 29: words ----------------------------------------------------------------------------------


def test_status_speaks_english_and_its_json_has_fields(make_repo: MakeRepo, warm) -> None:
    root = make_repo({"a.py": "def one():\n    return 1\n"})
    assert codeseek(root, "find", "one", "--json").returncode == 0  # starts the warm process, embeds inline
    text = codeseek(root, "status").stdout
    assert "1 file (0 skipped), 1 chunk\n" in text and "serving 1 repository (" in text, text
    assert "(1 vector)" in text and "1 files" not in text and "no commit" not in text
    report = json.loads(codeseek(root, "status", "--json").stdout)
    assert report["server"]["models"] and all(set(model) >= {"model", "dim", "engine"}
                                              for model in report["server"]["models"]), report["server"]


def test_a_folder_without_git_history_is_said_so(run, tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "a.py").write_text("def one():\n    return 1\n")
    run(tmp_path / "plain", "index")
    text = run(tmp_path / "plain", "status").stdout
    assert "(no git commit): up to date" in text and "at no commit" not in text, text


def test_a_first_search_says_once_that_vectors_are_filling_in(make_repo: MakeRepo, server: EmbeddingServer) -> None:
    root = make_repo({"a.py": "def one():\n    return 1\n", "b.py": "def two():\n    return 2\n"})
    # Words only: a background worker embeds, through a small local server (no model to load).
    result = codeseek(root, "find", "one", "--mode", "lexical", env={**os.environ, "CODESEEK_BASE_URL": server.url})
    assert result.returncode == 0, result.stderr
    about = [line for line in result.stderr.splitlines() if "chunks" in line and "indexed" not in line]
    assert len(about) == 1, result.stderr
    assert "2 chunks still without vectors, being embedded by a background worker (pid" in about[0], about


# -- item 30: similar NAME with several definitions says which it used -------------------------------


def test_similar_says_which_definition_of_a_name_it_used(run, make_repo: MakeRepo) -> None:
    root = make_repo({"a.py": "def parse(text):\n    return text.split()\n",
                      "b.py": "class Reader:\n    def parse(self, data):\n        return data.strip()\n",
                      "c.py": "def split_words(line):\n    return line.split()\n"})
    result = run(root, "similar", "parse", "--json")
    assert isinstance(json.loads(result.stdout), list)  # the JSON stays one array of hits
    note = [line for line in result.stderr.splitlines() if "definitions" in line]
    assert note == ["codeseek: 'parse' has 2 definitions: showing code like a.py:1 (parse); the other: "
                    "b.py:2 (Reader.parse); give PATH:LINE to choose another"], result.stderr
    assert "definitions" not in run(root, "similar", "b.py:2", "--json").stderr
    assert "definitions" not in run(root, "similar", "split_words").stderr


@pytest.mark.parametrize(("argv", "code"), [(["--version"], 0), (["find"], 1)])
def test_the_command_ends_after_its_threads_and_exit_handlers(tmp_path: Path, argv: list[str], code: int) -> None:
    """The command skips Python's teardown of its objects (0.1 s after a first index), not
    what Python does before it: a thread still working is waited for, exit handlers run, the
    output and the exit status are the command's."""
    done = tmp_path / "done"
    script = ("import atexit, sys, threading, time; from codeseek.quick import main\n"
              f"threading.Thread(target=lambda: (time.sleep(0.5), open({str(done)!r}, 'w').close())).start()\n"
              "atexit.register(lambda: print('exit handler ran', flush=True))\n"
              f"sys.argv = ['codeseek', *{argv!r}]; main()")
    ended = subprocess.run([sys.executable, "-P", "-c", script], capture_output=True, text=True, cwd=tmp_path,
                           timeout=60)
    assert ended.returncode == code and done.exists(), ended.stderr
    assert ended.stdout.endswith("exit handler ran\n")
    if code == 0:
        assert ended.stdout.startswith(f"codeseek, version {__version__}")
    else:
        assert "Missing argument" in ended.stderr


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_output_that_cannot_be_written_is_one_line_and_no_success(tmp_path: Path) -> None:
    with open("/dev/full", "w") as full:
        ended = subprocess.run([sys.executable, "-P", "-m", "codeseek", "--version"], stdout=full, stderr=subprocess.PIPE,
                               text=True, cwd=tmp_path, timeout=60)
    assert ended.returncode == 1
    assert ended.stderr == "codeseek: the output could not be written: No space left on device\n"
