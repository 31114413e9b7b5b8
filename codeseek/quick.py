"""The `codeseek` command's entry point, and its quick path: a plain `find` or `similar` that
the warm process answers is parsed, sent and printed here without importing click, the index,
the parser, numpy or torch (Python's start and these imports are most of a warm search's
time). Where none runs and the repository has an index, this path starts it and asks it: the
first search of the day skips the full command line's imports too (0.15-0.2 s, while the
warm process starts). Where there is no index, the full command line makes it (and, where it
cannot fork its workers itself, this path starts the process they fork from: forking.py).
Anything else goes to the full command line (cli.py).
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import os
import sys
import threading
from pathlib import Path
from typing import NoReturn

from . import __version__, client, fsutil
from .errors import CodeseekError
from .options import quick_parse
from .protocol import BadRequest, Filters, FindRequest, Mode, SimilarRequest, Wait

OFF = ("0", "false", "no", "off")
# The index's database and its writers' lock (index/database.py's DB_NAME, index/__init__.py's
# LOCK_NAME), named here because importing the index package costs 0.14 s (tests/test_warm.py
# checks that they agree).
INDEX_FILE = "index.db"
WRITERS_LOCK = "lock"


def main() -> None:
    try:
        code = answer(sys.argv[1:])
        if code is None:
            from .forking import load_numpy

            load_numpy()  # before the command line loads it: see forking.start_method
            from .cli import cli

            code = cli(prog_name="codeseek", standalone_mode=True)
    except BrokenPipeError:
        fsutil.discard_stdout()
        code = 0
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EFBIG, errno.EIO):
            raise
        fsutil.discard_stdout()  # where the output goes is full: one line where the errors go
        code = _output_lost(exc)
    except SystemExit as exc:  # click's way to end a command
        code = exc.code
    if code is None or isinstance(code, int):
        end(code or 0)
    sys.exit(code)


def end(code: int) -> NoReturn:
    """The process ends here once its threads are done, its exit handlers have run and its
    output is out, without the teardown of every object Python made: after a first index that
    teardown (the static tier, the parsers, the caches) took 0.1 s of the first answer
    (benchmarks/README.md, session 22). What is still open (files, sockets, SQLite
    connections: what they committed is kept) the kernel closes."""
    # Python's own exit, up to its teardown: the threads' exit hooks (a thread pool's workers
    # told to go) and every thread not a daemon joined, then the exit handlers.
    threading._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        pass  # the reader has gone with what it wanted (`codeseek find ... | head`)
    except OSError as exc:  # a full disk under `> file`: said, and no success claimed
        code = code or _output_lost(exc)
    except ValueError:
        pass  # closed by the command
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()
    os._exit(code)


def _output_lost(exc: OSError) -> int:
    """One line where the errors go for output that could not be written (a full disk under
    `> file`), and the exit status that says so."""
    with contextlib.suppress(OSError, ValueError):
        print(f"codeseek: the output could not be written: {exc.strerror or exc}", file=sys.stderr, flush=True)
    return 1


def answer(argv: list[str]) -> int | None:
    """The exit code of a search the warm process answered; None where the full command line
    must take over (other commands and options, no warm process of this version, settings that
are wrong: cli.py then says what is wrong)."""
    parsed = quick_parse(argv)
    if parsed is None or os.environ.get("CODESEEK_SERVER", "").strip().lower() in OFF:
        return None
    command, argument, options = parsed
    try:
        from . import config
        from .repo import open_workspace, relative_location

        ws = open_workspace(".")
        request = _request(command, argument if command == "find" else relative_location(ws, argument), options)
        # Settings from the environment and the config file, checked by config.py exactly as
        # the full command line checks them; the request carries them to the warm process.
        cfg = config.load(ws.root)
        engine = config.request_engine(cfg, {})
    except CodeseekError:
        return None  # cli.py says what is wrong, in the same words
    if not config.server_enabled(cfg):
        return None
    conn = client.connect(version=__version__) or _started(ws.index_dir)
    if conn is None:
        return None
    route = "/find" if command == "find" else "/similar"
    payload = {"repo": {"root": str(ws.root), "index_dir": str(ws.index_dir)}, "engine": engine,
               "request": request.to_json()}
    try:
        status, body = conn.request("POST", route, payload)
    except (OSError, ValueError):
        return None
    finally:
        conn.close()
    if status != 200:
        print(f"Error: {body.get('error', f'the warm process answered HTTP {status}')}", file=sys.stderr)
        return 1
    from .output import print_results
    from .results import Results

    fmt = str(options.get("fmt", "human"))
    explain = bool(options.get("explain"))
    print_results(Results.from_json(body), "explain" if explain and fmt == "human" else fmt, ws.index_dir,
                  argument if command == "find" else "")
    return 0


def _started(index_dir: Path) -> client.Connection | None:
    """A connection to the warm process this call started (or found started by another
    search meanwhile), as the full command line would start it; None where cli.py must take
    over: no index yet, or one being written (it indexes the words first, or waits, and says
    so: a first index half made would answer from part of the files), CODESEEK_SERVER_IDLE wrong
    (it says what is wrong), a runtime folder refused (it says so and searches alone), a newer
    version's process running (it searches alone), or one that failed to start (it says why)."""
    from . import config

    if not (index_dir / INDEX_FILE).exists():
        from .forking import FORKS, start_forkserver, usable_cores

        if usable_cores() > 1 and not FORKS:
            # cli.py makes the first index: where it cannot fork its workers itself, the process
            # they fork from loads their modules while the command line loads its own (they
            # started 0.5 s late). Only a head start.
            with contextlib.suppress(OSError):
                start_forkserver()
        return None
    if _being_written(index_dir):
        return None
    try:
        config.server_idle()
        if client.start(__version__):
            print(client.STARTED, file=sys.stderr)
    except CodeseekError:
        return None
    return client.connect(version=__version__)


def _being_written(index_dir: Path) -> bool:
    """Whether another process writes the index now (holds its writers' lock)."""
    try:
        return fsutil.held(index_dir / WRITERS_LOCK)
    except (OSError, CodeseekError):
        return True  # not ours to read, a link or a FIFO: cli.py says what is wrong


def _request(command: str, argument: str, options: dict[str, object]) -> FindRequest | SimilarRequest:
    filters = Filters(tuple(options.get("paths", ())), tuple(options.get("languages", ())),  # type: ignore[arg-type]
                      tuple(options.get("kinds", ())), options.get("min_score"))  # type: ignore[arg-type]
    k = int(options.get("k", 10))  # type: ignore[call-overload]
    if command == "similar":
        return SimilarRequest(argument, k, filters, bool(options.get("no_update")))
    try:
        mode = Mode(str(options.get("mode", Mode.HYBRID)))
        wait = Wait(str(options.get("wait", Wait.AUTO)))
    except ValueError:
        raise BadRequest("bad mode") from None
    if wait == Wait.ALL:
        raise BadRequest("--wait is answered by the full command line")  # it shows a progress bar
    return FindRequest(argument, k, mode, filters, bool(options.get("explain")), bool(options.get("no_update")), wait)
