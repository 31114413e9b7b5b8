"""A first search answers at once from words; a detached worker fills in the vectors behind
it. Real subprocesses, real locks, the real model, SIGKILL at random moments."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import time
from pathlib import Path

from codeseek import indexing, outcome, report
from codeseek.embedding import EngineChoice
from codeseek.index import Store
from codeseek.repo import open_workspace

from .conftest import MakeRepo, codeseek, wait_for


def many_functions(count: int) -> dict[str, str]:
    return {f"pkg/mod{i}.py": "\n\n".join(f"def compute_{i}_{j}(value):\n    return value * {j} + {i}"
                                          for j in range(40)) for i in range(count // 40)}


def status(root: Path) -> dict:
    ws = open_workspace(root)
    return report.status(ws, outcome.last(ws.index_dir)).to_json()


def worker_pid(output: str) -> int:
    return int(re.search(r"background worker \(pid (\d+)\)", output).group(1))


def alive(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)  # reap it if it was ours and has exited
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def test_a_first_search_answers_from_words_and_the_vectors_follow(make_repo: MakeRepo) -> None:
    root = make_repo({**many_functions(400), "net/retry.py": "def retry_with_backoff(fn):\n    return fn()\n"})
    began = time.monotonic()
    first = codeseek(root, "find", "retry_with_backoff", "--json", "-k", "1")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)[0]["symbol"] == "retry_with_backoff"
    assert "indexing its words first" in first.stderr and "being embedded by a background worker" in first.stderr
    assert time.monotonic() - began < 60  # no waiting for 400 embeddings (and no model load in this process)
    pid = worker_pid(first.stderr)
    report = status(root)
    assert report["total"] == report["chunks"] and report["embedded"] < report["total"]
    # A second search neither waits for the worker nor starts another.
    second = codeseek(root, "find", "compute value", "--json")
    assert second.returncode == 0 and "background worker" not in second.stderr
    wait_for(lambda: not alive(pid), 240)
    report = status(root)
    assert report["embedded"] == report["total"] == report["chunks"] and report["unembedded"] == 0
    assert report["embedding"] is None and report["background"]["ok"] is True
    done = codeseek(root, "find", "multiply a value", "--json")
    assert "without vectors" not in done.stderr


def test_two_workers_never_embed_at_once(make_repo: MakeRepo) -> None:
    root = make_repo(many_functions(400))
    ws = open_workspace(root)
    indexing.update(ws, EngineChoice())
    with Store(ws.index_dir) as store, store.embedding() as take:
        assert take()
        # Another process finds the embedding taken and leaves it alone, at once.
        began = time.monotonic()
        other = codeseek(root, "hooks", "run", "background")
        assert other.returncode == 0 and time.monotonic() - began < 60
        assert status(root)["embedded"] == 0


def test_killing_the_worker_at_random_moments_loses_at_most_a_checkpoint(make_repo: MakeRepo) -> None:
    root = make_repo(many_functions(600))
    first = codeseek(root, "find", "compute", "--json")
    assert first.returncode == 0, first.stderr
    rng = random.Random(11)
    pid = worker_pid(first.stderr)
    kills = 0
    while kills < 3 and alive(pid):
        wait_until = time.monotonic() + rng.uniform(2.0, 8.0)  # or until the worker is done: then nothing to kill
        while alive(pid) and time.monotonic() < wait_until:
            time.sleep(0.05)
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
            kills += 1
        wait_for(lambda p=pid: not alive(p), 30)
        with Store(root / ".git" / "codeseek") as store:  # opens, answers, and its counts are true
            assert store.vectors.count() == len(store.vectors.get(store.vectors.keys()))
        report = status(root)
        assert report["embedded"] + report["unembedded"] == report["total"]
        again = codeseek(root, "find", "compute", "--json")
        assert again.returncode == 0, again.stderr
        if "background worker" not in again.stderr:
            break
        pid = worker_pid(again.stderr)
    wait_for(lambda: not alive(pid), 240)
    final = codeseek(root, "index")
    assert final.returncode == 0, final.stderr
    report = status(root)
    assert report["embedded"] == report["total"] == 600 and report["unembedded"] == 0


def test_index_reports_progress_in_plain_lines_off_a_terminal(make_repo: MakeRepo) -> None:
    root = make_repo(many_functions(200))
    result = codeseek(root, "index")
    assert result.returncode == 0
    assert re.search(r"codeseek: embed 200 of 200 \(100%\)", result.stderr), result.stderr
