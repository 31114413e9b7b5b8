"""Knowing, without asking git, that nothing changed: the warm process watches each
repository's folders with inotify (Linux), so the freshness check before a search costs
nothing while no file was touched. On a Linux kernel-sized tree `git status` alone takes a
quarter of a second; with a watch, a search that follows no change skips it entirely.

A watch may only ever save work, never answer for the check: it says "unchanged" only where
it can prove it saw everything. Every folder that holds or may come to hold a file git would
list is watched, untracked trees to their last folder; events are read when a search asks,
not by a thread, so a file saved a moment before the search is always seen. Any event (a file
written, created, moved, deleted; a folder made, which is watched from then on), a change of
HEAD, refs or git's index marks the repository changed, and the search runs the full check.
Where the watch's own picture may be wrong (the kernel's queue overflowed, a folder was moved
or renamed, an ignore file changed), every watch is made anew before that check. Where inotify
is missing or its watches run out, the check simply always runs.
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
IN_DELETE_SELF, IN_MOVE_SELF, IN_Q_OVERFLOW, IN_IGNORED, IN_ISDIR = 0x400, 0x800, 0x4000, 0x8000, 0x40000000
IN_NONBLOCK, IN_CLOEXEC = 0o4000, 0o2000000
MASK = (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
        | IN_DELETE_SELF | IN_MOVE_SELF)
EVENT = struct.Struct("iIII")
MAX_WATCHES = 50_000  # past this many folders a repository is checked with git every time
IGNORE_FILES = (b".gitignore", b"exclude")  # what git ignores, and so which folders need a watch


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
        self._rescan = False  # the watches may not cover every folder: make them anew
        self._lock = threading.Lock()
        self._folders: dict[int, Path] = {}
        self._fd = -1
        self.active = False
        self._libc = _libc()
        if self._libc is not None and ws.is_git:
            self.active = self._start()

    def _start(self) -> bool:
        """A fresh inotify instance with every folder watched (the old one's events are
        dropped: the caller runs the full check next)."""
        self.close()
        self._folders = {}
        fd = self._libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            return False
        self._fd = fd
        try:
            folders, trees = self._folders_to_watch()
            return all(self._add(f) for f in folders) and all(self._watch_tree(t) for t in trees)
        except OSError:
            return False

    def _folders_to_watch(self) -> tuple[list[Path], list[Path]]:
        """Every folder holding a file git tracks or would track, the git folders whose files
        move with commits, checkouts and staging; and the untracked folders, whose every
        folder below is watched too (git lists only their top)."""
        listed = self.ws.git("ls-files", "-z", "--cached", "--others", "--exclude-standard", "--directory")
        folders = {self.ws.root}
        trees: list[Path] = []
        for entry in listed.split("\0"):
            path = self.ws.root / entry.rstrip("/")
            if entry.endswith("/"):
                trees.append(path)
            parent = path.parent
            while parent != self.ws.root and parent not in folders:
                folders.add(parent)
                parent = parent.parent
        git_dir = self.ws.git_dir or self.ws.root / ".git"
        common = Path(self.ws.git("rev-parse", "--git-common-dir").strip())
        common = common if common.is_absolute() else (self.ws.root / common).resolve()
        refs = [p for p in (common / "refs").rglob("*") if p.is_dir()] if (common / "refs").is_dir() else []
        if len(folders) + len(refs) > MAX_WATCHES:
            raise OSError("too many folders")
        git_folders = {git_dir, git_dir / "info", common, common / "info", common / "refs", *refs}
        return sorted(f for f in {*folders, *git_folders} if f.is_dir()), trees

    def _add(self, folder: Path) -> bool:
        if len(self._folders) >= MAX_WATCHES:
            return False
        wd = self._libc.inotify_add_watch(self._fd, os.fsencode(folder), MASK)
        if wd < 0:
            return ctypes.get_errno() not in (errno.ENOSPC, errno.ENOMEM)  # a folder gone meanwhile is fine
        self._folders[wd] = folder
        return True

    def _watch_tree(self, top: Path) -> bool:
        """A folder and every folder below it (whatever it holds by the time it is watched);
        False when the watches ran out."""
        for folder, dirs, _ in os.walk(top):
            if not self._add(Path(folder)):
                return False
            dirs[:] = [d for d in dirs if d != ".git"]
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
            if mask & IN_IGNORED:  # the folder is gone (deleted, or its file system unmounted)
                self._folders.pop(wd, None)
            elif mask & (IN_Q_OVERFLOW | IN_MOVE_SELF) or (mask & IN_ISDIR and mask & (IN_MOVED_FROM | IN_MOVED_TO)):
                self._rescan = True  # events were lost, or watched folders now sit under other names
            elif name in IGNORE_FILES:
                self._rescan = True  # folders git ignored may now be listed
            elif mask & IN_ISDIR and mask & IN_CREATE and wd in self._folders and not self._rescan:
                if not self._watch_tree(self._folders[wd] / os.fsdecode(name)):
                    self.active = False  # out of watches: from now on, always check

    def changed(self) -> bool:
        """Whether anything may have changed since `clean()` (always true when not watching)."""
        with self._lock:
            self._drain()
            return self._changed or self._rescan or not self.active

    def clean(self) -> None:
        """Call just before a full freshness check: events from here on count for the next.
        Watches that may have missed a folder are made anew first."""
        with self._lock:
            self._drain()
            if self._rescan and self.active:
                self.active = self._start()
            self._rescan = False
            self._changed = False

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)
