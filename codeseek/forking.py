"""The process a first index's workers fork from (multiprocessing's forkserver), started with
what they need: light to import, so that the quick path can start it the moment it finds no
index, while the command line's own imports load (chunking.py's workers fork from it)."""

from __future__ import annotations

import os
import sys
import threading

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


def usable_cores() -> int:
    """The cores this process may run on: its affinity where the platform has one (`taskset`,
    a container's cpuset give fewer than the machine has), at least one. A worker a core."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # no affinity here (macOS)
        return os.cpu_count() or 1


def start_forkserver() -> None:
    """Start the forkserver (if it is not running yet) with one BLAS thread and a safe path,
    without changing this process's environment. The workers are one a core already: BLAS
    threads in them (numpy's, in the static tier's sums) only spin against the other workers
    (two workers pooling 10,000 chunks each: 3.6 s on two cores, against 1.2 s)."""
    from multiprocessing import forkserver

    # A Python started with -E (and without -P) reads no PYTHONSAFEPATH: then nothing is preloaded
    # (each worker imports its modules after taking this process's path).
    safe = sys.flags.safe_path or not sys.flags.ignore_environment
    wanted = {**ONE_THREAD, **SAFE_PATH}
    with _changing:
        saved = {name: os.environ.get(name) for name in wanted}
        os.environ.update(wanted)
        forkserver.set_forkserver_preload(PRELOAD if safe else [])
        try:
            forkserver.ensure_running()
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
