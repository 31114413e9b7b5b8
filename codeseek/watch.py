"""Knowing, without asking git, that nothing changed: the warm process watches each
repository's folders with inotify (Linux), so the freshness check before a search costs
nothing while no file was touched. On a Linux kernel-sized tree `git status` alone takes a
quarter of a second; with a watch, a search that follows no change skips it entirely.

Events are read when a search asks, not by a thread: a file saved a moment before the search
is always seen. Any event in a watched folder (a file written, created, moved, deleted; a new
folder, which is watched from then on), a change of HEAD, refs or git's index, or lost events
(the kernel's queue overflowed: every folder is then looked for again) marks the repository
changed, and the search runs the full check. Where inotify is missing or its watches run out,
the check simply always runs.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import struct
import threading
from pathlib import Path

from .repo import Workspace

IN_MODIFY, IN_ATTRIB, IN_CLOSE_WRITE = 0x2, 0x4, 0x8
IN_MOVED_FROM, IN_MOVED_TO, IN_CREATE, IN_DELETE = 0x40, 0x80, 0x100, 0x200
IN_DELETE_SELF, IN_MOVE_SELF, IN_Q_OVERFLOW, IN_ISDIR = 0x400, 0x800, 0x4000, 0x40000000
IN_NONBLOCK, IN_CLOEXEC = 0o4000, 0o2000000
MASK = (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
        | IN_DELETE_SELF | IN_MOVE_SELF)
EVENT = struct.Struct("iIII")
MAX_WATCHES = 50_000  # past this many folders a repository is checked with git every time


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6", use_errno=True)
        libc.inotify_init1, libc.inotify_add_watch  # noqa: B018 - present on Linux only
    except (OSError, AttributeError):
        return None
    return libc


class Watch:
    """One repository's folders under inotify; `changed` says whether anything happened since
    `clean()` was last called."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self._changed = True  # until a first full check has run
        self._lock = threading.Lock()
        self._folders: dict[int, Path] = {}
        self._fd = -1
        self.active = False
        libc = _libc()
        if libc is None or not ws.is_git:
            return
        fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            return
        self._libc, self._fd = libc, fd
        self.active = self._watch_all()
        if not self.active:
            self.close()

    def _watch_all(self) -> bool:
        try:
            watched = set(self._folders.values())
            return all(self._add(f) for f in self._folders_to_watch() if f not in watched)
        except OSError:
            return False

    def _folders_to_watch(self) -> list[Path]:
        """Every folder holding a file git tracks or would track, every untracked folder, and
        the git folders whose files move with commits, checkouts and staging."""
        listed = self.ws.git("ls-files", "-z", "--cached", "--others", "--exclude-standard", "--directory")
        folders = {self.ws.root}
        for entry in listed.split("\0"):
            path = self.ws.root / entry.rstrip("/")
            parent = path if entry.endswith("/") else path.parent
            while parent != self.ws.root and parent not in folders:
                folders.add(parent)
                parent = parent.parent
        git_dir = self.ws.git_dir or self.ws.root / ".git"
        common = Path(self.ws.git("rev-parse", "--git-common-dir").strip())
        common = common if common.is_absolute() else (self.ws.root / common).resolve()
        refs = [p for p in (common / "refs").rglob("*") if p.is_dir()] if (common / "refs").is_dir() else []
        if len(folders) + len(refs) > MAX_WATCHES:
            raise OSError("too many folders")
        return sorted(f for f in {*folders, git_dir, common, common / "refs", *refs} if f.is_dir())

    def _add(self, folder: Path) -> bool:
        wd = self._libc.inotify_add_watch(self._fd, os.fsencode(folder), MASK)
        if wd < 0:
            return ctypes.get_errno() not in (errno.ENOSPC, errno.ENOMEM)  # a folder gone meanwhile is fine
        self._folders[wd] = folder
        return True

    def _drain(self) -> None:
        """Read every event waiting in the kernel's queue (none waits: the fd does not block)."""
        while self._fd >= 0:
            try:
                data = os.read(self._fd, 1 << 16)
            except BlockingIOError:
                return
            except OSError:
                self.active = False
                return
            self._handle(data)

    def _handle(self, data: bytes) -> None:
        self._changed = True
        offset = 0
        while offset + EVENT.size <= len(data):
            wd, mask, _, length = EVENT.unpack_from(data, offset)
            name = data[offset + EVENT.size : offset + EVENT.size + length].rstrip(b"\0")
            offset += EVENT.size + length
            if mask & IN_Q_OVERFLOW:  # events were lost, new folders' among them: look again
                self.active = self.active and self._watch_all()
            elif mask & IN_ISDIR and mask & (IN_CREATE | IN_MOVED_TO) and wd in self._folders:
                self._watch_tree(self._folders[wd] / os.fsdecode(name))

    def _watch_tree(self, top: Path) -> None:
        """A new folder (and whatever it already holds by the time it is watched)."""
        for folder, dirs, _ in os.walk(top):
            if not self._add(Path(folder)):
                self.active = False  # out of watches: from now on, always check
                return
            dirs[:] = [d for d in dirs if d != ".git"]

    def changed(self) -> bool:
        """Whether anything may have changed since `clean()` (always true when not watching)."""
        with self._lock:
            self._drain()
            return self._changed or not self.active

    def clean(self) -> None:
        """Call just before a full freshness check: events from here on count for the next."""
        with self._lock:
            self._drain()
            self._changed = False

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)
