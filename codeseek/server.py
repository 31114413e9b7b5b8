"""A warm process per repository: the model and index stay loaded, so a query costs only
its own work. HTTP with JSON bodies, on a Unix socket in the index directory (mode 0600) or
on 127.0.0.1. `codeseek find` and the git hooks use it when it runs.

    POST /find     {"query", "k", "paths", "languages", "kinds", "min_score", "mode", "no_update", "no_wait"}
    POST /similar  {"where", "k", "paths", "languages", "kinds", "min_score"}
    POST /update   {"source": "worktree" | "staged" | "committed"}
    GET  /status
    GET  /ping
"""

from __future__ import annotations

import json
import os
import socketserver
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

from . import hooks, indexing, search
from .client import DEFAULT_IDLE_SECONDS, INFO_NAME, SOCKET_NAME, Address, address
from .embedding import EngineChoice
from .errors import CodeseekError, IndexBusy, IndexReadOnly
from .repo import Workspace
from .skipping import SkipRules
from .storage import DB_NAME, Store

BACKGROUND_BATCH = 16  # texts a model call while queries may be waiting for the model


class Service:
    """What the server does; one request at a time touches the index."""

    def __init__(self, ws: Workspace, engine: EngineChoice, rules: SkipRules) -> None:
        self.ws = ws
        self.engine = engine
        self.rules = rules
        self.lock = threading.Lock()
        self.store: Store | None = None
        self.last_request = time.monotonic()
        self.requests = 0
        self.embedding: threading.Thread | None = None

    def embed_in_background(self) -> None:
        """Fill in missing vectors on a thread of this process, which has the model loaded
        already: the warm server is the background worker. Queries share the model with it
        (EngineChoice.lock), waiting at most one small batch."""
        if self.embedding is not None and self.embedding.is_alive():
            return

        def work() -> None:
            try:
                store = Store(self.ws.index_dir)
                try:
                    indexing.embed_pending(self.ws, store, self.engine, wait=False, batch=BACKGROUND_BATCH)
                finally:
                    store.close()
            except Exception as exc:  # noqa: BLE001 - reported like a hook's failure, never raised
                hooks.record(self.ws, {"hook": "server", "ok": False, "error": f"{type(exc).__name__}: {exc}"})

        self.embedding = threading.Thread(target=work, name="codeseek-embedding", daemon=True)
        self.embedding.start()

    @property
    def busy(self) -> bool:
        return self.embedding is not None and self.embedding.is_alive()

    def _store(self) -> Store:
        if self.store is None:
            self.store = Store(self.ws.index_dir)
        return self.store

    def _update(self, payload: dict[str, Any], embed: bool) -> indexing.UpdateResult | None:
        """Files and words now; vectors now when few are missing, else in the background."""
        no_wait = bool(payload.get("no_wait"))
        try:
            result = indexing.update(self.ws, self.engine, rules=self.rules, embed=False, wait=not no_wait)
        except (IndexBusy, IndexReadOnly):
            return None  # asked not to wait, or may not write: search what the index holds
        if embed and result.pending:
            if result.pending <= indexing.INLINE_LIMIT and not no_wait and not self.busy:
                store = Store(self.ws.index_dir)
                try:
                    result.embedded = indexing.embed_pending(self.ws, store, self.engine, wait=False)
                finally:
                    store.close()
            else:
                self.embed_in_background()
        return result

    def _fresh_search(self, payload: dict[str, Any], run: Callable[[Store], search.Results]) -> search.Results:
        """Results that reflect the working tree as it is now.

        The freshness check (git status) runs while the search runs on the index as it is;
        when the check finds nothing to do, which is the usual case, those results stand and
        the check costs no extra time. Otherwise the changes are indexed (missing vectors
        embedded now when few, else in the background) and the search runs again. The check
        does not embed, so the model is never used from two threads at once.
        """
        if not (self.ws.index_dir / DB_NAME).exists():
            self._update(payload, embed=True)
            return run(self._store())
        if payload.get("no_update"):
            return run(self._store())
        with ThreadPoolExecutor(max_workers=1) as pool:
            check = pool.submit(self._update, payload, False)
            first = run(self._store())
            done = check.result()
        if done is None:
            return first
        embedded = 0
        if done.pending and not self.busy:
            again = self._update(payload, embed=True)
            embedded = again.embedded if again is not None else 0
        return run(self._store()) if done.files_changed or done.files_deleted or embedded else first

    def handle(self, route: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.last_request = time.monotonic()
        with self.lock:
            self.requests += 1
            if route == "/ping":
                return {"pid": os.getpid()}
            if route == "/status":
                return {**indexing.status(self.ws, hooks.last_outcome(self.ws)),
                        "server": {"pid": os.getpid(), "requests": self.requests}}
            if route == "/update":
                result = indexing.update(self.ws, self.engine, source=str(payload.get("source", "worktree")),
                                         rules=self.rules, embed=False)
                if result.pending:
                    self.embed_in_background()
                return {"summary": result.summary(), "pending": result.pending}
            filters = search.Filters(tuple(payload.get("paths", ())), tuple(payload.get("languages", ())),
                                     tuple(payload.get("kinds", ())), payload.get("min_score"))
            k = int(payload.get("k", 10))
            if route == "/find":
                query, mode = str(payload.get("query", "")), str(payload.get("mode", "hybrid"))
                explain = bool(payload.get("explain"))
                results = self._fresh_search(
                    payload, lambda store: search.find(store, self.engine, query, k, filters, mode, explain=explain)
                )
            elif route == "/similar":
                where = str(payload["where"])
                results = self._fresh_search(
                    payload, lambda store: search.similar(store, self.engine, search.locate(store, where), k, filters)
                )
            else:
                raise LookupError(route)
        return {"hits": [h.to_json() for h in results.hits], "mode": results.mode, "unembedded": results.unembedded}


def _handler(service: Service) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def address_string(self) -> str:  # a Unix socket has no client address
            return "local"

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _serve(self) -> None:
            try:
                length = int(self.headers.get("Content-Length") or 0)
                payload = json.loads(self.rfile.read(length) or b"{}") if length else {}
                self._answer(200, service.handle(self.path, payload))
            except LookupError:
                self._answer(404, {"error": f"no such route: {self.path}"})
            except CodeseekError as exc:
                self._answer(400, {"error": str(exc)})
            except (ValueError, TypeError) as exc:
                self._answer(400, {"error": f"bad request: {exc}"})

        do_GET = do_POST = _serve

    return Handler


class _UnixServer(socketserver.UnixStreamServer):
    """One request at a time, on the serving thread: requests are serialised anyway, and a
    thread per request would make torch set up its per-thread state on every query."""


def serve(ws: Workspace, service: Service, *, port: int | None = None,
          idle_seconds: float = DEFAULT_IDLE_SECONDS) -> None:
    """Serve until idle for idle_seconds (the caller checks `running` first)."""
    ws.index_dir.mkdir(parents=True, exist_ok=True)
    path = ws.index_dir / SOCKET_NAME
    handler = _handler(service)
    httpd: socketserver.BaseServer
    if port is None:
        path.unlink(missing_ok=True)  # left by a server that died
        old_umask = os.umask(0o177)  # the socket is created 0600: only this user may ask
        try:
            httpd = _UnixServer(str(path), handler)
        finally:
            os.umask(old_umask)
        where = Address(os.getpid(), socket=str(path))
    else:
        httpd = HTTPServer(("127.0.0.1", port), handler)
        where = Address(os.getpid(), port=httpd.server_address[1])
    info = ws.index_dir / INFO_NAME
    temp = info.with_suffix(".tmp")
    temp.write_text(json.dumps(where.__dict__))
    os.replace(temp, info)
    threading.Thread(target=_watch_idle, args=(httpd, service, idle_seconds), daemon=True).start()
    try:
        httpd.serve_forever(poll_interval=0.5)
    finally:
        httpd.server_close()
        if address(ws) == where:
            info.unlink(missing_ok=True)
            if where.socket:
                Path(where.socket).unlink(missing_ok=True)
        if service.store is not None:
            service.store.close()


def _watch_idle(httpd: socketserver.BaseServer, service: Service, idle_seconds: float) -> None:
    """Shut down after idle_seconds without a request, but never while embedding."""
    while service.busy or time.monotonic() - service.last_request < idle_seconds:
        time.sleep(min(1.0, idle_seconds / 4))
    httpd.shutdown()
