"""The version trees an index holds (`v1/` beside `v2/`), for the ranking's legacy copies
(kinds.legacy_part). Read from every indexed path, not from one query's candidates: a question
whose candidates are all in `v1/` still finds `v1/` legacy when the index holds a `v2/`."""

from __future__ import annotations

import threading

from ..kinds import newest_versions
from .database import Database, guarded

# Only paths with a folder that may be a `vN` reach Python (newest_versions decides exactly). On
# 70,000 kernel-shaped paths: 13 ms (26 ms unanchored, `path GLOB '*[vV][0-9]*/*'`; 350 ms with
# every path through Python), on this 2-core machine under load.
VERSIONED = "SELECT path FROM files WHERE skipped IS NULL AND ('/' || path) GLOB '*/[vV][0-9]*/*'"


class Versions:
    """The highest `vN` under each folder holding version trees, computed once per update of the
    index (its `updated_at`, written with every change of its files) and kept while the index
    is open: the warm process computes it once per update, an in-process search (which opens the
    index anew) once per search, and both from the same paths, so they give the same answer."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._stamp: str | None = None
        self._newest: dict[str, int] | None = None

    @guarded
    def newest(self) -> dict[str, int]:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'updated_at'").fetchone()
        stamp = row[0] if row else None
        with self._lock:  # the warm process's searches run on threads
            if self._newest is None or stamp != self._stamp:
                self._newest = newest_versions(path for (path,) in self.db.execute(VERSIONED))
                self._stamp = stamp
            return self._newest
