"""The index's SQLite database: the connection, its errors in words a user can act on,
transactions, and the metadata table.

SQLite is the index's commit point: whatever a transaction lists (files, chunks, vector
segments) is the index; anything a crash leaves outside it is an orphan.
"""

from __future__ import annotations

import errno
import functools
import os
import sqlite3
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

from ..embedding.base import ModelInfo
from ..errors import CodeseekError, DiskFull, IndexBusy, IndexCorrupt, IndexReadOnly
from ..lexical import code_terms, name_key
from . import migrations

DB_NAME = "index.db"
# A first index is written here (`Store.first`), where no reader opens it, and linked as
# DB_NAME whole: in SQLite's rollback-journal mode a new file's pages are written once, where
# WAL writes each twice (into the log, then into the file at its checkpoint; benchmarks/README.md).
BUILDING_NAME = f"{DB_NAME}.building"
# meta: how many stored chunks have no vector yet, kept up to date by every change of chunks
# or vectors (in their transactions), so a search can say so without counting a million rows.
UNEMBEDDED = "unembedded"
MAX_PARAMETERS = 500  # values bound to one IN (...): under SQLite's limit on parameters

T = TypeVar("T")


class HasDatabase(Protocol):
    db: Database


def guarded(method: Callable[..., T]) -> Callable[..., T]:
    """SQLite's errors as ones a user can act on: damage, a read-only folder, a busy index,
    a full disk. For methods of any object holding the database as `self.db`."""

    @functools.wraps(method)
    def wrapper(self: HasDatabase, *args: Any, **kwargs: Any) -> T:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as exc:
            raise self.db.translate(exc) from None
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise DiskFull(self.db.directory) from None
            raise

    return wrapper


class Database:
    """One connection to an index's database. Threads may share it for reads (a search runs
    its two rankers at once); writes are serialised by the index's writer lock. A database
    that cannot be written (a read-only folder, another user's) still reads; `create` asks
    for one that writes."""

    def __init__(self, directory: Path, *, create: bool = False, readonly: bool = False, building: bool = False) -> None:
        self.directory = directory
        self.readonly = False
        self.name = BUILDING_NAME if building else DB_NAME
        self.connection = self._read_only() if readonly else self._connect(create, wal=not building)
        self.connection.create_function("code_terms", 1, code_terms, deterministic=True)
        self.connection.create_function("name_key", 1, name_key, deterministic=True)
        try:
            self._migrate()
        except BaseException:
            self.connection.close()
            raise

    @property
    def db(self) -> Database:
        """Itself, so that `guarded` translates the errors of its own methods too."""
        return self

    def _connect(self, create: bool, wal: bool = True) -> sqlite3.Connection:
        path = self.directory / self.name
        try:
            db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        except sqlite3.DatabaseError as exc:
            raise self.translate(exc) from None
        try:
            if wal:
                db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            return db
        except sqlite3.DatabaseError as exc:
            db.close()
            problem = self.translate(exc)
            if create or not isinstance(problem, IndexReadOnly):
                raise problem from None
        return self._read_only()

    def _read_only(self) -> sqlite3.Connection:
        """A folder this user may not (or must not: another user's) write to. WAL readers need
        the -shm file: read-only when it is there, else immutable (a closed index has no WAL
        left to read)."""
        path = self.directory / DB_NAME
        self.readonly = True
        has_wal = Path(f"{path}-wal").exists() and Path(f"{path}-shm").exists()
        uri = f"file:{urllib.parse.quote(str(path))}?{'mode=ro' if has_wal else 'immutable=1'}"
        try:
            db = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None, check_same_thread=False)
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as exc:
            raise self.translate(exc) from None
        return db

    def _migrate(self) -> None:
        """Apply pending migrations, each in one transaction with the version that records it."""
        steps = migrations.MIGRATIONS
        db = self.connection
        while db.execute("PRAGMA user_version").fetchone()[0] < len(steps):
            if self.readonly:
                raise IndexReadOnly(self.directory)  # made by an older codeseek: needs an upgrade
            with self.transaction():
                version = db.execute("PRAGMA user_version").fetchone()[0]  # re-read under the lock
                if version >= len(steps):
                    break
                steps[version].step(db, self.directory)
                db.execute(f"PRAGMA user_version={version + 1}")

    def translate(self, exc: sqlite3.DatabaseError) -> CodeseekError:
        message = str(exc)
        if "readonly" in message or "read-only" in message or "unable to open" in message:
            return IndexReadOnly(self.directory)
        if "locked" in message or "busy" in message:
            return IndexBusy(f"the index in {self.directory} is busy: another codeseek process holds it")
        if "disk is full" in message or ("disk I/O error" in message and _disk_full(self.directory)):
            return DiskFull(self.directory)
        return IndexCorrupt(self.directory, message)

    def close(self) -> None:
        self.connection.close()

    @guarded
    def publish(self) -> None:
        """A database built aside (BUILDING_NAME) made the index's: in WAL mode from now on,
        closed, synced and linked as DB_NAME (a reader finds no index, then all of it; never
        over one: IndexBusy), the link synced with its folder."""
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.close()
        built = self.directory / self.name
        _sync(built, os.O_NOFOLLOW)
        try:
            os.link(built, self.directory / DB_NAME)  # never over an index another made meanwhile
        except FileExistsError:
            raise IndexBusy(f"another codeseek process made the index in {self.directory} meanwhile") from None
        os.unlink(built)
        _sync(self.directory, os.O_DIRECTORY)

    def execute(self, sql: str, parameters: Iterable[Any] = ()) -> sqlite3.Cursor:
        return self.connection.execute(sql, tuple(parameters))

    def rows_in(self, sql: str, values: Iterable[Any]) -> Iterator[tuple[Any, ...]]:
        """Rows of `sql` whose `IN ({marks})` takes the values, in batches under SQLite's
        limit on parameters."""
        ordered = list(values)
        for i in range(0, len(ordered), MAX_PARAMETERS):
            part = ordered[i : i + MAX_PARAMETERS]
            yield from self.connection.execute(sql.format(marks=",".join("?" * len(part))), part)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception (Ctrl-C included)."""
        try:
            self.connection.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as exc:
            raise self.translate(exc) from None
        try:
            yield self.connection
            self.connection.execute("COMMIT")
        except BaseException as exc:
            # SQLite rolls back by itself after some errors (a full disk, an I/O error).
            if self.connection.in_transaction:
                self.connection.execute("ROLLBACK")
            if isinstance(exc, sqlite3.DatabaseError):
                raise self.translate(exc) from None
            if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
                raise DiskFull(self.directory) from None
            raise

    @guarded
    def meta(self) -> dict[str, str]:
        return dict(self.connection.execute("SELECT key, value FROM meta"))

    @guarded
    def set_meta(self, values: dict[str, str | None], db: sqlite3.Connection | None = None) -> None:
        """Set (None: delete) metadata, in the caller's transaction when one is given."""
        db = db or self.connection
        for key, value in values.items():
            if value is None:
                db.execute("DELETE FROM meta WHERE key = ?", (key,))
            else:
                db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def add_unembedded(self, delta: int, db: sqlite3.Connection) -> None:
        """Change the count of chunks without a vector, in the caller's transaction."""
        if delta:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (UNEMBEDDED,)).fetchone()
            count = max(0, (int(row[0]) if row else 0) + delta)
            self.set_meta({UNEMBEDDED: str(count) if count else None}, db)

    @guarded
    def unembedded(self) -> int:
        row = self.connection.execute("SELECT value FROM meta WHERE key = ?", (UNEMBEDDED,)).fetchone()
        return int(row[0]) if row else 0

    @guarded
    def model_info(self) -> ModelInfo | None:
        meta = self.meta()
        if "model" not in meta:
            return None
        return ModelInfo(meta["model"], int(meta["dim"]), meta.get("engine", ""), meta.get("engine_version", ""))


def _disk_full(directory: Path) -> bool:
    import shutil

    try:
        return shutil.disk_usage(directory).free < 1 << 20
    except OSError:
        return False


def _sync(path: Path, flags: int) -> None:
    """What was written to a file, or to a folder's entries, made durable."""
    handle = os.open(path, os.O_RDONLY | flags)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
