"""Small file-system habits every module shares, each written once: writing a file so that
a reader sees the old contents or the new (never half), a lock taken without waiting,
whether a process is alive, and a folder only this user may enter."""

from __future__ import annotations

import fcntl
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from .errors import CodeseekError


def atomic_write(path: Path, data: str | bytes, mode: int = 0o644) -> None:
    """Replace `path` with `data`: a temp file in the same folder, synced, then renamed over it,
    so a crash or a concurrent reader never meets a half-written file."""
    import tempfile

    raw = data.encode() if isinstance(data, str) else data
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def try_lock(handle: IO[str]) -> bool:
    """Take an exclusive flock on an open file without waiting; False if another holds it."""
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextmanager
def locked(path: Path, wait: bool = True) -> Iterator[bool]:
    """Hold an exclusive lock on `path` (created if missing) for the block. With wait=False,
    yields False at once when another process holds it (the block then runs unlocked: the
    caller decides what that means)."""
    with open(path, "a+") as handle:
        if wait:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield True
        else:
            yield try_lock(handle)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (it may belong to another user)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OverflowError:
        return False
    return True


def private_dir(path: Path) -> Path:
    """A folder only this user may enter (mode 0700), made if missing. One that exists must be
    this user's and closed to others: a socket or secret inside is then ours alone."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise CodeseekError(f"{path} is not a folder of this user's: refusing to keep private files there")
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, 0o700)
    return path
