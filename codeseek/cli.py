"""The `codeseek` command: argument parsing and printing over the importable core."""

from __future__ import annotations

import functools
import json
import sys
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from . import __version__, config, indexing, output, search
from .embedding import EngineChoice, EngineSettings
from .errors import CodeseekError
from .parsing import chunk_file
from .repo import Workspace, open_workspace
from .skipping import SkipRules
from .storage import DB_NAME, Store


class Group(click.Group):
    """Turns expected errors into one line and a non-zero exit, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CodeseekError as exc:
            raise click.ClickException(str(exc)) from None
        except KeyboardInterrupt:
            click.echo("codeseek: interrupted; the index keeps its last complete state", err=True)
            ctx.exit(130)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:
            log = Path(tempfile.gettempdir()) / "codeseek-crash.log"
            log.write_text(traceback.format_exc())
            raise click.ClickException(f"internal error: {exc!r} (traceback in {log})") from None


def engine_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The flags that choose an embedding engine, declared once for every command."""

    @click.option("--backend", envvar="CODESEEK_BACKEND",
                  help="Embedding engine: auto (default), local, http, vllm.")
    @click.option("--model", envvar="CODESEEK_MODEL", help="Model name or path (default: the index's model).")
    @click.option("--dim", envvar="CODESEEK_DIM", type=click.IntRange(1), help="Output dimension (Matryoshka).")
    @click.option("--base-url", envvar="CODESEEK_BASE_URL", help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1.")
    @click.option("--trust-remote-code", is_flag=True, help="Allow the model to run its own code from its repository.")
    @functools.wraps(func)
    def wrapper(*args: Any, backend: str | None, model: str | None, dim: int | None, base_url: str | None,
                trust_remote_code: bool, **kwargs: Any) -> Any:
        flags = EngineSettings(backend=backend or "auto", model=model, dim=dim, base_url=base_url,
                               trust_remote_code=trust_remote_code)
        return func(*args, flags=flags, **kwargs)

    return wrapper


@dataclass
class Opened:
    """A workspace with the engine and skip rules its flags and config file ask for."""

    ws: Workspace
    engine: EngineChoice
    rules: SkipRules


def _open(ctx: click.Context, flags: EngineSettings | None = None, path: str | Path = ".") -> Opened:
    ws = open_workspace(path, ctx.obj["index_dir"])
    cfg = config.load(ws.root)
    settings = (flags or EngineSettings()).under(cfg.engine_settings())
    return Opened(ws, EngineChoice(settings), cfg.skip_rules())


def _progress() -> indexing.Progress | None:
    if not sys.stderr.isatty():
        return None
    bar: dict[str, Any] = {}

    def report(phase: str, done: int, total: int) -> None:
        if "bar" not in bar:
            bar["bar"] = click.progressbar(length=total, label=f"{phase:>6}", file=sys.stderr, show_eta=True)
            bar["bar"].__enter__()
        bar["bar"].update(done - bar["bar"].pos)
        if done >= total:
            bar.pop("bar").__exit__(None, None, None)

    return report


def _run_update(opened: Opened, verbose: bool = False, new_index: bool = False, **kwargs: Any) -> indexing.UpdateResult:
    new_index = new_index or not (opened.ws.index_dir / DB_NAME).exists()
    result = indexing.update(opened.ws, opened.engine, rules=opened.rules, progress=_progress(), **kwargs)
    if new_index:
        click.echo(f"codeseek: embedding with {result.model} ({opened.engine.reason})", err=True)
    if verbose:
        for path, reason in result.skipped:
            click.echo(f"skipped {path}: {reason}", err=True)
    click.echo(f"codeseek: {result.summary()}", err=True)
    return result


@click.group(cls=Group)
@click.version_option(__version__, prog_name="codeseek")
@click.option("--index-dir", envvar="CODESEEK_INDEX_DIR", type=click.Path(file_okay=False),
              help="Where the index lives (default: .git/codeseek).")
@click.pass_context
def cli(ctx: click.Context, index_dir: str | None) -> None:
    """Search a git repository by meaning."""
    ctx.obj = {"index_dir": index_dir}


@cli.command()
@click.argument("path", required=False, type=click.Path(exists=True, file_okay=False))
@click.option("--rebuild", is_flag=True, help="Discard the index and build it from scratch.")
@click.option("-v", "--verbose", is_flag=True, help="List skipped files with the reason.")
@engine_options
@click.pass_context
def index(ctx: click.Context, path: str | None, rebuild: bool, verbose: bool, flags: EngineSettings) -> None:
    """Index the repository (or only PATH inside it)."""
    opened = _open(ctx, flags, path or ".")
    scope = None
    if path is not None:
        scope = Path(path).resolve().relative_to(opened.ws.root).as_posix()
        scope = "" if scope == "." else scope
    if rebuild:
        indexing.remove_index(opened.ws)
    _run_update(opened, verbose, scope=scope)


@cli.command()
@click.option("--committed", is_flag=True, help="Index HEAD only, ignoring uncommitted changes.")
@click.option("-v", "--verbose", is_flag=True, help="List skipped files with the reason.")
@engine_options
@click.pass_context
def update(ctx: click.Context, committed: bool, verbose: bool, flags: EngineSettings) -> None:
    """Bring the index up to date, embedding only what changed."""
    _run_update(_open(ctx, flags), verbose, committed=committed)


@cli.command()
@click.argument("query")
@click.option("-k", "--top", "k", default=10, show_default=True, type=click.IntRange(1), help="How many results.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array (schema in README).")
@click.option("--path", "paths", multiple=True, metavar="GLOB",
              help="Only paths matching GLOB (repeatable; a leading ! excludes; a folder matches all below).")
@click.option("--lang", "languages", multiple=True, help="Only this language (repeatable).")
@click.option("--kind", "kinds", multiple=True, help="Only this kind: function, method, class... (repeatable).")
@click.option("--no-update", is_flag=True, help="Search the index as it is, without indexing changes first.")
@engine_options
@click.pass_context
def find(
    ctx: click.Context,
    query: str,
    k: int,
    as_json: bool,
    paths: tuple[str, ...],
    languages: tuple[str, ...],
    kinds: tuple[str, ...],
    no_update: bool,
    flags: EngineSettings,
) -> None:
    """Find the functions and classes that do what QUERY says."""
    opened = _open(ctx, flags)
    if not (opened.ws.index_dir / DB_NAME).exists():
        click.echo(f"codeseek: no index yet for {opened.ws.root}; building it first", err=True)
        _run_update(opened, new_index=True)
    elif not no_update:
        indexing.update(opened.ws, opened.engine, rules=opened.rules)
    store = Store(opened.ws.index_dir)
    try:
        results = search.find(store, opened.engine, query, k, search.Filters(paths, languages, kinds))
    finally:
        store.close()
    click.echo(output.as_json(results.hits) if as_json else output.human(results.hits))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Show what the index holds and what is not indexed yet."""
    report = indexing.status(_open(ctx).ws)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    for key, value in report.items():
        click.echo(f"{key:>15}: {value if value is not None else '-'}")


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of chunks.")
@click.option("--max-chars", type=click.IntRange(80), help="Split chunks longer than this (default: never).")
def chunks(paths: tuple[str, ...], as_json: bool, max_chars: int | None) -> None:
    """Show the chunks files yield: what codeseek would index."""
    found = [c for path in paths for c in chunk_file(Path(path).as_posix(), Path(path).read_bytes(), max_chars)]
    click.echo(output.chunks_json(found) if as_json else output.chunks_human(found))


def main() -> None:
    cli(prog_name="codeseek")
