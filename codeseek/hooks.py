"""Git hooks that keep the index current without ever slowing git down.

`install` writes the hook script (hook.sh) into the repository's hooks folder; the script
starts `codeseek hooks run NAME` detached and returns. `run` is that background worker:
bursts of hooks (a rebase fires many) coalesce into one update through a lock and a
"rerun requested" marker, and the outcome is kept for `codeseek status`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import client, config, filling, indexing
from .embedding import EngineChoice
from .errors import CodeseekError, RefusedPath
from .fsutil import atomic_write, locked, open_own, own_folder, pid_alive
from .index import Store
from .outcome import Outcome, record
from .protocol import Source, UpdateRequest
from .repo import Workspace, clean_env
from .skipping import SkipRules

HOOK_TYPES = ("post-commit", "post-checkout", "post-merge", "post-rewrite")
MARKER = "# codeseek-hook:"
CHAINED = ".codeseek-chained"
TEMPLATE = Path(__file__).with_name("hook.sh")
REQUEST_NAME = "update.requested"
WORKER_LOCK = "worker.lock"
# pid of a worker started but not yet holding its lock (Python and codeseek still loading).
STARTING_NAME = "worker.starting"
STARTING_SECONDS = 60.0


@dataclass(frozen=True)
class Installed:
    directory: Path
    hooks: list[str]
    chained: list[str]


def hooks_dir(ws: Workspace) -> Path:
    """The folder git runs hooks from: core.hooksPath if set, else the common .git/hooks."""
    return (ws.root / ws.git("rev-parse", "--git-path", "hooks").strip()).resolve()


def is_ours(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            return any(MARKER in handle.readline() for _ in range(3))
    except OSError:
        return False


def script(python: str = sys.executable) -> str:
    quoted = "'" + python.replace("'", "'\\''") + "'"
    return TEMPLATE.read_text().replace('python=""', f"python={quoted}", 1)


def install(ws: Workspace, force: bool = False) -> Installed:
    if not ws.is_git:
        raise CodeseekError(f"{ws.root} is not a git repository: there are no hooks to install")
    directory = hooks_dir(ws)
    configured = ws.git("config", "--default", "", "core.hooksPath").strip()
    if configured and directory.is_relative_to(ws.root) and not force:
        raise CodeseekError(
            f"core.hooksPath is {configured}, a folder inside this repository that others may share; "
            "install anyway with `codeseek hooks install --force`, or call `codeseek hooks run <hook>` from your hooks"
        )
    directory.mkdir(parents=True, exist_ok=True)
    chained = []
    text = script()
    for name in HOOK_TYPES:
        path = directory / name
        if path.exists() and not is_ours(path):
            kept = path.with_name(name + CHAINED)
            if kept.exists():
                raise CodeseekError(f"{kept} already exists: move it away, then install again")
            os.replace(path, kept)
            chained.append(name)
        atomic_write(path, text, mode=0o755)
    return Installed(directory, list(HOOK_TYPES), chained)


def uninstall(ws: Workspace) -> Installed:
    """Remove codeseek's hooks, and put back the hooks they had chained."""
    directory = hooks_dir(ws)
    removed, restored = [], []
    for name in HOOK_TYPES:
        path = directory / name
        if is_ours(path):
            path.unlink()
            removed.append(name)
        kept = path.with_name(name + CHAINED)
        if kept.exists() and not path.exists():
            os.replace(kept, path)
            restored.append(name)
    return Installed(directory, removed, restored)


def worker_running(ws: Workspace) -> bool:
    """Whether a background worker holds its lock now (loading its model, updating, embedding),
    or was started moments ago and is still getting there: two searches in a row start one."""
    if _starting(ws):
        return True
    try:
        with locked(ws.index_dir / WORKER_LOCK, wait=False) as free:
            return not free
    except (OSError, CodeseekError):
        return False


def spawn(ws: Workspace, reason: str) -> int:
    """Start a detached worker that brings the index up to date, vectors included (the one
    the git hooks start; used when no warm process may run)."""
    proc = subprocess.Popen([sys.executable, "-P", "-m", "codeseek", "hooks", "run", reason], cwd=ws.root,
                            env=clean_env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        if own_folder(ws.index_dir):
            atomic_write(ws.index_dir / STARTING_NAME, str(proc.pid))
    except (OSError, CodeseekError):
        pass  # at worst a second search starts a second worker, which finds the lock and leaves
    return proc.pid


def _starting(ws: Workspace) -> bool:
    marker = ws.index_dir / STARTING_NAME
    try:
        if time.time() - marker.stat().st_mtime > STARTING_SECONDS:
            return False
        return pid_alive(int(marker.read_text()))
    except (OSError, ValueError):
        return False


def run(ws: Workspace, hook: str, engine: EngineChoice, rules: SkipRules, server: bool) -> None:
    """The background update behind a hook (or a search that does not wait for vectors).
    Never raises: failures go to the log and status. A new request (another commit) makes it
    stop embedding at the next checkpoint and bring the files up to date first. With
    `server`, the warm process does the work (started if it is not running)."""
    source = Source.STAGED if hook == "pre-commit" else Source.WORKTREE
    try:
        if not own_folder(ws.index_dir, create=True):
            raise RefusedPath(ws.index_dir, "it is another user's folder")
        request = ws.index_dir / REQUEST_NAME
        summary = "up to date (another worker ran the update)"
        while True:
            os.close(open_own(request, os.O_WRONLY | os.O_CREAT))
            with locked(ws.index_dir / WORKER_LOCK, wait=False) as mine:
                if not mine:
                    return  # a worker is running; it will see the request and run again
                (ws.index_dir / STARTING_NAME).unlink(missing_ok=True)  # the lock says it now
                while request.exists():
                    request.unlink()
                    # A new request, or the repository deleted: stop at the next checkpoint.
                    summary = _update(ws, source, engine, rules, server, stop=lambda: request.exists() or ws.gone())
            if ws.gone():
                return  # nothing left to work for, nor to report to
            if not request.exists():  # nothing asked for while the lock was being let go
                break
        record(ws.index_dir, Outcome(hook, True, summary=summary))
    except BaseException as exc:  # noqa: BLE001 - a hook must never fail; this is its report
        if ws.gone():
            return
        record(ws.index_dir, Outcome(hook, False, error=f"{type(exc).__name__}: {exc}"), traceback.format_exc())


def _update(ws: Workspace, source: Source, engine: EngineChoice, rules: SkipRules, server: bool,
            stop: Callable[[], bool]) -> str:
    """Through the warm process when one may run (its model is loaded, or loads once there),
    else in this process."""
    if server:
        from . import __version__

        try:
            client.start(__version__)
            answer = client.call("/update", {"repo": {"root": str(ws.root), "index_dir": str(ws.index_dir)},
                                             "engine": config.request_engine(config.load(ws.root), {}),
                                             "request": UpdateRequest(source).to_json()}, version=__version__)
        except RefusedPath:  # the warm process's folder is a link or another user's: the work is done here
            answer = None
        except client.NewerServer:
            answer = None  # a newer codeseek's warm process: this older one works alone
        if answer is not None:
            return str(answer["summary"])
    result = indexing.update(ws, engine, source=source, rules=rules)
    with Store(ws.index_dir) as store:
        why = filling.unavailable(store, engine)  # nothing to try: the vectors wait for it
        result.embedded = filling.behind(ws, store, engine, stop=stop, embed=not why)
    return f"{result.summary()}; the vectors wait: {why}" if why else result.summary()

