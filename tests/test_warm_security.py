"""What the warm process trusts, and what it never does: it lends no client its own
environment's engine, answers only clients of its own version, is verified before it is
believed, never starves on slow clients, tells strangers nothing, leaks no file handles, and
leaves no process behind its work."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from codeseek import __version__, client
from codeseek import server as server_module
from codeseek.embedding import DEFAULT_MODEL
from codeseek.fsutil import pid_alive, private_dir
from codeseek.index import Store
from codeseek.repo import open_workspace
from codeseek.service import Service

from .conftest import EmbeddingServer, MakeRepo, codeseek, one_line_error, wait_for

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="SO_PEERCRED and /proc are Linux's")


class Recorder:
    """A stand-in embedding server that records every request it receives and serves none."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _any(self) -> None:
                recorder.seen.append(f"{self.command} {self.path}")
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = _any

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def serve_detached(env: dict[str, str], version: str | None = None) -> subprocess.Popen:
    """A warm process started by hand (`codeseek serve`), optionally as another version."""
    patch = f"codeseek.__version__ = {version!r}; " if version else ""
    code = f"import sys, codeseek; {patch}sys.argv = ['codeseek', 'serve', '--detached']; " \
           "from codeseek.quick import main; main()"
    folder = private_dir(client.runtime_dir())
    proc = subprocess.Popen([sys.executable, "-P", "-c", code], cwd=folder, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    wait_for(lambda: (client.address() or client.Address(0, "")).pid == proc.pid and client.running() is not None)
    return proc


def as_version(version: str, root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`codeseek ARGS` run by another installed version of codeseek."""
    code = f"import sys, codeseek; codeseek.__version__ = {version!r}; sys.argv = ['codeseek', *{list(args)!r}]; " \
           "from codeseek.quick import main; main()"
    return subprocess.run([sys.executable, "-P", "-c", code], cwd=root, capture_output=True, text=True, timeout=300)


@pytest.fixture
def in_process(warm) -> Iterator[server_module.Server]:
    """The warm server run on a thread of this test (its constants can be changed), with a TCP
    listener too; stopped afterwards."""
    folder = private_dir(client.runtime_dir())
    server = server_module.Server(Service(), folder, idle_seconds=600)
    thread = threading.Thread(target=server.run, kwargs={"port": 0}, daemon=True)
    thread.start()
    wait_for(lambda: client.address() is not None and client.address().pid == os.getpid(), 30)
    yield server
    server.stopping.set()
    thread.join(30)


def lexical(root: Path, query: str, index_dir: Path | None = None) -> dict:
    ws = open_workspace(root, index_dir)
    payload = {"repo": {"root": str(ws.root), "index_dir": str(ws.index_dir)}, "engine": {},
               "request": {"query": query, "k": 5, "mode": "lexical", "wait": "none"}}
    answer = client.call("/find", payload, timeout=60)
    assert answer is not None
    return answer


# -- item 3 and issue 28 item 5: each request carries its own settings ----------------------------


def test_the_warm_process_lends_no_client_its_own_environments_engine(make_repo: MakeRepo, warm) -> None:
    recorder = Recorder()
    try:
        serve_detached({**os.environ, "CODESEEK_BASE_URL": recorder.url, "CODESEEK_API_KEY": "the-servers-own"})
        root = make_repo()
        found = codeseek(root, "find", "retry with backoff", "--json", "-k", "1")
        assert found.returncode == 0, found.stderr
        assert json.loads(found.stdout)[0]["symbol"] == "retry_with_backoff"
        assert recorder.seen == []
        with Store(open_workspace(root).index_dir) as store:
            assert store.db.model_info().model == DEFAULT_MODEL
    finally:
        recorder.close()


def test_settings_from_the_environment_and_the_config_file_take_the_quick_path(
        make_repo: MakeRepo, warm, server: EmbeddingServer, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_repo()
    monkeypatch.setenv("CODESEEK_BASE_URL", server.url)
    monkeypatch.setenv("CODESEEK_API_KEY", "the-clients-own")
    assert codeseek(root, "find", "retry with backoff", "--json").returncode == 0  # starts the warm process
    quick = ("import sys; from codeseek.quick import answer; "
             "code = answer(['find', 'retry with backoff', '--json', '-k', '1']); "
             "print(json.dumps([code, 'click' in sys.modules]), file=sys.stderr)")
    asked = len(server.requests)
    done = subprocess.run([sys.executable, "-P", "-c", "import json; " + quick], cwd=root, capture_output=True,
                          text=True, timeout=120)
    assert json.loads(done.stderr.strip().splitlines()[-1]) == [0, False], done.stderr
    assert json.loads(done.stdout)[0]["symbol"] == "retry_with_backoff"
    assert len(server.requests) > asked  # the query was embedded by the server the client named...
    assert server.requests[-1]["authorization"] == "Bearer the-clients-own"  # ...with the client's key
    (root / ".codeseek.toml").write_text("server = true\n")
    done = subprocess.run([sys.executable, "-P", "-c", "import json; " + quick], cwd=root, capture_output=True,
                          text=True, timeout=120)
    assert json.loads(done.stderr.strip().splitlines()[-1]) == [0, False], done.stderr
    # A wrong value is refused as strictly as before, in the same words.
    monkeypatch.setenv("CODESEEK_DIM", "abc")
    one_line_error(codeseek(root, "find", "retry"), "CODESEEK_DIM")


# -- item 7: one version answers --------------------------------------------------------------------


def test_an_older_warm_process_is_replaced_once_and_a_newer_one_never_stopped(make_repo: MakeRepo, warm) -> None:
    root = make_repo()
    old = serve_detached(dict(os.environ), version="0.0.1")
    words = ("--mode", "lexical", "--no-wait", "--json", "-k", "1")  # no model is loaded anywhere
    found = codeseek(root, "find", "rate limiter", *words)
    assert found.returncode == 0, found.stderr
    now = client.address()
    assert now.version == __version__ and now.pid != old.pid  # the quick path did not ask the old one
    assert as_version("0.0.1", root, "find", "retry", *words).returncode == 0
    assert client.address() == now  # an older client searched alone and stopped nothing
    client.stop()
    newer = serve_detached(dict(os.environ), version="99.0")
    for _ in range(2):
        found = codeseek(root, "find", "slugify a title", *words)
        assert found.returncode == 0 and json.loads(found.stdout), found.stderr
        assert client.address().pid == newer.pid  # left running: never stopped back and forth


# -- item 9: a recorded pid is verified, not believed --------------------------------------------


def test_a_reused_pid_named_codeseek_is_not_taken_for_the_warm_process(make_repo: MakeRepo, warm) -> None:
    root = make_repo()
    impostor = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "codeseek", "serve"])
    try:
        folder = private_dir(client.runtime_dir())
        client.write_address(folder, client.Address(impostor.pid, __version__, socket=str(folder / "server.sock")))
        found = codeseek(root, "find", "retry with backoff", "--mode", "lexical", "--no-wait", "--json", "-k", "1")
        assert found.returncode == 0, found.stderr
        assert json.loads(found.stdout)[0]["symbol"] == "retry_with_backoff"
        assert client.address().pid != impostor.pid and client.running() is not None
    finally:
        impostor.kill()
        impostor.wait()


def test_an_exited_process_not_yet_collected_is_not_alive() -> None:
    """A warm process that exited but whose parent has not collected it (a zombie) is gone:
    stopping or replacing it waits no longer for it."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        wait_for(lambda: not alive(child.pid), 30)  # exited, and still in the process table
        assert Path(f"/proc/{child.pid}").exists()
        assert not pid_alive(child.pid)
        assert pid_alive(os.getpid())
    finally:
        child.wait()
    assert not pid_alive(child.pid)


# -- item 5: slow clients never starve a search -------------------------------------------------


def trickle(connect, stop: threading.Event, closed: list[float]) -> None:
    """A client that sends one byte of its request now and then, for as long as it is let."""
    sock = connect()
    began = time.monotonic()
    try:
        for byte in b"POST /find HTTP/1.1\r\nHost: x\r\n" * 100:
            sock.send(bytes([byte]))
            if stop.wait(0.3):
                return
    except OSError:
        closed.append(time.monotonic() - began)
    finally:
        sock.close()


def test_slow_clients_on_either_listener_never_delay_a_search(make_repo: MakeRepo, in_process,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_module, "READ_TIMEOUT", 3.0)
    root = make_repo()
    lexical(root, "retry")  # the index exists
    where = client.address()

    def unix() -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(where.socket)
        return sock

    def tcp() -> socket.socket:
        return socket.create_connection(("127.0.0.1", where.port))

    stop, closed = threading.Event(), []
    slow = [threading.Thread(target=trickle, args=(connect, stop, closed), daemon=True)
            for connect in [unix] * 20 + [tcp] * 20]
    for thread in slow:
        thread.start()
    try:
        time.sleep(0.5)  # every slow client is connected and sending
        began = time.monotonic()
        assert lexical(root, "rate limiter")["hits"]
        assert time.monotonic() - began < 2.5
        # However slowly their bytes come, they are cut off at the deadline for the whole request.
        wait_for(lambda: len(closed) >= 20, 15)
        assert sorted(closed)[19] < 3.0 + 2.5, closed  # (TCP clients past its 16 wait their turn)
    finally:
        stop.set()
        for thread in slow:
            thread.join(5)


# -- item 14: a stranger learns nothing from /ping ---------------------------------------------------


def test_ping_over_tcp_without_the_token_says_only_that_it_is_alive(in_process) -> None:
    port = client.address().port

    def ping(headers: dict[str, str]) -> dict:
        sock = socket.create_connection(("127.0.0.1", port))
        lines = ["GET /ping HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close",
                 *(f"{k}: {v}" for k, v in headers.items())]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        status, body = client._read_response(sock)
        sock.close()
        assert status == 200
        return body

    bare = ping({})
    assert set(bare) == {"alive"}, bare
    challenged = ping({"X-Codeseek-Challenge": "abc"})
    assert set(challenged) == {"alive", "proof"}, challenged
    token = client.secret(client.runtime_dir()).decode()
    assert ping({"Authorization": f"Bearer {token}"})["pid"] == os.getpid()


# -- item 15: no handle leaks --------------------------------------------------------------------


def test_two_roots_sharing_one_index_folder_leak_no_file_handles(make_repo: MakeRepo, in_process,
                                                                 tmp_path: Path) -> None:
    first, second = make_repo(name="first"), make_repo(name="second")
    shared = tmp_path / "shared-index"

    def handles() -> int:
        return len(os.listdir("/proc/self/fd"))

    for root in (first, second, first, second):
        lexical(root, "retry", shared)
    before = handles()
    for i in range(30):
        lexical((first, second)[i % 2], "retry", shared)
    assert handles() <= before + 2, (before, handles())


# -- items 17 and 19: no process outlives its work -------------------------------------------------


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_pool_workers_exit_when_the_process_that_started_them_is_killed(tmp_path: Path) -> None:
    code = ("import functools, time; from codeseek.chunking import Chunker, chunk_each; "
            "from codeseek.skipping import SkipRules; "
            "c = Chunker(functools.partial(chunk_each, rules=SkipRules()), workers=2); "
            "[part.result() for part in c.submit([(f'f{i}.py', b'def f():\\n    return 1\\n') for i in range(100)])]; "
            "print('ready', flush=True); time.sleep(300)")
    owner = subprocess.Popen([sys.executable, "-P", "-c", code], cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout.readline().strip() == "ready"
        helpers = descendants(owner.pid)
        assert len(helpers) >= 3  # the forkserver, its workers, the resource tracker
        owner.send_signal(signal.SIGKILL)
        owner.wait()
        wait_for(lambda: not any(alive(p) for p in helpers), 15)
    finally:
        owner.kill()
        for pid in descendants(owner.pid):
            os.kill(pid, signal.SIGKILL)


def test_a_background_worker_stops_when_its_repository_is_deleted(make_repo: MakeRepo, server: EmbeddingServer,
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    functions = "".join(f"def helper_{i}(value):\n    return value * {i}\n\n\n" for i in range(3000))
    root = make_repo({"many.py": functions})
    server.delay = 1.0  # a slow GPU: the whole repository would take half a minute
    monkeypatch.setenv("CODESEEK_BASE_URL", server.url)
    monkeypatch.setenv("CODESEEK_INDEX_DIR", str(tmp_path / "index"))  # the index outlives the repository
    worker = subprocess.Popen([sys.executable, "-P", "-m", "codeseek", "hooks", "run", "background"], cwd=root,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: len(server.embedded) >= 64, 60)  # embedding the chunks, not probing the server
        subprocess.run(["rm", "-rf", str(root)], check=True)
        worker.wait(timeout=20)
    finally:
        worker.kill()
    assert server.taken < 3000  # it stopped: it did not embed the rest


def test_a_model_that_cannot_be_loaded_still_answers_from_words(make_repo: MakeRepo, server: EmbeddingServer,
                                                                tmp_path: Path) -> None:
    root = make_repo()
    assert codeseek(root, "index", "--base-url", server.url).returncode == 0  # every vector
    # As after pulling vectors of a model this machine does not have: the index names it.
    with Store(open_workspace(root).index_dir) as store:
        store.db.set_meta({"model": str(tmp_path / "not-here"), "engine": "sentence-transformers"})
    found = codeseek(root, "find", "retry with backoff", "--json")
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)[0]["symbol"] == "retry_with_backoff"
    warning = [line for line in found.stderr.splitlines() if line.strip()]
    assert len(warning) == 1 and "cannot load model" in warning[0] and "words" in warning[0], found.stderr


def test_a_first_words_search_needs_no_engine(make_repo: MakeRepo, server: EmbeddingServer) -> None:
    root = make_repo()
    dead = "http://127.0.0.1:9/v1"  # nothing listens there
    for _ in range(2):
        found = codeseek(root, "find", "retry with backoff", "--mode", "lexical", "--no-wait", "--base-url", dead,
                         "--json", "-k", "1")
        assert found.returncode == 0, found.stderr
        assert json.loads(found.stdout)[0]["symbol"] == "retry_with_backoff"
    # Once an engine answers, the words are indexed again under its model, and its vectors follow.
    found = codeseek(root, "find", "retry with backoff", "--base-url", server.url, "--json", "-k", "1")
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)[0]["symbol"] == "retry_with_backoff"
    with Store(open_workspace(root).index_dir) as store:
        assert store.db.model_info().model == server.model
        assert store.chunks.unembedded_count() == 0
