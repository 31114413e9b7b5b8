"""Small file-system habits every module shares, each written once: writing a file so that
a reader sees the old contents or the new (never half), a lock taken without waiting,
whether a process is alive, and a folder only this user may enter.

codeseek writes and deletes only in folders of the user's own, and follows no link to do it:
a folder that is a link (or has one in its path), a file that is a link, or one of another
user's, is refused with one line naming it (`RefusedPath`). Files are opened with O_NOFOLLOW
and removed relative to their folder's descriptor, and only regular files are removed, so
a link planted in a repository (`.codeseek/vectors -> ~/docs`) can make codeseek neither
write nor delete anything outside its own folders."""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from .errors import CodeseekError, RefusedPath


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


# The lock files this process has open. A process forked from it (a first index's workers:
# forking.start_method) lets go of its copies at once: an flock belongs to the open file,
# shared with the children, so a holder killed while its workers run would otherwise leave the
# lock held until the last of them ended.
_LOCK_FDS: set[int] = set()


def _forget_locks() -> None:
    """In a forked child: each lock file's descriptor made /dev/null's, not closed (the child's
    file objects still name it: closed, its number could be reused and closed again with them)."""
    if not _LOCK_FDS:
        return
    null = os.open(os.devnull, os.O_RDWR)
    try:
        for fd in _LOCK_FDS:
            os.dup2(null, fd)
    finally:
        os.close(null)
    _LOCK_FDS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_locks)


@contextmanager
def lock_file(path: Path) -> Iterator[IO[str]]:
    """A lock file (created if missing; opened as open_own opens it), open for flock for the
    block; a child forked meanwhile does not keep it (see _LOCK_FDS)."""
    with os.fdopen(open_own(path), "a+") as handle:
        _LOCK_FDS.add(handle.fileno())
        try:
            yield handle
        finally:
            _LOCK_FDS.discard(handle.fileno())


def held(path: Path) -> bool:
    """Whether another process holds an exclusive flock on `path` now (a shared one, taken and
    let go at once, is refused while it does); False where there is no such file. Opened as
    open_own opens (a link, a FIFO or another user's file raises RefusedPath), so nothing
    planted there can hang the caller."""
    try:
        fd = open_own(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # lets go of the lock
    return False


@contextmanager
def locked(path: Path, wait: bool = True) -> Iterator[bool]:
    """Hold an exclusive lock on `path` (created if missing; never through a link) for the
    block. With wait=False, yields False at once when another process holds it (the block
    then runs unlocked: the caller decides what that means)."""
    with lock_file(path) as handle:
        if wait:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield True
        else:
            yield try_lock(handle)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (it may belong to another user) and has not
    exited: a zombie (exited, its parent has not collected it yet) holds no socket or lock
    and never answers, so waiting for it to go would wait for its parent instead."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return not _zombie(pid)
    except OverflowError:
        return False
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """Whether Linux's /proc says the process has exited and waits to be collected (state Z);
    False where there is no /proc."""
    fields = proc_stat(pid)
    return fields is not None and fields[:1] == ["Z"]


def proc_stat(pid: int) -> list[str] | None:
    """Linux's /proc/<pid>/stat after the process's name (its state first, its start time at
    19), or None where it cannot be read (no such process, no /proc)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[-1].decode().split()
    except OSError:
        return None


def discard_stdout() -> None:
    """The reader of the output has gone (`codeseek find ... | head`: it has all it wanted):
    what is still printed, and Python's flush at exit, go nowhere instead of failing."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def private_dir(path: Path) -> Path:
    """A folder only this user may enter (mode 0700), made if missing. One that exists must be
    this user's and closed to others: a socket or secret inside is then ours alone."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.lstat(path)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            raise RefusedPath(path, "it is not a folder of this user's")
        if stat.S_IMODE(info.st_mode) & 0o077:
            os.chmod(path, 0o700)
    except OSError as exc:
        raise RefusedPath(path, exc.strerror or "it cannot be made a private folder") from None
    return path


def refuse_links(path: Path) -> None:
    """Refuse a path with a link anywhere in it, naming the link. Paths codeseek writes in are
    built from resolved folders, so a link in one was planted (in a repository, an unpacked
    archive) or made since: never followed."""
    absolute = Path(os.path.abspath(path))
    if os.path.realpath(absolute) == str(absolute):
        return
    for part in [*reversed(absolute.parents), absolute]:
        if os.path.islink(part):
            raise RefusedPath(part, "it is a link")
    raise RefusedPath(absolute, "its path changes when links are followed")


def own_folder(path: Path, create: bool = False) -> bool:
    """Whether `path` is a folder of this user's (True), or another user's (False: it may be
    read, never written). A path with a link in it, or that is not a folder, is refused."""
    refuse_links(path)
    try:
        if create:
            path.mkdir(parents=True, exist_ok=True)
            refuse_links(path)  # nothing became a link while it was made
        info = os.lstat(path)
    except FileExistsError:
        raise RefusedPath(path, "it is not a folder") from None
    if not stat.S_ISDIR(info.st_mode):
        raise RefusedPath(path, "it is not a folder")
    return info.st_uid == os.getuid()


MAX_SETTINGS_BYTES = 1 << 20  # a settings file is a few lines; a larger one is refused unread


class NotASmallFile(CodeseekError):
    """A file to read that is not a small regular file."""


OWN_FLAGS = os.O_RDWR | os.O_CREAT | os.O_APPEND


def open_own(path: Path, flags: int = OWN_FLAGS, mode: int = 0o644) -> int:
    """A descriptor of a regular file of this user's, created if `flags` say so; a link (never
    followed), a FIFO or device, or another user's file is refused. Non-blocking at open, so a
    FIFO planted in its place cannot hang codeseek."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise RefusedPath(path, "it is a link") from None
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid():
        os.close(fd)
        raise RefusedPath(path, "it is not a file of this user's")
    os.set_blocking(fd, True)
    return fd


def append_own(path: Path, data: str) -> None:
    """Append to a log of this user's (created 0600 if missing; never through a link)."""
    with os.fdopen(open_own(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "a") as handle:
        handle.write(data)


def remove_own(folder: Path, wanted: Callable[[str], bool] | Iterable[str]) -> None:
    """Remove, from `folder` only, the regular files it holds that codeseek recognises by name
    (`wanted`: the names, or a test of a name). Relative to the folder's descriptor, opened
    without following a link: nothing outside the folder can be reached, and a link, a folder
    or anything else in it is left as it is."""
    test = wanted if callable(wanted) else set(wanted).__contains__
    refuse_links(folder)
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return []
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise RefusedPath(folder, "it is not a folder") from None
        raise
    try:
        if os.fstat(fd).st_uid != os.getuid():
            raise RefusedPath(folder, "it is another user's folder")
        for name in os.listdir(fd):
            if not test(name):
                continue
            try:
                if stat.S_ISREG(os.lstat(name, dir_fd=fd).st_mode):
                    os.unlink(name, dir_fd=fd)
            except FileNotFoundError:
                pass
    finally:
        os.close(fd)


def read_small(path: Path, limit: int) -> bytes | None:
    """A small regular file's bytes (None when there is none): a settings file is written by
    whoever made the repository, so one that is a FIFO, a device (/dev/zero) or larger than
    `limit` is refused before it is read, and the read stops at `limit` whatever happens."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a link that leads nowhere but to itself
            raise NotASmallFile(f"{path} is a loop of links: settings are read only from a regular file") from None
        raise
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotASmallFile(f"{path} is not a regular file: settings are read only from one")
        data = handle.read(limit + 1)
    if info.st_size > limit or len(data) > limit:
        raise NotASmallFile(f"{path} is larger than {limit:,} bytes: too large for a settings file")
    return data
