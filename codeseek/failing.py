"""How the command line fails: every expected error is one line on stderr and a non-zero
exit, never a traceback; a bug is one line too, its traceback kept in a private crash log."""

from __future__ import annotations

import os
import tempfile
import traceback
from pathlib import Path
from typing import Any

import click

from .errors import CodeseekError
from .fsutil import discard_stdout, private_dir


class Group(click.Group):
    """Expected errors are one line and a non-zero exit, never a traceback: every error line
    begins "Error: ", every notice "codeseek: ", a usage mistake's too (exit 1, not 2)."""

    group_class = type  # `hooks` is one of these too

    def make_context(self, *args: Any, **extra: Any) -> click.Context:
        try:
            return super().make_context(*args, **extra)
        except click.UsageError as exc:
            raise one_line(exc) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CodeseekError as exc:
            raise click.ClickException(str(exc)) from None
        except KeyboardInterrupt:
            click.echo("Error: interrupted; the index keeps its last complete state", err=True)
            ctx.exit(130)
        except BrokenPipeError:  # as on the quick path (quick.main): not a failure
            discard_stdout()
            ctx.exit(0)
        except click.UsageError as exc:
            raise one_line(exc, ctx.command_path) from None
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:
            try:
                kept = f"traceback in {crash_log()}"
            except (CodeseekError, OSError) as refused:  # a crash-log folder that is a link, or not ours
                kept = f"no traceback kept: {refused}"
            raise click.ClickException(f"internal error: {exc!r} ({kept})") from None


def one_line(exc: click.UsageError, command: str = "codeseek") -> click.ClickException | click.exceptions.Exit:
    """A usage mistake as one line, naming the help to read; a bare `codeseek` gets its help."""
    if isinstance(exc, click.exceptions.NoArgsIsHelpError):
        click.echo(exc.ctx.get_help() if exc.ctx is not None else "")
        return click.exceptions.Exit(0)
    where = exc.ctx.command_path if exc.ctx is not None else command
    return click.ClickException(f"{exc.format_message().replace(chr(10), ' ')} (`{where} --help` says how)")


def crash_log() -> Path:
    """The traceback, in a new file only this user can read, in a folder only this user can
    enter (a fixed name in a shared temp folder could be a link to someone's file)."""
    folder = private_dir(Path(tempfile.gettempdir()) / f"codeseek-{os.getuid()}")
    fd, name = tempfile.mkstemp(prefix="crash-", suffix=".log", dir=folder)  # O_EXCL, mode 0600
    with os.fdopen(fd, "w") as handle:
        handle.write(traceback.format_exc())
    return Path(name)
