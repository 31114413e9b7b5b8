"""The `codeseek` command end to end: real repositories, the real model, real index files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from codeseek.embedding import DEFAULT_MODEL

from .conftest import MakeRepo, git


@pytest.mark.parametrize(
    ("query", "path", "symbol"),
    [
        ("retry a failing call with exponential backoff", "net/retry.py", "retry_with_backoff"),
        ("convert a title into a URL slug", "util/strings.js", "slugify"),
        ("read the server configuration from a YAML file", "server/server.go", "LoadConfig"),
        ("fetch a user from the HTTP API", "web/api.ts", "fetchUser"),
    ],
)
def test_plain_english_query_returns_the_right_function_first(
    run, make_repo: MakeRepo, query: str, path: str, symbol: str
) -> None:
    root = make_repo()
    result = run(root, "find", query, "--json", "-k", "3")
    hits = json.loads(result.stdout)
    assert (hits[0]["path"], hits[0]["symbol"]) == (path, symbol)


def test_find_builds_the_index_first_and_says_so(run, make_repo: MakeRepo) -> None:
    root = make_repo()
    result = run(root, "find", "rate limit calls per second")
    assert "no index yet" in result.stderr
    assert (root / ".git" / "codeseek" / "index.db").is_file()
    assert not git(root, "status", "--porcelain")  # nothing shows in git status
    first = result.stdout.splitlines()[0]
    assert first.startswith("net/retry.py:") and "RateLimiter" in first


def test_the_first_index_is_its_own_searchs_freshness_check(run, make_repo: MakeRepo,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A search that has just made the index in its own process reads the working tree once,
    not again beside the search and a third time to start the vectors' fill (0.1-0.2 s of a
    first answer on a large repository); the next search checks as every search does."""
    from codeseek import indexing

    updates = []
    real = indexing.update
    monkeypatch.setattr(indexing, "update", lambda *args, **kwargs: updates.append(args) or real(*args, **kwargs))
    root = make_repo()
    first = run(root, "find", "rate limit calls per second")
    assert "RateLimiter" in first.stdout.splitlines()[0] and len(updates) == 1
    (root / "net" / "throttle.py").write_text("def throttle_bursts_of_uploads(queue):\n    return queue.drain(10)\n")
    second = run(root, "find", "throttle bursts of uploads")
    assert "throttle_bursts_of_uploads" in second.stdout.splitlines()[0] and len(updates) == 2


def test_json_schema_is_stable(run, make_repo: MakeRepo) -> None:
    root = make_repo()
    hits = json.loads(run(root, "find", "LruCache", "--json", "-k", "3").stdout)
    assert len(hits) == 3
    assert len(json.loads(run(root, "find", "LruCache", "--json", "-n", "2").stdout)) == 2  # -n as head counts
    assert set(hits[0]) == {"path", "start_line", "end_line", "symbol", "kind", "language", "score", "code"}
    cache = hits[0]
    assert cache["symbol"] == "LruCache"
    assert (cache["start_line"], cache["end_line"], cache["kind"], cache["language"]) == (6, 27, "class", "javascript")
    assert cache["code"].startswith("class LruCache {")


def test_index_summary_and_status(run, make_repo: MakeRepo) -> None:
    root = make_repo()
    result = run(root, "index")
    assert "4 files indexed" in result.stderr
    report = json.loads(run(root, "status", "--json").stdout)
    assert report["indexed_commit"] == report["head"] == git(root, "rev-parse", "HEAD").strip()
    assert report["files"] == 4 and report["pending"] == 0
    assert report["model"] == DEFAULT_MODEL and report["dim"] == 384
    assert report["chunks"] >= 10 and report["bytes"] > 0


def test_untracked_files_are_indexed_and_ignored_ones_are_not(run, make_repo: MakeRepo) -> None:
    root = make_repo()
    (root / ".gitignore").write_text("build/\n")
    (root / "build").mkdir()
    (root / "build" / "gen.py").write_text("def generated_parser_table():\n    pass\n")
    (root / "draft.py").write_text("def compute_invoice_total(items):\n    return sum(items)\n")
    hits = json.loads(run(root, "find", "invoice total", "--json").stdout)
    paths = {h["path"] for h in hits}
    assert "draft.py" in paths and "build/gen.py" not in paths


def test_plain_directory_honours_gitignore(run, tmp_path: Path) -> None:
    root = tmp_path / "plain"
    (root / "vendor").mkdir(parents=True)
    (root / ".gitignore").write_text("vendor/\n")
    (root / "vendor" / "lib.py").write_text("def parse_csv_rows(text):\n    pass\n")
    (root / "app.py").write_text("def parse_csv_file(path):\n    return open(path).read().split(',')\n")
    hits = json.loads(run(root, "find", "parse csv", "--json").stdout)
    paths = [h["path"] for h in hits]
    assert paths[0] == "app.py" and "vendor/lib.py" not in paths
    assert (root / ".codeseek" / "index.db").is_file()


def test_index_dir_flag_and_environment_variable(run, make_repo: MakeRepo, tmp_path: Path, monkeypatch) -> None:
    root = make_repo()
    run(root, "--index-dir", str(tmp_path / "idx1"), "index")
    assert (tmp_path / "idx1" / "index.db").is_file()
    monkeypatch.setenv("CODESEEK_INDEX_DIR", str(tmp_path / "idx2"))
    run(root, "index")
    assert (tmp_path / "idx2" / "index.db").is_file()
    assert not (root / ".git" / "codeseek").exists()


def cli_process(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-P", "-m", "codeseek", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def assert_one_line_error(result: subprocess.CompletedProcess[str], words: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and words in errors[0], result.stderr
    assert result.stderr.rstrip().endswith(errors[0])


def test_errors_are_one_line(tmp_path: Path, make_repo: MakeRepo) -> None:
    empty_dir = tmp_path / "nothing"
    empty_dir.mkdir()
    assert_one_line_error(cli_process(empty_dir, "find", "x"), "no files to index")

    empty_repo = tmp_path / "empty"
    empty_repo.mkdir()
    git(empty_repo, "init", "-q")
    assert_one_line_error(cli_process(empty_repo, "find", "x"), "no files to index")

    root = make_repo()
    assert_one_line_error(cli_process(root, "status"), "no index")
    assert_one_line_error(cli_process(root, "find", "x", "--backend", "nope"), "unknown backend")


def test_corrupt_index_says_how_to_rebuild(run, make_repo: MakeRepo) -> None:
    root = make_repo()
    run(root, "index")
    (root / ".git" / "codeseek" / "index.db").write_bytes(b"this is not sqlite" * 100)
    for name in ("index.db-wal", "index.db-shm"):
        (root / ".git" / "codeseek" / name).unlink(missing_ok=True)
    result = cli_process(root, "find", "retry")
    assert_one_line_error(result, "codeseek index --rebuild")
    run(root, "index", "--rebuild")
    assert "retry_with_backoff" in run(root, "find", "retry with backoff", "-k", "1").stdout


def test_a_failed_rebuild_keeps_the_index(make_repo: MakeRepo) -> None:
    root = make_repo()
    assert cli_process(root, "index").returncode == 0
    assert_one_line_error(cli_process(root, "index", "--rebuild", "--backend", "nope"), "unknown backend")
    assert_one_line_error(cli_process(root, "index", "--rebuild", "--model", "/no/such/model"), "cannot load model")
    assert "retry_with_backoff" in cli_process(root, "find", "retry with backoff", "-k", "1").stdout


def test_missing_model_package_is_one_line(make_repo: MakeRepo, tmp_path: Path) -> None:
    root = make_repo()
    # A shadowing package that fails to import stands in for an uninstalled one.
    shadow = tmp_path / "shadow" / "onnxruntime"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('not installed')\n")
    os = __import__("os")
    result = subprocess.run(
        [sys.executable, "-P", "-m", "codeseek", "find", "x"],
        cwd=root, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "shadow"), os.environ.get("PYTHONPATH", "")])},
    )
    assert_one_line_error(result, "pip install onnxruntime")


def test_a_reader_that_stops_early_is_not_an_error(make_repo: MakeRepo) -> None:
    """`codeseek find ... | head -1`: the reader closes the pipe before the results are printed.
    Not an internal error: nothing on stderr, exit 0, as on the quick path."""
    root = make_repo()
    for _ in range(2):  # the first search (it indexes) and one on that index, both in process
        proc = subprocess.Popen([sys.executable, "-P", "-m", "codeseek", "find", "retry with backoff"], cwd=root,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env={**os.environ, "CODESEEK_SERVER": "0"})
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # gone before the first line
        errors = proc.stderr.read().decode()
        assert proc.wait(timeout=300) == 0, errors
        assert "internal error" not in errors and "Traceback" not in errors, errors
