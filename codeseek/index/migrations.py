"""The index's schema, as a registry of named steps applied in order.

Each step runs in one transaction with the `user_version` that records it (database.migrate),
so an index is always at some step, never between two. A step is a function given the
connection and the index folder; its docstring says what changed and why. Steps are never
edited once released: a change is a new step.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..lexical import TOKENIZE
from .fingerprint import SEGMENT_DIR, Fingerprint

Step = Callable[[sqlite3.Connection, Path], None]


@dataclass(frozen=True)
class Migration:
    name: str
    step: Step


MIGRATIONS: list[Migration] = []


def migration(step: Step) -> Step:
    """Register a step; the order of definition is the order of application."""
    MIGRATIONS.append(Migration(step.__name__, step))
    return step


def run_sql(db: sqlite3.Connection, script: str) -> None:
    """Statements one by one, inside the caller's transaction (executescript would commit)."""
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


@migration
def m001_initial(db: sqlite3.Connection, directory: Path) -> None:
    """Files with their blob ids, chunks keyed to vectors by content, vector segments."""
    run_sql(db, """
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
    """)


@migration
def m002_lexical_search(db: sqlite3.Connection, directory: Path) -> None:
    """Lexical search (FTS5 over code-aware terms), and chunks that can be embedded after
    they are stored."""
    run_sql(db, f"""
        ALTER TABLE chunks ADD COLUMN context TEXT NOT NULL DEFAULT '';
        ALTER TABLE chunks ADD COLUMN signature TEXT NOT NULL DEFAULT '';
        CREATE VIRTUAL TABLE chunks_fts USING fts5(symbol, path, body, tokenize="{TOKENIZE}");
        INSERT INTO chunks_fts(rowid, symbol, path, body)
            SELECT id, code_terms(symbol), code_terms(path), code_terms(content) FROM chunks;
    """)


@migration
def m003_split_parts(db: sqlite3.Connection, directory: Path) -> None:
    """Parts of split definitions (dropped again by m006)."""
    db.execute("ALTER TABLE chunks ADD COLUMN part INTEGER NOT NULL DEFAULT 0")


@migration
def m004_segment_fingerprints(db: sqlite3.Connection, directory: Path) -> None:
    """Segment files' size, time and digest, so a file that changed is never handed to USearch."""
    for column in ("bytes INTEGER", "mtime_ns INTEGER", "digest TEXT"):
        db.execute(f"ALTER TABLE segments ADD COLUMN {column}")
    for (name,) in db.execute("SELECT name FROM segments").fetchall():
        path = directory / SEGMENT_DIR / name
        if path.exists():  # a missing file stays unrecorded, and is reported as damaged
            f = Fingerprint.of(path)
            db.execute("UPDATE segments SET bytes = ?, mtime_ns = ?, digest = ? WHERE name = ?",
                       (f.bytes, f.mtime_ns, f.digest, name))


@migration
def m005_names_and_term_counts(db: sqlite3.Connection, directory: Path) -> None:
    """Definitions found by name in any spelling, and how many chunks hold each term."""
    run_sql(db, """
        ALTER TABLE chunks ADD COLUMN name_key TEXT NOT NULL DEFAULT '';
        UPDATE chunks SET name_key = name_key(symbol) WHERE kind NOT IN ('module', 'text');
        CREATE INDEX chunks_name ON chunks(name_key);
        CREATE VIRTUAL TABLE chunks_vocab USING fts5vocab(chunks_fts, 'row');
    """)


@migration
def m006_unsplit_definitions(db: sqlite3.Connection, directory: Path) -> None:
    """Definitions are no longer split into parts: files that had some are chunked again."""
    run_sql(db, """
        UPDATE files SET blob = '' WHERE path IN (SELECT path FROM chunks WHERE part > 0);
        DELETE FROM meta WHERE key IN ('indexed_commit', 'max_tokens');
        ALTER TABLE chunks DROP COLUMN signature;
        ALTER TABLE chunks DROP COLUMN part;
    """)


@migration
def m007_count_chunks_without_vectors(db: sqlite3.Connection, directory: Path) -> None:
    """The meta key `unembedded` counts chunks without a vector (it was a flag), so a search on
    an index of a million chunks says how many without counting them."""
    exact = db.execute("SELECT count(*) FROM chunks WHERE vector_key NOT IN (SELECT key FROM vectors)").fetchone()[0]
    db.execute("DELETE FROM meta WHERE key = 'unembedded'")
    if exact:
        db.execute("INSERT INTO meta(key, value) VALUES ('unembedded', ?)", (str(exact),))


@migration
def m008_term_document_counts(db: sqlite3.Connection, directory: Path) -> None:
    """How many chunks hold each term, kept by every change (and under "" how many chunks
    there are): FTS5's vocabulary table counts a term's rows by reading them all, which took
    up to 100 ms a query on a kernel-sized index."""
    run_sql(db, """
        CREATE TABLE term_docs(term TEXT PRIMARY KEY, doc INTEGER NOT NULL) WITHOUT ROWID;
        INSERT INTO term_docs(term, doc) SELECT term, doc FROM chunks_vocab;
        INSERT INTO term_docs(term, doc) SELECT '', count(*) FROM chunks;
    """)


@migration
def m009_static_tier(db: sqlite3.Connection, directory: Path) -> None:
    """The static tier's vectors: a second space under the same keys, with segment files of
    its own (index/segments.py's STATIC). An index made before has none: its next update
    computes them (indexing.py), in seconds."""
    run_sql(db, """
        CREATE TABLE static_segments(name TEXT PRIMARY KEY, count INTEGER NOT NULL,
                                     bytes INTEGER, mtime_ns INTEGER, digest TEXT);
        CREATE TABLE static_vectors(key INTEGER PRIMARY KEY, segment TEXT NOT NULL, seen REAL NOT NULL);
    """)
