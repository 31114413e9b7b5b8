"""Shared fixtures: hermetic environment, real git repositories, the real small model."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import socket
import subprocess
import sys
import textwrap
import threading
import time
import types
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from codeseek import cli as cli_module
from codeseek.client import Address
from codeseek.embedding import EngineChoice, EngineSettings

SAMPLE_REPO = {
    "net/retry.py": '''
        import random
        import time


        def retry_with_backoff(fn, attempts=5, base_delay=0.1):
            """Call fn until it succeeds, sleeping exponentially longer after each failure."""
            for attempt in range(attempts):
                try:
                    return fn()
                except ConnectionError:
                    time.sleep(base_delay * 2 ** attempt + random.random() * base_delay)
            raise RuntimeError("gave up")


        class RateLimiter:
            """Allow at most `rate` calls per second."""

            def __init__(self, rate):
                self.rate = rate
                self.last = 0.0

            def wait(self):
                now = time.monotonic()
                delay = self.last + 1.0 / self.rate - now
                if delay > 0:
                    time.sleep(delay)
                self.last = time.monotonic()
        ''',
    "util/strings.js": '''
        // Turn a title into a URL slug: lowercase words joined by dashes.
        function slugify(title) {
          return title.toLowerCase().trim().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
        }

        class LruCache {
          constructor(capacity) {
            this.capacity = capacity;
            this.items = new Map();
          }

          get(key) {
            if (!this.items.has(key)) return undefined;
            const value = this.items.get(key);
            this.items.delete(key);
            this.items.set(key, value);
            return value;
          }

          set(key, value) {
            this.items.delete(key);
            this.items.set(key, value);
            if (this.items.size > this.capacity) {
              this.items.delete(this.items.keys().next().value);
            }
          }
        }

        module.exports = { slugify, LruCache };
        ''',
    "server/server.go": '''
        package server

        import (
        	"net/http"
        	"os"

        	"gopkg.in/yaml.v3"
        )

        type Config struct {
        	Port int
        	Root string
        }

        type Server struct {
        	config *Config
        }

        // LoadConfig reads the server configuration from a YAML file on disk.
        func LoadConfig(path string) (*Config, error) {
        	data, err := os.ReadFile(path)
        	if err != nil {
        		return nil, err
        	}
        	var cfg Config
        	err = yaml.Unmarshal(data, &cfg)
        	return &cfg, err
        }

        // Handle serves static files below the configured root directory.
        func (s *Server) Handle(w http.ResponseWriter, r *http.Request) {
        	http.ServeFile(w, r, s.config.Root+r.URL.Path)
        }
        ''',
    "web/api.ts": '''
        export interface User {
          id: string;
          name: string;
        }

        export async function fetchUser(id: string): Promise<User> {
          const response = await fetch(`/api/users/${id}`);
          if (!response.ok) throw new Error(`HTTP ${response.status}`);
          return response.json();
        }
        ''',
}


def torch_installed() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("torch", "sentence_transformers"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests of the torch engines (marked `torch`) skip where the torch extra is not installed:
    the default install has no torch, and .ci/run tests them in a step that installs it."""
    if torch_installed():
        return
    skip = pytest.mark.skip(reason="needs the torch extra: pip install 'codeseek[torch]'")
    for item in items:
        if "torch" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def hermetic(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the real home, git config or a model hub."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name, value in {
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
    }.items():
        monkeypatch.setenv(name, value)
    for name in list(os.environ):
        if name.startswith("CODESEEK_") or name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "XDG_RUNTIME_DIR"):
            monkeypatch.delenv(name)
    # Each test has its own warm-process folder. Searches run in their own process unless a
    # test asks for the warm process (and `warm` stops it afterwards).
    monkeypatch.setenv("CODESEEK_RUNTIME_DIR", str(home / "run"))
    monkeypatch.setenv("CODESEEK_SERVER", "0")


def codeseek(root: Path, *args: str, prefix: tuple[str, ...] = (), memory: int | None = None,
             **kwargs) -> subprocess.CompletedProcess[str]:
    """The real command in a new process (-P: the repository's own modules never shadow
    codeseek's), optionally under a memory limit."""

    def limit() -> None:
        if memory:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    kwargs.setdefault("timeout", 300)
    return subprocess.run([*prefix, sys.executable, "-P", "-m", "codeseek", *args], cwd=root, capture_output=True,
                          text=True, preexec_fn=limit if memory else None, **kwargs)


def one_line_error(result: subprocess.CompletedProcess[str], words: str = "") -> str:
    """The error a failed command printed: one line, no traceback, no internal error."""
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr and "internal error" not in result.stderr, lines
    assert words in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def warm(monkeypatch: pytest.MonkeyPatch):
    """Searches go through the warm process, as they do by default; it is stopped afterwards."""
    from codeseek import client

    monkeypatch.setenv("CODESEEK_SERVER", "1")
    yield client
    client.stop()


def started(client: types.ModuleType) -> Address:
    """The address of the warm process a first search started beside its answer (not waited
    for: cli.py), once it answers."""
    wait_for(lambda: client.address() is not None and client.running() is not None)
    return client.address()


def wait_for(predicate: Callable[[], bool], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


def write_files(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))


MakeRepo = Callable[..., Path]


@pytest.fixture
def make_repo(tmp_path: Path) -> MakeRepo:
    """A real git repository with the given files committed."""

    def make(files: dict[str, str] | None = None, name: str = "repo") -> Path:
        root = tmp_path / name
        root.mkdir()
        git(root, "init", "-q", "-b", "main")
        write_files(root, SAMPLE_REPO if files is None else files)
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "initial", "--allow-empty")
        return root

    return make


@pytest.fixture(scope="session")
def engine_settings() -> EngineSettings:
    return EngineSettings()


@pytest.fixture(scope="session")
def shared_engine(engine_settings: EngineSettings) -> EngineChoice:
    """The real default model, loaded once per test session."""
    choice = EngineChoice(engine_settings)
    choice.embedder()
    return choice


@pytest.fixture
def engine(shared_engine: EngineChoice) -> EngineChoice:
    """A fresh choice per test that reuses the loaded model."""
    return EngineChoice(shared_engine.settings, shared_engine.embedder())


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, engine: EngineChoice):
    """Invoke the CLI in-process; every command reuses the already loaded model."""
    monkeypatch.setattr(cli_module, "EngineChoice", lambda settings: EngineChoice(settings, engine.embedder()))

    def invoke(root: Path, *args: str, ok: bool = True):
        monkeypatch.chdir(root)
        result = CliRunner().invoke(cli_module.cli, list(args), catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return invoke


# -- a real OpenAI-compatible server on 127.0.0.1 ----------------------------------------------


def fake_vector(text: str, dim: int) -> list[float]:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    return np.random.default_rng(seed).standard_normal(dim).tolist()


class EmbeddingServer:
    """Answers /v1/embeddings with vectors derived from each text; failures can be queued."""

    def __init__(self, dim: int = 16, model: str = "tiny-embedder") -> None:
        self.dim = dim
        self.model = model
        self.requests: list[dict] = []
        # HTTP statuses, "drop" (close without answering) or "half" (send half the body, close)
        self.failures: list[int | str] = []
        self.embedded: list[str] = []  # every text embedded, in order
        self.die_after: int | None = None  # answer 503 once this many texts are embedded
        self.delay = 0.0  # seconds each embeddings request takes (a stand-in for a GPU's work)
        self.kill_after: int | None = None  # stop serving for good once this many texts were asked for
        self.taken = 0  # texts asked for (some may be in flight)
        self.lock = threading.Lock()
        self.wrong_dim: int | None = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _json(self, status: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._json(200, {"data": [{"id": server.model}]})

            def do_POST(self) -> None:
                payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append({**payload, "authorization": self.headers.get("Authorization")})
                time.sleep(server.delay)
                with server.lock:
                    killed = server.kill_after is not None and server.taken >= server.kill_after
                    server.taken += len(payload["input"])
                if killed:  # the machine went away: this request and every later one get nothing
                    threading.Thread(target=server.close, daemon=True).start()
                    self.connection.close()
                    return
                if server.die_after is not None and len(server.embedded) >= server.die_after:
                    self._json(503, {"error": "gone"})
                    return
                if server.failures:
                    failure = server.failures.pop(0)
                    if failure == "drop":
                        self.connection.close()
                        return
                    if failure == "half":
                        body = json.dumps({"data": [{"index": 0, "embedding": [0.0] * server.dim}]}).encode()
                        self.send_response(200)
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        self.wfile.write(body[: len(body) // 2])
                        self.wfile.flush()
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    self._json(int(failure), {"error": "try later"})
                    return
                dim = server.wrong_dim or payload.get("dimensions") or server.dim
                data = [{"index": i, "embedding": fake_vector(t, dim)} for i, t in enumerate(payload["input"])]
                with server.lock:  # counted before the answer leaves: a client that has it sees the count
                    server.embedded.extend(payload["input"])
                self._json(200, {"data": list(reversed(data)), "model": payload["model"]})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    """A real OpenAI-compatible embedding server on 127.0.0.1."""
    s = EmbeddingServer()
    yield s
    s.close()


def index_all(ws, engine: EngineChoice, **kwargs) -> None:
    """Index a repository in this process, every vector included (as `codeseek index` does)."""
    from codeseek import filling

    filling.index_all(ws, engine, **kwargs)
