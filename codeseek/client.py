"""Talking to a repository's warm server (`codeseek serve`): cheap to import, so a CLI
call that the server answers pays for no model, index or parser imports."""

from __future__ import annotations

import http.client
import json
import socket
from dataclasses import dataclass
from typing import Any

from .errors import CodeseekError
from .repo import Workspace

SOCKET_NAME = "server.sock"
INFO_NAME = "server.json"
DEFAULT_IDLE_SECONDS = 1800


@dataclass
class Address:
    """Where a running server listens, as recorded in server.json."""

    pid: int
    socket: str | None = None
    port: int | None = None


def address(ws: Workspace) -> Address | None:
    try:
        return Address(**json.loads((ws.index_dir / INFO_NAME).read_text()))
    except (OSError, ValueError, TypeError):
        return None


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def call(ws: Workspace, method: str, route: str, payload: dict[str, Any] | None = None,
         timeout: float = 600.0) -> dict[str, Any] | None:
    """Ask the repository's server; None when none is running (the caller works alone)."""
    where = address(ws)
    if where is None:
        return None
    conn: http.client.HTTPConnection = (
        _UnixConnection(where.socket, timeout) if where.socket else http.client.HTTPConnection("127.0.0.1", where.port, timeout=timeout)
    )
    try:
        conn.request(method, route, json.dumps(payload or {}), {"Content-Type": "application/json"})
        response = conn.getresponse()
        body = json.loads(response.read())
    except (OSError, ValueError, http.client.HTTPException):
        return None
    finally:
        conn.close()
    if response.status != 200:
        raise CodeseekError(body.get("error", f"the codeseek server answered HTTP {response.status}"))
    return body


def running(ws: Workspace) -> Address | None:
    """The server answering for this repository, if any."""
    where = address(ws)
    return where if where is not None and call(ws, "GET", "/ping", timeout=5) is not None else None
