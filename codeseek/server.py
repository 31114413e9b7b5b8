"""The warm process: one per user, keeping models and indexes loaded for every repository it
is asked about, answering over HTTP with JSON bodies.

It listens on a Unix socket in the user's private runtime folder (mode 0600, in a 0700
folder: only this user can connect), and with `--port` also on 127.0.0.1:PORT, where every
request needs the secret in that folder as a bearer token, must name this server as its
Host (no DNS rebinding), must carry no Origin (no web page may drive it) and must send JSON.

    POST /find     {"repo": {"root", "index_dir"}, "engine": {...}, "request": FindRequest}
    POST /similar  {"repo": ..., "engine": ..., "request": SimilarRequest}
    POST /update   {"repo": ..., "engine": ..., "request": UpdateRequest}
    POST /status   {"repo": ..., "check": bool}
    GET  /ping     the server: pid, version, repositories, models, memory (over TCP without
                   the token: only that it is alive, and the answer to a challenge)
    POST /stop     exit now

Each listener reads its connections on threads of its own, at most so many at once (fewer
for TCP, where any local user may connect), and a request must arrive whole within a total
deadline, however slowly its bytes come. Only a request read whole (and, over TCP, carrying
the token) reaches the shared pool of workers that search: idle or slow clients never hold a
worker, and TCP clients never take the Unix socket's connections.
"""

from __future__ import annotations

import faulthandler
import hmac
import json
import os
import signal
import socket
import socketserver
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from . import __version__, client, memory
from .errors import CodeseekError
from .fsutil import locked
from .protocol import BadRequest, FindRequest, RepoRef, SimilarRequest, StatusRequest, UpdateRequest
from .repo import open_workspace
from .service import Service

WORKERS = 16  # requests served at once (most wait on a repository's lock or the model)
BACKLOG = 256  # connections waiting to be accepted
READ_TIMEOUT = 10.0  # seconds a client may take to send its whole request
UNIX_CONNECTIONS = 64  # connections read at once on the user's own socket
TCP_CONNECTIONS = 16  # and over TCP (`serve --port`): past this, new ones wait in the backlog
MAX_BODY = 1 << 20  # bytes of a request body
LOCK_TRIES = 5  # times the server's lock is tried, 50 ms apart, before another is taken to hold it
ENGINE_FIELDS = ("backend", "model", "dim", "base_url", "api_key_env", "query_instruction", "device")
WORDS = ("api_key", "model_from")  # lines of text an engine setting carries beside them


class Refused(Exception):
    """A request answered with this status and reason (and headers), and nothing else."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


def read_json(handler: BaseHTTPRequestHandler, limit: int = MAX_BODY) -> object:
    """A request's JSON body (None when it has none): application/json only (a form on a web
    page cannot send that without a preflight, which is refused), of a bounded size."""
    if handler.command == "POST" and handler.headers.get_content_type() != "application/json":
        raise Refused(415, "the body must be application/json")
    try:
        length = int(handler.headers.get("Content-Length") or 0)
    except ValueError:
        raise Refused(400, "bad Content-Length") from None
    if not 0 <= length <= limit:
        raise Refused(413, f"the body must be under {limit:,} bytes")
    try:
        return json.loads(handler.rfile.read(length)) if length else None
    except (ValueError, RecursionError):
        raise BadRequest("the request body is not JSON") from None


def _flags(body: dict[str, Any]) -> dict[str, object]:
    """Engine settings the caller's flags and environment chose (checked like a config file's)."""
    from .config import check

    raw = body.get("engine") or {}
    if not isinstance(raw, dict):
        raise BadRequest("engine must be an object of settings")
    unknown = [k for k in raw if k not in (*ENGINE_FIELDS, *WORDS)]
    if unknown:
        raise BadRequest(f"engine: unknown setting {str(unknown[0])[:40]!r}")
    words = {"api_key": "", **{k: raw[k] for k in WORDS if k in raw}}
    if not all(isinstance(v, str) and len(v) <= 4096 and v.isprintable() for v in words.values()):
        raise BadRequest(f"engine: {' and '.join(WORDS)} must be lines of text")
    # No key sent is no key: this process's own environment never lends one.
    return {**{k: check(k, v, "engine") for k, v in raw.items() if v is not None and k not in WORDS}, **words}


def _workspace(body: dict[str, Any]):  # noqa: ANN202 - a Workspace
    """The request's repository: absolute paths only, and never the warm process's own folder
    (its key and socket are no one's search results)."""
    repo = RepoRef.from_json(body.get("repo"))
    runtime = client.runtime_dir().resolve()

    def refuse_runtime(*paths: Path) -> None:
        if any(path == runtime or path.is_relative_to(runtime) for path in paths):
            raise BadRequest(f"{runtime} is the warm process's own folder: it is never indexed")

    refuse_runtime(*(Path(path).resolve() for path in (repo.root, repo.index_dir) if path))
    ws = open_workspace(repo.root, repo.index_dir)
    refuse_runtime(ws.root, ws.index_dir)
    return ws


class Handler(BaseHTTPRequestHandler):
    server: _Pooled  # type: ignore[assignment]
    protocol_version = "HTTP/1.1"
    timeout = READ_TIMEOUT  # an idle or slow client holds its thread this long at most

    def log_message(self, *args: object) -> None:
        pass

    def address_string(self) -> str:  # a Unix socket has no client address
        return "local"

    def _answer(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True

    def setup(self) -> None:
        super().setup()
        self.server.owner.reading(self.connection)

    def _trusted(self) -> bool:
        """Whether this is the user: on the Unix socket (only they can connect), or with the token."""
        if not self.server.tcp:
            return True
        token = self.headers.get("Authorization", "").removeprefix("Bearer ").encode()
        return hmac.compare_digest(token, self.server.owner.secret)

    def _check(self) -> None:
        """Only this user, only from codeseek's own clients."""
        if self.headers.get("Origin") is not None:
            raise Refused(403, "requests from web pages are refused")
        if not self.server.tcp:
            return
        port = self.server.server_address[1]
        if self.headers.get("Host") not in (f"127.0.0.1:{port}", f"localhost:{port}"):
            raise Refused(403, "the Host header does not name this server")
        if self.path == "/ping" and self.command == "GET":
            return  # answers the challenge: proves the server, reveals nothing else without the token
        if not self._trusted():
            raise Refused(401, "a valid token is needed")

    def _serve(self) -> None:
        owner = self.server.owner
        try:
            self._check()
            body = read_json(self)
            owner.read(self.connection)  # read whole: the deadline no longer applies
            body = {} if body is None else body
            if self.command == "GET" and self.path == "/ping":
                challenge = self.headers.get("X-Codeseek-Challenge", "")
                extra = {"proof": client.proof(owner.secret, challenge)} if challenge else {}
                self._answer(200, {**(owner.describe() if self._trusted() else {"alive": True}), **extra})
                return
            if self.command != "POST":
                raise Refused(405, "use POST")
            with owner.service.answering():
                if not isinstance(body, dict):
                    raise BadRequest("the request must be a JSON object")
                answer = owner.pool.submit(owner.handle, self.path, body).result()
            self._answer(200, answer)
            owner.settle()
        except Refused as exc:
            self._answer(exc.status, {"error": str(exc)})
        except LookupError as exc:
            self._answer(404, {"error": f"no such route: {exc}"})
        except CodeseekError as exc:
            self._answer(400, {"error": str(exc)})
        except (TimeoutError, ConnectionError):
            self.close_connection = True
        except Exception as exc:  # noqa: BLE001 - one request's bug must not end the server
            self._answer(500, {"error": f"internal error: {type(exc).__name__}: {exc}"})

    do_GET = do_POST = _serve


class _Pooled(socketserver.BaseServer):
    """Each connection read and answered on a thread of its own, at most `connections` at
    once for this listener; the search itself runs on the server's shared pool of workers
    (threads that are reused, so torch sets up its per-thread state once, not per query)."""

    request_queue_size = BACKLOG
    owner: Server
    tcp = False
    connections = UNIX_CONNECTIONS

    def server_activate(self) -> None:
        super().server_activate()  # type: ignore[misc]
        self.slots = threading.BoundedSemaphore(self.connections)

    def process_request(self, request: Any, client_address: Any) -> None:
        # Full: this listener's next clients wait in its backlog for a turn, no one else's.
        while not self.slots.acquire(timeout=0.5):
            if self.owner.stopping.is_set():
                self.shutdown_request(request)
                return
        threading.Thread(target=self._work, args=(request, client_address), daemon=True,
                         name="codeseek-connection").start()

    def _work(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:  # noqa: BLE001,S110 - a broken connection is the client's business
            pass
        finally:
            self.owner.read(request)
            self.shutdown_request(request)
            self.slots.release()


class _UnixServer(_Pooled, socketserver.UnixStreamServer):
    pass


class _TcpServer(_Pooled, socketserver.TCPServer):
    allow_reuse_address = True
    tcp = True
    connections = TCP_CONNECTIONS


class Server:
    """The warm process: its service, its listeners, its idle clock."""

    def __init__(self, service: Service, folder: Path, idle_seconds: float) -> None:
        self.service = service
        self.folder = folder
        self.idle_seconds = idle_seconds
        self.secret = client.secret(folder)
        self.listeners: list[_Pooled] = []
        self.pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="codeseek-request")
        self.stopping = threading.Event()
        self._deadlines: dict[socket.socket, float] = {}  # connections whose request is still arriving
        self._deadlines_lock = threading.Lock()

    def reading(self, conn: socket.socket) -> None:
        """A connection's request must arrive whole within READ_TIMEOUT from now."""
        with self._deadlines_lock:
            self._deadlines[conn] = time.monotonic() + READ_TIMEOUT

    def read(self, conn: socket.socket) -> None:
        with self._deadlines_lock:
            self._deadlines.pop(conn, None)

    def _cut_off(self) -> None:
        """Until stopped: end the connections whose request did not arrive in time (a client
        sending a byte now and then is cut off like an idle one)."""
        while not self.stopping.wait(0.2):
            now = time.monotonic()
            with self._deadlines_lock:
                late = [conn for conn, deadline in self._deadlines.items() if deadline <= now]
                for conn in late:
                    del self._deadlines[conn]
            for conn in late:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def settle(self) -> None:
        """Once no request is being answered (its answer sent), memory freed by the work goes
        back to the system (memory.py)."""
        if not self.service.active:
            memory.give_back()

    def describe(self) -> dict[str, Any]:
        return {**self.service.describe(), "version": __version__, "address": str(self.folder / client.SOCKET_NAME)}

    def handle(self, route: str, body: dict[str, Any]) -> dict[str, Any]:
        if route == "/stop":
            self.stopping.set()
            return {"stopping": os.getpid()}
        ws = _workspace(body)
        repo = self.service.repository(ws)
        if route == "/status":
            return {**repo.status(check=StatusRequest.from_json(body).check).to_json(), "server": self.describe()}
        flags = _flags(body)
        request = body.get("request", {})
        if route == "/find":
            return repo.find(FindRequest.from_json(request), flags).to_json()
        if route == "/similar":
            return repo.similar(SimilarRequest.from_json(request), flags).to_json()
        if route == "/update":
            result = repo.update(UpdateRequest.from_json(request), flags)
            return {"summary": result.summary(), "pending": result.pending}
        raise LookupError(route)

    def _listen(self, listener: _Pooled) -> int:
        listener.owner = self
        self.listeners.append(listener)
        return int(listener.server_address[1]) if listener.tcp else 0

    def run(self, port: int | None = None) -> None:
        """Serve until stopped, or idle for idle_seconds (the caller holds the server lock)."""
        path = self.folder / client.SOCKET_NAME
        path.unlink(missing_ok=True)  # left by a server that was killed (we hold the lock: none runs)
        old_umask = os.umask(0o177)  # the socket is created 0600: only this user may connect
        try:
            self._listen(_UnixServer(str(path), Handler))
        finally:
            os.umask(old_umask)
        bound = self._listen(_TcpServer(("127.0.0.1", port), Handler)) if port is not None else None
        where = client.Address(os.getpid(), __version__, socket=str(path), port=bound)
        client.write_address(self.folder, where)
        threads = [threading.Thread(target=ls.serve_forever, kwargs={"poll_interval": 0.5}, daemon=True)
                   for ls in self.listeners]
        threads.append(threading.Thread(target=self._cut_off, daemon=True, name="codeseek-deadlines"))
        for thread in threads:
            thread.start()
        try:
            self._watch()
        finally:
            for listener in self.listeners:
                listener.shutdown()
                listener.server_close()
            self.pool.shutdown(wait=True, cancel_futures=True)
            if client.address(self.folder) == where:
                # The socket goes before the address: once the address is gone, nothing of this server is left.
                path.unlink(missing_ok=True)
                (self.folder / client.INFO_NAME).unlink(missing_ok=True)
            self.service.close()

    def _watch(self) -> None:
        """Until stopped: exit after idle_seconds without a request, never while embedding;
        forget repositories that were deleted."""
        while not self.stopping.wait(min(1.0, self.idle_seconds / 4)):
            self.service.forget_gone()
            idle = time.monotonic() - self.service.last_request
            if idle >= self.idle_seconds and not self.service.busy:
                break


def serve(idle_seconds: float = client.DEFAULT_IDLE_SECONDS, port: int | None = None) -> bool:
    """Run the user's warm process in this process; False when one runs already (its lock is
    tried a few times: a client's look at it, fsutil.held, holds it for a moment)."""
    folder = client.runtime_folder()
    for _ in range(LOCK_TRIES):
        with locked(folder / client.LOCK_NAME, wait=False) as mine:
            if mine:
                _serve(folder, idle_seconds, port)
                return True
        time.sleep(0.05)
    return False


def _serve(folder: Path, idle_seconds: float, port: int | None) -> None:
    """Serve until stopped or idle, holding the server's lock."""
    memory.few_heaps()  # before any thread allocates
    server = Server(Service(), folder, idle_seconds)
    print(f"codeseek: warm process {os.getpid()} started at {time.strftime('%Y-%m-%dT%H:%M:%S')}",
          file=sys.stderr, flush=True)
    # SIGTERM and SIGHUP stop it cleanly: its address and socket are removed.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: server.stopping.set())
    if hasattr(signal, "SIGUSR1"):  # `kill -USR1 PID`: every thread's stack into the log, for a process that seems stuck
        faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=True)
    server.run(port)
