"""codeseek on a Linux-kernel-sized repository: the Debian `linux-source-6.1` package as a git
repository (about 80,000 files), on this machine.

    python benchmarks/kernel.py [--workdir DIR] [--phases first,static,update,hooks,lexical,hybrid,status]
        [--hybrid clustered-1024,random-1024,random-384]

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
- static: search quality once every chunk has a static vector (after `first`): the 20
  questions of kernel_questions.toml scored at file level, the static tier and words beside
  words alone, and each search's time in process (p50 / max).
- graphs: the static tier's full flat segments given their graphs (what the background does
  before it embeds; `first` leaves none running), timed; `static` after it times the searches
  on the graphs.
- vectors, hybrid: a vector for every chunk (`vectors` builds the indexes, `hybrid` builds
  any not built and searches them), made without running the model on every chunk (random
  unit vectors, or clustered around the CPU model's vectors of a sample of chunks) but stored
  through codeseek's own storage, at 384 and 1024 dimensions (`--hybrid`); then warm hybrid
  `codeseek find --json` end to end, the query embedded by a stand-in OpenAI-compatible server
  on 127.0.0.1 named in CODESEEK_BASE_URL (declared as such): p50/p99, the warm process's
  memory, and searches while another process merges the segments.
- status: `status`, `status --check`, `push`/`pull` (time, size, memory) at that scale, and
  the first hybrid search of a clone that pulled every vector (texts the engine embedded).
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
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from index_stdlib import CODESEEK, GIT_ENV, commit_all, git
from tasks import file_score
from warm_find import StandIn

from codeseek import filling, indexing, search, sharing
from codeseek.embedding import EngineChoice, ModelInfo
from codeseek.index import SEGMENT_DIR, STATIC_MODEL, UNEMBEDDED, Store, vector_key
from codeseek.index.fingerprint import STATIC_DIR
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


@dataclass(frozen=True)
class Peak:
    """A process tree's peak memory: its processes' resident sizes summed (pages a forked
    worker shares with its parent counted in both), and their proportional sizes summed (each
    shared page split among its sharers: what the tree holds)."""

    resident: int
    proportional: int

    def __str__(self) -> str:
        return f"{self.resident / 2**30:.2f} GiB ({self.proportional / 2**30:.2f} GiB proportional)"


class Sampler:
    """Peak memory of a process and all its descendants, sampled every 0.2 s."""

    def __init__(self, pid: int) -> None:
        self.pid, self.done = pid, False
        self.resident = self.proportional = 0
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
            resident = proportional = 0
            for pid in self._tree(self.pid):
                try:
                    resident += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
                    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
                    proportional += int(rollup.split("\nPss:", 1)[1].split()[0]) * 1024
                except (OSError, IndexError, ValueError):
                    pass
            self.resident, self.proportional = max(self.resident, resident), max(self.proportional, proportional)
            time.sleep(0.2)

    def stop(self) -> Peak:
        self.done = True
        self.thread.join()
        return Peak(self.resident, self.proportional)


def timed_process(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, Peak, str]:
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


def first(root: Path, yardstick_s: float | None = None) -> None:
    """`yardstick_s`: the chunking time of an earlier run on this machine, not measured again."""
    ws = open_workspace(root)
    indexing.remove_index(ws)
    chunker = [sys.executable, "-c", (
        "import pathlib\n"
        "from codeseek.chunking import chunk_many\n"
        "from codeseek.repo import list_files, open_workspace\n"
        "files = [(p, pathlib.Path(p).read_bytes()) for p in list_files(open_workspace('.'))]\n"
        "chunks = sum(len(c) for _, c in chunk_many(files))\n"
        "print(len(files), chunks)\n")]
    if yardstick_s is None:
        chunk_s, chunk_mem, out = timed_process(chunker, root)
        files, chunks = out.split()
        print(f"chunks (yardstick): {int(files):,} files, {int(chunks):,} chunks in {chunk_s:.0f} s, "
              f"peak {chunk_mem}")
    else:
        chunk_s, chunks = yardstick_s, "0"
    # Past transformer_limit (0: always) the static tier ranks and no worker is started to embed
    # the rest (it would embed the kernel on both cores for hours beside the later phases).
    find_s, find_mem, out = timed_process([*CODESEEK, "find", QUERIES[0], "--json", "--no-wait"], root,
                                          {"CODESEEK_SERVER": "0", "CODESEEK_TRANSFORMER_LIMIT": "0"})
    top = json.loads(out)[0]
    size = sum(p.stat().st_size for p in ws.index_dir.rglob("*") if p.is_file())
    with Store(ws.index_dir) as store:
        static = store.chunks.embedded_count(static=True)
    print(f"first find (no index; words and the static tier): {find_s:.0f} s = {find_s / chunk_s:.2f}x chunks, peak "
          f"{find_mem}, index {size / 2**30:.2f} GiB on disk; first hit {top['path']} {top['symbol']}; "
          f"{static:,} chunks with a static vector when it answered")


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


# The hybrid phase's vectors and engine. Its indexes are copies of the kernel's (files, chunks,
# words) made into an index of a benchmark model, declared as such ("bench-<kind>-<dim>"),
# whose query engine is a stand-in server: the warm process reaches it as any OpenAI-compatible
# server named in CODESEEK_BASE_URL, so nothing in codeseek knows it is benchmarked.
SAMPLE_CENTRES = 1024  # chunks the CPU model embeds as the clustered vectors' centres
NOISE = 0.75  # clustered: a chunk's distance from its unit centre (cosine about 0.8 to it)
MERGE_TAIL = 65_536  # the clustered index's second segment: one checkpoint of a fill
MERGE_WINDOW_S = 180.0  # searches timed while a merge runs (stopped then: it takes about a build)
MERGER = ("import sys\nfrom codeseek.index import Store\n"
          "with Store(sys.argv[1]) as store, store.writing():\n    store.vectors.compact(force=True)\n")


def text_seed(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


class RandomVectors:
    """Unit vectors drawn uniformly: the hard case for an HNSW graph, as nothing clusters. A
    query's vector is seeded by its text's hash."""

    kind = "random"

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def documents(self, count: int, rng: np.random.Generator) -> np.ndarray:
        out = rng.standard_normal((count, self.dim), dtype=np.float32)
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out

    def queries(self, texts: list[str]) -> np.ndarray:
        return unit(np.stack([np.random.default_rng(text_seed(t)).standard_normal(self.dim) for t in texts]))


class ClusteredVectors:
    """Clustered as real code embeddings are: the centres are the CPU model's vectors (the
    default ONNX engine) of SAMPLE_CENTRES chunks drawn from the kernel, lifted to `dim` by a
    fixed random orthonormal map (which keeps every cosine between them); a chunk's vector is a
    random centre plus Gaussian noise. A query's vector is the CPU model's, lifted the same way:
    real queries, searched among vectors that sit where the model puts code."""

    kind = "clustered"

    def __init__(self, dim: int, store: Store, rng: np.random.Generator) -> None:
        ids = [i for (i,) in store.db.execute("SELECT id FROM chunks")]
        sample = rng.choice(ids, SAMPLE_CENTRES, replace=False).tolist()
        texts = [chunk.embedding_text() for chunk in store.chunks.by_ids(sample).values()]
        self.model = EngineChoice().embedder()
        self.lock = threading.Lock()
        centres = self.model.embed_documents(texts)
        self.lift = np.linalg.qr(rng.standard_normal((dim, centres.shape[1])))[0].astype(np.float32)
        self.centres = unit(centres @ self.lift.T)
        self.dim = dim

    def documents(self, count: int, rng: np.random.Generator) -> np.ndarray:
        out = np.empty((count, self.dim), dtype=np.float32)
        for start in range(0, count, CHECKPOINT):
            part = out[start : start + CHECKPOINT]
            part[:] = rng.standard_normal(part.shape, dtype=np.float32) * (NOISE / np.sqrt(self.dim))
            part += self.centres[rng.integers(len(self.centres), size=len(part))]
            part /= np.linalg.norm(part, axis=1, keepdims=True)
        return out

    def queries(self, texts: list[str]) -> np.ndarray:
        with self.lock:
            return unit(self.model.embed_queries(texts) @ self.lift.T)


Maker = RandomVectors | ClusteredVectors


def build_index(source: Path, copy: Path, maker: Maker, model: str, tail: int = 0) -> None:
    """A copy of the kernel's index made an index of `model`: every chunk's vector key computed
    for it (as its own indexing would), and a vector for every key stored through codeseek's
    own storage, in one segment or (tail) a base and a last checkpoint-sized segment."""
    if (copy / "built").exists():
        return
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns(SEGMENT_DIR, STATIC_DIR, "*.lock", "lock", "*.json"))
    began = time.perf_counter()
    info = ModelInfo(model, maker.dim, "http", "")
    with Store(copy) as store, store.writing():
        ids = [i for (i,) in store.db.execute("SELECT id FROM chunks")]
        with store.db.transaction() as db:
            for start in range(0, len(ids), CHECKPOINT):
                chunks = store.chunks.by_ids(ids[start : start + CHECKPOINT])
                db.executemany("UPDATE chunks SET vector_key = ? WHERE id = ?",
                               ((vector_key(c.embedding_text(), info), i) for i, c in chunks.items()))
            for table in ("vectors", "segments", "static_vectors", "static_segments"):
                db.execute(f"DELETE FROM {table}")
            store.db.set_meta({"model": model, "dim": str(maker.dim), "engine": None, "engine_version": None,
                               STATIC_MODEL: None, UNEMBEDDED: str(len(ids))}, db)
        keys = [k for (k,) in store.db.execute("SELECT DISTINCT vector_key FROM chunks ORDER BY vector_key")]
        rekeyed = time.perf_counter() - began
        vectors = maker.documents(len(keys), np.random.default_rng(maker.dim))
        split = len(keys) - min(tail, len(keys) // 2)
        store.vectors.add(keys[:split], vectors[:split])
        if tail:
            store.vectors.add(keys[split:], vectors[split:])
        assert store.chunks.settle_unembedded()
    (copy / "built").write_text("")
    print(f"{model}: {len(keys):,} vectors stored in {time.perf_counter() - began:.0f} s "
          f"(keys {rekeyed:.0f} s; {2 if tail else 1} segment(s))", flush=True)


def cli_find(root: Path, env: dict[str, str], query: str) -> float:
    """`codeseek find --json` from a new CLI process, in ms; checks that vectors ranked."""
    began = time.perf_counter()
    out = subprocess.run([*CODESEEK, "find", query, "--json"], cwd=root, env=env, capture_output=True, text=True)
    elapsed = (time.perf_counter() - began) * 1000
    if out.returncode or not json.loads(out.stdout):
        raise SystemExit(f"find {query!r} failed: {out.stderr[-2000:]}")
    return elapsed


def warm_round(root: Path, env: dict[str, str], rounds: int) -> list[float]:
    return [cli_find(root, env, query) for _ in range(rounds) for query in QUERIES]


def request_only(root: Path, copy: Path, url: str, rounds: int) -> list[float]:
    """The same searches sent to the warm process from this process (the request as the CLI
    sends it, with its engine settings): its time without a CLI process's start-up, in ms."""
    from codeseek import client

    engine = {"backend": "http", "base_url": url, "api_key": ""}
    timings = []
    for _ in range(rounds):
        for query in QUERIES:
            began = time.perf_counter()
            client.call("/find", {"repo": {"root": str(root), "index_dir": str(copy)}, "engine": engine,
                                  "request": {"query": query}})
            timings.append((time.perf_counter() - began) * 1000)
    return timings


def during_merge(root: Path, env: dict[str, str], copy: Path) -> tuple[list[float], float | None]:
    """Searches while another process merges the index's segments (the base rewritten:
    the largest merge there is); the merge's time, or None when it was stopped at the window."""
    merge = subprocess.Popen([sys.executable, "-c", MERGER, str(copy)])
    began = time.perf_counter()
    timings: list[float] = []
    while merge.poll() is None and time.perf_counter() - began < MERGE_WINDOW_S:
        timings.append(cli_find(root, env, QUERIES[len(timings) % len(QUERIES)]))
    if merge.poll() is None:
        merge.kill()  # its unlisted temp file is removed by the next writer
        merge.wait()
        return timings, None
    return timings, time.perf_counter() - began


def vectors(root: Path, workdir: Path, run: str) -> tuple[str, Path, Maker]:
    """The index of one hybrid run (KIND-DIM), built unless it was: its model, folder, vectors."""
    kind, dim = run.split("-")[0], int(run.split("-")[1])
    model, copy, source = f"bench-{kind}-{dim}", workdir / f"index-{kind}-{dim}", open_workspace(root).index_dir
    with Store(source) as store:
        maker: Maker = ClusteredVectors(dim, store, np.random.default_rng(0)) if kind == "clustered" \
            else RandomVectors(dim)
    build_index(source, copy, maker, model, tail=MERGE_TAIL if kind == "clustered" else 0)
    return model, copy, maker


def hybrid(root: Path, workdir: Path, runs: str, rounds: int = 5) -> None:
    """Warm hybrid `find` end to end (a new CLI process, answered by the warm process) with a
    vector for every chunk: p50/p99, the warm process's memory, and searches during a merge."""
    from codeseek import client

    base = {k: v for k, v in os.environ.items() if k != "CODESEEK_SERVER"}
    floor = []
    for _ in range(20):
        began = time.perf_counter()
        subprocess.run([sys.executable, "-P", "-c", "import codeseek.quick"], check=True)
        floor.append((time.perf_counter() - began) * 1000)
    print(f"the floor: a process that starts Python and imports the CLI's warm path: {percentiles(floor)}", flush=True)
    for run in runs.split(","):
        model, copy, maker = vectors(root, workdir, run)
        kind, dim = maker.kind, maker.dim
        stand_in = StandIn(model, lambda texts, _dim, maker=maker: maker.queries(texts))
        env = base | {"CODESEEK_INDEX_DIR": str(copy), "CODESEEK_BACKEND": "http", "CODESEEK_BASE_URL": stand_in.url}
        try:
            client.stop()
            first_ms = cli_find(root, env, "warm up")  # starts the warm process, which opens the index
            with Store(copy) as store:
                segments = len(store.vectors.names())
            size = sum(p.stat().st_size for p in (copy / SEGMENT_DIR).iterdir())
            timings = warm_round(root, env, rounds)
            assert stand_in.texts == len(timings) + 1, stand_in.texts  # each search embedded its query, and only it
            rss = (client.running() or {}).get("rss_bytes", 0)
            print(f"warm hybrid `codeseek find --json` at {dim} dims, {kind} vectors ({segments} segment(s), "
                  f"{size / 2**30:.2f} GiB): {percentiles(timings)}; the first (starting the warm process) "
                  f"{first_ms:.0f} ms; warm process {rss / 2**30:.2f} GiB resident", flush=True)
            print(f"  the same requests without the CLI (sent from this process): "
                  f"{percentiles(request_only(root, copy, stand_in.url, rounds))}", flush=True)
            if kind == "clustered":
                during, merged = during_merge(root, env, copy)
                ratio = statistics.median(during) / statistics.median(timings)
                done = f"merged in {merged:.0f} s" if merged else f"merge stopped after {MERGE_WINDOW_S:.0f} s"
                print(f"  during a merge of every segment ({done}): {percentiles(during)}, p50 {ratio:.2f}x "
                      f"the p50 before", flush=True)
                if merged:
                    after = warm_round(root, env, rounds)
                    rss = (client.running() or {}).get("rss_bytes", 0)
                    print(f"  after the merge (1 segment): {percentiles(after)}; warm process "
                          f"{rss / 2**30:.2f} GiB resident", flush=True)
        finally:
            client.stop()
            stand_in.close()


def status(root: Path, workdir: Path) -> None:
    """`status` and `status --check` (the kernel's own index: words and the static tier; then
    the clustered 1024-dimension copy, every vector file read), `push` of the 384-dimension
    copy, `pull` into an empty index, and that clone's first hybrid search."""
    checks = ((["status"], root, {}), (["status", "--check"], root, {}),
              (["status", "--check"], root, {"CODESEEK_INDEX_DIR": str(workdir / "index-clustered-1024")}))
    for args, cwd, env in checks:
        elapsed, peak, _ = timed_process([*CODESEEK, *args], cwd, env)
        which = "the 1024-dim copy" if env else "words and static tier"
        print(f"`codeseek {' '.join(args)}` ({which}): {elapsed:.1f} s, peak {peak}", flush=True)
    model, copy = "bench-random-384", workdir / "index-random-384"
    remote = workdir / "remote.git"
    shutil.rmtree(remote, ignore_errors=True)
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    push_s, push_mem, _ = timed_process([*CODESEEK, "push", str(remote)], root, {"CODESEEK_INDEX_DIR": str(copy)})
    ref = subprocess.run(["git", "ls-tree", "-l", "-r", sharing.ref_for(model, 384)], cwd=remote,
                         capture_output=True, text=True, check=True).stdout
    size = sum(int(line.split()[3]) for line in ref.splitlines())
    print(f"push: {push_s:.0f} s, artifact {size / 2**20:.0f} MiB, peak {push_mem}", flush=True)
    clone = workdir / "clone-index"
    shutil.rmtree(clone, ignore_errors=True)
    clone_env = {"CODESEEK_INDEX_DIR": str(clone)}
    pull_s, pull_mem, _ = timed_process([*CODESEEK, "pull", str(remote)], root, clone_env)
    print(f"pull into an empty index: {pull_s:.0f} s, peak {pull_mem}", flush=True)
    # The clone's first search indexes its files and words; every chunk's vector is there.
    stand_in = StandIn(model, lambda texts, _dim: RandomVectors(384).queries(texts))
    engine = {"CODESEEK_BACKEND": "http", "CODESEEK_BASE_URL": stand_in.url}
    try:
        find_s, find_mem, out = timed_process([*CODESEEK, "find", QUERIES[0], "--json"], root,
                                              clone_env | engine | {"CODESEEK_SERVER": "0"})
        _, _, report = timed_process([*CODESEEK, "status", "--json"], root, clone_env | engine)
    finally:
        stand_in.close()
    found = json.loads(report)
    print(f"the clone's first hybrid `find` (indexing its files and words): {find_s:.0f} s, peak "
          f"{find_mem}, {len(json.loads(out))} hits; texts the engine embedded: {stand_in.texts} "
          f"({'; '.join(t[:40] for t in stand_in.seen)}); {found['unembedded']:,} of {found['total']:,} chunks without a vector", flush=True)


def static(root: Path) -> None:
    """Search quality once every chunk has a static vector (after `first`): kernel_questions.toml
    scored at file level, the static tier and words beside words alone."""
    asked = tomllib.loads((Path(__file__).parent / "kernel_questions.toml").read_text())["question"]
    with Store(open_workspace(root).index_dir) as store:
        have, total = store.chunks.embedded_count(static=True), store.chunks.counts().chunks
        engine = EngineChoice()
        for mode, label in ((Mode.HYBRID, "static tier and words"), (Mode.LEXICAL, "words alone")):
            scores, spaces, took = [], set(), []
            search.find(store, engine, asked[0]["query"], 10, mode=mode)  # the static model loaded
            for question in asked:
                began = time.perf_counter()
                found = search.find(store, engine, question["query"], 10, mode=mode)
                took.append((time.perf_counter() - began) * 1000)
                spaces.add(found.vectors or "none")
                scores.append(file_score([h.path for h in found.hits], frozenset(question["files"]), 10))
            print(f"{len(asked)} kernel questions, {label} ({have:,} of {total:,} chunks with a static vector; "
                  f"vectors used: {', '.join(sorted(spaces))}): NDCG@10 {statistics.mean(s.ndcg for s in scores):.3f}, "
                  f"MRR@10 {statistics.mean(s.mrr for s in scores):.3f}, first file right "
                  f"{sum(s.first for s in scores)}/{len(scores)}; search p50 {statistics.median(took):.0f} ms, "
                  f"max {max(took):.0f} ms (static segments: {segment_kinds(store)})", flush=True)


def segment_kinds(store: Store) -> str:
    kinds = Counter(Path(name).suffix for name in store.static.names())
    return ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items())) or "none"


def graphs(root: Path) -> None:
    """The static tier's full flat segments given their graphs, as the background does."""
    with Store(open_workspace(root).index_dir) as store:
        before = segment_kinds(store)
        began = time.perf_counter()
        filling.build_graphs(store, None)
        print(f"graphs for the static tier's full flat segments ({before} -> {segment_kinds(store)}): "
              f"{time.perf_counter() - began:.0f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "codeseek-kernel")
    parser.add_argument("--phases", default="first,static,update,hooks,lexical,hybrid,status")
    parser.add_argument("--yardstick-s", type=float, help="first: an earlier run's chunking time, not measured again")
    parser.add_argument("--hybrid", default="clustered-1024,random-1024,random-384",
                        help="the hybrid phase's indexes, KIND-DIM (clustered or random)")
    args = parser.parse_args()
    root = prepare(args.workdir)
    files = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True, check=True).stdout.count("\n")
    print(f"repository: {root} ({files:,} files)", flush=True)
    phases = {"first": lambda: first(root, args.yardstick_s), "update": lambda: update(root), "hooks": lambda: hooks(root),
              "lexical": lambda: lexical(root), "hybrid": lambda: hybrid(root, args.workdir, args.hybrid),
              "status": lambda: status(root, args.workdir), "static": lambda: static(root),
              "graphs": lambda: graphs(root),
              "vectors": lambda: [vectors(root, args.workdir, run) for run in args.hybrid.split(",")]}
    for name in args.phases.split(","):
        began = time.perf_counter()
        phases[name]()
        print(f"  ({name}: {time.perf_counter() - began:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
