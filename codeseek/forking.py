"""Where a first index's workers fork from (chunking.py): the command line's own process where
that is safe (`start_method`), else multiprocessing's forkserver, started with what they need.
Light to import: the quick path decides before the command line's imports load."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

# What OpenBLAS, MKL, Accelerate and OpenMP read for their thread count, when they load.
ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "VECLIB_MAXIMUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
# The forkserver runs as `python -c`, and Pythons before 3.12.8 and 3.13.1 put the current folder
# (the repository being indexed) first on its path whatever they are told (CPython gh-117378): its
# preload would import, and run, a repository's own `numpy.py`. Not with PYTHONSAFEPATH.
SAFE_PATH = {"PYTHONSAFEPATH": "1"}
# Imported once, in the forkserver: each worker forks with it loaded (0.2 s a worker otherwise).
# Named, not imported: the workers' module is floors above this one.
PRELOAD = ["codeseek.chunking"]
_changing = threading.Lock()  # the warm process may start two updates' workers at once
# Linux alone forks a process safely with its libraries loaded (macOS's do not survive a fork).
FORKS = sys.platform.startswith("linux")
_one_thread = False  # numpy was loaded here with one BLAS thread (`load_numpy`)


def load_numpy() -> None:
    """Load numpy, with one BLAS thread, as the command line's first act (quick.py): workers
    forked from this process then sum their static vectors with one thread each, as the
    forkserver's do (BLAS reads its thread count once, when it loads: two workers with two
    threads each took twice as long on two cores). The environment is as it was afterwards
    (torch, loaded later for a local model, reads OMP_NUM_THREADS itself). Every command loads
    it so, the warm process too: its BLAS work is a query's few products and the static tier's
    sums, of a few texts at a time beside its embedding threads."""
    global _one_thread
    if "numpy" in sys.modules:
        return  # too late: its BLAS has its thread count already
    with _environment(ONE_THREAD):
        import numpy  # noqa: F401
    _one_thread = True


def start_method() -> str:
    """How this process starts workers: `fork` where it is safe and cheapest (Linux; numpy
    loaded with one BLAS thread; no thread but this one, Python's or a library's, whose locks a
    child could inherit held; no torch, whose thread pools can deadlock in a child), else
    `forkserver`. Forking skips the forkserver's start and its imports (0.3-0.4 CPU-seconds of
    a first index on two cores), and the workers inherit this process's loaded modules and
    static tier."""
    if FORKS and _one_thread and "torch" not in sys.modules and _threads() == 1:
        return "fork"
    return "forkserver"


def join_fully(thread: threading.Thread, seconds: float = 0.1) -> None:
    """Join a thread, then wait (`seconds` at most) until the kernel no longer counts it:
    `join` returns once Python lets the thread go, a moment before its OS thread has ended, and
    `start_method` counts the kernel's threads (a fork right after a join could otherwise find
    two and start a forkserver)."""
    thread.join()
    task = f"/proc/self/task/{thread.native_id}"
    deadline = time.monotonic() + seconds
    while os.path.exists(task) and time.monotonic() < deadline:
        time.sleep(0.001)


def _threads() -> int:
    """This process's threads, as the kernel counts them (native ones too)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 0  # not known: not forked


def usable_cores() -> int:
    """The cores this process may run on: its affinity where the platform has one (`taskset`,
    a container's cpuset give fewer than the machine has), at least one. A worker a core."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # no affinity here (macOS)
        return os.cpu_count() or 1


def ready_workers() -> str:
    """Make ready where this process's workers will come from, and say how they start
    (`start_method`): nothing to do where it forks them itself, else the forkserver is started
    (early, by a first index: it loads while the caller still reads files)."""
    method = start_method()
    if method == "forkserver":
        start_forkserver()
    return method


def start_forkserver() -> None:
    """Start the forkserver (if it is not running yet) with one BLAS thread and a safe path,
    without changing this process's environment. The workers are one a core already: BLAS
    threads in them (numpy's, in the static tier's sums) only spin against the other workers
    (two workers pooling 10,000 chunks each: 3.6 s on two cores, against 1.2 s)."""
    from multiprocessing import forkserver

    # A Python started with -E (and without -P) reads no PYTHONSAFEPATH: then nothing is preloaded
    # (each worker imports its modules after taking this process's path).
    safe = sys.flags.safe_path or not sys.flags.ignore_environment
    with _environment({**ONE_THREAD, **SAFE_PATH}):
        forkserver.set_forkserver_preload(PRELOAD if safe else [])
        forkserver.ensure_running()


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """This process's environment with these values for the block, as it was afterwards (under
    a lock: another thread may change it meanwhile)."""
    with _changing:
        saved = {name: os.environ.get(name) for name in values}
        os.environ.update(values)
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
