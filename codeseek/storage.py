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
import hashlib
import os
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from usearch.index import Index

from .embedding.base import ModelInfo
from .errors import CodeseekError, IndexBusy, IndexCorrupt
from .lexical import TOKENIZE, code_terms
from .parsing import Chunk

DB_NAME = "index.db"
SEGMENT_DIR = "vectors"
LOCK_NAME = "lock"
MAX_SEGMENTS = 8
UNEMBEDDED = "unembedded"  # meta key: some stored chunks may still lack a vector
# Vectors no chunk refers to are kept this long, so switching back to a branch re-embeds nothing.
GC_AFTER_SECONDS = 14 * 24 * 3600

MIGRATIONS: list[tuple[str, str]] = [
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
    signature: str = ""
    part: int = 0

    def embedding_text(self) -> str:
        chunk = Chunk(self.path, self.language, self.kind, self.symbol, self.start_line, self.end_line,
                      self.content, self.context, self.signature, self.part)
        return chunk.embedding_text()


CHUNK_COLUMNS = "id, path, language, kind, symbol, start_line, end_line, vector_key, content, context, signature, part"


class Store:
    """One index directory. Any number of readers; writers hold `writing()`."""

    def __init__(self, directory: Path, *, create: bool = False) -> None:
        """Threads may share a store for reads (a search runs its two rankers at once);
        writes are serialised by `writing()` and the server's lock."""
        self.directory = Path(directory)
        if not (self.directory / DB_NAME).exists() and not create:
            raise CodeseekError(f"no index in {self.directory}: run `codeseek index` first")
        if create:
            (self.directory / SEGMENT_DIR).mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(
                self.directory / DB_NAME, timeout=30, isolation_level=None, check_same_thread=False
            )
            self.db.create_function("code_terms", 1, code_terms, deterministic=True)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise IndexCorrupt(self.directory, str(exc)) from None
        self._segments: dict[str, Index] = {}

    def close(self) -> None:
        self.db.close()
        self._segments.clear()

    # -- schema and metadata -------------------------------------------------------------

    def _migrate(self) -> None:
        """Apply pending migrations, each in one transaction with the version that records it."""
        while self.db.execute("PRAGMA user_version").fetchone()[0] < len(MIGRATIONS):
            with self.transaction() as db:
                version = db.execute("PRAGMA user_version").fetchone()[0]  # re-read under the lock
                if version >= len(MIGRATIONS):
                    break
                for statement in MIGRATIONS[version][1].split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version={version + 1}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def meta(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT key, value FROM meta"))

    def set_meta(self, values: dict[str, str | None], db: sqlite3.Connection | None = None) -> None:
        db = db or self.db
        for key, value in values.items():
            if value is None:
                db.execute("DELETE FROM meta WHERE key = ?", (key,))
            else:
                db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def model_info(self) -> ModelInfo | None:
        meta = self.meta()
        if "model" not in meta:
            return None
        return ModelInfo(meta["model"], int(meta["dim"]), meta["engine"], meta["engine_version"])

    # -- writer lock -----------------------------------------------------------------------

    @contextmanager
    def writing(self, wait: bool = True) -> Iterator[None]:
        """Serialise writers across processes. With wait=False, raise if another writer runs."""
        with open(self.directory / LOCK_NAME, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                raise IndexBusy("another codeseek process is updating this index") from None
            self._remove_orphans()
            yield

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

    def missing_keys(self, keys: Iterable[int]) -> set[int]:
        wanted = set(keys)
        return wanted - {key for (key,) in self._rows_in("SELECT key FROM vectors WHERE key IN ({marks})", wanted)}

    def add_vectors(self, keys: Sequence[int], vectors: np.ndarray) -> None:
        """Persist new vectors as one segment, committed at once (a resumable checkpoint)."""
        if not len(keys):
            return
        name = self._write_segment(keys, vectors)
        now = time.time()
        with self.transaction() as db:
            db.execute("INSERT INTO segments(name, count) VALUES (?, ?)", (name, len(keys)))
            db.executemany(
                "INSERT OR IGNORE INTO vectors(key, segment, seen) VALUES (?, ?, ?)",
                ((k, name, now) for k in keys),
            )

    def _write_segment(self, keys: Sequence[int], vectors: np.ndarray) -> str:
        index = Index(ndim=vectors.shape[1], metric="cos", dtype="f16")
        index.add(_as_usearch(keys), np.ascontiguousarray(vectors, dtype=np.float32))
        name = f"seg-{uuid.uuid4().hex}.usearch"
        final = self.directory / SEGMENT_DIR / name
        temp = final.with_suffix(".tmp")
        index.save(str(temp))
        with open(temp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(temp, final)
        return name

    def segment_names(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT name FROM segments ORDER BY count DESC")]

    def _segment(self, name: str) -> Index:
        index = self._segments.get(name)
        if index is None:
            path = self.directory / SEGMENT_DIR / name
            try:
                index = Index.restore(str(path), view=True)
            except Exception as exc:  # usearch raises bare RuntimeError/ValueError on bad files
                raise IndexCorrupt(self.directory, f"segment {name}: {exc}") from None
            if index is None:
                raise IndexCorrupt(self.directory, f"segment {name} is missing")
            self._segments[name] = index
        return index

    def search_vectors(self, query: np.ndarray, count: int) -> list[tuple[int, float]]:
        """Nearest stored vectors to one query over every segment: (key, cosine similarity)."""
        retries = 2
        while True:
            names = self.segment_names()
            for stale in set(self._segments) - set(names):
                del self._segments[stale]
            try:
                return self._search_segments(names, np.asarray(query, dtype=np.float32), count)
            except IndexCorrupt:
                # A writer may have merged segments between listing and opening them.
                retries -= 1
                if retries < 0 or all((self.directory / SEGMENT_DIR / n).exists() for n in names):
                    raise

    def _search_segments(self, names: list[str], query: np.ndarray, count: int) -> list[tuple[int, float]]:
        hits: list[tuple[int, float]] = []
        for name in names:
            found = self._segment(name).search(query, count)
            keys = np.asarray(found.keys).view(np.int64)
            hits.extend(zip(keys.tolist(), (1.0 - np.asarray(found.distances)).tolist(), strict=True))
        hits.sort(key=lambda kv: -kv[1])
        return hits

    def vector_count(self) -> int:
        return self.db.execute("SELECT coalesce(sum(count), 0) FROM segments").fetchone()[0]

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
        new_name = self._write_segment(keep, np.stack([vectors[k] for k in keep])) if keep else None
        with self.transaction() as db:
            db.execute(f"DELETE FROM segments WHERE name IN ({marks})", names)
            db.executemany("DELETE FROM vectors WHERE key = ?", ((k,) for k in drop))
            if new_name:
                db.execute("INSERT INTO segments(name, count) VALUES (?, ?)", (new_name, len(keep)))
                db.executemany("UPDATE vectors SET segment = ? WHERE key = ?", ((new_name, k) for k in keep))
        for name in names:
            self._segments.pop(name, None)
            (self.directory / SEGMENT_DIR / name).unlink(missing_ok=True)
        return True

    # -- files and chunks ------------------------------------------------------------------

    def file_blobs(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT path, blob FROM files"))

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
                        " context, signature, part) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (c.path, c.language, c.kind, c.symbol, c.start_line, c.end_line, key, c.text,
                         c.context, c.signature, c.part),
                    )
                    db.execute(
                        "INSERT INTO chunks_fts(rowid, symbol, path, body) VALUES (?, ?, ?, ?)",
                        (cursor.lastrowid, code_terms(c.symbol), code_terms(c.path), code_terms(c.text)),
                    )
            self.set_meta(meta, db)

    def unembedded(self) -> dict[int, str]:
        """Texts of stored chunks that have no vector yet, by vector key."""
        rows = self.db.execute(
            f"SELECT {CHUNK_COLUMNS} FROM chunks LEFT JOIN vectors ON vectors.key = chunks.vector_key "
            "WHERE vectors.key IS NULL"
        )
        out: dict[int, str] = {}
        for row in rows:
            chunk = StoredChunk(*row)
            out.setdefault(chunk.vector_key, chunk.embedding_text())
        return out

    def unembedded_count(self) -> int:
        if not self.db.execute("SELECT 1 FROM meta WHERE key = ?", (UNEMBEDDED,)).fetchone():
            return 0  # the common case answers without a scan
        return self.db.execute(
            "SELECT count(*) FROM chunks LEFT JOIN vectors ON vectors.key = chunks.vector_key WHERE vectors.key IS NULL"
        ).fetchone()[0]

    def lexical(self, expression: str, limit: int) -> list[tuple[StoredChunk, float]]:
        """Chunks matching an FTS5 expression, best BM25 first (score: higher is better)."""
        rows = self.db.execute(
            f"SELECT {', '.join('chunks.' + c for c in CHUNK_COLUMNS.split(', '))}, bm25(chunks_fts, ?, ?, ?) AS rank "
            "FROM chunks_fts JOIN chunks ON chunks.id = chunks_fts.rowid "
            "WHERE chunks_fts MATCH ? ORDER BY rank LIMIT ?",
            (*BM25_WEIGHTS, expression, limit),
        )
        return [(StoredChunk(*row[:-1]), -row[-1]) for row in rows]

    def chunks_for_keys(self, keys: Sequence[int]) -> dict[int, list[StoredChunk]]:
        out: dict[int, list[StoredChunk]] = {}
        sql = f"SELECT {CHUNK_COLUMNS} FROM chunks WHERE vector_key IN ({{marks}}) ORDER BY path, start_line"
        for row in self._rows_in(sql, keys):
            chunk = StoredChunk(*row)
            out.setdefault(chunk.vector_key, []).append(chunk)
        return out

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
