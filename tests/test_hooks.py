"""Hooks through real git (and the real pre-commit framework): the index follows every
commit, checkout, merge and rewrite, and nothing codeseek does can break a git command."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from codeseek import hooks, outcome
from codeseek.index import Store
from codeseek.repo import open_workspace

from .conftest import MakeRepo, codeseek, git, wait_for

ROOT = Path(__file__).resolve().parent.parent
FILES = {"a.py": "def alpha(x):\n    return x + 1\n", "b.py": "def beta(y):\n    return y * 2\n"}


@pytest.fixture(autouse=True)
def codeseek_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hooks run `codeseek` (pre-commit's) or this Python (installed ones) in a subprocess."""
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")


def settled(root: Path, index_dir: Path | None = None, hook: str | None = None) -> dict:
    """Wait for the background work to finish (that of the `hook` stage, when given: an index
    already current from an earlier stage's work looks finished before the next stage's worker
    has even started); return the status it leaves."""
    index_dir = index_dir or root / ".git" / "codeseek"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        time.sleep(0.1)
        if (index_dir / hooks.REQUEST_NAME).exists() or not (index_dir / "index.db").exists():
            continue
        with open(index_dir / hooks.WORKER_LOCK, "a+") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
        report = json.loads(codeseek(root, "status", "--json").stdout)
        if report["indexed_commit"] == report["head"] and report["background"] and (
                hook is None or report["background"].get("hook") == hook):
            return report
    raise AssertionError("background update did not finish")


def symbols(root: Path) -> set[str]:
    with Store(open_workspace(root).index_dir) as store:
        return {ref.symbol for ref in store.chunks.refs()}


def test_install_keeps_and_restores_an_existing_hook(make_repo: MakeRepo) -> None:
    root = make_repo(FILES)
    mine = root / ".git" / "hooks" / "post-commit"
    mine.write_text("#!/bin/sh\necho mine >> \"$(git rev-parse --git-dir)/mine.log\"\n")
    mine.chmod(0o755)
    result = codeseek(root, "hooks", "install")
    assert result.returncode == 0 and "kept your post-commit hook" in result.stderr
    assert hooks.is_ours(mine) and (root / ".git" / "hooks" / "post-commit.codeseek-chained").exists()
    git(root, "commit", "-q", "--allow-empty", "-m", "two")
    assert (root / ".git" / "mine.log").read_text() == "mine\n"  # the chained hook still runs
    settled(root)
    assert codeseek(root, "hooks", "uninstall").returncode == 0
    assert mine.read_text().startswith("#!/bin/sh\necho mine")
    assert sorted(p.name for p in (root / ".git" / "hooks").iterdir() if not p.name.endswith(".sample")) == [
        "post-commit"]


def test_core_hooks_path_is_honoured(make_repo: MakeRepo, tmp_path: Path) -> None:
    root = make_repo(FILES)
    shared = tmp_path / "shared-hooks"
    git(root, "config", "core.hooksPath", str(shared))
    assert codeseek(root, "hooks", "install").returncode == 0
    assert hooks.is_ours(shared / "post-merge")
    git(root, "config", "core.hooksPath", ".githooks")
    refused = codeseek(root, "hooks", "install")
    assert refused.returncode == 1 and "core.hooksPath is .githooks" in refused.stderr
    assert codeseek(root, "hooks", "install", "--force").returncode == 0
    assert hooks.is_ours(root / ".githooks" / "post-checkout")


def test_the_index_follows_git(make_repo: MakeRepo, warm) -> None:
    root = make_repo(FILES)
    assert codeseek(root, "hooks", "install").returncode == 0
    server = subprocess.Popen([sys.executable, "-P", "-m", "codeseek", "serve", "--idle", "120"], cwd=root,
                              stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: warm.running() is not None, 120)

        (root / "c.py").write_text("def gamma(z):\n    return z - 1\n")
        git(root, "add", "c.py")
        git(root, "commit", "-q", "-m", "gamma")
        assert settled(root)["pending"] == 0 and "gamma" in symbols(root)

        (root / "c.py").write_text("def gamma_amended(z):\n    return z - 2\n")
        git(root, "commit", "-q", "-a", "--amend", "--no-edit")
        settled(root)
        assert {"gamma_amended"} <= symbols(root) and "gamma" not in symbols(root)

        git(root, "checkout", "-q", "-b", "feature")
        (root / "d.py").write_text("def delta():\n    return 4\n")
        git(root, "add", "d.py")
        git(root, "commit", "-q", "-m", "delta")
        settled(root)
        git(root, "checkout", "-q", "main")
        settled(root)
        assert "delta" not in symbols(root)

        (root / "e.py").write_text("def epsilon():\n    return 5\n")
        git(root, "add", "e.py")
        git(root, "commit", "-q", "-m", "epsilon")
        git(root, "merge", "-q", "--no-edit", "feature")
        settled(root)
        assert {"delta", "epsilon"} <= symbols(root)

        git(root, "checkout", "-q", "-b", "topic", "HEAD~1")
        for name in ("zeta", "eta"):
            (root / f"{name}.py").write_text(f"def {name}():\n    return 0\n")
            git(root, "add", f"{name}.py")
            git(root, "commit", "-q", "-m", name)
        git(root, "rebase", "-q", "main")
        assert settled(root)["pending"] == 0

        env = {**os.environ, "GIT_SEQUENCE_EDITOR": "sed -i -e '2s/^pick/squash/'", "GIT_EDITOR": "true"}
        subprocess.run(["git", "rebase", "-q", "-i", "HEAD~2"], cwd=root, env=env, check=True, capture_output=True)
        report = settled(root)
        assert report["pending"] == 0 and {"zeta", "eta", "delta"} <= symbols(root)

        git(root, "checkout", "-q", "main")
        git(root, "cherry-pick", "topic")
        report = settled(root)
        assert report["indexed_commit"] == git(root, "rev-parse", "HEAD").strip()
        assert {"zeta", "eta"} <= symbols(root)
        assert report["background"]["ok"] is True
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_failing_engine_never_breaks_the_commit(make_repo: MakeRepo) -> None:
    root = make_repo(FILES)
    (root / ".codeseek.toml").write_text('backend = "http"\nbase_url = "http://127.0.0.1:9/v1"\n')
    assert codeseek(root, "hooks", "install").returncode == 0
    began = time.perf_counter()
    commit = subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", "x"], cwd=root, capture_output=True)
    assert commit.returncode == 0 and time.perf_counter() - began < 2
    index_dir = open_workspace(root).index_dir
    wait_for(lambda: outcome.last(index_dir) is not None, 120)
    failed = outcome.last(index_dir)
    assert failed is not None and failed.ok is False and "http://127.0.0.1:9/v1" in failed.error
    assert (root / ".git" / "codeseek" / "hooks.log").read_text().count("Traceback") == 1


def test_repository_modules_do_not_shadow_codeseek(make_repo: MakeRepo) -> None:
    """Hooks run from the repository's root: its own `click.py` must not replace click."""
    root = make_repo({**FILES, "click.py": "raise ImportError('the repository shadowed click')\n"})
    assert codeseek(root, "hooks", "install").returncode == 0
    git(root, "commit", "-q", "--allow-empty", "-m", "x")
    report = settled(root)
    assert report["background"]["ok"] is True, report["background"]


def test_linked_worktree_has_its_own_index(make_repo: MakeRepo, tmp_path: Path) -> None:
    root = make_repo(FILES)
    assert codeseek(root, "hooks", "install").returncode == 0
    tree = tmp_path / "wt"
    git(root, "worktree", "add", "-q", "-b", "side", str(tree))
    (tree / "w.py").write_text("def worktree_only():\n    return 1\n")
    git(tree, "add", "w.py")
    git(tree, "commit", "-q", "-m", "side")
    index_dir = root / ".git" / "codeseek" / "worktrees" / "wt"
    assert settled(tree, index_dir)["head"] == git(tree, "rev-parse", "HEAD").strip()
    assert "worktree_only" in symbols(tree)


def test_submodule_hooks_and_index(make_repo: MakeRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    library = make_repo({"lib.py": "def library_helper():\n    return 1\n"}, name="library")
    root = make_repo(FILES)
    monkeypatch.setenv("GIT_ALLOW_PROTOCOL", "file")
    git(root, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(library), "vendored-lib")
    git(root, "commit", "-q", "-m", "add submodule")
    sub = root / "vendored-lib"
    assert codeseek(sub, "hooks", "install").returncode == 0
    assert hooks.is_ours(root / ".git" / "modules" / "vendored-lib" / "hooks" / "post-commit")
    (sub / "more.py").write_text("def submodule_addition():\n    return 2\n")
    git(sub, "add", "more.py")
    git(sub, "commit", "-q", "-m", "more")
    index_dir = root / ".git" / "modules" / "vendored-lib" / "codeseek"
    assert settled(sub, index_dir)["head"] == git(sub, "rev-parse", "HEAD").strip()
    assert {"library_helper", "submodule_addition"} <= symbols(sub)


def test_bursts_of_hooks_coalesce(make_repo: MakeRepo) -> None:
    """Hooks fired while a worker runs leave it one request: it runs once more, and they exit."""
    many = {f"m{i}.py": "\n\n".join(f"def f_{i}_{j}(v):\n    return v * {j}" for j in range(40)) for i in range(10)}
    root = make_repo({**FILES, **many})  # 400 chunks to embed: the first worker runs for seconds
    first = subprocess.Popen([sys.executable, "-P", "-m", "codeseek", "hooks", "run", "post-commit"], cwd=root)
    index_dir = root / ".git" / "codeseek"
    wait_for(lambda: (index_dir / "embedding.json").exists(), 120)  # it holds the lock, embedding
    burst = [subprocess.Popen([sys.executable, "-P", "-m", "codeseek", "hooks", "run", "post-commit"], cwd=root)
             for _ in range(3)]
    assert [w.wait(timeout=300) for w in [*burst, first]] == [0, 0, 0, 0]
    log = (index_dir / "hooks.log").read_text().splitlines()
    assert len(log) == 1 and json.loads(log[0])["ok"], log


PRE_COMMIT = shutil.which("pre-commit", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")


@pytest.mark.skipif(PRE_COMMIT is None, reason="needs the pre-commit framework (pip install -e '.[test]')")
def test_pre_commit_framework_runs_this_repositorys_hooks(make_repo: MakeRepo, tmp_path: Path) -> None:
    # try-repo needs a git repository holding the hooks: this one, less the 50 MB of model
    # weights that the hooks never read (copying and committing them took most of this test).
    source = tmp_path / "codeseek-src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.egg-info",
                                                                "*.onnx", "*.safetensors"),
                    symlinks=True)
    git(source, "init", "-q")
    git(source, "add", "-A")
    git(source, "commit", "-q", "-m", "snapshot")
    root = make_repo(FILES)
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}
    for hook_id, stage in (("codeseek-staged", "pre-commit"), ("codeseek", "post-commit")):
        began = time.perf_counter()
        result = subprocess.run([PRE_COMMIT, "try-repo", str(source), hook_id, "--hook-stage", stage,
                                 "--verbose"], cwd=root, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Passed" in result.stdout and time.perf_counter() - began < 60
        settled(root, hook=stage)  # fails unless this stage's background work is recorded
