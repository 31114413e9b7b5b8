"""The `codeseek web` command: opens the workspace of the current folder, serves the page on
127.0.0.1 and prints its address with a fresh token, as Jupyter does.

The browser is never given the token on its command line (every local user can read another
process's arguments in `ps`, and with the token read files through the page): it opens a
redirect file, mode 0600, in the user's private runtime folder, as Jupyter's does, removed
when the page stops."""

from __future__ import annotations

import html
import os
import signal
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .. import access, client, config
from ..errors import CodeseekError
from ..fsutil import private_dir

if TYPE_CHECKING:
    from .server import WebServer


@click.command()
@click.option("--port", type=click.IntRange(0, 65535), default=0, help="Listen on 127.0.0.1:PORT (default: a free port).")
@click.option("--no-browser", is_flag=True, help="Print the address only; do not open a browser.")
@click.pass_context
def web(ctx: click.Context, port: int, no_browser: bool) -> None:
    """Search this repository from a web page on 127.0.0.1 (its address carries a token)."""
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops it as cleanly as Ctrl-C
    try:
        server, searcher = _start(ctx, port)
    except CodeseekError as exc:
        raise click.ClickException(str(exc)) from None
    redirect: Path | None = None
    try:
        click.echo(server.url)  # stdout: for a person to click, for a script to read
        click.echo(f"codeseek: serving {server.app.ws.root} on 127.0.0.1:{server.port} (Ctrl-C stops)", err=True)
        if not no_browser:
            redirect = _open_browser(server.url, server.port)
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        click.echo("codeseek: the web page stopped", err=True)
    finally:
        server.server_close()
        if redirect is not None:
            redirect.unlink(missing_ok=True)
        if isinstance(searcher, access.Local):
            searcher.close()


REDIRECT = """<!doctype html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="0;url={url}"><title>codeseek</title></head>
<body><p>Opening codeseek&hellip; if nothing happens, <a href="{url}">continue to the page</a>.</p></body></html>
"""


def _open_browser(url: str, port: int) -> Path | None:
    """Open the page in a browser through a redirect file only this user can read; the file,
    or None (and a line saying why) where there is no private folder for it."""
    import webbrowser

    try:
        folder = private_dir(client.runtime_dir())
        fd, name = tempfile.mkstemp(prefix=f"web-{port}-", suffix=".html", dir=folder)  # O_EXCL, mode 0600
    except (CodeseekError, OSError) as exc:
        click.echo(f"codeseek: not opening a browser ({exc}): open the address above", err=True)
        return None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(REDIRECT.format(url=html.escape(url, quote=True)))
    # A text-mode browser may hold the terminal: never block serving on it.
    threading.Thread(target=webbrowser.open, args=(Path(name).as_uri(),), daemon=True).start()
    return Path(name)


def _start(ctx: click.Context, port: int) -> tuple[WebServer, access.Searcher]:
    """The searcher (the warm process, started if none runs), an index with at least its
    words, and the server bound to its port. (Imports here: cli.py imports this module, and
    every other command would pay for Pygments and the server.)"""
    from ..index import exists
    from ..protocol import UpdateRequest
    from ..repo import open_workspace
    from .api import App
    from .server import WebServer

    ws = open_workspace(".", (ctx.obj or {}).get("index_dir"))
    cfg = config.load(ws.root)
    searcher, started = access.searcher(ws, config.request_engine(cfg, {}), cfg)
    if started:
        click.echo("codeseek: started the warm process: it keeps the model and index loaded", err=True)
    if not exists(ws.index_dir):
        click.echo(f"codeseek: no index yet for {ws.root}; indexing its words first (vectors follow behind)",
                   err=True)
        done: dict[str, Any] = searcher.update(UpdateRequest())
        click.echo(f"codeseek: {done.get('summary', 'indexed')}", err=True)
    try:
        server = WebServer(App(ws, searcher, cfg.editor_url), port)
    except OSError as exc:
        raise CodeseekError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from None
    return server, searcher


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt
