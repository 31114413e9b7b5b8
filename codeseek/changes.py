"""What changed since the index was last brought up to date.

The index stores each file's git blob id. An update asks git only for what can differ:
`diff-tree` from the indexed commit to HEAD (or an `ls-tree` comparison when that commit is
gone), plus the working tree's staged, unstaged and untracked changes. Files whose blob id
matches the stored one are never read; the others are read as they are chunked (`read`),
so a first index of a large repository never holds all of it in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from .protocol import Source
from .repo import BlobReader, Workspace, blob_id, is_text_name, list_files

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
REGULAR_MODES = ("100644", "100755")


class Stored(Protocol):
    """The blob ids the index holds (index.chunks.Chunks): asked for the paths that may have
    changed, so an update reads a handful of rows, not one per file of the repository."""

    def blobs_of(self, paths: Iterable[str]) -> dict[str, str]:
        """The stored blob ids of those of these paths the index holds."""

    def file_blobs(self) -> dict[str, str]:
        """Every stored path's blob id."""


@dataclass
class Change:
    """Paths to (re)index with their blob ids, and paths that are gone."""

    files: dict[str, str] = field(default_factory=dict)  # path -> blob id
    read_here: dict[str, bytes] = field(default_factory=dict)  # contents already read (working tree)
    deleted: set[str] = field(default_factory=set)
    dirty: set[str] = field(default_factory=set)  # paths indexed from the working tree, not HEAD
    unnamed: set[str] = field(default_factory=set)  # paths whose names are not UTF-8: never indexed
    head: str | None = None


def read(ws: Workspace, change: Change, paths: list[str]) -> Iterator[tuple[str, bytes]]:
    """The contents of changed files, in the order given: from the working tree where they
    were read already, else from git's object store."""
    reader: BlobReader | None = None
    try:
        for path in paths:
            data = change.read_here.get(path)
            if data is None:
                reader = reader or BlobReader(ws)
                data = reader.read(change.files[path])
            yield path, data
    finally:
        if reader is not None:
            reader.close()


def recent_paths(ws: Workspace, commits: int = 50) -> set[str]:
    """Files changed in the last commits and in the working tree: where the user works now."""
    if not ws.is_git or ws.head() is None:
        return set()
    out = ws.git("log", f"-{commits}", "--name-only", "--format=", "-z")
    return {p.strip() for p in out.split("\0") if p.strip()} | _worktree_changes(ws)


def in_scope(path: str, scope: str) -> bool:
    return not scope or path == scope or path.startswith(scope.rstrip("/") + "/")


def detect(
    ws: Workspace,
    stored: Stored,
    *,
    indexed_commit: str | None,
    previously_dirty: set[str],
    source: Source = Source.WORKTREE,
    scope: str = "",
) -> Change:
    """Changes against the stored blob ids. source: the working tree (staged, unstaged and
    untracked files), the staged content (git's index), or HEAD alone."""
    if not ws.is_git:
        change = _detect_plain(ws, stored.file_blobs(), scope)
    else:
        head = ws.head()
        change = _detect_git(ws, stored, head, indexed_commit, previously_dirty, source, scope)
        change.head = head
    change.unnamed = {p for p in change.files if not is_text_name(p)}
    for path in change.unnamed:
        del change.files[path]
        change.read_here.pop(path, None)
    return change


def _detect_git(
    ws: Workspace,
    stored: Stored,
    head: str | None,
    indexed_commit: str | None,
    previously_dirty: set[str],
    source: Source,
    scope: str,
) -> Change:
    candidates = _committed_candidates(ws, stored, indexed_commit, head) | previously_dirty
    worktree: set[str] = set()
    if source == Source.STAGED:
        staged = _git_paths(ws, "diff-index", "--cached", "--no-renames", "--name-only", "-z", head or EMPTY_TREE)
        candidates = {p for p in candidates | staged if in_scope(p, scope)}
        change = _resolve(_known(stored, candidates), candidates, _ls_files_stage(ws, sorted(candidates)))
        change.dirty = staged & candidates
        return change
    if source == Source.WORKTREE:
        worktree = _worktree_changes(ws)
        candidates |= worktree
    candidates = {p for p in candidates if in_scope(p, scope)}
    known = _known(stored, candidates)
    # Paths with no working-tree change are read from git's object store; in a sparse
    # checkout, only those that are checked out.
    committed = ws.checked_out(candidates - worktree)
    change = _resolve(known, committed, _ls_tree(ws, head, sorted(committed)) if head and committed else {})
    change.deleted |= {p for p in candidates - worktree - committed if p in known}
    for path in sorted(worktree & candidates):
        full = ws.root / path
        if not full.is_file() or full.is_symlink():
            if path in known:
                change.deleted.add(path)
            continue
        data = full.read_bytes()
        blob = blob_id(data)
        change.dirty.add(path)
        if known.get(path) != blob:
            change.files[path] = blob
            change.read_here[path] = data
    return change


def _known(stored: Stored, paths: set[str]) -> dict[str, str]:
    """The stored blob ids of paths; one whose name is not UTF-8 is never stored (nor can
    SQLite be asked about it)."""
    return stored.blobs_of(p for p in paths if is_text_name(p))


def _committed_candidates(ws: Workspace, stored: Stored, indexed: str | None, head: str | None) -> set[str]:
    if head is None:
        return set(stored.file_blobs())
    if indexed == head:
        return set()
    if indexed and ws.git_ok("cat-file", "-e", f"{indexed}^{{commit}}"):
        out = ws.git("diff-tree", "-r", "-z", "--no-renames", "--name-only", indexed, head)
        return {p for p in out.split("\0") if p}
    # The indexed commit is gone (rebase + gc, shallow clone) or never existed: compare blob
    # ids of every path instead. Cheap, and nothing unchanged is read or embedded.
    tree = _ls_tree(ws, head)
    every = stored.file_blobs()
    return {p for p, blob in tree.items() if every.get(p) != blob} | (set(every) - set(tree))


def _ls_tree(ws: Workspace, rev: str, paths: list[str] | None = None) -> dict[str, str]:
    """path -> blob id of regular files at rev (symlinks and submodules are not code)."""
    out: dict[str, str] = {}
    batches = [paths[i : i + 1000] for i in range(0, len(paths), 1000)] if paths is not None else [None]
    for batch in batches:
        args = ["ls-tree", "-r", "-z", "--full-tree", rev]
        if batch is not None:
            args += ["--", *batch]
        for entry in ws.git(*args).split("\0"):
            if not entry:
                continue
            meta, _, path = entry.partition("\t")
            mode, kind, sha = meta.split()
            if kind == "blob" and mode in REGULAR_MODES:
                out[path] = sha
    return out


def _git_paths(ws: Workspace, *args: str) -> set[str]:
    return {p for p in ws.git(*args).split("\0") if p and not ws.holds_index(p)}


def _worktree_changes(ws: Workspace) -> set[str]:
    """Staged, unstaged and untracked (not ignored) paths, from one `git status`."""
    out = ws.git("status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames",
                 "--ignore-submodules=all")
    return {entry[3:] for entry in out.split("\0") if len(entry) > 3 and not ws.holds_index(entry[3:])}


def _ls_files_stage(ws: Workspace, paths: list[str]) -> dict[str, str]:
    """path -> blob id of regular files as staged in git's index."""
    out: dict[str, str] = {}
    for i in range(0, len(paths), 1000):
        for entry in ws.git("ls-files", "-s", "-z", "--", *paths[i : i + 1000]).split("\0"):
            if entry:
                meta, _, path = entry.partition("\t")
                mode, sha, _stage = meta.split()
                if mode in REGULAR_MODES:
                    out[path] = sha
    return out


def _resolve(stored: dict[str, str], paths: set[str], blobs: dict[str, str]) -> Change:
    """The paths whose blob differs from the stored one (read later, from git's objects)."""
    change = Change()
    change.deleted = {p for p in paths if p not in blobs and p in stored}
    change.files = {path: sha for path, sha in blobs.items() if stored.get(path) != sha}
    return change


def _detect_plain(ws: Workspace, stored: dict[str, str], scope: str) -> Change:
    """A directory without git: every file is hashed (there is no cheaper witness)."""
    change = Change()
    present = [p for p in list_files(ws) if in_scope(p, scope)]
    for path in present:
        data = (ws.root / path).read_bytes()
        blob = blob_id(data)
        if stored.get(path) != blob:
            change.files[path] = blob
            change.read_here[path] = data
    change.deleted = {p for p in stored if in_scope(p, scope)} - set(present)
    return change
