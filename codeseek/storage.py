"""The index on disk: metadata in SQLite, vectors in USearch segment files.

Vectors are content-addressed: a vector's key is a hash of the exact text embedded (and the
model), so identical code anywhere, on any branch, shares one vector and is embedded once.

USearch rewrites a whole file on save, so vectors live in segments: each update writes one
small new segment, and segments are merged now and then. SQLite is the commit point: a
segment file is written (temp file, then rename) before the transaction that lists it, so a
crash leaves either the old index or the new one. Unlisted segment files are orphans, removed
by the next writer.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import sqlite3
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

import numpy as np
from usearch.index import Index

from .embedding.base import ModelInfo
from .errors import CodeseekError, IndexBusy, IndexCorrupt, IndexReadOnly, SegmentDamaged
from .lexical import TOKENIZE, code_terms, name_key
from .parsing import Chunk

DB_NAME = "index.db"
SEGMENT_DIR = "vectors"
LOCK_NAME = "lock"
EMBED_LOCK_NAME = "embed.lock"  # held by the one process filling in vectors
MAX_SEGMENTS = 8
UNEMBEDDED = "unembedded"  # meta key: some stored chunks may still lack a vector
# Vectors no chunk refers to are kept this long, so switching back to a branch re-embeds nothing.
GC_AFTER_SECONDS = 14 * 24 * 3600

Migration = str | Callable[[sqlite3.Connection, Path], None]  # SQL, or a step given the index folder
MIGRATIONS: list[tuple[str, Migration]] = [
    (
        "initial",
        """
        CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE files(
            path TEXT PRIMARY KEY, blob TEXT NOT NULL, language TEXT,
            chunks INTEGER NOT NULL DEFAULT 0, skipped TEXT);
        CREATE TABLE chunks(
            id INTEGER PRIMARY KEY, path TEXT NOT NULL, language TEXT NOT NULL, kind TEXT NOT NULL,
            symbol TEXT NOT NULL, start_line INTEGER NOT NULL, end_line INTEGER NOT NULL,
            vector_key INTEGER NOT NULL, content TEXT NOT NULL);
        CREATE INDEX chunks_path ON chunks(path);
        CREATE INDEX chunks_key ON chunks(vector_key);
        CREATE TABLE segments(name TEXT PRIMARY KEY, count INTEGER NOT NULL);
        CREATE TABLE vectors(key INTEGER PRIMARY KEY, segment TEXT NOT NULL, seen REAL NOT NULL);
        """,
    ),
    (
        "lexical search, and chunks that can be embedded after they are stored",
        f"""
        ALTER TABLE chunks ADD COLUMN context TEXT NOT NULL DEFAULT '';
        ALTER TABLE chunks ADD COLUMN signature TEXT NOT NULL DEFAULT '';
        CREATE VIRTUAL TABLE chunks_fts USING fts5(symbol, path, body, tokenize="{TOKENIZE}");
        INSERT INTO chunks_fts(rowid, symbol, path, body)
            SELECT id, code_terms(symbol), code_terms(path), code_terms(content) FROM chunks;
        """,
    ),
]
MIGRATIONS.append(("parts of split definitions", "ALTER TABLE chunks ADD COLUMN part INTEGER NOT NULL DEFAULT 0"))


@dataclass(frozen=True)
class Fingerprint:
    """What a segment file was when written: a file that differs is never handed to USearch."""

    bytes: int
    mtime_ns: int
    digest: str

    @classmethod
    def of(cls, path: Path) -> Fingerprint:
        with open(path, "rb") as f:
            digest = hashlib.file_digest(f, lambda: hashlib.blake2b(digest_size=16)).hexdigest()
            stat = os.fstat(f.fileno())
        return cls(stat.st_size, stat.st_mtime_ns, digest)


def _fingerprint_segments(db: sqlite3.Connection, directory: Path) -> None:
    for column in ("bytes INTEGER", "mtime_ns INTEGER", "digest TEXT"):
        db.execute(f"ALTER TABLE segments ADD COLUMN {column}")
    for (name,) in db.execute("SELECT name FROM segments").fetchall():
        path = directory / SEGMENT_DIR / name
        if path.exists():  # a missing file stays unrecorded, and is reported as damaged
            f = Fingerprint.of(path)
            db.execute("UPDATE segments SET bytes = ?, mtime_ns = ?, digest = ? WHERE name = ?",
                       (f.bytes, f.mtime_ns, f.digest, name))


MIGRATIONS.append(("segment files' size, time and digest", _fingerprint_segments))
MIGRATIONS.append((
    "definitions found by name in any spelling, and how many chunks hold each term",
    """
    ALTER TABLE chunks ADD COLUMN name_key TEXT NOT NULL DEFAULT '';
    UPDATE chunks SET name_key = name_key(symbol) WHERE kind NOT IN ('module', 'text');
    CREATE INDEX chunks_name ON chunks(name_key);
    CREATE VIRTUAL TABLE chunks_vocab USING fts5vocab(chunks_fts, 'row');
    """,
))
MIGRATIONS.append((
    "definitions are no longer split into parts: files that had some are chunked again",
    """
    UPDATE files SET blob = '' WHERE path IN (SELECT path FROM chunks WHERE part > 0);
    DELETE FROM meta WHERE key IN ('indexed_commit', 'max_tokens');
    ALTER TABLE chunks DROP COLUMN signature;
    ALTER TABLE chunks DROP COLUMN part;
    """,
))
UNNAMED_KINDS = ("module", "text")  # chunks that are no definition: their symbol is a file name
# BM25 weights of the FTS columns: a term in the symbol says most, then the path, then the body.
BM25_WEIGHTS = (8.0, 3.0, 1.0)


def vector_key(text: str, info: ModelInfo) -> int:
    """A signed 64-bit key (SQLite's integer) for this text under this model."""
    h = hashlib.blake2b(f"{info.model}\0{info.dim}\0".encode(), digest_size=8)
    h.update(text.encode("utf-8", errors="surrogatepass"))
    return int.from_bytes(h.digest(), "big", signed=True)


def _as_usearch(keys: Iterable[int]) -> np.ndarray:
    return np.fromiter(keys, dtype=np.int64).view(np.uint64)


@dataclass(frozen=True)
class FileEntry:
    """One file's new state: its blob id and chunks (with their vector keys), or why it was skipped."""

    path: str
    blob: str
    language: str | None
    chunks: Sequence[tuple[Chunk, int]] = ()
    skipped: str | None = None


@dataclass(frozen=True)
class StoredChunk:
    id: int
    path: str
    language: str
    kind: str
    symbol: str
    start_line: int
    end_line: int
    vector_key: int
    content: str
    context: str = ""

    def embedding_text(self) -> str:
        chunk = Chunk(self.path, self.language, self.kind, self.symbol, self.start_line, self.end_line,
                      self.content, self.context)
        return chunk.embedding_text()


CHUNK_COLUMNS = "id, path, language, kind, symbol, start_line, end_line, vector_key, content, context"
# Answered from the chunks_key index alone, with one primary-key lookup per chunk.
LACKS_VECTOR = "vector_key NOT IN (SELECT key FROM vectors)"

T = TypeVar("T")


def guarded(method: Callable[..., T]) -> Callable[..., T]:
    """SQLite's errors as ones a user can act on: damage, a read-only folder, a busy index."""

    @functools.wraps(method)
    def wrapper(self: Store, *args: Any, **kwargs: Any) -> T:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as exc:
            raise self.translate(exc) from None

    return wrapper


class Store:
    """One index directory. Any number of readers; writers hold `writing()`."""

    def __init__(self, directory: Path, *, create: bool = False) -> None:
        """Threads may share a store for reads (a search runs its two rankers at once);
        writes are serialised by `writing()` and the server's lock. A store that cannot be
        written (a read-only folder) still reads; `create` asks for one that writes."""
        self.directory = Path(directory)
        if not (self.directory / DB_NAME).exists() and not create:
            raise CodeseekError(f"no index in {self.directory}: run `codeseek index` first")
        self.readonly = False
        self._segments: dict[str, Index] = {}
        try:
            if create:
                (self.directory / SEGMENT_DIR).mkdir(parents=True, exist_ok=True)
            self.db = self._connect(create)
            self.db.create_function("code_terms", 1, code_terms, deterministic=True)
            self.db.create_function("name_key", 1, name_key, deterministic=True)
            self._migrate()
        except PermissionError:
            raise IndexReadOnly(self.directory) from None
        except sqlite3.DatabaseError as exc:
            raise self.translate(exc) from None

    def _connect(self, create: bool) -> sqlite3.Connection:
        path = self.directory / DB_NAME
        db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            return db
        except sqlite3.OperationalError as exc:
            db.close()
            if create or not isinstance(self.translate(exc), IndexReadOnly):
                raise
        # A folder this user may not write to. WAL readers need the -shm file: read-only
        # when it is there, else immutable (a closed index has no WAL left to read).
        self.readonly = True
        has_wal = Path(f"{path}-wal").exists() and Path(f"{path}-shm").exists()
        uri = f"file:{urllib.parse.quote(str(path))}?{'mode=ro' if has_wal else 'immutable=1'}"
        db = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None, check_same_thread=False)
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return db

    def translate(self, exc: sqlite3.DatabaseError) -> CodeseekError:
        message = str(exc)
        if "readonly" in message or "read-only" in message:
            return IndexReadOnly(self.directory)
        if "locked" in message or "busy" in message:
            return IndexBusy(f"the index in {self.directory} is busy: another codeseek process holds it")
        return IndexCorrupt(self.directory, message)

    def close(self) -> None:
        self.db.close()
        self._segments.clear()

    # -- schema and metadata -------------------------------------------------------------

    def _migrate(self) -> None:
        """Apply pending migrations, each in one transaction with the version that records it."""
        while self.db.execute("PRAGMA user_version").fetchone()[0] < len(MIGRATIONS):
            if self.readonly:
                raise IndexReadOnly(self.directory)  # made by an older codeseek: needs an upgrade
            with self.transaction() as db:
                version = db.execute("PRAGMA user_version").fetchone()[0]  # re-read under the lock
                if version >= len(MIGRATIONS):
                    break
                step = MIGRATIONS[version][1]
                if callable(step):
                    step(db, self.directory)
                else:
                    for statement in step.split(";"):
                        if statement.strip():
                            db.execute(statement)
                db.execute(f"PRAGMA user_version={version + 1}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as exc:
            raise self.translate(exc) from None
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        try:
            self.db.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            raise self.translate(exc) from None

    @guarded
    def meta(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT key, value FROM meta"))

    @guarded
    def set_meta(self, values: dict[str, str | None], db: sqlite3.Connection | None = None) -> None:
        db = db or self.db
        for key, value in values.items():
            if value is None:
                db.execute("DELETE FROM meta WHERE key = ?", (key,))
            else:
                db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    @guarded
    def model_info(self) -> ModelInfo | None:
        meta = self.meta()
        if "model" not in meta:
            return None
        return ModelInfo(meta["model"], int(meta["dim"]), meta["engine"], meta["engine_version"])

    # -- writer lock -----------------------------------------------------------------------

    def _lock_file(self, name: str) -> IO[str]:
        """A lock file of the index, open; a folder this user may not write is read-only."""
        if self.readonly:
            raise IndexReadOnly(self.directory)
        try:
            return open(self.directory / name, "a+")  # noqa: SIM115 - the caller holds it open
        except PermissionError:
            raise IndexReadOnly(self.directory) from None

    @contextmanager
    def writing(self, wait: bool = True) -> Iterator[None]:
        """Serialise writers across processes. With wait=False, raise if another writer runs."""
        with self._lock_file(LOCK_NAME) as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                raise IndexBusy("another codeseek process is updating this index") from None
            self._remove_orphans()
            yield

    @contextmanager
    def embedding(self) -> Iterator[Callable[[], bool]]:
        """The lock of the one process filling in vectors. Yields a function that tries to
        take it, without waiting, and says whether this process holds it. Writes still take
        `writing()`, for each checkpoint only."""
        held = False

        def take() -> bool:
            nonlocal held
            if not held:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    held = True
                except BlockingIOError:
                    pass
            return held

        with self._lock_file(EMBED_LOCK_NAME) as handle:
            yield take

    def _remove_orphans(self) -> None:
        listed = {row[0] for row in self.db.execute("SELECT name FROM segments")}
        for path in (self.directory / SEGMENT_DIR).glob("*"):
            if path.name not in listed:
                path.unlink(missing_ok=True)

    # -- vectors ---------------------------------------------------------------------------

    def _rows_in(self, sql: str, values: Iterable[int]) -> Iterator[tuple]:
        """Rows of `sql` whose `IN ({marks})` takes the values, in batches under SQLite's
        limit on parameters."""
        ordered = list(values)
        for i in range(0, len(ordered), 500):
            part = ordered[i : i + 500]
            yield from self.db.execute(sql.format(marks=",".join("?" * len(part))), part)

    @guarded
    def missing_keys(self, keys: Iterable[int]) -> set[int]:
        wanted = set(keys)
        return wanted - {key for (key,) in self._rows_in("SELECT key FROM vectors WHERE key IN ({marks})", wanted)}

    @guarded
    def add_vectors(self, keys: Sequence[int], vectors: np.ndarray) -> None:
        """Persist new vectors as one segment, committed at once (a resumable checkpoint)."""
        if not len(keys):
            return
        name, print_ = self._write_segment(keys, vectors)
        now = time.time()
        with self.transaction() as db:
            self._list_segment(db, name, len(keys), print_)
            db.executemany(
                "INSERT OR IGNORE INTO vectors(key, segment, seen) VALUES (?, ?, ?)",
                ((k, name, now) for k in keys),
            )

    @staticmethod
    def _list_segment(db: sqlite3.Connection, name: str, count: int, print_: Fingerprint) -> None:
        db.execute("INSERT INTO segments(name, count, bytes, mtime_ns, digest) VALUES (?, ?, ?, ?, ?)",
                   (name, count, print_.bytes, print_.mtime_ns, print_.digest))

    def _write_segment(self, keys: Sequence[int], vectors: np.ndarray) -> tuple[str, Fingerprint]:
        index = Index(ndim=vectors.shape[1], metric="cos", dtype="f16")
        index.add(_as_usearch(keys), np.ascontiguousarray(vectors, dtype=np.float32))
        name = f"seg-{uuid.uuid4().hex}.usearch"
        final = self.directory / SEGMENT_DIR / name
        temp = final.with_suffix(".tmp")
        index.save(str(temp))
        with open(temp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(temp, final)
        return name, Fingerprint.of(final)

    @guarded
    def segment_names(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT name FROM segments ORDER BY count DESC")]

    def _damage(self, name: str, full: bool) -> str | None:
        """Why a segment file is not the one that was written, or None. Without `full`, a file
        whose size and time are as recorded is trusted without reading it."""
        row = self.db.execute("SELECT bytes, mtime_ns, digest FROM segments WHERE name = ?", (name,)).fetchone()
        path = self.directory / SEGMENT_DIR / name
        if row is None or row[2] is None:
            return "not recorded"
        try:
            stat = path.stat()
        except FileNotFoundError:
            return "missing"
        if stat.st_size != row[0]:
            return f"{stat.st_size:,} bytes, not the {row[0]:,} written"
        if not full and stat.st_mtime_ns == row[1]:
            return None
        return None if Fingerprint.of(path).digest == row[2] else "its contents changed since it was written"

    def _segment(self, name: str) -> Index:
        """A segment, memory-mapped once its file is verified: a damaged file could make
        USearch read out of bounds or allocate without limit."""
        index = self._segments.get(name)
        if index is None:
            count = self.db.execute("SELECT count FROM segments WHERE name = ?", (name,)).fetchone()
            problem = self._damage(name, full=True)
            if problem is None:
                try:
                    index = Index.restore(str(self.directory / SEGMENT_DIR / name), view=True)
                except Exception as exc:  # usearch raises bare RuntimeError/ValueError on bad files
                    problem = str(exc)
                if index is None:
                    problem = problem or "not a USearch index"
                elif count is not None and len(index) != count[0]:
                    problem = f"{len(index)} vectors, not the {count[0]} written"
            if problem is not None:
                raise SegmentDamaged(self.directory, name, problem, count[0] if count else 0)
            self._segments[name] = index
        return index

    @guarded
    def damaged_segments(self, full: bool) -> list[str]:
        """Segments whose files are not as written (`full`: read every file; else only files
        whose size or time changed, which is cheap enough for every update)."""
        return [name for name in self.segment_names() if self._damage(name, full)]

    @guarded
    def drop_segments(self, names: Sequence[str]) -> int:
        """Forget damaged segments: their vectors count as missing, and are embedded again.
        Call under `writing()`. Returns how many vectors were dropped."""
        if not names:
            return 0
        marks = ",".join("?" * len(names))
        with self.transaction() as db:
            dropped = db.execute(f"DELETE FROM vectors WHERE segment IN ({marks})", list(names)).rowcount
            db.execute(f"DELETE FROM segments WHERE name IN ({marks})", list(names))
            self.set_meta({UNEMBEDDED: "1"}, db)
        for name in names:
            self._segments.pop(name, None)
            (self.directory / SEGMENT_DIR / name).unlink(missing_ok=True)
        return dropped

    @guarded
    def check(self) -> None:
        """Read the whole index: SQLite's own check of every page, and every segment file."""
        problems = [row[0] for row in self.db.execute("PRAGMA quick_check")]
        if problems != ["ok"]:
            raise IndexCorrupt(self.directory, "; ".join(problems[:3]))
        for name in self.segment_names():
            self._segment(name)

    @guarded
    def search_vectors(self, query: np.ndarray, count: int) -> list[tuple[int, float]]:
        """Nearest stored vectors to one query over every segment: (key, cosine similarity)."""
        retries = 2
        while True:
            names = self.segment_names()
            for stale in set(self._segments) - set(names):
                del self._segments[stale]
            try:
                return self._search_segments(names, np.asarray(query, dtype=np.float32), count)
            except SegmentDamaged as exc:
                # A writer may have merged segments between listing and opening them.
                retries -= 1
                if retries < 0 or exc.name in self.segment_names():
                    raise

    def _search_segments(self, names: list[str], query: np.ndarray, count: int) -> list[tuple[int, float]]:
        hits: list[tuple[int, float]] = []
        for name in names:
            found = self._segment(name).search(query, count)
            keys = np.asarray(found.keys).view(np.int64)
            hits.extend(zip(keys.tolist(), (1.0 - np.asarray(found.distances)).tolist(), strict=True))
        hits.sort(key=lambda kv: -kv[1])
        return hits

    @guarded
    def vector_count(self) -> int:
        return self.db.execute("SELECT coalesce(sum(count), 0) FROM segments").fetchone()[0]

    @guarded
    def vectors_for(self, keys: Sequence[int]) -> dict[int, np.ndarray]:
        """Stored vectors by key (float32), for exact scoring and for merging segments."""
        by_segment: dict[str, list[int]] = {}
        for key, segment in self._rows_in("SELECT key, segment FROM vectors WHERE key IN ({marks})", keys):
            by_segment.setdefault(segment, []).append(key)
        out: dict[int, np.ndarray] = {}
        for segment, seg_keys in by_segment.items():
            got = self._segment(segment).get(_as_usearch(seg_keys))
            for key, vec in zip(seg_keys, got, strict=True):
                if vec is not None:
                    out[key] = np.asarray(vec, dtype=np.float32)
        return out

    @guarded
    def compact(self, force: bool = False) -> bool:
        """Merge segments once there are too many; drop vectors unused for GC_AFTER_SECONDS.

        Call under `writing()`. Small segments merge among themselves; the largest (the base)
        is rewritten only when the small ones together reach half its size, so the cost per
        update stays proportional to what changed.
        """
        rows = self.db.execute("SELECT name, count FROM segments ORDER BY count DESC").fetchall()
        if len(rows) <= 1 or (len(rows) <= MAX_SEGMENTS and not force):
            return False
        base_count = rows[0][1]
        small = rows[1:]
        merge = rows if force or sum(c for _, c in small) * 2 >= base_count else small
        names = [n for n, _ in merge]
        marks = ",".join("?" * len(names))
        cutoff = time.time() - GC_AFTER_SECONDS
        keep, drop = [], []
        for key, seen, used in self.db.execute(
            f"SELECT key, seen, EXISTS(SELECT 1 FROM chunks WHERE vector_key = key) FROM vectors "
            f"WHERE segment IN ({marks})",
            names,
        ):
            (keep if used or seen >= cutoff else drop).append(key)
        vectors = self.vectors_for(keep)
        keep = [k for k in keep if k in vectors]
        written = self._write_segment(keep, np.stack([vectors[k] for k in keep])) if keep else None
        with self.transaction() as db:
            db.execute(f"DELETE FROM segments WHERE name IN ({marks})", names)
            db.executemany("DELETE FROM vectors WHERE key = ?", ((k,) for k in drop))
            if written:
                self._list_segment(db, written[0], len(keep), written[1])
                db.executemany("UPDATE vectors SET segment = ? WHERE key = ?", ((written[0], k) for k in keep))
        for name in names:
            self._segments.pop(name, None)
            (self.directory / SEGMENT_DIR / name).unlink(missing_ok=True)
        return True

    # -- files and chunks ------------------------------------------------------------------

    @guarded
    def file_blobs(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT path, blob FROM files"))

    @guarded
    def apply(self, entries: Sequence[FileEntry], deleted: Iterable[str], meta: dict[str, str | None]) -> None:
        """Replace these files' chunks and record the new state, all in one transaction."""
        now = time.time()
        with self.transaction() as db:
            for path in [*deleted, *(e.path for e in entries)]:
                db.execute(
                    "UPDATE vectors SET seen = ? WHERE key IN (SELECT vector_key FROM chunks WHERE path = ?)",
                    (now, path),
                )
                db.execute("DELETE FROM chunks_fts WHERE rowid IN (SELECT id FROM chunks WHERE path = ?)", (path,))
                db.execute("DELETE FROM chunks WHERE path = ?", (path,))
                db.execute("DELETE FROM files WHERE path = ?", (path,))
            for e in entries:
                db.execute(
                    "INSERT INTO files(path, blob, language, chunks, skipped) VALUES (?, ?, ?, ?, ?)",
                    (e.path, e.blob, e.language, len(e.chunks), e.skipped),
                )
                for c, key in e.chunks:
                    cursor = db.execute(
                        "INSERT INTO chunks(path, language, kind, symbol, start_line, end_line, vector_key, content,"
                        " context, name_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (c.path, c.language, c.kind, c.symbol, c.start_line, c.end_line, key, c.text,
                         c.context, "" if c.kind in UNNAMED_KINDS else name_key(c.symbol)),
                    )
                    db.execute(
                        "INSERT INTO chunks_fts(rowid, symbol, path, body) VALUES (?, ?, ?, ?)",
                        (cursor.lastrowid, code_terms(c.symbol), code_terms(c.path), code_terms(c.text)),
                    )
            self.set_meta(meta, db)

    @guarded
    def unembedded(self) -> list[StoredChunk]:
        """Stored chunks that have no vector yet."""
        # Ids first, from the covering index (20 ms on the stdlib, where reading every row
        # to filter it took 110 ms), then only the rows that lack a vector.
        ids = [i for (i,) in self.db.execute(f"SELECT id FROM chunks WHERE {LACKS_VECTOR}")]
        return [StoredChunk(*row) for row in self._rows_in(f"SELECT {CHUNK_COLUMNS} FROM chunks WHERE id IN ({{marks}})", ids)]

    @guarded
    def settle_unembedded(self) -> bool:
        """Clear the flag that some chunks lack vectors, if (checked in the same transaction)
        none does: a concurrent update that adds chunks keeps it set. Call under `writing()`."""
        with self.transaction() as db:
            if db.execute(f"SELECT 1 FROM chunks WHERE {LACKS_VECTOR} LIMIT 1").fetchone():
                return False
            self.set_meta({UNEMBEDDED: None}, db)
            return True

    @guarded
    def embedded_count(self) -> int:
        """Chunks whose vector is stored (of `counts()["chunks"]`)."""
        return self.db.execute("SELECT count(*) FROM chunks WHERE vector_key IN (SELECT key FROM vectors)").fetchone()[0]

    @guarded
    def unembedded_count(self) -> int:
        if not self.db.execute("SELECT 1 FROM meta WHERE key = ?", (UNEMBEDDED,)).fetchone():
            return 0  # the common case answers without a scan
        return self.db.execute(f"SELECT count(*) FROM chunks WHERE {LACKS_VECTOR}").fetchone()[0]

    @guarded
    def lexical(self, expression: str, limit: int) -> list[tuple[StoredChunk, float]]:
        """Chunks matching an FTS5 expression, best BM25 first (score: higher is better)."""
        # The best rowids first, then their rows: joining before the sort read every match's
        # row (13.7 ms a query on the stdlib, 7.3 ms this way).
        rows = self.db.execute(
            f"SELECT {CHUNK_COLUMNS}, top.rank FROM "
            "(SELECT rowid, bm25(chunks_fts, ?, ?, ?) AS rank FROM chunks_fts WHERE chunks_fts MATCH ? "
            "ORDER BY rank LIMIT ?) AS top JOIN chunks ON chunks.id = top.rowid ORDER BY top.rank",
            (*BM25_WEIGHTS, expression, limit),
        )
        return [(StoredChunk(*row[:-1]), -row[-1]) for row in rows]

    @guarded
    def chunk_listing(self) -> list[tuple[str, int, int, str, str, int]]:
        """Every chunk as (path, start_line, end_line, symbol, kind, vector key)."""
        return self.db.execute("SELECT path, start_line, end_line, symbol, kind, vector_key FROM chunks").fetchall()

    @guarded
    def named(self, keys: Sequence[str], prefix: bool = False, limit: int = 50) -> list[StoredChunk]:
        """Definitions whose name is one of `keys` (see lexical.name_key), or starts with one."""
        found: dict[int, StoredChunk] = {}
        for key in dict.fromkeys(k for k in keys if k):
            if prefix:  # a range over the index: keys are [0-9a-z] only
                condition, args = "name_key >= ? AND name_key < ?", (key, key + "~")
            else:
                condition, args = "name_key = ?", (key,)
            rows = self.db.execute(f"SELECT {CHUNK_COLUMNS} FROM chunks WHERE {condition} LIMIT ?", (*args, limit))
            found.update((row[0], StoredChunk(*row)) for row in rows)
        return list(found.values())

    @guarded
    def term_counts(self, terms: Sequence[str]) -> tuple[dict[str, int], int]:
        """How many chunks hold each term, and how many chunks there are (for idf)."""
        marks = ",".join("?" * len(terms))
        counts = dict(self.db.execute(f"SELECT term, doc FROM chunks_vocab WHERE term IN ({marks})", list(terms)))
        return counts, self.db.execute("SELECT count(*) FROM chunks").fetchone()[0]

    @guarded
    def indexed_terms(self, ids: Sequence[int]) -> dict[int, tuple[str, str, str]]:
        """The code-aware terms each chunk was indexed under: (symbol, path, body), space-separated."""
        return {row[0]: row[1:] for row in self._rows_in(
            "SELECT rowid, symbol, path, body FROM chunks_fts WHERE rowid IN ({marks})", ids)}

    @guarded
    def chunks_for_keys(self, keys: Sequence[int]) -> dict[int, list[StoredChunk]]:
        out: dict[int, list[StoredChunk]] = {}
        sql = f"SELECT {CHUNK_COLUMNS} FROM chunks WHERE vector_key IN ({{marks}}) ORDER BY path, start_line"
        for row in self._rows_in(sql, keys):
            chunk = StoredChunk(*row)
            out.setdefault(chunk.vector_key, []).append(chunk)
        return out

    @guarded
    def chunks_at(self, path: str, line: int | None = None, symbol: str | None = None) -> list[StoredChunk]:
        """Chunks of a file containing a line (innermost first), or with a symbol."""
        if symbol is not None:
            rows = self.db.execute(
                f"SELECT {CHUNK_COLUMNS} FROM chunks WHERE symbol = ? OR symbol LIKE ? ORDER BY length(symbol), path",
                (symbol, f"%.{symbol}"),
            )
        else:
            rows = self.db.execute(
                f"SELECT {CHUNK_COLUMNS} FROM chunks WHERE path = ? AND start_line <= ? AND end_line >= ? "
                "ORDER BY end_line - start_line",
                (path, line, line),
            )
        return [StoredChunk(*row) for row in rows]

    @guarded
    def counts(self) -> dict[str, int]:
        queries = {
            "files": "SELECT count(*) FROM files WHERE skipped IS NULL",
            "skipped": "SELECT count(*) FROM files WHERE skipped IS NOT NULL",
            "chunks": "SELECT count(*) FROM chunks",
            "vectors": "SELECT count(*) FROM vectors",
            "segments": "SELECT count(*) FROM segments",
        }
        return {name: self.db.execute(sql).fetchone()[0] for name, sql in queries.items()}

    def size_on_disk(self) -> int:
        return sum(p.stat().st_size for p in self.directory.rglob("*") if p.is_file())
