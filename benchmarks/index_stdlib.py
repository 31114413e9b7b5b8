"""Index a copy of the Python standard library and report time per phase and query latency.

    python benchmarks/index_stdlib.py [--limit N] [--workdir DIR]

The copy is made into a git repository once (reused across runs with --workdir), then
indexed from scratch with the default engine.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

from codeseek import filling, indexing, search
from codeseek.embedding import EngineChoice
from codeseek.index import Store
from codeseek.repo import open_workspace

# The CLI as a new process; -P: the stdlib copy in the working folder must not shadow imports.
CODESEEK = [sys.executable, "-P", "-m", "codeseek"]

QUERIES = [
    "decode a JSON document from a string",
    "retry with backoff",
    "parse command line arguments",
    "compute the md5 hash of a file",
    "send an email over SMTP",
    "read a zip archive",
    "format a date as ISO 8601",
    "copy a directory tree recursively",
]


GIT_ENV = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@localhost", "GIT_COMMITTER_NAME": "bench",
           "GIT_COMMITTER_EMAIL": "bench@localhost", "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, env=GIT_ENV)


def commit_all(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)


def stdlib_arguments(
    description: str | None, rounds: int | None = None, switches: dict[str, str] | None = None
) -> tuple[argparse.Namespace, Path]:
    """The options the stdlib benchmarks share (and a script's own on/off switches: name ->
    help), and the repository they name."""
    parser = argparse.ArgumentParser(description=description)
    for name, explained in (switches or {}).items():
        parser.add_argument(name, action="store_true", help=explained)
    parser.add_argument("--limit", type=int, help="only the first N files")
    parser.add_argument("--no-tests", action="store_true",
                        help="leave out the test folders (test/, tests/, idle_test/): about a third of the chunks")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "codeseek-bench")
    if rounds is not None:
        parser.add_argument("--rounds", type=int, default=rounds)
    args = parser.parse_args()
    return args, stdlib_repo(args.workdir, args.limit, tests=not args.no_tests)


TEST_FOLDERS = frozenset({"test", "tests", "idle_test"})


def stdlib_repo(workdir: Path, limit: int | None, tests: bool = True) -> Path:
    """A git repository holding the stdlib's .py files (the first `limit` of them, if given;
    without the test folders' files if `tests` is False)."""
    root = workdir / f"stdlib-{limit or 'all'}{'' if tests else '-notests'}"
    if (root / ".git").exists():
        return root
    source = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in source.rglob("*.py") if "site-packages" not in p.parts and "__pycache__" not in p.parts
                   and (tests or not TEST_FOLDERS & set(p.relative_to(source).parts)))
    for path in files[:limit]:
        target = root / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    git(root, "init", "-q")
    commit_all(root, "stdlib")
    return root


def main() -> None:
    _, root = stdlib_arguments(__doc__)
    ws = open_workspace(root)
    indexing.remove_index(ws)
    size = sum(p.stat().st_size for p in root.rglob("*.py"))

    engine = EngineChoice()
    started = time.perf_counter()
    engine.embedder()
    load = time.perf_counter() - started
    result = filling.index_all(ws, engine)
    t = result.timings
    print(f"repository: {root} ({result.files_changed} files, {size / 1e6:.1f} MB)")
    print(f"model load: {load:.1f} s")
    for phase in ("walk", "parse", "embed", "store"):
        print(f"{phase:>10}: {t.get(phase, 0):8.2f} s")
    total = sum(t.values())
    print(f"{'total':>10}: {total:8.2f} s  ({result.chunks} chunks, {result.embedded} embedded)")
    print(f"chunks/s (parse): {result.chunks / t['parse']:.0f}   chunks/s (embed): {result.embedded / t['embed']:.1f}")

    with Store(ws.index_dir) as store:
        search.find(store, engine, "warm up", 10)
        latencies = []
        for _ in range(3):
            for query in QUERIES:
                began = time.perf_counter()
                search.find(store, engine, query, 10)
                latencies.append((time.perf_counter() - began) * 1000)
        print(f"query latency (in process, warm): p50 {statistics.median(latencies):.1f} ms, "
              f"max {max(latencies):.1f} ms over {len(latencies)} queries")
        print(f"index size: {store.size_on_disk() / 1e6:.1f} MB")


if __name__ == "__main__":
    sys.exit(main())
