"""The `codeseek` command: argument parsing and printing over the importable core.

A plain search that the warm process answers never gets here (quick.py answers it without
click). Heavy modules are imported where they are used.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from . import __version__, access, client, config, options, output
from .embedding import EngineChoice, EngineSettings
from .failing import Group
from .protocol import Filters, FindRequest, Mode, SimilarRequest, Source, Wait
from .repo import Workspace, open_workspace, relative_location
from .skipping import SkipRules
from .words import count


def engine_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The flags that choose an embedding engine, declared once for every command. Their
    environment variables are read (and checked) by config.py."""

    @click.option("--backend", help="Embedding engine: auto (default), vllm, http, transformers, local (onnxruntime for the "
                  "bundled model, sentence-transformers for others).")
    @click.option("--model", help="Model name or path (default: the index's model).")
    @click.option("--dim", type=click.IntRange(1), help="Output dimension (Matryoshka).")
    @click.option("--base-url", help="OpenAI-compatible server(s), e.g. http://127.0.0.1:8000/v1 (comma-separated).")
    @click.option("--trust-remote-code", is_flag=True, help="Allow the model to run its own code from its repository.")
    @functools.wraps(func)
    def wrapper(*args: Any, backend: str | None, model: str | None, dim: int | None, base_url: str | None,
                trust_remote_code: bool, **kwargs: Any) -> Any:
        flags = {name: config.check(name, value, f"--{name.replace('_', '-')}")
                 for name, value in (("backend", backend), ("model", model), ("dim", dim), ("base_url", base_url))
                 if value is not None}
        return func(*args, flags=Flags(flags, trust_remote_code), **kwargs)

    return wrapper


@dataclass(frozen=True)
class Flags:
    """Engine settings given on the command line."""

    values: dict[str, object]
    trust_remote_code: bool = False

    @property
    def given(self) -> bool:
        return bool(self.values) or self.trust_remote_code


@dataclass
class Opened:
    """A workspace with its settings and the engine its flags, environment and config ask for."""

    ws: Workspace
    cfg: config.Config
    engine: EngineChoice
    rules: SkipRules
    flags: dict[str, object]  # what a request carries: flags and environment (config.request_engine)


def _open(ctx: click.Context, flags: Flags | None = None, path: str | Path = ".") -> Opened:
    ws = open_workspace(path, ctx.obj["index_dir"])
    cfg = config.load(ws.root)
    flags = flags or Flags({})
    settings: EngineSettings = config.engine_settings(cfg, flags.values, flags.trust_remote_code)
    return Opened(ws, cfg, EngineChoice(settings), cfg.skip_rules(), config.request_engine(cfg, flags.values))


def option_decorators(command: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """click options from the shared table (options.py)."""

    def apply(func: Callable[..., Any]) -> Callable[..., Any]:
        for opt in reversed(options.COMMANDS[command]):
            if opt.type is None and opt.dest in ("fmt", "wait"):
                func = click.option(*opt.flags, opt.dest, flag_value=opt.value, help=opt.help)(func)
            elif opt.type is None:
                func = click.option(*opt.flags, opt.dest, is_flag=True, help=opt.help)(func)
            else:
                kind = click.Choice([str(m) for m in Mode]) if opt.dest == "mode" else opt.type
                func = click.option(*opt.flags, opt.dest, type=kind, multiple=opt.multiple, metavar=opt.metavar,
                                    help=opt.help)(func)
        return func

    return apply


def _filters(kwargs: dict[str, Any]) -> tuple[Filters, int]:
    return (Filters(kwargs["paths"], kwargs["languages"], kwargs["kinds"], kwargs["min_score"]),
            10 if kwargs["k"] is None else kwargs["k"])


def _progress() -> Callable[[str, int, int], None]:
    from .progress import foreground

    return foreground(sys.stderr)


def _run_update(opened: Opened, verbose: bool = False, **kwargs: Any) -> None:
    """A foreground update, vectors included, with progress on stderr."""
    from . import filling
    from .index import exists

    if not exists(opened.ws.index_dir):
        click.echo(f"codeseek: embedding with {opened.engine.identity().describe()} "
                   f"({opened.engine.describe()})", err=True)
    result = filling.index_all(opened.ws, opened.engine, progress=_progress(), rules=opened.rules, **kwargs)
    for path, reason in filling.skipped_files(opened.ws, result) if verbose else ():
        click.echo(f"skipped {output.quote_path(path)}: {reason}", err=True)
    click.echo(f"codeseek: {result.summary()}", err=True)


@click.group(cls=Group)
@click.version_option(__version__, prog_name="codeseek")
@click.option("--index-dir", envvar="CODESEEK_INDEX_DIR", help="Where the index lives (default: .git/codeseek).")
@click.pass_context
def cli(ctx: click.Context, index_dir: str | None) -> None:
    """Search a git repository by meaning."""
    # One from CODESEEK_INDEX_DIR is read (and named in errors) by open_workspace itself.
    given = ctx.get_parameter_source("index_dir") != click.core.ParameterSource.ENVIRONMENT
    ctx.obj = {"index_dir": index_dir if given else None}


@cli.command()
@click.argument("path", required=False, type=click.Path(exists=True, file_okay=False))
@click.option("--rebuild", is_flag=True, help="Discard the index and build it from scratch.")
@click.option("-v", "--verbose", is_flag=True, help="List skipped files with the reason.")
@engine_options
@click.pass_context
def index(ctx: click.Context, path: str | None, rebuild: bool, verbose: bool, flags: Flags) -> None:
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
@click.option("--committed", "source", flag_value=Source.COMMITTED, help="Index HEAD only, ignoring uncommitted changes.")
@click.option("--staged", "source", flag_value=Source.STAGED, help="Index the staged content, ignoring unstaged changes.")
@click.option("--worktree", "source", flag_value=Source.WORKTREE, default=True, hidden=True)
@click.option("-v", "--verbose", is_flag=True, help="List skipped files with the reason.")
@engine_options
@click.pass_context
def update(ctx: click.Context, source: str, verbose: bool, flags: Flags) -> None:
    """Bring the index up to date, embedding only what changed."""
    _run_update(_open(ctx, flags), verbose, source=Source(source))


def _searcher(opened: Opened, flags: Flags, words_only: bool = False) -> access.Searcher:
    """The warm process (started if none runs) unless none may run or flags it cannot honour
    (trust_remote_code) were given; else this process."""
    from .index import exists

    made, result = False, None
    if not exists(opened.ws.index_dir):
        click.echo(f"codeseek: no index yet for {opened.ws.root}; indexing its words first", err=True)
        from . import filling, indexing
        result = indexing.update(opened.ws, opened.engine, rules=opened.rules, words_only=words_only)
        click.echo(f"codeseek: {result.summary()}", err=True)
        made = result.pending > filling.INLINE_LIMIT  # (fewer: the warm process embeds them, and keeps its model)
    if flags.trust_remote_code:
        return access.Local(opened.ws, opened.flags, result)
    searcher, started = access.searcher(opened.ws, opened.flags, opened.cfg, made, result)
    if started:
        click.echo(client.STARTED, err=True)
    elif isinstance(searcher, access.Local) and not config.server_enabled(opened.cfg) and sys.stderr.isatty():
        click.echo("codeseek: searching in this process, model included (no warm process: CODESEEK_SERVER=0)",
                   err=True)
    return searcher


@cli.command()
@click.argument("query")
@option_decorators("find")
@engine_options
@click.pass_context
def find(ctx: click.Context, query: str, fmt: str | None, mode: str | None, explain: bool, wait: str | None,
         no_update: bool, flags: Flags, **kwargs: Any) -> None:
    """Find the functions and classes that do what QUERY says."""
    opened = _open(ctx, flags)
    filters, k = _filters(kwargs)
    wait_for = Wait(wait or Wait.AUTO)
    request = FindRequest(query, k, Mode(mode or Mode.HYBRID), filters, explain, no_update,
                          Wait.NONE if wait_for == Wait.ALL else wait_for)
    if wait_for == Wait.ALL:
        _run_update(opened)  # every vector first, with a progress bar
    fmt = fmt or "human"
    with contextlib.closing(_searcher(opened, flags, request.mode == Mode.LEXICAL)) as searcher:
        results = searcher.find(request)
    output.print_results(results, "explain" if explain and fmt == "human" else fmt, opened.ws.index_dir, query)


@cli.command()
@click.argument("where", metavar="PATH:LINE|SYMBOL")
@option_decorators("similar")
@engine_options
@click.pass_context
def similar(ctx: click.Context, where: str, fmt: str | None, no_update: bool, flags: Flags, **kwargs: Any) -> None:
    """The code nearest in meaning to an existing function: duplicates and prior art."""
    opened = _open(ctx, flags)
    filters, k = _filters(kwargs)
    request = SimilarRequest(relative_location(opened.ws, where), k, filters, no_update)
    with contextlib.closing(_searcher(opened, flags)) as searcher:
        results = searcher.similar(request)
    output.print_results(results, fmt or "human", opened.ws.index_dir)


@cli.command()
@click.option("--port", type=click.IntRange(0, 65535), help="Also listen on 127.0.0.1:PORT (with a token).")
@click.option("--idle", "idle_seconds", type=click.IntRange(1), default=client.DEFAULT_IDLE_SECONDS,
              envvar="CODESEEK_SERVER_IDLE", show_default=True, help="Exit after this many seconds without a request.")
@click.option("--stop", is_flag=True, help="Stop the running warm process.")
@click.option("--detached", is_flag=True, hidden=True)
def serve(port: int | None, idle_seconds: int, stop: bool, detached: bool) -> None:
    """Run the warm process that keeps models and indexes loaded for every repository
    (searches start it themselves; this runs it in the foreground)."""
    from . import server
    if stop:
        pid = client.stop()
        click.echo(f"codeseek: stopped the warm process (pid {pid})" if pid else "codeseek: no warm process runs",
                   err=True)
        return
    if not detached:
        click.echo(f"codeseek: serving every repository from {client.runtime_dir()} "
                   f"(idle exit after {idle_seconds}s)", err=True)
    if not server.serve(idle_seconds, port) and not detached:
        found = client.running() or {}
        click.echo(f"codeseek: a warm process already runs (pid {found.get('pid')})", err=True)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print every field as JSON.")
@click.option("--check", is_flag=True, help="Read the whole index and fail if any of it is damaged.")
@click.pass_context
def status(ctx: click.Context, as_json: bool, check: bool) -> None:
    """Show what the index holds, how current it is, and what runs in the background."""
    from . import outcome, report
    opened = _open(ctx)
    ws = opened.ws
    found = report.status(ws, outcome.last(ws.index_dir), check=check, server=client.running(), engine=opened.engine)
    click.echo(json.dumps(found.to_json(), indent=2) if as_json else found.describe())


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of chunks.")
def chunks(paths: tuple[str, ...], as_json: bool) -> None:
    """Show the chunks files yield: what codeseek would index (skipped files are named on stderr)."""
    from .chunking import chunk_one
    found = []
    for path in paths:
        reason, file_chunks = chunk_one((Path(path).as_posix(), Path(path).read_bytes()), SkipRules())
        if reason:
            click.echo(f"codeseek: skipped {output.quote_path(path)}: {reason}", err=True)
        found.extend(file_chunks)
    click.echo(output.chunks_json(found) if as_json else output.chunks_human(found, color=sys.stdout.isatty()))


@cli.command()
@click.argument("remote", default="origin")
@click.option("--dtype", type=click.Choice(["int8", "f16"]), default="int8", show_default=True,
              help="How vectors are stored: int8 (half the size, cosines within about 1e-3) or f16.")
@click.pass_context
def push(ctx: click.Context, remote: str, dtype: str) -> None:
    """Publish this index's vectors to a git remote, for clones to pull (refs/codeseek/*)."""
    from . import sharing
    done = sharing.push(_open(ctx).ws, remote, dtype)
    click.echo(f"codeseek: pushed {count(done.vectors, 'vector')} ({done.bytes / 1e6:.1f} MB) to {remote} as {done.ref}",
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
    click.echo(f"codeseek: imported {done.imported:,} of {count(done.vectors, 'vector')} from {remote} ({done.ref}); "
               "the next update embeds only what differs", err=True)


@cli.command()
@click.option("--repo", type=click.Path(exists=True, file_okay=False), default=".",
              help="The repository to search (default: the current folder).")
@engine_options
@click.pass_context
def mcp(ctx: click.Context, repo: str, flags: Flags) -> None:
    """Serve find and similar to coding agents over stdio (Model Context Protocol)."""
    from . import mcp as protocol
    opened = _open(ctx, flags, repo)
    if flags.trust_remote_code or not config.server_enabled(opened.cfg):
        searcher: access.Searcher = access.Local(opened.ws, opened.flags)
    else:
        searcher = access.Warm(opened.ws, opened.flags)
    with contextlib.closing(searcher):
        protocol.serve_stdio(searcher)


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
    hooks.run(opened.ws, hook, opened.engine, opened.rules, server=config.server_enabled(opened.cfg))


from .web.command import web  # noqa: E402 - registered last: the web page's command lives in its own package

cli.add_command(web)
