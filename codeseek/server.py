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

    def _store(self) -> Store:
        if self.store is None:
            self.store = Store(self.ws.index_dir)
        return self.store

    def _update(self, payload: dict[str, Any], embed: bool) -> indexing.UpdateResult | None:
        no_wait = bool(payload.get("no_wait"))
        try:
            return indexing.update(self.ws, self.engine, rules=self.rules, embed=embed and not no_wait,
                                   wait=not no_wait)
        except (IndexBusy, IndexReadOnly):
            return None  # asked not to wait, or may not write: search what the index holds

    def _fresh_search(self, payload: dict[str, Any], run: Callable[[Store], search.Results]) -> search.Results:
        """Results that reflect the working tree as it is now.

        The freshness check (git status) runs while the search runs on the index as it is;
        when the check finds nothing to do, which is the usual case, those results stand and
        the check costs no extra time. Otherwise the index is updated and searched again. The
        check does not embed, so the model is never used from two threads at once.
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
        if done is None or (done.files_changed == done.files_deleted == 0 and not first.unembedded):
            return first
        self._update(payload, embed=True)
        return run(self._store())

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
                                         rules=self.rules)
                return {"summary": result.summary()}
            filters = search.Filters(tuple(payload.get("paths", ())), tuple(payload.get("languages", ())),
                                     tuple(payload.get("kinds", ())), payload.get("min_score"))
            k = int(payload.get("k", 10))
            if route == "/find":
                query, mode = str(payload.get("query", "")), str(payload.get("mode", "hybrid"))
                results = self._fresh_search(
                    payload, lambda store: search.find(store, self.engine, query, k, filters, mode)
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
    while time.monotonic() - service.last_request < idle_seconds:
        time.sleep(min(1.0, idle_seconds / 4))
    httpd.shutdown()
