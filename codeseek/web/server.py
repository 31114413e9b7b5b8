"""The web page's HTTP server: the standard library's ThreadingHTTPServer on 127.0.0.1, static
files from codeseek/web/static/ and the JSON API of api.py.

Any web page the user opens can make their browser send requests to 127.0.0.1, so every
request must prove it comes from this page, the same rules as the warm process's TCP port:

- it listens on 127.0.0.1 only, and answers only a Host of `127.0.0.1:PORT` or
  `localhost:PORT` (a DNS name rebound to 127.0.0.1 names another host: refused);
- it needs the token printed with the URL: `?token=` on the first page load, which is traded
  for an HttpOnly, SameSite=Strict cookie (named after the port: cookies are shared by all
  ports of a host) and a redirect that takes the token out of the address bar; scripts may
  send `Authorization: Bearer TOKEN` instead;
- no CORS header is ever sent, a request whose Origin is not the page's own is refused, and
  so is an API request the browser marks as coming from another site (Sec-Fetch-Site);
- API bodies must be application/json (a form on another site cannot send that without a
  preflight, which is refused);
- answers forbid framing and embedding elsewhere (CSP, X-Frame-Options, CORP) and are never
  cached.

Errors are JSON with a one-line reason; a bug answers 500 "internal error" and its traceback
goes to stderr, never to the page.
"""

from __future__ import annotations

import hmac
import json
import secrets
import socketserver
import sys
import traceback
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from ..errors import CodeseekError
from ..server import Refused, read_json
from .api import App, NotFound, TooLarge

STATIC = Path(__file__).parent / "static"
PAGES = {"/": "index.html", "/static/app.js": "app.js", "/static/style.css": "style.css"}
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8"}
READ_TIMEOUT = 30.0  # an idle kept-alive connection holds its thread this long at most
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
}


class WebServer(ThreadingHTTPServer):
    """The page's server for one repository, with its token."""

    daemon_threads = True

    def __init__(self, app: App, port: int = 0, token: str | None = None) -> None:
        self.app = app
        self.token = token or secrets.token_urlsafe(32)
        super().__init__(("127.0.0.1", port), Handler)
        self.port = int(self.server_address[1])

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # HTTPServer's would look the host's name up in DNS
        self.server_name, self.server_port = "127.0.0.1", int(self.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/?{urlencode({'token': self.token})}"

    @property
    def cookie(self) -> str:
        return f"codeseek-{self.port}"

    def valid(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(token.encode(), self.token.encode())


class Handler(BaseHTTPRequestHandler):
    server: WebServer  # type: ignore[assignment]
    protocol_version = "HTTP/1.1"
    timeout = READ_TIMEOUT
    server_version = "codeseek"
    sys_version = ""

    def log_message(self, *args: object) -> None:
        pass  # quiet: the terminal shows the URL and errors only

    # -- answers ----------------------------------------------------------------------------

    def _send(self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in {**SECURITY_HEADERS, **(headers or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _json(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(body).encode(), "application/json", headers)

    def _refuse(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        self.close_connection = True  # a body left unread must not be taken for the next request
        if self.path.startswith("/api/"):
            self._json(status, {"error": message}, headers)
            return
        page = (f"<!doctype html><meta charset=utf-8><title>codeseek</title><p>{status}: {_escape(message)}</p>"
                "<p>Open the address <code>codeseek web</code> printed in your terminal (it holds the token).</p>")
        self._send(status, page.encode(), TYPES[".html"], headers)

    # -- checks -----------------------------------------------------------------------------

    def _check(self, query: dict[str, list[str]]) -> None:
        """Host, Origin, where the request comes from, and the token (see the module's text)."""
        port = self.server.port
        host = self.headers.get("Host")
        if host not in (f"127.0.0.1:{port}", f"localhost:{port}"):
            raise Refused(403, "the Host header does not name this server")
        origin = self.headers.get("Origin")
        if origin is not None and origin != f"http://{host}":
            raise Refused(403, "requests from other web pages are refused")
        api = self.path.startswith("/api/")
        if api and self.headers.get("Sec-Fetch-Site", "same-origin") != "same-origin":
            raise Refused(403, "requests from other web pages are refused")
        given = query.get("token", [None])[-1]
        if given is not None and not api and self.command in ("GET", "HEAD"):
            if not self.server.valid(given):
                raise Refused(403, "the token is wrong")
            cookie = f"{self.server.cookie}={self.server.token}; Path=/; HttpOnly; SameSite=Strict"
            # Trade it for the cookie, and take it out of the address bar (and the history).
            raise Refused(303, "see the page", {"Set-Cookie": cookie, "Location": urlsplit(self.path).path})
        if not (self.server.valid(self._cookie()) or self.server.valid(self._bearer())):
            raise Refused(401, "a valid token is needed")

    def _cookie(self) -> str | None:
        try:
            jar = SimpleCookie(self.headers.get("Cookie", ""))
        except CookieError:
            return None
        morsel = jar.get(self.server.cookie)
        return morsel.value if morsel else None

    def _bearer(self) -> str | None:
        value = self.headers.get("Authorization", "")
        return value[len("Bearer "):] if value.startswith("Bearer ") else None

    def _body(self) -> object:
        return read_json(self)

    # -- routes -----------------------------------------------------------------------------

    def _serve(self) -> None:
        try:
            url = urlsplit(self.path)
            try:
                query = parse_qs(url.query, max_num_fields=20)
            except ValueError:
                raise Refused(400, "too many query parameters") from None
            self._check(query)
            self._route(url.path, query)
        except Refused as exc:
            self._refuse(exc.status, str(exc), exc.headers)
        except NotFound as exc:
            self._refuse(404, str(exc))
        except TooLarge as exc:
            self._refuse(415, str(exc))
        except CodeseekError as exc:
            self._refuse(400, str(exc))
        except (TimeoutError, ConnectionError):
            self.close_connection = True
        except Exception:  # noqa: BLE001 - one request's bug must not end the server or reach the page
            sys.stderr.write(f"Error: internal error answering {self.command} {self.path[:200]}\n"
                             f"{traceback.format_exc()}")
            sys.stderr.flush()
            self._refuse(500, "internal error (details in the terminal running codeseek web)")

    def _route(self, path: str, query: dict[str, list[str]]) -> None:
        app = self.server.app
        get = self.command in ("GET", "HEAD")
        if get and path in PAGES:
            name = PAGES[path]
            self._send(200, (STATIC / name).read_bytes(), TYPES[Path(name).suffix])
        elif get and path == "/api/status":
            self._json(200, app.status())
        elif get and path == "/api/meta":
            self._json(200, app.meta())
        elif get and path == "/api/file":
            self._json(200, app.file(_one(query, "path"), _line(query, "start"), _line(query, "end"),
                                     _one(query, "q", "")))
        elif self.command == "POST" and path == "/api/find":
            self._json(200, app.find(self._body()))
        elif self.command == "POST" and path == "/api/similar":
            self._json(200, app.similar(self._body()))
        elif path in PAGES or path in ("/api/status", "/api/meta", "/api/file", "/api/find", "/api/similar"):
            raise Refused(405, f"{self.command} is not allowed here")
        else:
            raise NotFound(f"no such page: {path[:100]}")

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _serve


def _one(query: dict[str, list[str]], name: str, default: str | None = None) -> str:
    values = query.get(name)
    if not values:
        if default is None:
            raise CodeseekError(f"{name} is missing")
        return default
    return values[-1]


def _line(query: dict[str, list[str]], name: str) -> int:
    text = _one(query, name, "0")
    if not text.isdigit() or len(text) > 9:
        raise CodeseekError(f"{name} must be a line number")
    return int(text)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
