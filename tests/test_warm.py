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

from .conftest import SAMPLE_REPO, MakeRepo, codeseek, git, started, wait_for


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


def test_a_large_first_index_answers_itself_and_leaves_the_warm_process_for_the_next(make_repo: MakeRepo,
                                                                                        warm) -> None:
    """With no index yet and more chunks than a search embeds before answering, the search
    makes the index and answers in its own process (started while it indexed, the warm process
    took the cores the indexing used); the warm process is launched beside that answer, not
    waited for, with the search's environment (not the one-thread settings the command line
    loads numpy with); the background worker hands it the vectors, and the next search finds
    it running. A small first index is embedded by the warm process, which keeps its model."""
    from codeseek import access, config, filling, forking
    from codeseek.repo import open_workspace

    files = {f"pkg/mod{i}.py": "".join(f"def handler_{i}_{j}(request):\n    return retry(request, {j})\n\n\n"
                                       for j in range(4)) for i in range(filling.INLINE_LIMIT // 4 + 10)}
    root = make_repo({**files, **SAMPLE_REPO})
    first = codeseek(root, "find", "retry with backoff", "--json", "-k", "1")
    assert first.returncode == 0 and json.loads(first.stdout)[0]["symbol"] == "retry_with_backoff", first.stderr
    assert "started the warm process" in first.stderr and "background worker" in first.stderr
    pid = started(warm).pid
    environ = dict(e.decode().split("=", 1) for e in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0") if e)
    for name in {**forking.ONE_THREAD, **forking.SAFE_PATH}:
        assert environ.get(name) == os.environ.get(name), name
    second = codeseek(root, "find", "rate limiter", "--json", "-k", "1")
    assert second.returncode == 0 and json.loads(second.stdout)[0]["symbol"].startswith("RateLimiter")
    assert "started the warm process" not in second.stderr and warm.address().pid == pid
    ws = open_workspace(root)
    searcher, launched = access.searcher(ws, {}, config.load(ws.root), made=True)
    assert isinstance(searcher, access.Local) and launched is False  # one runs: none started
    small = make_repo(name="small")  # (the quick path asks the warm process running, which makes its index)
    found = codeseek(small, "find", "retry with backoff", "--json", "-k", "1")
    assert found.returncode == 0 and "background worker" not in found.stderr, found.stderr
    assert json.loads(codeseek(small, "status", "--json").stdout)["unembedded"] == 0


def test_a_start_meeting_a_server_being_started_waits_for_it(warm, monkeypatch: pytest.MonkeyPatch) -> None:
    """A start whose own server exits for finding the server's lock held (another, launched
    without waiting, is starting) waits rather than fail; the lock let go without a server, it
    starts one again, and says whether the server answering is its own."""
    from codeseek import __version__
    from codeseek.fsutil import locked

    folder = warm.runtime_folder()
    spawned: list[subprocess.Popen[bytes]] = []
    spawn = warm._spawn

    def recorded(where: Path) -> subprocess.Popen[bytes]:
        spawned.append(spawn(where))
        return spawned[-1]

    monkeypatch.setattr(warm, "_spawn", recorded)
    outcome: dict[str, object] = {}

    def start() -> None:
        try:
            outcome["started"] = warm.start(__version__)
        except Exception as exc:  # noqa: BLE001 - the test's assertion says what it was
            outcome["error"] = exc

    thread = threading.Thread(target=start)
    with locked(folder / warm.LOCK_NAME):  # as a launched server holds it before it answers
        thread.start()
        wait_for(lambda: bool(spawned) and spawned[0].poll() is not None, 60)  # its own exited: the lock is held
        time.sleep(0.5)
        assert thread.is_alive() and not outcome and len(spawned) == 1
    thread.join(60)
    assert outcome == {"started": True} and len(spawned) == 2 and warm.address().pid == spawned[1].pid


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


def test_a_warm_process_stopped_while_it_embeds_saves_its_vectors_and_exits_cleanly(make_repo: MakeRepo,
                                                                                     warm) -> None:
    """Stopped while its thread embeds a repository (vectors are saved every 30 s), the warm
    process has the thread stop after its batch and save what it embedded, and waits for it:
    a daemon thread left inside the model at exit lost those vectors, and aborted the process
    when stopped while the model loaded ("terminate called without an active exception")."""
    from codeseek import filling
    from codeseek.index import Store
    from codeseek.progress import read as read_progress
    from codeseek.repo import open_workspace

    body = "".join(f"    step_{k} = transform(request, stage={k}, retries=attempts)\n" for k in range(24))
    files = {f"pkg/mod{i}.py": "".join(f"def handler_{i}_{j}(request, attempts):\n{body}    return step_0\n\n\n"
                                       for j in range(8)) for i in range(filling.INLINE_LIMIT // 2)}
    root = make_repo(files)  # 1,024 chunks of a model's whole context each: seconds to embed
    server = subprocess.Popen([sys.executable, "-P", "-m", "codeseek", "serve"], stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: warm.running() is not None)
        found = codeseek(root, "find", "retry the request", "--json", "-k", "1")
        assert found.returncode == 0 and "being embedded by the warm process" in found.stderr, found.stderr
        index_dir = open_workspace(root).index_dir

        def embedded_so_far() -> int:
            report = read_progress(index_dir)
            return report.done if report is not None else 0

        wait_for(lambda: embedded_so_far() >= 32)
        warm.stop()
        assert server.wait(30) == 0
    finally:
        server.kill()
        _, stderr = server.communicate()
    assert "terminate called" not in stderr, stderr
    with Store(index_dir) as store:
        embedded, total = store.chunks.embedded_count(), store.chunks.counts().chunks
    assert 32 <= embedded < total  # saved at the stop, long before its first 30 s


def test_sigusr1_writes_every_threads_stack_to_the_log_and_it_serves_on(make_repo: MakeRepo, warm) -> None:
    """`kill -USR1` on a warm process that seems stuck: each thread's stack goes to its log (what
    a test that timed out waiting for it reports), and it keeps answering."""
    root = make_repo()
    assert codeseek(root, "find", "retry with backoff", "-k", "1").returncode == 0
    where = started(warm)
    log = warm.runtime_folder() / warm.LOG_NAME
    os.kill(where.pid, signal.SIGUSR1)
    wait_for(lambda: "most recent call first" in log.read_text(), 10)
    assert "_watch" in log.read_text()  # the main thread, waiting to stop
    again = codeseek(root, "find", "rate limiter", "--json", "-k", "1")
    assert again.returncode == 0 and warm.running()["pid"] == where.pid
