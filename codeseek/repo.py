"""Where the code is: the repository (or plain directory), its files, their git blob ids."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import git

from .errors import CodeseekError

INDEX_DIR_ENV = "CODESEEK_INDEX_DIR"
PLAIN_INDEX_DIR = ".codeseek"


@dataclass(frozen=True)
class Workspace:
    """A directory to index: a git working tree, or a plain directory."""

    root: Path
    index_dir: Path
    repo: git.Repo | None

    @property
    def is_git(self) -> bool:
        return self.repo is not None

    def git(self, *args: str) -> str:
        assert self.repo is not None
        return self.repo.git.execute(["git", *args], strip_newline_in_stdout=False)

    def holds_index(self, path: str) -> bool:
        """Whether a repository path lies inside the index directory (never indexed)."""
        if not self.index_dir.is_relative_to(self.root):
            return False
        prefix = self.index_dir.relative_to(self.root).as_posix() + "/"
        return (path + "/").startswith(prefix)

    def head(self) -> str | None:
        if self.repo is None:
            return None
        try:
            return self.git("rev-parse", "--verify", "-q", "HEAD^{commit}").strip() or None
        except git.GitCommandError:
            return None


def open_workspace(path: str | os.PathLike[str] = ".", index_dir: str | os.PathLike[str] | None = None) -> Workspace:
    start = Path(path).resolve()
    if not start.is_dir():
        raise CodeseekError(f"{path} is not a directory")
    try:
        repo = git.Repo(start, search_parent_directories=True)
        if repo.bare or repo.working_tree_dir is None:
            raise CodeseekError(f"{start} is a bare git repository: codeseek needs a working tree")
        root = Path(repo.working_tree_dir).resolve()
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        repo, root = None, start
    chosen = index_dir or os.environ.get(INDEX_DIR_ENV)
    if chosen:
        directory = Path(chosen).resolve()
    elif repo is not None:
        directory = _git_index_dir(repo)
    else:
        directory = root / PLAIN_INDEX_DIR
    return Workspace(root=root, index_dir=directory, repo=repo)


def _git_index_dir(repo: git.Repo) -> Path:
    """`<git-common-dir>/codeseek`; a linked worktree gets its own folder beneath it."""
    common = Path(repo.common_dir).resolve()
    git_dir = Path(repo.git_dir).resolve()
    base = common / "codeseek"
    return base if git_dir == common else base / "worktrees" / git_dir.name


def list_files(ws: Workspace) -> list[str]:
    """Files git would track here: tracked ones plus untracked ones that are not ignored.

    A plain directory is listed by git too, through a throwaway git directory, so
    .gitignore files are honoured exactly as git honours them.
    """
    args = ["ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    if ws.repo is not None:
        out = ws.git(*args)
    else:
        with tempfile.TemporaryDirectory() as scratch:
            git.Repo.init(scratch, bare=True)
            out = git.Git(str(ws.root)).execute(
                ["git", f"--git-dir={scratch}", f"--work-tree={ws.root}", *args], strip_newline_in_stdout=False
            )
    paths = sorted({p for p in out.split("\0") if p and not ws.holds_index(p)})
    return [p for p in paths if os.path.isfile(ws.root / p) and not os.path.islink(ws.root / p)]


def blob_id(data: bytes) -> str:
    """The id git gives these bytes as a blob, so unchanged files are recognised without git."""
    h = hashlib.sha1(b"blob %d\0" % len(data))
    h.update(data)
    return h.hexdigest()
