"""The warm process starts itself: one for any number of first searches, gone when idle,
replaced when killed, never started when the user says no, never in a commit's way."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from .conftest import MakeRepo, codeseek, git, wait_for


def test_ten_first_searches_start_one_warm_process(make_repo: MakeRepo, warm) -> None:
    root = make_repo()
    queries = ["retry with backoff", "rate limit", "slugify a title", "LRU cache", "load the config",
               "serve static files", "fetch a user", "exponential delay", "cache eviction", "parse yaml"]
    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(lambda q: codeseek(root, "find", q, "--json", "-k", "1"), queries))
    assert all(r.returncode == 0 and json.loads(r.stdout) for r in results), [r.stderr for r in results]
    log = (warm.runtime_dir() / "server.log").read_text()
    assert log.count("started at") == 1, log
    assert sum("started the warm process" in r.stderr for r in results) == 1


def test_a_first_search_with_an_index_starts_the_warm_process_on_the_quick_path(make_repo: MakeRepo, warm) -> None:
    """Nothing running, an index made: the quick path starts the warm process and asks it,
    without the full command line's imports; with no index yet, cli.py indexes first."""
    from codeseek import quick
    from codeseek.index import DB_NAME, LOCK_NAME

    assert (quick.INDEX_FILE, quick.WRITERS_LOCK) == (DB_NAME, LOCK_NAME)
    root = make_repo()
    search = ("import json, sys; from codeseek.quick import answer; "
              "code = answer(['find', 'retry with backoff', '--json', '-n', '1']); "
              "print(json.dumps([code, 'click' in sys.modules]), file=sys.stderr)")
    first = subprocess.run([sys.executable, "-P", "-c", search], cwd=root, capture_output=True, text=True, timeout=120)
    assert json.loads(first.stderr.strip().splitlines()[-1]) == [None, False]  # no index: cli.py's work
    assert warm.running() is None
    assert codeseek(root, "index", env={**os.environ, "CODESEEK_SERVER": "0"}).returncode == 0
    found = subprocess.run([sys.executable, "-P", "-c", search], cwd=root, capture_output=True, text=True, timeout=120)
    assert json.loads(found.stderr.strip().splitlines()[-1]) == [0, False], found.stderr
    assert "started the warm process" in found.stderr
    assert json.loads(found.stdout)[0]["symbol"] == "retry_with_backoff"
    assert warm.running() is not None


def test_a_first_search_starts_the_warm_process_while_it_indexes(make_repo: MakeRepo, warm,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """With no index yet, the warm process starts on a thread while the words are indexed
    (its start overlaps the indexing); it starts with the environment as the search had it,
    not the one-thread settings the chunking workers' forkserver sets for a moment meanwhile
    (held here while the thread starts it), and the search says once that it started one."""
    from codeseek import access, client, config, forking
    from codeseek.repo import open_workspace

    for name in {**forking.ONE_THREAD, **forking.SAFE_PATH}:
        monkeypatch.delenv(name, raising=False)
    root = make_repo()
    ws = open_workspace(root)
    cfg = config.load(ws.root)
    inside, go = threading.Event(), threading.Event()
    folder = client.runtime_folder

    def held() -> Path:  # the thread waits here until the main thread has changed its environment
        inside.set()
        go.wait(30)
        return folder()

    monkeypatch.setattr(client, "runtime_folder", held)
    early = access.EarlyStart(cfg)
    assert inside.wait(30)
    changed = {**forking.ONE_THREAD, **forking.SAFE_PATH}
    for name, value in changed.items():  # as start_forkserver does meanwhile
        monkeypatch.setenv(name, value)
    go.set()
    assert early.join() is True
    environ = Path(f"/proc/{warm.address().pid}/environ").read_bytes().split(b"\0")
    assert not [e for e in environ if e.split(b"=")[0].decode() in changed]
    searcher, started = access.searcher(ws, {}, cfg, early)
    assert isinstance(searcher, access.Warm) and started  # started by the early start: said once
    monkeypatch.setenv("CODESEEK_SERVER", "0")
    assert access.EarlyStart(config.load(ws.root)).join() is False


def test_an_early_start_that_failed_is_not_tried_again(make_repo: MakeRepo, warm,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The early start's error is the search's, met once: not a second start and a second wait."""
    from codeseek import access, client, config
    from codeseek.errors import CodeseekError
    from codeseek.repo import open_workspace

    ws = open_workspace(make_repo())
    cfg = config.load(ws.root)
    calls = []

    def failing(version: str, env: dict[str, str] | None = None) -> bool:
        calls.append(version)
        raise CodeseekError("the warm process did not answer within 30 s")

    monkeypatch.setattr(client, "start", failing)
    early = access.EarlyStart(cfg)
    with pytest.raises(CodeseekError, match="did not answer"):
        access.searcher(ws, {}, cfg, early)
    assert len(calls) == 1


def test_it_exits_when_idle_and_leaves_nothing_behind(make_repo: MakeRepo, warm,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODESEEK_SERVER_IDLE", "3")
    root = make_repo()
    assert codeseek(root, "find", "retry", "--json").returncode == 0
    pid = warm.address().pid
    wait_for(lambda: warm.running() is None, 120)
    wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 30)
    assert warm.address() is None and not (warm.runtime_dir() / "server.sock").exists()


def test_a_killed_one_is_replaced_by_the_next_search(make_repo: MakeRepo, warm) -> None:
    root = make_repo()
    assert codeseek(root, "find", "retry", "--json").returncode == 0
    first = warm.address().pid
    os.kill(first, signal.SIGKILL)
    found = codeseek(root, "find", "rate limiter", "--json", "-k", "1")
    assert found.returncode == 0 and json.loads(found.stdout)[0]["symbol"].startswith("RateLimiter")
    assert warm.address().pid != first and warm.running() is not None


def test_a_deleted_repository_is_forgotten(make_repo: MakeRepo, warm, tmp_path) -> None:
    root = make_repo()
    other = make_repo(name="other")
    assert codeseek(root, "find", "retry", "--json").returncode == 0
    assert codeseek(other, "find", "retry", "--json").returncode == 0
    assert warm.running()["repositories"] == 2
    subprocess.run(["rm", "-rf", str(other)], check=True)
    wait_for(lambda: warm.running()["repositories"] == 1, 30)


def test_the_opt_out_starts_nothing(make_repo: MakeRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    from codeseek import client

    monkeypatch.setenv("CODESEEK_SERVER", "0")
    root = make_repo()
    found = codeseek(root, "find", "retry with backoff", "--json", "-k", "1")
    assert json.loads(found.stdout)[0]["symbol"] == "retry_with_backoff"
    (root / ".codeseek.toml").write_text("server = false\n")
    monkeypatch.delenv("CODESEEK_SERVER")
    assert codeseek(root, "find", "rate limit", "--json").returncode == 0
    assert client.address() is None and not (client.runtime_dir() / "server.log").exists()


def test_a_hook_returns_at_once_and_the_warm_process_does_the_work(make_repo: MakeRepo, warm) -> None:
    root = make_repo()
    hooks_path = f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}"
    env = {**os.environ, "PATH": hooks_path}
    assert codeseek(root, "hooks", "install").returncode == 0
    (root / "fresh.py").write_text("def freshly_committed():\n    return 1\n")
    git(root, "add", "fresh.py")
    began = time.perf_counter()
    subprocess.run(["git", "commit", "-q", "-m", "fresh"], cwd=root, check=True, env=env)
    assert time.perf_counter() - began < 2
    wait_for(lambda: warm.running() is not None, 120)

    def indexed() -> bool:
        found = codeseek(root, "find", "freshly_committed", "--json", "-k", "1", "--no-update")
        return found.returncode == 0 and json.loads(found.stdout)[0]["symbol"] == "freshly_committed"

    wait_for(indexed, 120)
