"""Keeping the long-lived warm process small, where the C library is glibc's.

Indexing a repository, the static tier's load and each batch of vectors allocate and free
tens of megabytes from many threads. glibc keeps what was freed for reuse (one heap per
thread that allocates, up to 8 per core, each holding its own freed pages), so the warm
process's resident memory climbs to its highest point and stays there: 320 MiB with two
repositories searched, of which 130 MiB was freed memory held by the heaps (measured with
benchmarks/cold_find.py's steps in one process). Two heaps, and freed pages handed back once
the process settles, keep only what is in use. Elsewhere (musl, macOS) both are no-ops.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import threading

M_ARENA_MAX = -8  # mallopt's parameter number (malloc.h)
HEAPS = 2  # the warm process's threads mostly wait on the GIL, a lock or ONNX Runtime's own allocator
WORTH_TRIMMING = 8 << 20  # free bytes in the heaps below which a trim is not worth its call


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """glibc, where this process runs on it with mallopt, malloc_trim and mallinfo2 (2.33+)."""
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 - only glibc has it
        for name in ("mallopt", "malloc_trim", "mallinfo2"):
            getattr(libc, name)
    except (OSError, AttributeError):
        return None
    libc.mallinfo2.restype = _Mallinfo2
    libc.malloc_trim.argtypes = [ctypes.c_size_t]
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return libc


def few_heaps() -> None:
    """At most HEAPS heaps for this process's threads: called before its threads start."""
    libc = _glibc()
    if libc is not None:
        libc.mallopt(M_ARENA_MAX, HEAPS)


_trimming = threading.Lock()


def give_back() -> bool:
    """Hand the heaps' free pages back to the system where they hold more than WORTH_TRIMMING
    free (about a millisecond; never two at once). Called once work is done: after a request
    is answered, and after a repository's vectors are filled in. Whether it trimmed."""
    libc = _glibc()
    if libc is None or not _trimming.acquire(blocking=False):
        return False
    try:
        if libc.mallinfo2().fordblks < WORTH_TRIMMING:
            return False
        libc.malloc_trim(0)
        return True
    finally:
        _trimming.release()
