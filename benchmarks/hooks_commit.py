"""`git commit` wall time with and without codeseek's hooks, in the standard-library-sized
repository that index_stdlib.py builds (same --limit/--workdir). Between commits the
background update is left to finish, so each commit is timed on a quiet machine.

    python benchmarks/hooks_commit.py [--limit N] [--rounds R]
"""

from __future__ import annotations

import fcntl
import statistics
import subprocess
import time
from pathlib import Path

from index_stdlib import GIT_ENV, git, stdlib_arguments

from codeseek import hooks
from codeseek.repo import open_workspace


def commit_times(root: Path, rounds: int, tag: str, settle: bool) -> list[float]:
    times = []
    target = root / "codeseek_bench_hooks.py"
    for i in range(rounds):
        target.write_text(f"def bench_{tag}_{i}(value):\n    return value + {i}\n")
        git(root, "add", target.name)
        began = time.perf_counter()
        subprocess.run(["git", "commit", "-q", "-m", f"{tag} {i}"], cwd=root, check=True, env=GIT_ENV)
        times.append((time.perf_counter() - began) * 1000)
        if settle:
            wait_for_background(root)
    return times


def wait_for_background(root: Path) -> None:
    index_dir = open_workspace(root).index_dir
    time.sleep(0.2)
    while (index_dir / hooks.REQUEST_NAME).exists() or _locked(index_dir / hooks.WORKER_LOCK):
        time.sleep(0.1)


def _locked(path: Path) -> bool:
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return False
        except BlockingIOError:
            return True


def main() -> None:
    args, root = stdlib_arguments(__doc__, rounds=10)
    ws = open_workspace(root)
    hooks.uninstall(ws)
    files = len(subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True).stdout.splitlines())
    without = commit_times(root, args.rounds, "plain", settle=False)
    hooks.install(ws)
    try:
        with_hooks = commit_times(root, args.rounds, "hooked", settle=True)
    finally:
        hooks.uninstall(ws)
    print(f"repository: {files} files")
    print(f"git commit without hooks: median {statistics.median(without):6.1f} ms, max {max(without):6.1f} ms")
    print(f"git commit with hooks:    median {statistics.median(with_hooks):6.1f} ms, max {max(with_hooks):6.1f} ms")
    print(f"added by the hook: {statistics.median(with_hooks) - statistics.median(without):+.1f} ms (median)")


if __name__ == "__main__":
    main()
