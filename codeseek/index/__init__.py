"""The index on disk: metadata, chunks and words in SQLite (`database`, `migrations`,
`chunks`), vectors in USearch segment files (`segments`), and the two process locks that
keep writers apart. `Store` opens all of it; use it as a context manager:

    with Store(ws.index_dir) as store:
        hits = store.chunks.lexical('"retry"', 10)

Any number of readers; writers hold `store.writing()`, and the one process filling in
vectors holds `store.embedding()`.
"""

from __future__ import annotations

import fcntl
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO

from ..errors import CodeseekError, IndexBusy, IndexCorrupt, IndexReadOnly, RefusedPath
from ..fsutil import held, lock_file, own_folder, remove_own, try_lock
from .chunks import ChunkRef, Chunks, Counts, FileEntry, NewChunk, StoredChunk, vector_key
from .database import BUILDING_NAME, DB_NAME, UNEMBEDDED, Database, guarded
from .fingerprint import SEGMENT_DIR
from .segments import STATIC, Vectors
from .versions import Versions

__all__ = ["DB_FILES", "DB_NAME", "SEGMENT_DIR", "STATIC_MODEL", "UNEMBEDDED", "ChunkRef", "Counts", "FileEntry", "NewChunk",
           "Store", "StoredChunk", "exists", "vector_key", "writer_lock"]

LOCK_NAME = "lock"
# The meta key naming the static model every chunk has a static vector of (absent: some lack one).
STATIC_MODEL = "static_model"
EMBED_LOCK_NAME = "embed.lock"  # held by the one process filling in vectors


BUILDING_FILES = (BUILDING_NAME, f"{BUILDING_NAME}-journal")  # a first index being written (Store.first)
DB_FILES = (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", f"{DB_NAME}-journal", *BUILDING_FILES)  # what SQLite writes


def _refuse_unless_file(path: Path) -> None:
    """SQLite follows links: a database file that is a link (or not a regular file) is refused."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    if not stat.S_ISREG(info.st_mode):
        raise RefusedPath(path, "it is a link" if stat.S_ISLNK(info.st_mode) else "it is not a regular file")


@contextmanager
def _lock_file(directory: Path, name: str) -> Iterator[IO[str]]:
    """A lock file of the index, open for the block (fsutil.lock_file); a folder this user
    may not write is read-only."""
    with ExitStack() as stack:
        try:
            handle = stack.enter_context(lock_file(directory / name))
        except PermissionError:
            raise IndexReadOnly(directory) from None
        yield handle


@contextmanager
def writer_lock(directory: Path, wait: bool) -> Iterator[None]:
    """The lock that serialises an index's writers across processes (IndexBusy at once where
    another holds it and wait is False)."""
    with _lock_file(directory, LOCK_NAME) as handle:
        if wait:
            fcntl.flock(handle, fcntl.LOCK_EX)
        elif not try_lock(handle):
            raise IndexBusy("another codeseek process is updating this index")
        yield


def exists(directory: Path) -> bool:
    """Whether an index has been made in this folder."""
    return (directory / DB_NAME).exists()


def being_built(directory: Path) -> bool:
    """Whether a first index is being written in this folder now (`Store.first`): its file is
    there and a writer holds the lock (a build a crash left holds none). Read without writing
    (fsutil.held: nothing made, no link followed)."""
    return (directory / BUILDING_NAME).exists() and held(directory / LOCK_NAME)


class Store:
    """One index folder, open: its database (`db`), chunks and words (`chunks`), the
    transformer's vectors (`vectors`) and the static tier's (`static`). The folder and its
    vectors folders must be real folders, not links; another user's index is opened read-only
    (searched, never written)."""

    def __init__(self, directory: Path, *, create: bool = False, building: bool = False) -> None:
        self.directory = Path(directory)
        if not exists(self.directory) and not create:
            if being_built(self.directory):
                raise CodeseekError(f"no index in {self.directory} yet: its first index is being written "
                                    "(a search waits for it)")
            raise CodeseekError(f"no index in {self.directory}: run `codeseek index` first")
        try:
            mine = own_folder(self.directory, create=create)
            if create and not mine:
                raise IndexReadOnly(self.directory)
            vectors = self.directory / SEGMENT_DIR
            if create or os.path.lexists(vectors):
                mine = own_folder(vectors, create=create) and mine
        except PermissionError:
            raise IndexReadOnly(self.directory) from None
        for name in DB_FILES:
            _refuse_unless_file(self.directory / name)
        if create and mine and not building and not exists(self.directory):
            # A new database is made under the writer lock: a first index being written aside
            # (Store.first) is waited for, and found, rather than raced with a file of its own.
            with writer_lock(self.directory, wait=True):
                self.db = Database(self.directory, create=create, readonly=False)
        else:
            self.db = Database(self.directory, create=create, readonly=not mine, building=building)
        self.chunks = Chunks(self.db)
        self.vectors = Vectors(self.db)
        self.static = Vectors(self.db, STATIC)
        self.versions = Versions(self.db)  # version trees (`v1/` beside `v2/`), per update

    @property
    def readonly(self) -> bool:
        return self.db.readonly

    def close(self) -> None:
        self.vectors.close()
        self.static.close()
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @classmethod
    @contextmanager
    def first(cls, directory: Path, wait: bool = True) -> Iterator[Store | None]:
        """The first index of `directory`, written under the writer lock into a database no
        reader opens (BUILDING_NAME, rollback journal: each page written once) and made the
        index when the block ends (`Database.publish`); a reader meanwhile finds no index, as
        before the block. None where another process made the index meanwhile (seen once the
        lock is held). A build a crash left is removed first, and one the block ends by an
        error or an interrupt, as its transaction was."""
        try:
            mine = own_folder(directory, create=True)
        except PermissionError:
            mine = False
        if not mine:
            raise IndexReadOnly(directory)
        with writer_lock(directory, wait):
            if exists(directory):
                yield None
                return
            # With no index, any of its files is a leftover (a build a crash left, the log of an
            # index deleted by hand): none may be read into the new one.
            remove_own(directory, DB_FILES)
            store = cls(directory, create=True, building=True)
            try:
                store.vectors.remove_orphans()  # (a first index lists none: files a crash left)
                store.static.remove_orphans()
                yield store
                store.db.publish()
            finally:
                store.close()
                remove_own(directory, BUILDING_FILES)

    @contextmanager
    def writing(self, wait: bool = True) -> Iterator[None]:
        """Serialise writers across processes. With wait=False, raise if another writer runs."""
        if self.readonly:
            raise IndexReadOnly(self.directory)
        with writer_lock(self.directory, wait):
            self.vectors.remove_orphans()
            self.static.remove_orphans()
            yield

    @contextmanager
    def embedding(self) -> Iterator[Callable[[], bool]]:
        """The lock of the one process filling in vectors. Yields a function that tries to
        take it, without waiting, and says whether this process holds it. Writes still take
        `writing()`, for each checkpoint only."""
        held = False

        def take() -> bool:
            nonlocal held
            held = held or try_lock(handle)
            return held

        if self.readonly:
            raise IndexReadOnly(self.directory)
        with _lock_file(self.directory, EMBED_LOCK_NAME) as handle:
            yield take

    @guarded
    def check(self) -> None:
        """Read the whole index: SQLite's own check of every page, and every segment file."""
        problems = [row[0] for row in self.db.execute("PRAGMA quick_check")]
        if problems != ["ok"]:
            raise IndexCorrupt(self.directory, "; ".join(problems[:3]))
        self.vectors.verify()
        self.static.verify()

    @guarded
    def repair(self, full: bool) -> int:
        """Drop segments whose files changed since they were written (their vectors are
        embedded again; the static tier's are computed again by the update). Call under
        `writing()`. Returns how many of the transformer's vectors were dropped."""
        if self.static.drop(self.static.damaged(full)):
            self.db.set_meta({STATIC_MODEL: None})
        return self.vectors.drop(self.vectors.damaged(full))

    def size_on_disk(self) -> int:
        return sum(p.stat().st_size for p in self.directory.rglob("*") if p.is_file())
