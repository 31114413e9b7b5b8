"""The index's files and chunks, and the word and name queries over them.

Each file's state (its git blob id, or why it was skipped) and its chunks are replaced in one
transaction, words (FTS5) included, so a search sees a file's old chunks or its new ones.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from ..embedding.base import ModelInfo
from ..kinds import Kind, names_path
from ..lexical import code_terms, name_key
from ..parsing import Chunk
from .database import UNEMBEDDED, Database, guarded

# BM25 weights of the FTS columns: a term in the symbol says most, then the path, then the body.
BM25_WEIGHTS = (8.0, 3.0, 1.0)
CHUNK_COLUMNS = "id, path, language, kind, symbol, start_line, end_line, vector_key, content, context"
# Answered from the chunks_key index alone, with one primary-key lookup per chunk.
LACKS_VECTOR = "vector_key NOT IN (SELECT key FROM vectors)"


def vector_key(text: str, info: ModelInfo) -> int:
    """A signed 64-bit key (SQLite's integer) for this text under this model."""
    h = hashlib.blake2b(f"{info.model}\0{info.dim}\0".encode(), digest_size=8)
    h.update(text.encode("utf-8", errors="surrogatepass"))
    return int.from_bytes(h.digest(), "big", signed=True)


@dataclass(frozen=True)
class NewChunk:
    """A chunk ready to store: its vector key, and the code-aware terms of its symbol, path
    and body (the FTS columns), computed where it was chunked (in parallel)."""

    chunk: Chunk
    key: int
    terms: tuple[str, str, str]

    def __reduce__(self) -> tuple[Callable[..., NewChunk], tuple[object, ...]]:
        """Pickled as its fields in one flat tuple, as the workers send a first index's chunks
        to the main process: a dataclass pickles each of its two objects as a dict of its
        fields, and its chunks' kinds as enum members, which took the main process 0.23 CPU-s
        to load for 20,000 chunks (0.09-0.15 s so)."""
        c = self.chunk
        return _new_chunk, (c.path, c.language, c.kind.value, c.symbol, c.start_line, c.end_line, c.text, c.context,
                            self.key, self.terms)

    @classmethod
    def of(cls, chunk: Chunk, info: ModelInfo, text: str | None = None) -> NewChunk:
        """`text`: the chunk's embedding_text, where the caller has it already (for its static vector)."""
        return cls(chunk, vector_key(chunk.embedding_text() if text is None else text, info),
                   (code_terms(chunk.symbol), code_terms(chunk.path), code_terms(chunk.text)))


def _new_chunk(path: str, language: str, kind: str, symbol: str, start_line: int, end_line: int, text: str,
               context: str, key: int, terms: tuple[str, str, str]) -> NewChunk:
    """A NewChunk from its pickled fields (NewChunk.__reduce__)."""
    return NewChunk(Chunk(path, language, Kind(kind), symbol, start_line, end_line, text, context), key, terms)


def term_docs(terms: Iterable[tuple[str, str, str]]) -> Counter[str]:
    """How many of these chunks hold each term (in any column), and under the term "" how many
    chunks there are: what the index keeps for idf."""
    counts: Counter[str] = Counter()
    for columns in terms:
        counts.update({"", *" ".join(columns).split()})
    return counts


@dataclass(frozen=True)
class FileEntry:
    """One file's new state: its blob id and chunks, or why it was skipped."""

    path: str
    blob: str
    language: str | None
    chunks: Sequence[NewChunk] = ()
    skipped: str | None = None


@dataclass(frozen=True)
class StoredChunk:
    id: int
    path: str
    language: str
    kind: Kind
    symbol: str
    start_line: int
    end_line: int
    vector_key: int
    content: str
    context: str = ""

    @classmethod
    def from_row(cls, row: Sequence[object]) -> StoredChunk:
        values = list(row)
        values[3] = Kind(values[3])
        return cls(*values)  # type: ignore[arg-type]

    def embedding_text(self) -> str:
        chunk = Chunk(self.path, self.language, self.kind, self.symbol, self.start_line, self.end_line,
                      self.content, self.context)
        return chunk.embedding_text()


class Pending(NamedTuple):
    """A chunk waiting for its vector: what decides its turn, not its text."""

    id: int
    path: str
    kind: Kind
    symbol: str
    vector_key: int


@dataclass(frozen=True)
class ChunkRef:
    """Where a chunk is and which vector it has, without its text (what `push` publishes)."""

    path: str
    start_line: int
    end_line: int
    symbol: str
    kind: str
    vector_key: int


@dataclass(frozen=True)
class Counts:
    files: int
    skipped: int
    chunks: int
    vectors: int
    segments: int


class Chunks:
    """Files, chunks and their words."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @guarded
    def file_blobs(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT path, blob FROM files"))

    @guarded
    def file_languages(self) -> dict[str, str | None]:
        """Each stored path's language as chunked (`text` for line windows; None: no chunk)."""
        return dict(self.db.execute("SELECT path, language FROM files"))

    @guarded
    def blobs_of(self, paths: Iterable[str]) -> dict[str, str]:
        return dict(self.db.rows_in("SELECT path, blob FROM files WHERE path IN ({marks})", paths))

    def remove(self, db: sqlite3.Connection, paths: Iterable[str]) -> None:
        """Forget these files and their chunks, in the caller's transaction. Their vectors stay,
        marked as seen now: a branch switched back to reuses them."""
        now = time.time()
        unembedded = 0
        removed: Counter[str] = Counter()
        # Only the files the index holds: a first index's were looked up six times each for nothing.
        for path in self.blobs_of(paths):
            unembedded += _forget(db, path, now, removed)
        self.db.add_unembedded(-unembedded, db)
        _count_terms(db, removed, -1)

    def replace(self, db: sqlite3.Connection, entries: Sequence[FileEntry], missing: set[int],
                terms: Counter[str] | None = None, counted: Counter[str] | None = None) -> None:
        """Replace these files' chunks and words with their new state, in the caller's
        transaction. `missing`: the keys among theirs that have no vector. `terms`: where to
        add their term counts for the caller to store (add_terms) once for many calls, rather
        than here (a first index wrote each common term once a part). `counted`: their term
        counts (term_docs), where counted already (by the workers that chunked them)."""
        self.remove(db, [e.path for e in entries])
        self.db.add_unembedded(sum(new.key in missing for e in entries for new in e.chunks), db)
        if counted is None:
            counted = term_docs(new.terms for e in entries for new in e.chunks)
        if terms is None:
            _count_terms(db, counted, 1)
        else:
            # One Counter for the batch, updated in place: summing one a file copied the growing
            # total each time (4.5 s of a 20,000-chunk first index).
            terms.update(counted)
        _insert(db, entries)

    def add_terms(self, db: sqlite3.Connection, terms: Counter[str]) -> None:
        """Store term counts that `replace` was given to add up, in the caller's transaction."""
        _count_terms(db, terms, 1)

    @guarded
    def unembedded(self) -> list[StoredChunk]:
        """Stored chunks that have no vector yet (whole rows: for a few)."""
        return list(self.by_ids([ref.id for ref in self.pending()]).values())

    @guarded
    def pending(self) -> list[Pending]:
        """Chunks that have no vector yet, without their text: light enough to order a whole
        large repository's worth before any text is read."""
        # Ids first, from the covering index (20 ms on the stdlib, where reading every row
        # to filter it took 110 ms), then only the rows that lack a vector.
        ids = [i for (i,) in self.db.execute(f"SELECT id FROM chunks WHERE {LACKS_VECTOR}")]
        sql = "SELECT id, path, kind, symbol, vector_key FROM chunks WHERE id IN ({marks})"
        return [Pending(i, p, Kind(k), s, v) for i, p, k, s, v in self.db.rows_in(sql, ids)]

    @guarded
    def without_static(self) -> list[int]:
        """Ids of chunks whose key has no static vector (one chunk a key)."""
        return [i for (i,) in self.db.execute(
            "SELECT min(id) FROM chunks WHERE vector_key NOT IN (SELECT key FROM static_vectors) GROUP BY vector_key")]

    @guarded
    def by_ids(self, ids: Sequence[int]) -> dict[int, StoredChunk]:
        sql = f"SELECT {CHUNK_COLUMNS} FROM chunks WHERE id IN ({{marks}})"
        return {row[0]: StoredChunk.from_row(row) for row in self.db.rows_in(sql, ids)}

    @guarded
    def settle_unembedded(self) -> bool:
        """Whether every chunk has its vector, counted exactly (in one transaction: a
        concurrent update that adds chunks is seen), the kept count set to what was found.
        Call under the writer lock."""
        with self.db.transaction() as db:
            exact = db.execute(f"SELECT count(*) FROM chunks WHERE {LACKS_VECTOR}").fetchone()[0]
            self.db.set_meta({UNEMBEDDED: str(exact) if exact else None}, db)
            return exact == 0

    @guarded
    def embedded_count(self, static: bool = False) -> int:
        """Chunks whose vector is stored (of `counts().chunks`): the transformer's, or the static tier's."""
        table = "static_vectors" if static else "vectors"
        return self.db.execute(f"SELECT count(*) FROM chunks WHERE vector_key IN (SELECT key FROM {table})").fetchone()[0]

    def unembedded_count(self) -> int:
        """Chunks without a vector, from the kept count: no scan, however large the index."""
        return self.db.unembedded()

    @guarded
    def skipped_files(self) -> list[tuple[str, str]]:
        """(path, reason) of every file the index holds as skipped, by path."""
        return [(str(path), str(reason)) for path, reason in self.db.execute(
            "SELECT path, skipped FROM files WHERE skipped IS NOT NULL ORDER BY path")]

    @guarded
    def counts(self) -> Counts:
        """Every count in one statement, so they describe one state of the index."""
        files, skipped, chunks, vectors, segments = self.db.execute(
            "SELECT (SELECT count(*) FROM files WHERE skipped IS NULL), "
            "(SELECT count(*) FROM files WHERE skipped IS NOT NULL), (SELECT count(*) FROM chunks), "
            "(SELECT count(*) FROM vectors), (SELECT count(*) FROM segments)").fetchone()
        return Counts(files=files, skipped=skipped, chunks=chunks, vectors=vectors, segments=segments)

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
        return [(StoredChunk.from_row(row[:-1]), -row[-1]) for row in rows]

    @guarded
    def refs(self) -> list[ChunkRef]:
        """Every chunk's place and vector key."""
        return [ChunkRef(*row) for row in self.db.execute(
            "SELECT path, start_line, end_line, symbol, kind, vector_key FROM chunks")]

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
            found.update((row[0], StoredChunk.from_row(row)) for row in rows)
        return list(found.values())

    @guarded
    def in_files(self, names: Sequence[str], limit: int = 20) -> list[StoredChunk]:
        """Chunks of the files a query names (`context.go`, `pkg/x/y.py`): each name matched as
        a path or as a path's tail, up to `limit` chunks a file. Files, not chunks, are scanned
        for the tail: a repository has a hundred times fewer of them."""
        found: list[StoredChunk] = []
        for name in dict.fromkeys(n.strip("/") for n in names if n.strip("/")):
            for path in _named_paths(self.db, name):
                rows = self.db.execute(f"SELECT {CHUNK_COLUMNS} FROM chunks WHERE path = ? LIMIT ?", (path, limit))
                found.extend(StoredChunk.from_row(row) for row in rows)
        return found

    @guarded
    def term_counts(self, terms: Sequence[str]) -> tuple[dict[str, int], int]:
        """How many chunks hold each term, and how many chunks there are (for idf)."""
        # Kept by every change (term_docs, and the sentinel "" for the number of chunks): FTS5's
        # own vocabulary table counts a term's rows by reading all of them (100 ms for one
        # common term of a kernel-sized index).
        rows = dict(self.db.rows_in("SELECT term, doc FROM term_docs WHERE term IN ({marks})", [*terms, ""]))
        total = rows.pop("", 0)
        return rows, total

    @guarded
    def indexed_terms(self, ids: Sequence[int]) -> dict[int, tuple[str, str, str]]:
        """The code-aware terms each chunk was indexed under: (symbol, path, body), space-separated."""
        return {row[0]: row[1:] for row in self.db.rows_in(
            "SELECT rowid, symbol, path, body FROM chunks_fts WHERE rowid IN ({marks})", ids)}

    @guarded
    def for_keys(self, keys: Sequence[int]) -> dict[int, list[StoredChunk]]:
        """Chunks by vector key (several chunks may share one text, hence one vector)."""
        out: dict[int, list[StoredChunk]] = {}
        sql = f"SELECT {CHUNK_COLUMNS} FROM chunks WHERE vector_key IN ({{marks}}) ORDER BY path, start_line"
        for row in self.db.rows_in(sql, keys):
            chunk = StoredChunk.from_row(row)
            out.setdefault(chunk.vector_key, []).append(chunk)
        return out

    @guarded
    def at(self, path: str, line: int | None = None, symbol: str | None = None) -> list[StoredChunk]:
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
        return [StoredChunk.from_row(row) for row in rows]


def _named_paths(db: Database, name: str) -> list[str]:
    """Indexed files a query's file name (`context.go`, `pkg/x/y.py`) means (kinds.names_path)."""
    tail = name.rsplit("/", 1)[-1]
    pattern = "%/" + tail.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = db.execute(
        "SELECT path FROM files WHERE skipped IS NULL AND (path IN (?, ?) OR path LIKE ? ESCAPE '\\') LIMIT 50",
        (name, tail, pattern))
    return [p for (p,) in rows if names_path(name, p) or "/" not in name]


def _forget(db: sqlite3.Connection, path: str, now: float, removed: Counter[str]) -> int:
    """Delete one file's rows (its vectors marked seen now), adding its terms to `removed`;
    returns how many of its chunks had no vector."""
    unembedded = db.execute(f"SELECT count(*) FROM chunks WHERE path = ? AND {LACKS_VECTOR}", (path,)).fetchone()[0]
    removed.update(term_docs(db.execute(
        "SELECT symbol, path, body FROM chunks_fts WHERE rowid IN (SELECT id FROM chunks WHERE path = ?)", (path,))))
    db.execute("UPDATE vectors SET seen = ? WHERE key IN (SELECT vector_key FROM chunks WHERE path = ?)", (now, path))
    db.execute("DELETE FROM chunks_fts WHERE rowid IN (SELECT id FROM chunks WHERE path = ?)", (path,))
    db.execute("DELETE FROM chunks WHERE path = ?", (path,))
    db.execute("DELETE FROM files WHERE path = ?", (path,))
    return unembedded


def _insert(db: sqlite3.Connection, entries: Sequence[FileEntry]) -> None:
    """Files, their chunks and the chunks' words, as three executemany."""
    db.executemany("INSERT INTO files(path, blob, language, chunks, skipped) VALUES (?, ?, ?, ?, ?)",
                   ((e.path, e.blob, e.language, len(e.chunks), e.skipped) for e in entries))
    # The ids SQLite would give one insert at a time (max + 1, ...: the table has no
    # AUTOINCREMENT), named here so that chunks and their words go in as two executemany.
    first = db.execute("SELECT coalesce(max(id), 0) + 1 FROM chunks").fetchone()[0]
    news = [new for e in entries for new in e.chunks]
    db.executemany(
        "INSERT INTO chunks(id, path, language, kind, symbol, start_line, end_line, vector_key, content, context,"
        " name_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ((first + i, c.path, c.language, str(c.kind), c.symbol, c.start_line, c.end_line, new.key, c.text,
          c.context, name_key(c.symbol) if c.kind.is_named else "")
         for i, new in enumerate(news) for c in (new.chunk,)))
    db.executemany("INSERT INTO chunks_fts(rowid, symbol, path, body) VALUES (?, ?, ?, ?)",
                   ((first + i, *new.terms) for i, new in enumerate(news)))


def _count_terms(db: sqlite3.Connection, counts: Counter[str], sign: int) -> None:
    """Add (sign 1) or take away (-1) chunks' terms, and their number (the term "")."""
    db.executemany("INSERT INTO term_docs(term, doc) VALUES (?, ?) ON CONFLICT(term) DO UPDATE SET doc = doc + excluded.doc",
                   ((term, sign * n) for term, n in counts.items()))
