"""Where the code is: the repository (or plain directory), its files, their git blob ids."""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import CodeseekError

if TYPE_CHECKING:
    import git

INDEX_DIR_ENV = "CODESEEK_INDEX_DIR"
PLAIN_INDEX_DIR = ".codeseek"


@dataclass(frozen=True)
class Workspace:
    """A directory to index: a git working tree, or a plain directory (git_dir None)."""

    root: Path
    index_dir: Path
    git_dir: Path | None = None

    @property
    def is_git(self) -> bool:
        return self.git_dir is not None

    @cached_property
    def repo(self) -> git.Repo:
        """GitPython's view of the repository, made on first use (its import is not free)."""
        import git

        return git.Repo(self.root)

    def git(self, *args: str) -> str:
        return self.repo.git.execute(["git", *args], strip_newline_in_stdout=False)

    def holds_index(self, path: str) -> bool:
        """Whether a repository path lies inside the index directory (never indexed)."""
        if not self.index_dir.is_relative_to(self.root):
            return False
        prefix = self.index_dir.relative_to(self.root).as_posix() + "/"
        return (path + "/").startswith(prefix)

    def head(self) -> str | None:
        if not self.is_git:
            return None
        out = subprocess.run(["git", "rev-parse", "--verify", "-q", "HEAD^{commit}"], cwd=self.root,
                             capture_output=True, text=True)
        return out.stdout.strip() or None


def _rev_parse(start: Path, *args: str) -> list[str] | None:
    try:
        out = subprocess.run(["git", "rev-parse", *args], cwd=start, capture_output=True, text=True)
    except FileNotFoundError:
        raise CodeseekError("git is not installed (codeseek reads repositories through it)") from None
    return out.stdout.splitlines() if out.returncode == 0 else None


def open_workspace(path: str | os.PathLike[str] = ".", index_dir: str | os.PathLike[str] | None = None) -> Workspace:
    start = Path(path).resolve()
    if not start.is_dir():
        raise CodeseekError(f"{path} is not a directory")
    found = _rev_parse(start, "--is-bare-repository", "--absolute-git-dir", "--git-common-dir")
    chosen = index_dir or os.environ.get(INDEX_DIR_ENV)
    if found is None:
        root, git_dir = start, None
        directory = Path(chosen).resolve() if chosen else root / PLAIN_INDEX_DIR
        return Workspace(root=root, index_dir=directory, git_dir=None)
    bare, git_dir_text, common_text = found
    if bare == "true":
        raise CodeseekError(f"{start} is a bare git repository: codeseek needs a working tree")
    toplevel = _rev_parse(start, "--show-toplevel")
    if not toplevel:
        raise CodeseekError(f"{start} is inside a git directory, not a working tree")
    git_dir = Path(git_dir_text)
    common = (start / common_text).resolve()
    directory = Path(chosen).resolve() if chosen else _git_index_dir(git_dir, common)
    return Workspace(root=Path(toplevel[0]).resolve(), index_dir=directory, git_dir=git_dir)


def _git_index_dir(git_dir: Path, common: Path) -> Path:
    """`<git-common-dir>/codeseek`; a linked worktree gets its own folder beneath it."""
    base = common / "codeseek"
    return base if git_dir.resolve() == common else base / "worktrees" / git_dir.name


def list_files(ws: Workspace) -> list[str]:
    """Files git would track here: tracked ones plus untracked ones that are not ignored.

    A plain directory is listed by git too, through a throwaway git directory, so
    .gitignore files are honoured exactly as git honours them.
    """
    args = ["ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    if ws.is_git:
        out = ws.git(*args)
    else:
        import git

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
