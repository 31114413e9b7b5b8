"""Where the code is: the repository (or plain directory), its files, their git blob ids, and
the one way codeseek runs git.

Git's output is decoded as UTF-8 with `surrogateescape`, so a file name that is not UTF-8
survives the round trip (and is then skipped with a reason: the index stores text).
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import IO

from .errors import CodeseekError

INDEX_DIR_ENV = "CODESEEK_INDEX_DIR"
PLAIN_INDEX_DIR = ".codeseek"
# Variables git sets for a hook; a git run on a repository must find it from its folder.
GIT_ENV_NOISE = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_PREFIX", "GIT_OBJECT_DIRECTORY",
                 "GIT_COMMON_DIR", "GIT_ALTERNATE_OBJECT_DIRECTORIES")


class GitError(CodeseekError):
    def __init__(self, args: tuple[str, ...], stderr: bytes, code: int) -> None:
        lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
        detail = "; ".join(lines)[:600] or f"exit status {code}"
        super().__init__(f"git {args[0] if args else ''} failed: {detail}")
        self.code = code


def clean_env() -> dict[str, str]:
    """The environment for git: none of a hook's variables, and no optional locks (a `git
    status` run in the background must never take the index's lock from the user's own git)."""
    return {**{k: v for k, v in os.environ.items() if k not in GIT_ENV_NOISE}, "GIT_OPTIONAL_LOCKS": "0"}


def run_git(cwd: Path, *args: str, data: bytes | None = None, check: bool = True,
            env: dict[str, str] | None = None) -> bytes:
    """git's standard output; a failure is a GitError with all of git's explanation. `env`
    adds variables for this one call."""
    try:
        done = subprocess.run(["git", *args], cwd=cwd, input=data, capture_output=True,
                              env={**clean_env(), **(env or {})})
    except FileNotFoundError:
        raise CodeseekError("git is not installed (codeseek reads repositories through it)") from None
    if check and done.returncode != 0:
        raise GitError(args, done.stderr, done.returncode)
    return done.stdout


def decode_path(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def is_text_name(path: str) -> bool:
    """Whether a path is valid UTF-8 (one git gave us with undecodable bytes is not)."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True)
class Workspace:
    """A directory to index: a git working tree, or a plain directory (git_dir None)."""

    root: Path
    index_dir: Path
    git_dir: Path | None = None

    @property
    def is_git(self) -> bool:
        return self.git_dir is not None

    def git(self, *args: str, data: bytes | None = None) -> str:
        return decode_path(run_git(self.root, *args, data=data))

    def git_bytes(self, *args: str, data: bytes | None = None, env: dict[str, str] | None = None) -> bytes:
        return run_git(self.root, *args, data=data, env=env)

    def git_ok(self, *args: str) -> bool:
        """Whether a git command succeeds (its output unread)."""
        return subprocess.run(["git", *args], cwd=self.root, capture_output=True, env=clean_env()).returncode == 0

    def gone(self) -> bool:
        """Whether the repository or its index folder was deleted: work for it stops."""
        return not (self.root.is_dir() and self.index_dir.is_dir())

    def holds_index(self, path: str) -> bool:
        """Whether a repository path lies inside the index directory (never indexed)."""
        if not self.index_dir.is_relative_to(self.root):
            return False
        prefix = self.index_dir.relative_to(self.root).as_posix() + "/"
        return (path + "/").startswith(prefix)

    def head(self) -> str | None:
        if not self.is_git:
            return None
        out = run_git(self.root, "rev-parse", "--verify", "-q", "HEAD^{commit}", check=False)
        return out.decode().strip() or None

    @cached_property
    def sparse(self) -> bool:
        """Whether only part of the repository is checked out (sparse checkout)."""
        return self.is_git and self.git("config", "--bool", "--default", "false", "core.sparseCheckout").strip() == "true"

    def sparse_state(self) -> str:
        """What decides which files a sparse checkout has (its patterns and mode), as a digest;
        "" when the checkout is whole. An update that finds it changed compares every path:
        files checked out or removed by `git sparse-checkout set` change no commit."""
        if not self.sparse:
            return ""
        import hashlib

        patterns = self.root / self.git("rev-parse", "--git-path", "info/sparse-checkout").strip()
        try:
            text = patterns.read_bytes()
        except OSError:
            text = b""
        cone = self.git("config", "--bool", "--default", "false", "core.sparseCheckoutCone").strip()
        return hashlib.sha256(cone.encode() + b"\0" + text).hexdigest()

    def checked_out(self, paths: set[str]) -> set[str]:
        """The paths of these that a sparse checkout has in the working tree (all of them
        otherwise): what is not checked out is not indexed, as `git grep` searches only
        what is checked out."""
        if not self.sparse:
            return paths
        out = self.git("ls-files", "-t", "-z")
        skipped = {entry[2:] for entry in out.split("\0") if entry.startswith("S ")}
        return paths - skipped


WHERE = ("--is-bare-repository", "--absolute-git-dir", "--git-common-dir")


def _rev_parse(start: Path, *args: str) -> list[str] | None:
    try:
        out = subprocess.run(["git", "rev-parse", *args], cwd=start, capture_output=True, env=clean_env())
    except FileNotFoundError:
        raise CodeseekError("git is not installed (codeseek reads repositories through it)") from None
    return decode_path(out.stdout).splitlines() if out.returncode == 0 else None


def open_workspace(path: str | os.PathLike[str] = ".", index_dir: str | os.PathLike[str] | None = None) -> Workspace:
    start = Path(path).resolve()
    if not start.is_dir():
        raise CodeseekError(f"{path} is not a directory")
    # One git process for a working tree (every search starts here); `--show-toplevel` fails
    # anywhere else, and a second call without it says where we are.
    found = _rev_parse(start, *WHERE, "--show-toplevel")
    chosen = index_dir or os.environ.get(INDEX_DIR_ENV)
    if chosen:
        _make_chosen(Path(chosen), "--index-dir" if index_dir else INDEX_DIR_ENV)
    if found is None:
        if _rev_parse(start, *WHERE) is None:
            directory = Path(chosen).resolve() if chosen else start / PLAIN_INDEX_DIR
            return Workspace(root=start, index_dir=directory, git_dir=None)
        if _rev_parse(start, "--is-bare-repository") == ["true"]:
            raise CodeseekError(f"{start} is a bare git repository: codeseek needs a working tree")
        raise CodeseekError(f"{start} is inside a git directory, not a working tree")
    _, git_dir_text, common_text, toplevel = found
    git_dir = Path(git_dir_text)
    common = (start / common_text).resolve()
    directory = Path(chosen).resolve() if chosen else _git_index_dir(git_dir, common)
    return Workspace(root=Path(toplevel).resolve(), index_dir=directory, git_dir=git_dir)


def _make_chosen(chosen: Path, source: str) -> None:
    """The index folder the user named (a flag, a variable): made now if missing, so a path
    where no folder can be is an error naming where it came from."""
    resolved = chosen.resolve()
    if resolved.exists() and not resolved.is_dir():
        raise CodeseekError(f"{source}: {chosen} is not a folder")
    try:
        resolved.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CodeseekError(f"{source}: cannot make the folder {chosen}: {exc.strerror}") from None


def _git_index_dir(git_dir: Path, common: Path) -> Path:
    """`<git-common-dir>/codeseek`; a linked worktree gets its own folder beneath it."""
    base = common / "codeseek"
    return base if git_dir.resolve() == common else base / "worktrees" / git_dir.name


def list_files(ws: Workspace) -> list[str]:
    """Files git would track here: tracked ones plus untracked ones that are not ignored.

    A plain directory is listed by git too, through a throwaway git directory, so
    .gitignore files are honoured exactly as git honours them.
    """
    import tempfile

    args = ["ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    if ws.is_git:
        out = ws.git(*args)
    else:
        with tempfile.TemporaryDirectory() as scratch:
            run_git(Path(scratch), "init", "-q", "--bare", scratch)
            out = decode_path(run_git(ws.root, f"--git-dir={scratch}", f"--work-tree={ws.root}", *args))
    paths = ws.checked_out({p for p in out.split("\0") if p and not ws.holds_index(p)})
    return sorted(p for p in paths if os.path.isfile(ws.root / p) and not os.path.islink(ws.root / p))


def blob_id(data: bytes) -> str:
    """The id git gives these bytes as a blob, so unchanged files are recognised without git."""
    import hashlib

    h = hashlib.sha1(b"blob %d\0" % len(data))
    h.update(data)
    return h.hexdigest()


class BlobReader:
    """Blobs from git's object store through one `git cat-file --batch` process, so reading
    thousands of files costs one process, not thousands."""

    def __init__(self, ws: Workspace) -> None:
        self._proc = subprocess.Popen(["git", "cat-file", "--batch"], cwd=ws.root, stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=clean_env())
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._in: IO[bytes] = self._proc.stdin
        self._out: IO[bytes] = self._proc.stdout

    def read(self, sha: str) -> bytes:
        self._in.write(sha.encode() + b"\n")
        self._in.flush()
        header = self._out.readline().split()
        if len(header) != 3:
            raise CodeseekError(f"git has no object {sha}: is the repository complete?")
        data = self._out.read(int(header[2]))
        self._out.read(1)  # the newline after each object
        return data

    def close(self) -> None:
        self._in.close()
        self._proc.wait()

    def __enter__(self) -> BlobReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def relative_location(ws: Workspace, where: str) -> str:
    """PATH:LINE with PATH as typed (relative to the current folder) made relative to the root;
    a symbol name as it is."""
    path, _, line = where.rpartition(":")
    if not path or not line.isdigit():
        return where
    full = Path(path).resolve()
    return f"{full.relative_to(ws.root).as_posix()}:{line}" if full.is_relative_to(ws.root) else where
