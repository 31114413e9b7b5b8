"""The `codeseek` command: argument parsing and printing over the importable core.

Only light modules are imported at start-up: a `find` that a warm server answers needs no
model, index, parser or numpy in this process. The rest is imported where it is used.
"""

from __future__ import annotations

import functools
import json
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from . import __version__, client, config, output
from .embedding import EngineChoice, EngineSettings
from .errors import CodeseekError, IndexBusy, IndexReadOnly
from .repo import Workspace, open_workspace
from .results import MODES, Filters, Hit, Results
from .skipping import SkipRules

if TYPE_CHECKING:
    from . import indexing, server
    from .storage import Store

DB_NAME = "index.db"  # the index's SQLite file (storage.DB_NAME, without importing storage)


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
                  help="Embedding engine: auto (default), vllm, http, transformers, local.")
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


PROGRESS_LINE_SECONDS = 10.0


def _progress() -> indexing.Progress:
    """A progress bar with an ETA on a terminal; plain lines (at most every 10 s) otherwise."""
    if sys.stderr.isatty():
        bar: dict[str, Any] = {}

        def report(phase: str, done: int, total: int) -> None:
            if "bar" not in bar or bar["bar"].length != total:
                bar["bar"] = click.progressbar(length=total, label=f"{phase:>6}", file=sys.stderr, show_eta=True)
                bar["bar"].__enter__()
            bar["bar"].update(done - bar["bar"].pos)
            if done >= total:
                bar.pop("bar").__exit__(None, None, None)

        return report
    began, last = time.monotonic(), [0.0]

    def line(phase: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] < PROGRESS_LINE_SECONDS and done < total:
            return
        last[0] = now
        rate = done / (now - began) if now > began else 0.0
        left = f", about {_duration((total - done) / rate)} left" if rate and done < total else ""
        click.echo(f"codeseek: {phase} {done:,} of {total:,} ({done / max(total, 1):.0%}){left}", err=True)

    return line


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def _run_update(opened: Opened, verbose: bool = False, **kwargs: Any) -> indexing.UpdateResult:
    """A foreground update, vectors included, with progress on stderr."""
    from . import indexing
    new_index = not (opened.ws.index_dir / DB_NAME).exists()
    result = indexing.update(opened.ws, opened.engine, rules=opened.rules, progress=_progress(), **kwargs)
    if new_index:
        click.echo(f"codeseek: embedding with {result.model} on {opened.engine.embedder().info.describe_engine()} "
                   f"({opened.engine.reason})", err=True)
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
    from . import indexing
    opened = _open(ctx, flags, path or ".")
    scope = None
    if path is not None:
        scope = Path(path).resolve().relative_to(opened.ws.root).as_posix()
        scope = "" if scope == "." else scope
    if rebuild:
        opened.engine.embedder()  # a model that cannot load must not cost the user their index
        indexing.remove_index(opened.ws)
    _run_update(opened, verbose, scope=scope, verify=True)


@cli.command()
@click.option("--committed", "source", flag_value="committed", help="Index HEAD only, ignoring uncommitted changes.")
@click.option("--staged", "source", flag_value="staged", help="Index the staged content, ignoring unstaged changes.")
@click.option("--worktree", "source", flag_value="worktree", default=True, hidden=True)
@click.option("-v", "--verbose", is_flag=True, help="List skipped files with the reason.")
@engine_options
@click.pass_context
def update(ctx: click.Context, source: str, verbose: bool, flags: EngineSettings) -> None:
    """Bring the index up to date, embedding only what changed."""
    _run_update(_open(ctx, flags), verbose, source=source)


def output_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The result formats, declared once: --json, --jsonl, --vimgrep, --files (default: human)."""
    for flag, help_text in reversed([
        ("json", "A JSON array (schema in README)."),
        ("jsonl", "One JSON object per line."),
        ("vimgrep", "path:line:col:text lines, for quickfix lists."),
        ("files", "Unique file paths only."),
    ]):
        func = click.option(f"--{flag}", "fmt", flag_value=flag, help=help_text)(func)
    return click.option("--human", "fmt", flag_value="human", default=True, hidden=True)(func)


def filter_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("-k", "--top", "k", default=10, show_default=True, type=click.IntRange(1),
                     help="How many results."),
        click.option("--path", "paths", multiple=True, metavar="GLOB",
                     help="Only paths matching GLOB (repeatable; a leading ! excludes; a folder matches all below)."),
        click.option("--lang", "languages", multiple=True, help="Only this language (repeatable)."),
        click.option("--kind", "kinds", multiple=True, help="Only this kind: function, method, class... (repeatable)."),
        click.option("--min-score", type=float, help="Drop results scoring below this."),
    ]
    for option in reversed(options):
        func = option(func)

    @functools.wraps(func)
    def wrapper(*args: Any, paths: tuple[str, ...], languages: tuple[str, ...], kinds: tuple[str, ...],
                min_score: float | None, **kwargs: Any) -> Any:
        return func(*args, filters=Filters(paths, languages, kinds, min_score), **kwargs)

    return wrapper


def _fresh_store(opened: Opened, no_update: bool, wait: str) -> Store:
    """The index, first brought up to date unless asked not to: results never carry stale
    lines. Its words are indexed at once; missing vectors are embedded now when few (or all
    of them, with wait="all"), else left to a background worker while words rank them."""
    from . import indexing
    from .storage import Store
    ws = opened.ws
    new = not (ws.index_dir / DB_NAME).exists()
    if new:
        click.echo(f"codeseek: no index yet for {ws.root}; indexing its words first", err=True)
    elif no_update:
        return Store(ws.index_dir)
    try:
        result = indexing.update(ws, opened.engine, rules=opened.rules, embed=False, wait=wait != "none")
    except IndexBusy:
        pending = indexing.status(ws)["pending"]
        click.echo(f"codeseek: an update is running; {pending} changed files are not indexed yet", err=True)
    except IndexReadOnly:
        pending = indexing.status(ws)["pending"]
        click.echo(f"codeseek: the index in {ws.index_dir} is read-only: searching it as it is "
                   f"({pending} changed files not indexed)", err=True)
    else:
        if new:
            click.echo(f"codeseek: {result.summary()}", err=True)
        _fill_in(opened, result.pending, wait)
    return Store(ws.index_dir)


def _fill_in(opened: Opened, pending: int, wait: str) -> None:
    """Embed missing vectors here, or see that a background worker does."""
    from . import hooks, indexing
    from .storage import Store
    if not pending or wait == "none":
        return
    if wait == "all" or pending <= indexing.INLINE_LIMIT:
        store = Store(opened.ws.index_dir)
        try:
            indexing.embed_pending(opened.ws, store, opened.engine, progress=_progress(), wait=wait == "all")
        finally:
            store.close()
        if wait == "all" or indexing.embedding_progress(opened.ws) is not None:
            return
    if not hooks.worker_running(opened.ws) and indexing.embedding_progress(opened.ws) is None:
        who = hooks.spawn(opened.ws, "background")
        click.echo(f"codeseek: {pending:,} chunks are being embedded by {who}", err=True)


def _print_results(opened: Opened, results: Results, fmt: str, query: str = "") -> None:
    if results.unembedded:
        from .indexing import embedding_progress
        report = embedding_progress(opened.ws)
        left = (f", about {_duration(float(report['eta_s']))} left" if report and report.get("eta_s") is not None
                else "")
        click.echo(f"codeseek: meaning-based ranking is filling in ({results.unembedded:,} chunks still without "
                   f"vectors{left}): those are ranked by their words meanwhile", err=True)
    click.echo(output.render(results.hits, fmt, query))


@cli.command()
@click.argument("query")
@filter_options
@click.option("--mode", type=click.Choice(MODES), default="hybrid", show_default=True,
              help="Rank by meaning and words (hybrid), meaning only, or words only.")
@output_options
@click.option("--explain", is_flag=True, help="Show why each result ranked where it did.")
@click.option("--no-update", is_flag=True, help="Search the index as it is, without indexing changes first.")
@click.option("--wait", "wait", flag_value="all",
              help="Wait until every chunk has its vector (on a first search: the whole repository).")
@click.option("--no-wait", "wait", flag_value="none", help="Index changed files but embed nothing before answering.")
@click.option("--wait-auto", "wait", flag_value="auto", default=True, hidden=True)
@engine_options
@click.pass_context
def find(ctx: click.Context, query: str, k: int, filters: Filters, mode: str, fmt: str, explain: bool,
         no_update: bool, wait: str, flags: EngineSettings) -> None:
    """Find the functions and classes that do what QUERY says."""
    opened = _open(ctx, flags)
    payload = {"query": query, "k": k, "mode": mode, "no_update": no_update, "no_wait": wait == "none",
               "explain": explain, **_wire(filters)}
    results = None if wait == "all" else _ask_server(opened, flags, "/find", payload)
    if results is None:
        from . import search

        store = _fresh_store(opened, no_update, wait)
        try:
            results = search.find(store, opened.engine, query, k, filters, mode, explain=explain)
        finally:
            store.close()
    if explain and fmt == "human":
        fmt = "explain"
    _print_results(opened, results, fmt, query)


@cli.command()
@click.argument("where", metavar="PATH:LINE|SYMBOL")
@filter_options
@output_options
@click.option("--no-update", is_flag=True, help="Search the index as it is, without indexing changes first.")
@engine_options
@click.pass_context
def similar(ctx: click.Context, where: str, k: int, filters: Filters, fmt: str, no_update: bool,
            flags: EngineSettings) -> None:
    """The code nearest in meaning to an existing function: duplicates and prior art."""
    opened = _open(ctx, flags)
    where = _relative(opened.ws, where)
    results = _ask_server(opened, flags, "/similar", {"where": where, "k": k, "no_update": no_update, **_wire(filters)})
    if results is None:
        from . import search

        store = _fresh_store(opened, no_update, wait="auto")
        try:
            results = search.similar(store, opened.engine, search.locate(store, where), k, filters)
        finally:
            store.close()
    _print_results(opened, results, fmt)


def _wire(filters: Filters) -> dict[str, Any]:
    return {"paths": filters.paths, "languages": filters.languages, "kinds": filters.kinds,
            "min_score": filters.min_score}


def _ask_server(opened: Opened, flags: EngineSettings, route: str, payload: dict[str, Any]) -> Results | None:
    """Results from the repository's warm server, if one runs and no other engine was asked for."""
    if flags != EngineSettings():
        return None
    body = client.call(opened.ws, "POST", route, payload)
    if body is None:
        return None
    return Results([Hit(**hit) for hit in body["hits"]], body["mode"], body["unembedded"])


@cli.command()
@click.option("--port", type=click.IntRange(0, 65535), help="Listen on 127.0.0.1:PORT instead of a Unix socket.")
@click.option("--idle", "idle_seconds", type=click.IntRange(1), default=client.DEFAULT_IDLE_SECONDS,
              show_default=True, help="Exit after this many seconds without a request.")
@engine_options
@click.pass_context
def serve(ctx: click.Context, port: int | None, idle_seconds: int, flags: EngineSettings) -> None:
    """Keep the model and index loaded and answer find, similar, status and update."""
    from . import server
    ws = _open(ctx).ws
    already = client.running(ws)
    if already is not None:
        click.echo(f"codeseek: a server already runs for {ws.root} (pid {already.pid})", err=True)
        return
    service = _service(ctx, flags)
    click.echo(f"codeseek: serving {ws.root} (idle exit after {idle_seconds}s)", err=True)
    server.serve(ws, service, port=port, idle_seconds=idle_seconds)


def _relative(ws: Workspace, where: str) -> str:
    """PATH:LINE with PATH as typed (relative to the current folder) made relative to the root."""
    path, _, line = where.rpartition(":")
    if not path or not line.isdigit():
        return where
    full = Path(path).resolve()
    return f"{full.relative_to(ws.root).as_posix()}:{line}" if full.is_relative_to(ws.root) else where


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--check", is_flag=True, help="Read the whole index and fail if any of it is damaged.")
@click.pass_context
def status(ctx: click.Context, as_json: bool, check: bool) -> None:
    """Show what the index holds and what is not indexed yet."""
    from . import hooks, indexing
    ws = _open(ctx).ws
    report = indexing.status(ws, hooks.last_outcome(ws), check=check)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    for key, value in report.items():
        click.echo(f"{key:>15}: {value if value is not None else '-'}")


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of chunks.")
def chunks(paths: tuple[str, ...], as_json: bool) -> None:
    """Show the chunks files yield: what codeseek would index (skipped files are named on stderr)."""
    from .indexing import chunk_one
    found = []
    for path in paths:
        reason, file_chunks = chunk_one((Path(path).as_posix(), Path(path).read_bytes()), SkipRules())
        if reason:
            click.echo(f"codeseek: skipped {path}: {reason}", err=True)
        found.extend(file_chunks)
    click.echo(output.chunks_json(found) if as_json else output.chunks_human(found))


@cli.command()
@click.argument("remote", default="origin")
@click.option("--dtype", type=click.Choice(["int8", "f16"]), default="int8", show_default=True,
              help="How vectors are stored: int8 (half the size, cosines within about 1e-3) or f16.")
@click.pass_context
def push(ctx: click.Context, remote: str, dtype: str) -> None:
    """Publish this index's vectors to a git remote, for clones to pull (refs/codeseek/*)."""
    from . import sharing
    done = sharing.push(_open(ctx).ws, remote, dtype)
    click.echo(f"codeseek: pushed {done.vectors} vectors ({done.bytes / 1e6:.1f} MB) to {remote} as {done.ref}",
               err=True)


@cli.command()
@click.argument("remote", default="origin")
@click.option("--model", help="With no index yet: whose vectors, when the remote has several models'.")
@click.option("--dim", type=click.IntRange(1), help="With --model: which dimension.")
@click.pass_context
def pull(ctx: click.Context, remote: str, model: str | None, dim: int | None) -> None:
    """Import the vectors a git remote holds for this index's model; only differences are embedded."""
    from . import sharing
    done = sharing.pull(_open(ctx).ws, remote, model, dim)
    click.echo(f"codeseek: imported {done.imported} of {done.vectors} vectors from {remote} ({done.ref}); "
               "the next update embeds only what differs", err=True)


@cli.command()
@click.option("--repo", type=click.Path(exists=True, file_okay=False), default=".",
              help="The repository to search (default: the current folder).")
@engine_options
@click.pass_context
def mcp(ctx: click.Context, repo: str, flags: EngineSettings) -> None:
    """Serve find and similar to coding agents over stdio (Model Context Protocol)."""
    from . import mcp as protocol

    protocol.serve_stdio(_service(ctx, flags, repo))


def _service(ctx: click.Context, flags: EngineSettings, path: str = ".") -> server.Service:
    """A loaded engine bound to the repository, for the long-running servers."""
    from . import server
    from .storage import Store
    opened = _open(ctx, flags, path)
    info = None
    if (opened.ws.index_dir / DB_NAME).exists():
        store = Store(opened.ws.index_dir)
        info = store.model_info()
        store.close()
    # Load the model now, so the first request does not wait for it.
    if info is not None:
        opened.engine.embedder_for(info)
    else:
        opened.engine.embedder()
    return server.Service(opened.ws, opened.engine, opened.rules)


@cli.group(name="hooks")
def hooks_group() -> None:
    """Git hooks that keep the index current in the background."""


@hooks_group.command("install")
@click.option("--force", is_flag=True, help="Install even into a core.hooksPath folder inside the repository.")
@click.pass_context
def hooks_install(ctx: click.Context, force: bool) -> None:
    """Install post-commit, post-checkout, post-merge and post-rewrite hooks."""
    from . import hooks
    done = hooks.install(_open(ctx).ws, force)
    for name in done.chained:
        click.echo(f"codeseek: kept your {name} hook; it runs first", err=True)
    click.echo(f"codeseek: hooks installed in {done.directory}: {', '.join(done.hooks)}", err=True)


@hooks_group.command("uninstall")
@click.pass_context
def hooks_uninstall(ctx: click.Context) -> None:
    """Remove codeseek's hooks and restore the ones they chained."""
    from . import hooks
    done = hooks.uninstall(_open(ctx).ws)
    click.echo(f"codeseek: removed {', '.join(done.hooks) or 'no hooks'} from {done.directory}"
               + (f"; restored {', '.join(done.chained)}" if done.chained else ""), err=True)


@hooks_group.command("run", hidden=True)
@click.argument("hook")
@click.pass_context
def hooks_run(ctx: click.Context, hook: str) -> None:
    """The background worker a hook starts. Always exits 0."""
    from . import hooks
    try:
        opened = _open(ctx)
    except Exception:  # noqa: BLE001 - not a repository any more, a broken config: nothing to do
        return
    hooks.run(opened.ws, hook, opened.engine, opened.rules)


def main() -> None:
    cli(prog_name="codeseek")
