"""codeseek on a Linux-kernel-sized repository: the Debian `linux-source-6.1` package as a git
repository (about 80,000 files), on this machine.

    python benchmarks/kernel.py [--workdir DIR] [--phases first,update,hooks,lexical,hybrid,status,share]

Phases (each prints one table row or a few lines; run them in this order, as later ones use
the index the first builds):
- first: `codeseek chunks` over the same files (the yardstick: chunking every file in as
  many processes as indexing uses) against the first `codeseek find` from no index (words
  only: it indexes the files and words, then answers), with the peak memory of the whole
  process tree and the index's size on disk.
- update: `update` after a one-file commit (the non-embedding part), 10 rounds.
- hooks: `git commit` with and without codeseek's hooks.
- lexical: warm `find` p50/p99 in lexical mode through the warm process (with the freshness
  check, and without it).
- hybrid: a vector for every chunk, made without the model (their values do not matter to
  search cost) but stored through codeseek's own storage, at 384 and 1024 dimensions; then
  warm hybrid `find` in process (a fake query engine of the same dimension, declared as
  such), p50/p99.
- status: `status`, `status --check`, and `push`/`pull` (time, size) at that scale.
Nothing is committed: the source package is downloaded from Debian's archive.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from index_stdlib import CODESEEK, GIT_ENV, commit_all, git

from codeseek import indexing, search
from codeseek.embedding import EngineChoice, ModelInfo
from codeseek.embedding.base import Embedder
from codeseek.index import Store
from codeseek.protocol import Mode
from codeseek.repo import open_workspace

PACKAGE = "linux-source-6.1"
QUERIES = ["allocate a DMA buffer for the device", "spin lock with interrupts disabled", "parse the kernel command line",
           "retry the transfer after a timeout", "free the socket buffer", "read a register over i2c",
           "schedule delayed work on a workqueue", "checksum of a network packet", "mount a filesystem",
           "copy data from user space", "kmalloc", "mutex_lock", "struct sk_buff", "page fault handler",
           "initialise the PCI device", "wait for completion with a timeout", "hash table lookup", "rb tree insert",
           "open a file in the virtual file system", "send a netlink message"]
CHECKPOINT = 65_536


def prepare(workdir: Path) -> Path:
    """The kernel source as a git repository (made once, reused)."""
    root = workdir / "linux"
    if (root / ".git").exists():
        return root
    workdir.mkdir(parents=True, exist_ok=True)
    debs = list(workdir.glob(f"{PACKAGE}_*.deb"))
    if not debs:
        subprocess.run(["apt-get", "download", PACKAGE], cwd=workdir, check=True)
        debs = list(workdir.glob(f"{PACKAGE}_*.deb"))
    unpacked = workdir / "deb"
    subprocess.run(["dpkg", "-x", str(debs[0]), str(unpacked)], check=True)
    (archive,) = unpacked.glob("usr/src/linux-source-*.tar.*")
    with tarfile.open(archive) as tar:
        tar.extractall(workdir / "src", filter="data")
    (tree,) = (workdir / "src").iterdir()
    tree.rename(root)
    shutil.rmtree(unpacked)
    # Debian's packaging appends "ignore everything at the top level" to the kernel's own
    # .gitignore (its repository holds only debian/): drop that block, keep the kernel's rules.
    ignore = root / ".gitignore"
    ignore.write_text(ignore.read_text().split("#\n# Debian packaging")[0])
    git(root, "init", "-q")
    commit_all(root, "linux")
    return root


class Sampler:
    """Peak resident memory of a process and all its descendants, sampled every 0.2 s."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self.done = pid, 0, False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _tree(self, pid: int) -> list[int]:
        out = [pid]
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                out += [c for child in (task / "children").read_text().split() for c in self._tree(int(child))]
            except OSError:
                pass
        return out

    def _run(self) -> None:
        while not self.done:
            total = 0
            for pid in self._tree(self.pid):
                try:
                    total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
                except OSError:
                    pass
            self.peak = max(self.peak, total)
            time.sleep(0.2)

    def stop(self) -> int:
        self.done = True
        self.thread.join()
        return self.peak


def timed_process(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, int, str]:
    """Wall time, peak memory of the process tree, and stdout of a command."""
    began = time.perf_counter()
    proc = subprocess.Popen(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})
    sampler = Sampler(proc.pid)
    out, err = proc.communicate()
    peak = sampler.stop()
    if proc.returncode:
        raise SystemExit(f"{' '.join(args)} failed: {err[-2000:]}")
    return time.perf_counter() - began, peak, out


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered):.1f} ms, p99 {p99:.1f} ms (n={len(ordered)})"


def first(root: Path) -> None:
    ws = open_workspace(root)
    indexing.remove_index(ws)
    chunker = [sys.executable, "-c", (
        "import pathlib\n"
        "from codeseek.chunking import chunk_many\n"
        "from codeseek.repo import list_files, open_workspace\n"
        "files = [(p, pathlib.Path(p).read_bytes()) for p in list_files(open_workspace('.'))]\n"
        "chunks = sum(len(c) for _, c in chunk_many(files))\n"
        "print(len(files), chunks)\n")]
    chunk_s, chunk_mem, out = timed_process(chunker, root)
    files, chunks = out.split()
    print(f"chunks (yardstick): {int(files):,} files, {int(chunks):,} chunks in {chunk_s:.0f} s, "
          f"peak {chunk_mem / 2**30:.2f} GiB")
    find_s, find_mem, out = timed_process([*CODESEEK, "find", QUERIES[0], "--json", "--no-wait"], root,
                                          {"CODESEEK_SERVER": "0"})
    top = json.loads(out)[0]
    size = sum(p.stat().st_size for p in ws.index_dir.rglob("*") if p.is_file())
    with Store(ws.index_dir) as store:
        static = store.chunks.embedded_count(static=True)
    print(f"first find (no index; words and the static tier): {find_s:.0f} s = {find_s / chunk_s:.2f}x chunks, peak "
          f"{find_mem / 2**30:.2f} GiB, index {size / 2**30:.2f} GiB on disk; first hit {top['path']} {top['symbol']}; "
          f"{static:,} of {int(chunks):,} chunks with a static vector when it answered")


def update(root: Path, rounds: int = 10) -> None:
    ws = open_workspace(root)
    engine = EngineChoice()
    targets = sorted(p for p in (root / "kernel").glob("*.c"))[:rounds]
    timings = []
    for i, target in enumerate(targets):
        with target.open("a") as handle:
            handle.write(f"\nstatic int codeseek_bench_{i}(int value)\n{{\n\treturn value + {i};\n}}\n")
        commit_all(root, f"bench {i}")
        began = time.perf_counter()
        result = indexing.update(ws, engine)
        timings.append(time.perf_counter() - began)
        assert result.files_changed == 1, result.summary()
    print(f"update after a one-file commit (non-embedding part): median {statistics.median(timings) * 1000:.0f} ms, "
          f"max {max(timings) * 1000:.0f} ms over {len(timings)} rounds")


def hooks(root: Path, rounds: int = 10) -> None:
    """The hooks' background workers update the words as usual; their embedding is pointed at
    a server that does not exist, so it fails at once instead of embedding the kernel for
    hours beside the measurement (the failure is logged, as any hook's)."""
    env = {**GIT_ENV, "CODESEEK_SERVER": "0", **NO_EMBEDDING}

    def commits() -> list[float]:
        out = []
        for i in range(rounds):
            (root / "codeseek_bench_hooks.c").write_text(f"int codeseek_bench_hook(void) {{ return {i}; }}\n")
            git(root, "add", "codeseek_bench_hooks.c")
            began = time.perf_counter()
            subprocess.run(["git", "commit", "-q", "-m", f"hook bench {i}"], cwd=root, check=True, env=env)
            out.append((time.perf_counter() - began) * 1000)
            time.sleep(1.0)  # the background update runs between commits, as it would between a person's
        return out

    without = commits()
    subprocess.run([*CODESEEK, "hooks", "install"], cwd=root, check=True, capture_output=True)
    try:
        with_hooks = commits()
    finally:
        subprocess.run([*CODESEEK, "hooks", "uninstall"], cwd=root, check=True, capture_output=True)
        time.sleep(5)  # the hooks' background workers finish their updates
    print(f"git commit: median {statistics.median(without):.1f} ms without hooks, "
          f"{statistics.median(with_hooks):.1f} ms with them (+{statistics.median(with_hooks) - statistics.median(without):.1f} ms)")


# The warm process's embedding is pointed at a server that does not exist (as in `hooks`): it
# would otherwise embed the kernel on both cores beside the measurement.
NO_EMBEDDING = {"CODESEEK_BACKEND": "http", "CODESEEK_BASE_URL": "http://127.0.0.1:9/v1"}


def lexical(root: Path, rounds: int = 5) -> None:
    from codeseek import client

    subprocess.run([*CODESEEK, "serve", "--stop"], cwd=root, capture_output=True)  # one started with these settings
    env = {**{k: v for k, v in os.environ.items() if k != "CODESEEK_SERVER"}, **NO_EMBEDDING}
    subprocess.run([*CODESEEK, "find", "warm up", "--mode", "lexical", "--no-wait"], cwd=root, check=True,
                   capture_output=True, env=env)
    repo = {"root": str(root)}
    for no_update in (False, True):
        timings = []
        for _ in range(rounds):
            for query in QUERIES:
                began = time.perf_counter()
                client.call("/find", {"repo": repo, "request": {"query": query, "mode": "lexical", "wait": "none",
                                                                "no_update": no_update}})
                timings.append((time.perf_counter() - began) * 1000)
        label = "search only (--no-update)" if no_update else "freshness check included"
        print(f"warm lexical find, {label}: {percentiles(timings)}")
    timings = []
    for query in QUERIES:
        began = time.perf_counter()
        subprocess.run([*CODESEEK, "find", query, "--mode", "lexical", "--json", "--no-wait"], cwd=root, check=True,
                       capture_output=True, env=env)
        timings.append((time.perf_counter() - began) * 1000)
    print(f"`codeseek find --mode lexical` (a new CLI process, through the warm process): {percentiles(timings)}")
    client.stop()


class RandomEmbedder(Embedder):
    """A fake query engine for the search-cost benchmark (declared as such): a vector derived
    from each text's hash, of the index's dimension. Meaningless, and costless to compute."""

    def __init__(self, info: ModelInfo) -> None:
        self.info, self.max_tokens = info, 128

    def _embed(self, texts: list[str]) -> np.ndarray:
        seeds = [int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little") for t in texts]
        return np.stack([np.random.default_rng(s).standard_normal(self.info.dim) for s in seeds]).astype(np.float32)


def hybrid(root: Path, workdir: Path, dims: tuple[int, ...] = (384, 1024), rounds: int = 5) -> None:
    source = open_workspace(root).index_dir
    for dim in dims:
        copy = workdir / f"index-{dim}"
        if not (copy / "built").exists():
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(source, copy, ignore=shutil.ignore_patterns("vectors", "*.lock", "lock", "*.json"))
            began = time.perf_counter()
            with Store(copy) as store, store.writing():
                keys = sorted({ref.vector_key for ref in store.chunks.refs()})
                rng = np.random.default_rng(dim)
                for start in range(0, len(keys), CHECKPOINT):
                    part = rng.standard_normal((min(CHECKPOINT, len(keys) - start), dim), dtype=np.float32)
                    part /= np.linalg.norm(part, axis=1, keepdims=True)
                    store.vectors.add(keys[start : start + len(part)], part)
                store.vectors.compact(force=True)
                store.db.set_meta({"model": f"bench-random-{dim}", "dim": str(dim), "unembedded": None})
            (copy / "built").write_text("")
            print(f"{dim} dims: {len(keys):,} vectors stored in {time.perf_counter() - began:.0f} s")
        size = sum(p.stat().st_size for p in (copy / "vectors").iterdir())
        with Store(copy) as store:
            info = store.db.model_info()
            assert info is not None
            engine = EngineChoice(embedder=RandomEmbedder(info))
            search.find(store, engine, "warm up", 10, mode=Mode.HYBRID)
            timings = []
            for _ in range(rounds):
                for query in QUERIES:
                    began = time.perf_counter()
                    search.find(store, engine, query, 10, mode=Mode.HYBRID)
                    timings.append((time.perf_counter() - began) * 1000)
        print(f"warm hybrid find at {dim} dims (vectors {size / 2**30:.2f} GiB): {percentiles(timings)}")


def status(root: Path, workdir: Path) -> None:
    for args in (["status"], ["status", "--check"]):
        elapsed, peak, _ = timed_process([*CODESEEK, *args], root)
        print(f"`codeseek {' '.join(args)}`: {elapsed:.1f} s, peak {peak / 2**30:.2f} GiB")
    copy = workdir / "index-384"
    remote = workdir / "remote.git"
    shutil.rmtree(remote, ignore_errors=True)
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    env = {"CODESEEK_INDEX_DIR": str(copy)}
    push_s, push_mem, _ = timed_process([*CODESEEK, "push", str(remote)], root, env)
    ref = subprocess.run(["git", "ls-tree", "-l", "-r", "refs/codeseek/bench-random-384-384"], cwd=root,
                         capture_output=True, text=True, check=True).stdout
    size = sum(int(line.split()[3]) for line in ref.splitlines())
    with tempfile.TemporaryDirectory(dir=workdir) as scratch:
        pull_env = {"CODESEEK_INDEX_DIR": str(Path(scratch) / "index")}
        pull_s, pull_mem, _ = timed_process([*CODESEEK, "pull", str(remote)], root, pull_env)
    print(f"push: {push_s:.0f} s, artifact {size / 2**20:.0f} MiB, peak {push_mem / 2**30:.2f} GiB; "
          f"pull into an empty index: {pull_s:.0f} s, peak {pull_mem / 2**30:.2f} GiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "codeseek-kernel")
    parser.add_argument("--phases", default="first,update,hooks,lexical,hybrid,status")
    args = parser.parse_args()
    root = prepare(args.workdir)
    files = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True, check=True).stdout.count("\n")
    print(f"repository: {root} ({files:,} files)", flush=True)
    phases = {"first": lambda: first(root), "update": lambda: update(root), "hooks": lambda: hooks(root),
              "lexical": lambda: lexical(root), "hybrid": lambda: hybrid(root, args.workdir),
              "status": lambda: status(root, args.workdir)}
    for name in args.phases.split(","):
        began = time.perf_counter()
        phases[name]()
        print(f"  ({name}: {time.perf_counter() - began:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
