"""Sharing the standard library's index through a git remote: artifact size and import time.

    python benchmarks/share_stdlib.py [--limit N] [--workdir DIR]

Needs the stdlib repository with a complete index (first_answer.py or index_stdlib.py leave
one). Pushes its vectors as int8 and as f16 to a bare repository, then pulls each into a
fresh clone; reports bytes per chunk, push and pull times, how far int8 moves the vectors,
and what the clone's first update then embeds (nothing).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
from index_stdlib import CODESEEK, stdlib_arguments

from codeseek import filling
from codeseek.embedding import EngineChoice
from codeseek.index import Store
from codeseek.repo import open_workspace
from codeseek.report import status


def timed(root: Path, *args: str) -> float:
    began = time.perf_counter()
    subprocess.run(args, cwd=root, check=True, capture_output=True)
    return time.perf_counter() - began


def vectors(root: Path) -> dict[int, np.ndarray]:
    with Store(open_workspace(root).index_dir) as store:
        return store.vectors.get(store.vectors.keys())


def main() -> None:
    _, root = stdlib_arguments(__doc__)
    report = status(open_workspace(root)).to_json()
    assert report["embedded"] == report["total"], "index the stdlib repository completely first"
    chunks = report["chunks"]
    remote = root.parent / "stdlib-remote.git"
    shutil.rmtree(remote, ignore_errors=True)
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    subprocess.run(["git", "push", "-q", str(remote), "HEAD:refs/heads/main"], cwd=root, check=True)
    original = vectors(root)
    print(f"{chunks:,} chunks, {len(original):,} vectors of {report['model']} ({report['dim']} dims)")
    for dtype in ("int8", "f16"):
        push_s = timed(root, *CODESEEK, "push", str(remote), "--dtype", dtype)
        ref = subprocess.run(["git", "ls-tree", "-l", "refs/codeseek/all-minilm-l6-v2-384"], cwd=root,
                             capture_output=True, text=True, check=True).stdout
        artifact = sum(int(line.split()[3]) for line in ref.splitlines())
        clone = root.parent / f"stdlib-clone-{dtype}"
        shutil.rmtree(clone, ignore_errors=True)
        subprocess.run(["git", "clone", "-q", "-b", "main", str(remote), str(clone)], check=True)
        pull_s = timed(clone, *CODESEEK, "pull")
        began = time.perf_counter()
        result = filling.index_all(open_workspace(clone), EngineChoice())
        update_s = time.perf_counter() - began
        imported = vectors(clone)
        agreement = np.mean([float(imported[k] @ original[k]) for k in list(original)[:20000]])
        print(f"{dtype}: artifact {artifact / 1e6:.1f} MB = {artifact / chunks:.0f} bytes/chunk; push {push_s:.1f} s; "
              f"pull into a fresh clone {pull_s:.1f} s; its first update {update_s:.1f} s embedding "
              f"{result.embedded} texts; mean cosine to the original vectors {agreement:.5f}")


if __name__ == "__main__":
    main()
