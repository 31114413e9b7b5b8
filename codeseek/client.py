"""Talking to the warm process: finding it, proving it is ours, starting it.

One warm process per user serves every repository and holds each model once (a 4B model on
a consumer GPU cannot be loaded once per repository). It listens on a Unix socket in a folder
only this user may enter. Before a query is sent, the process at the socket is verified: the
kernel says which process and user are at the other end (SO_PEERCRED), and they must be the
pid recorded by the server and this user. Over TCP (`serve --port`), the server must answer a
challenge with the secret in that private folder first.

Cheap to import: `codeseek find` answered by the warm process loads no model, index, parser,
numpy or click, and this module speaks HTTP/1.1 over the socket itself (http.client alone
costs more than the whole round trip to the server).
"""

from __future__ import annotations

import json
import os
import socket
import struct
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import CodeseekError, RefusedPath
from .fsutil import held, locked, open_own, pid_alive, private_dir

if TYPE_CHECKING:
    import subprocess

# What a search says when it started the warm process (quick.py and cli.py both may).
STARTED = ("codeseek: started the warm process: it loads the model once (seconds), and later searches answer "
           "at once (`codeseek serve --stop` ends it)")

SOCKET_NAME = "server.sock"
INFO_NAME = "server.json"
KEY_NAME = "server.key"
LOCK_NAME = "server.lock"  # held by the running server for its whole life: never two
SPAWN_LOCK = "spawn.lock"  # held while one client starts the server: ten first searches start one
LOG_NAME = "server.log"
DEFAULT_IDLE_SECONDS = 1800
START_SECONDS = 30.0  # how long a client waits for a server it started to answer
SPAWNS = 3  # servers a client starts, where each exited and none holds the server's lock, before it gives up
TIMEOUT = 300.0  # a request's answer (an update of many changed files can take minutes)
MAX_SOCKET_PATH = 100  # AF_UNIX paths are limited to about 108 bytes
SERVER_ENV = ("CODESEEK_RUNTIME_DIR", "CODESEEK_SERVER_IDLE")  # the only settings the server takes from its start


class ServerError(CodeseekError):
    """The warm process answered, with an error about the request."""


class NewerServer(CodeseekError):
    """A newer codeseek's warm process runs: this older client never stops it (two installed
    versions would otherwise stop each other's process on every call), it searches alone."""


def version_key(version: str) -> tuple[int, ...]:
    """A version's order: its leading whole numbers (0.10.0 is after 0.9.1)."""
    key = []
    for part in version.split("."):
        digits = "".join(ch for ch in part[:9] if ch.isdigit()) if part[:1].isdigit() else ""
        if not digits:
            break
        key.append(int(digits))
    return tuple(key)


def runtime_dir() -> Path:
    """The user's private folder for the warm process: $CODESEEK_RUNTIME_DIR, else
    $XDG_RUNTIME_DIR/codeseek, else ~/.cache/codeseek/run; /tmp/codeseek-UID where those
    would make a socket path too long."""
    chosen = os.environ.get("CODESEEK_RUNTIME_DIR")
    if chosen:
        return Path(chosen)
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    folder = Path(xdg) / "codeseek" if xdg else cache / "codeseek" / "run"
    if len(str(folder / SOCKET_NAME)) > MAX_SOCKET_PATH:
        folder = Path("/tmp") / f"codeseek-{os.getuid()}"
    return folder


def runtime_folder() -> Path:
    """The runtime folder, made private. One CODESEEK_RUNTIME_DIR names that cannot be is an
    error naming the variable; a default one that is a link or another user's is refused
    (RefusedPath: the caller then searches in its own process)."""
    folder = runtime_dir()
    try:
        return private_dir(folder)
    except RefusedPath as exc:
        if os.environ.get("CODESEEK_RUNTIME_DIR"):
            raise CodeseekError(f"CODESEEK_RUNTIME_DIR: {exc}") from None
        raise


@dataclass(frozen=True)
class Address:
    """Where the running server listens, as it recorded in server.json."""

    pid: int
    version: str
    socket: str | None = None
    port: int | None = None


def address(folder: Path | None = None) -> Address | None:
    try:
        raw = json.loads(((folder or runtime_dir()) / INFO_NAME).read_text())
        return Address(int(raw["pid"]), str(raw["version"]), raw.get("socket"), raw.get("port"))
    except (OSError, ValueError, TypeError, KeyError):
        return None


def write_address(folder: Path, where: Address) -> None:
    from .fsutil import atomic_write

    atomic_write(folder / INFO_NAME, json.dumps(asdict(where)), mode=0o600)


def secret(folder: Path) -> bytes:
    """The server's secret (made once, readable by this user only)."""
    import secrets

    path = folder / KEY_NAME
    try:
        return path.read_bytes()
    except FileNotFoundError:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_hex(32).encode())
        return path.read_bytes()


def proof(key: bytes, challenge: str) -> str:
    import hashlib
    import hmac

    return hmac.new(key, challenge.encode(), hashlib.sha256).hexdigest()


class Connection:
    """One verified connection to the server; HTTP/1.1 with JSON bodies."""

    def __init__(self, where: Address, folder: Path, timeout: float = TIMEOUT) -> None:
        self.where = where
        self.folder = folder
        if where.socket:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(2.0)
            self.sock.connect(where.socket)
            self._check_peer()
        else:
            self.sock = socket.create_connection(("127.0.0.1", int(where.port or 0)), timeout=2.0)
            self._challenge()
        self.sock.settimeout(timeout)

    def _check_peer(self) -> None:
        """The process at the other end must be the recorded server, run by this user."""
        raw = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        pid, uid, _gid = struct.unpack("3i", raw)
        if uid != os.getuid() or pid != self.where.pid:
            self.sock.close()
            raise ConnectionRefusedError(f"the process at {self.where.socket} is not the recorded server")

    def _challenge(self) -> None:
        import hmac
        import secrets

        nonce = secrets.token_hex(16)
        status, body = self.request("GET", "/ping", None, {"X-Codeseek-Challenge": nonce}, auth=False)
        if status != 200 or not hmac.compare_digest(str(body.get("proof", "")), proof(secret(self.folder), nonce)):
            self.sock.close()
            raise ConnectionRefusedError(f"the process at 127.0.0.1:{self.where.port} is not codeseek's server")

    def request(self, method: str, route: str, payload: dict[str, Any] | None,
                headers: dict[str, str] | None = None, auth: bool = True) -> tuple[int, dict[str, Any]]:
        data = json.dumps(payload).encode() if payload is not None else b""
        host = f"127.0.0.1:{self.where.port}" if self.where.port else "localhost"
        lines = [f"{method} {route} HTTP/1.1", f"Host: {host}", "Content-Type: application/json",
                 f"Content-Length: {len(data)}", "Connection: close"]
        if auth and self.where.port:
            lines.append(f"Authorization: Bearer {secret(self.folder).decode()}")
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + data)
        return _read_response(self.sock)

    def close(self) -> None:
        self.sock.close()


def _read_response(sock: socket.socket) -> tuple[int, dict[str, Any]]:
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        part = sock.recv(65536)
        if not part:
            raise ConnectionError("the server closed the connection")
        buffer += part
    head, _, body = buffer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = next((int(line.split(":", 1)[1]) for line in lines[1:] if line.lower().startswith("content-length:")), None)
    while length is None or len(body) < length:
        part = sock.recv(1 << 20)
        if not part:
            if length is None:
                break
            raise ConnectionError("the server closed the connection mid-answer")
        body += part
    return status, json.loads(body or b"{}")


def connect(timeout: float = TIMEOUT, version: str | None = None) -> Connection | None:
    """A verified connection to the running server, or None when none runs (a stale address
    left by a killed server, a pid reused by another process, or something else listening
    there, counts as none); with `version`, None also when the server runs another version
    (its version is in the address it wrote, and the kernel vouches for its pid)."""
    folder = runtime_dir()
    where = address(folder)
    if where is None or not pid_alive(where.pid) or (version is not None and where.version != version):
        return None
    try:
        return Connection(where, folder, timeout)
    except OSError:
        return None


def call(route: str, payload: dict[str, Any] | None = None, timeout: float = TIMEOUT,
         version: str | None = None) -> dict[str, Any] | None:
    """The server's answer, or None when no server (of `version`, where given) runs."""
    conn = connect(timeout, version)
    if conn is None:
        return None
    try:
        status, body = conn.request("POST" if payload is not None else "GET", route, payload)
    except (OSError, ValueError):
        return None
    finally:
        conn.close()
    if status != 200:
        raise ServerError(str(body.get("error", f"the codeseek server answered HTTP {status}")))
    return body


def running() -> dict[str, Any] | None:
    """The running server's description (pid, version, repositories, memory), if any."""
    return call("/ping", timeout=5)


def server_env() -> dict[str, str]:
    """The environment a server starts with. It decides nothing with a client's settings from
    its own environment: it starts without them (each request carries its own)."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith("GIT_") and (not k.startswith("CODESEEK_") or k in SERVER_ENV)}


def start(version: str) -> bool:
    """Start the server unless one runs (of this version), and wait until it answers. Ten
    clients at once start one: the first takes the spawn lock, the others wait for it and
    find the server running. An older version's server is replaced; a newer one's is left
    alone (NewerServer). Returns whether the server that answers is the one started here (one
    launched meanwhile, `launch`, may be: the one started here then exits, finding the server's
    lock held, and this waits for the other)."""
    folder = runtime_folder()
    with locked(folder / SPAWN_LOCK):
        if not _make_way(folder, version):
            return False
        proc, spawns = _spawn(folder), 1
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            answer = call("/ping", timeout=5, version=version)
            if answer is not None:
                return answer.get("pid") == proc.pid
            if proc.poll() is not None:
                where = address(folder)
                if where is not None and where.version != version and _is_server(where, folder):
                    _make_way(folder, version)  # one of another version started meanwhile: NewerServer, or replaced
                elif not held(folder / LOCK_NAME):  # nobody is starting one
                    if spawns == SPAWNS:
                        raise CodeseekError(f"the warm process exited at start (exit {proc.returncode}); "
                                            f"see {folder / LOG_NAME}")
                    proc, spawns = _spawn(folder), spawns + 1
                    deadline = time.monotonic() + START_SECONDS
            time.sleep(0.05)
        raise CodeseekError(f"the warm process did not answer within {START_SECONDS:.0f} s; see {folder / LOG_NAME}")


def launch(version: str) -> bool:
    """Start the server unless one runs or is being started (of any version: the next search's
    `start` replaces an older one), without waiting for it: a first search of a large index
    answers in its own process, where the index and its static tier are loaded already, and
    the warm process starts beside that answer for the searches after it (started while the
    index was made, it took the cores the indexing used). Whether one was started."""
    folder = runtime_folder()
    with locked(folder / SPAWN_LOCK, wait=False) as mine:
        where = address(folder)
        if not mine or held(folder / LOCK_NAME) or (where is not None and _is_server(where, folder)):
            return False  # someone is starting one, or one runs
        _spawn(folder)
    return True


def _make_way(folder: Path, version: str) -> bool:
    """Whether a server of this version must be started (under the spawn lock): not where one
    runs; an older version's is stopped first; a newer one's is left alone (NewerServer)."""
    where = address(folder)
    if where is not None and _is_server(where, folder):
        if where.version == version:
            return False
        if version_key(where.version) > version_key(version):
            raise NewerServer(f"a newer codeseek's warm process (version {where.version}) runs")
        call("/stop", {}, timeout=START_SECONDS)  # an older codeseek's server: replace it
        _wait_gone(where.pid)
    return True


def _spawn(folder: Path) -> subprocess.Popen[bytes]:
    """The server, started detached in its folder, its output appended to its log. A server
    started while another holds the server's lock exits (server.serve tries it for 0.2 s)."""
    import subprocess  # (not on the quick path's imports)

    with os.fdopen(open_own(folder / LOG_NAME, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab") as log:
        return subprocess.Popen([sys.executable, "-P", "-m", "codeseek", "serve", "--detached"], cwd=folder,
                                env=server_env(), stdin=subprocess.DEVNULL, stdout=log,
                                stderr=log, start_new_session=True)


def _is_server(where: Address, folder: Path) -> bool:
    """Whether the recorded server answers at its address as the recorded pid (the kernel
    says who is at the socket's other end): a process that reused a dead server's pid, even
    one named codeseek, is not it."""
    if not pid_alive(where.pid):
        return False
    try:
        Connection(where, folder, timeout=START_SECONDS).close()
    except OSError:
        return False
    return True


def stop() -> int | None:
    """Ask the running server to exit; its pid, or None when none ran."""
    found = running()
    if found is None:
        return None
    call("/stop", {})
    _wait_gone(int(found.get("pid", 0)))
    return int(found.get("pid", 0))


def _wait_gone(pid: int, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
