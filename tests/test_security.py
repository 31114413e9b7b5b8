"""What an attacker on the same machine, a hostile repository or a careless client could try:
each is refused with a clear answer, and nothing is sent, written or followed that should not
be. Real processes, real sockets, real git."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from codeseek import client
from codeseek.chunking import PARALLEL_MIN_FILES

from .conftest import MakeRepo, codeseek, git, one_line_error, wait_for

# -- the warm process over TCP: only codeseek's own clients, never a web page ---------------------


@pytest.fixture
def tcp_server(make_repo: MakeRepo, warm):
    root = make_repo()
    codeseek(root, "index")
    proc = subprocess.Popen([sys.executable, "-P", "-m", "codeseek", "serve", "--port", "0", "--idle", "60"], cwd=root,
                            stderr=subprocess.DEVNULL)
    wait_for(lambda: warm.address() is not None and warm.running() is not None)
    yield root, warm.address().port
    proc.terminate()
    proc.wait(timeout=30)


def raw_http(port: int, request: bytes, timeout: float = 30.0) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def test_a_web_page_cannot_drive_the_tcp_server(tcp_server) -> None:
    root, port = tcp_server
    body = json.dumps({"repo": {"root": str(root)}, "request": {"query": "retry"}}).encode()
    token = client.secret(client.runtime_dir()).decode()

    def post(host: str, extra: str = "", content_type: str = "application/json", auth: bool = True) -> int:
        headers = f"POST /find HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n"
        headers += f"Authorization: Bearer {token}\r\n" if auth else ""
        headers += f"{extra}Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        return raw_http(port, headers.encode() + body)[0]

    # What a browser sends from another site (DNS rebinding: its name resolves to 127.0.0.1).
    assert post(f"attacker.example:{port}", f"Origin: http://attacker.example:{port}\r\n", "text/plain") == 403
    assert post(f"attacker.example:{port}") == 403  # a Host that is not the server's own
    assert post(f"127.0.0.1:{port}", "Origin: http://localhost\r\n") == 403  # any page at all
    assert post(f"127.0.0.1:{port}", content_type="text/plain") == 415
    assert post(f"127.0.0.1:{port}", auth=False) == 401  # another local user has no token
    status, answer = raw_http(port, f"GET /ping HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    assert status == 200 and str(root) not in answer.decode()  # the challenge route reveals no repository
    assert post(f"127.0.0.1:{port}") == 200  # codeseek's own client, with the token


# -- a stale address: the client verifies the server before sending anything ---------------------


def test_a_stale_socket_is_never_trusted_and_sigterm_cleans_up(make_repo: MakeRepo, warm) -> None:
    root = make_repo()
    assert codeseek(root, "find", "retry", "--json").returncode == 0  # starts the warm process
    first = warm.address()
    assert first is not None
    os.kill(first.pid, signal.SIGKILL)
    wait_for(lambda: warm.running() is None)
    # Another process of this user listens where the killed server did, and answers anything.
    received: list[bytes] = []
    rogue = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    Path(first.socket).unlink()
    rogue.bind(first.socket)
    rogue.listen(8)

    def impersonate() -> None:
        while True:
            try:
                conn, _ = rogue.accept()
            except OSError:
                return
            conn.settimeout(2)
            try:
                received.append(conn.recv(65536))
                conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 60\r\n\r\n'
                             b'{"hits": [], "mode": "hybrid", "unembedded": 0, "notes": []}')
            except OSError:
                pass
            conn.close()

    threading.Thread(target=impersonate, daemon=True).start()
    try:
        found = codeseek(root, "find", "retry with backoff", "--json", "-k", "1")
        assert json.loads(found.stdout)[0]["symbol"] == "retry_with_backoff"  # real results, from a new server
        assert b"retry with backoff" not in b"".join(received)  # the impostor never saw the query
        second = warm.address()
        assert second is not None and second.pid != first.pid
        os.kill(second.pid, signal.SIGTERM)
        wait_for(lambda: warm.address() is None)
        assert not Path(second.socket).exists()
    finally:
        rogue.close()


# -- the crash log ------------------------------------------------------------------------------


def test_the_crash_log_is_private_and_follows_no_link(run, make_repo: MakeRepo, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_repo()
    run(root, "index")
    temp = tmp_path / "shared-tmp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (temp / "codeseek-crash.log").symlink_to(victim)  # the old fixed name, planted by another user

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    from codeseek import report

    monkeypatch.setattr(report, "status", broken)  # stands in for any internal error
    result = run(root, "status", ok=False)
    assert result.exit_code == 1 and "internal error: RuntimeError('a bug')" in result.output
    log = Path(result.output.split("traceback in ")[1].split(")")[0])
    assert victim.read_text() == "precious\n"
    assert "RuntimeError: a bug" in log.read_text()
    assert oct(log.stat().st_mode & 0o777) == "0o600" and oct(log.parent.stat().st_mode & 0o777) == "0o700"
    assert log.parent.parent == temp


# -- many clients, slow clients ------------------------------------------------------------------


def test_an_idle_connection_blocks_no_search_and_200_at_once_are_answered(make_repo: MakeRepo, warm) -> None:
    root = make_repo()
    assert codeseek(root, "find", "retry", "--json").returncode == 0  # starts the warm process, loads the model
    where = warm.address()
    idle = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    idle.connect(where.socket)  # connects, and sends nothing
    try:
        began = time.monotonic()
        found = codeseek(root, "find", "rate limit", "--json", "-k", "1")
        assert json.loads(found.stdout)[0]["symbol"].startswith("RateLimiter")
        assert time.monotonic() - began < 30
    finally:
        idle.close()
    payload = {"repo": {"root": str(root)}, "request": {"query": "slugify a title", "k": 1, "no_update": True}}
    answers: list[str] = []
    lock = threading.Lock()

    def ask() -> None:
        body = client.call("/find", payload, timeout=120)
        with lock:
            answers.append(body["hits"][0]["symbol"] if body else "none")

    began = time.monotonic()
    threads = [threading.Thread(target=ask) for _ in range(200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert answers == ["slugify"] * 200 and time.monotonic() - began < 180


# -- hostile input ------------------------------------------------------------------------------


def test_a_file_name_that_is_not_utf8_is_skipped_not_fatal(make_repo: MakeRepo) -> None:
    root = make_repo()
    bad = os.fsencode(str(root)) + b"/lat\xffin.py"
    with open(bad, "wb") as handle:
        handle.write(b"def f():\n    pass\n")
    indexed = codeseek(root, "index", "-v")
    assert indexed.returncode == 0 and "not valid UTF-8" in indexed.stderr
    for args in (("update",), ("find", "retry", "--json"), ("similar", "net/retry.py:5", "--json"),
                 ("status", "--check")):
        result = codeseek(root, *args)
        assert result.returncode == 0 and "internal error" not in result.stderr, (args, result.stderr)


MCP_HOSTILE = [
    "[1, 2]", '"text"', "42", "null", "{}",
    '{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": [1]}',
    '{"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": "x"}',
    '{"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "find", "arguments": [1]}}',
    '{"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "find", "arguments": "q"}}',
    '{"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "find", '
    '"arguments": {"query": "x", "k": 1e400}}}',
    '{"jsonrpc": "2.0", "id": 6, "method": "tools/call", "params": {"name": "find", '
    '"arguments": {"query": "x", "k": 1000000000000000000000000000000}}}',
    '{"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "find", '
    '"arguments": {"query": "x", "paths": [1]}}}',
    '{"jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": {"name": "similar", '
    '"arguments": {"where": "net/retry.py:123456789012345678901234"}}}',
    '{"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": "find", "arguments": {"query": 5}}}',
    '{"jsonrpc": "2.0", "id": [1], "method": "ping"}',
    '{"jsonrpc": "2.0", "id": 10, "method": 5}',
    "[" * 100_000 + "]" * 100_000,
    "{not json",
]


def test_mcp_answers_every_malformed_message_and_keeps_serving(make_repo: MakeRepo) -> None:
    root = make_repo()
    codeseek(root, "index")
    final = {"jsonrpc": "2.0", "id": 99, "method": "tools/call",
             "params": {"name": "find", "arguments": {"query": "retry with exponential backoff", "k": 1}}}
    lines = [*MCP_HOSTILE, json.dumps(final)]
    result = subprocess.run([sys.executable, "-P", "-m", "codeseek", "mcp"], cwd=root, text=True, capture_output=True,
                            input="\n".join(lines) + "\n", timeout=300)
    replies = [json.loads(line) for line in result.stdout.splitlines()]
    assert "Traceback" not in result.stderr and "internal error" not in result.stdout
    assert len(replies) == len(lines)  # every message answered, in order
    for line, reply in zip(lines[:-1], replies[:-1], strict=True):
        assert "error" in reply or reply["result"].get("isError") is True, (line[:80], reply)
    assert replies[-1]["result"]["structuredContent"]["hits"][0]["symbol"] == "retry_with_backoff"


def test_the_http_api_checks_every_field(make_repo: MakeRepo, warm) -> None:
    root = make_repo()
    assert codeseek(root, "find", "retry", "--json").returncode == 0  # starts the warm process
    repo = {"root": str(root)}
    bad = {
        "/find": [[1, 2], "text", {"repo": repo, "request": []}, {"repo": repo, "request": {"query": ["a", "b"]}},
                  {"repo": repo, "request": {"query": "x", "k": 1e30}},
                  {"repo": repo, "request": {"query": "x", "paths": "x.py"}},
                  {"repo": repo, "request": {"query": "x", "paths": [1, 2]}},
                  {"repo": repo, "request": {"query": "x", "mode": "psychic"}},
                  {"repo": repo, "request": {"query": "x", "bogus": 1}},
                  {"repo": repo, "engine": {"base_url": "notaurl"}, "request": {"query": "x"}},
                  {"repo": 5, "request": {"query": "x"}}],
        "/similar": [{"repo": repo, "request": {}}, {"repo": repo, "request": {"where": "a.py:1" + "0" * 30}}],
        "/update": [{"repo": repo, "request": {"source": "bogus"}}],
    }
    for route, bodies in bad.items():
        for body in bodies:
            with pytest.raises(client.ServerError):
                client.call(route, body)  # type: ignore[arg-type]
    where = warm.address()
    conn = client.Connection(where, client.runtime_dir())
    status, answer = conn.request("POST", "/find", None, {"Content-Length": "1000000000000"})
    assert status in (400, 413)
    nested = client.Connection(where, client.runtime_dir())
    raw = ("[" * 100_000 + "]" * 100_000).encode()
    nested.sock.sendall(b"POST /find HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                        + f"Content-Length: {len(raw)}\r\n\r\n".encode() + raw)
    status, answer = client._read_response(nested.sock)
    assert status == 400 and "JSON" in answer["error"]
    assert client.call("/find", {"repo": repo, "request": {"query": "retry", "k": 1}})["hits"]  # still serving


# -- the engine is only used when meaning is asked for ------------------------------------------


def test_words_never_need_the_engine_and_hybrid_falls_back_to_them(make_repo: MakeRepo) -> None:
    from .conftest import EmbeddingServer

    server = EmbeddingServer()
    root = make_repo()
    assert codeseek(root, "index", "--base-url", server.url).returncode == 0
    server.close()  # the recorded engine is down for good
    (root / "net" / "more.py").write_text("def jitter(delay):\n    return delay * 1.5\n")
    began = time.monotonic()
    lexical = codeseek(root, "find", "jitter", "--mode", "lexical", "--json", "-k", "1")
    assert lexical.returncode == 0 and json.loads(lexical.stdout)[0]["symbol"] == "jitter", lexical.stderr
    assert "cannot reach" not in lexical.stderr and time.monotonic() - began < 20
    hybrid = codeseek(root, "find", "jitter the delay", "--json", "-k", "1")
    assert hybrid.returncode == 0 and json.loads(hybrid.stdout)[0]["symbol"] == "jitter", hybrid.stderr
    assert "cannot reach the embedding server" in hybrid.stderr and "words" in hybrid.stderr


# -- settings: named, with where they came from and what they must be --------------------------


@pytest.mark.parametrize(
    ("config", "env", "args", "words"),
    [
        ("exclude = 5\n", {}, (), "exclude = 5 is not a list of path patterns"),
        ("exclude = [1, 2]\n", {}, (), "exclude = (1, 2) is not a list of path patterns"),
        ('max_file_bytes = "x"\n', {}, (), "max_file_bytes = 'x' is not a positive whole number"),
        ("base_url = 5\n", {}, (), "base_url = 5 is not an http"),
        ("tool = 5\n", {}, (), "unknown setting 'tool'"),
        ("", {"CODESEEK_BASE_URL": "notaurl"}, (), "CODESEEK_BASE_URL: base_url = 'notaurl' is not an http"),
        ("", {"CODESEEK_INDEX_DIR": "/dev/null"}, (), "/dev/null is not a folder"),
        ("", {"CODESEEK_DIM": "abc"}, (), "CODESEEK_DIM: 'abc' is not a positive whole number"),
        ("", {}, ("-k", str(10**30)), "k must be a whole number from 1 to 1000"),
    ],
)
def test_bad_settings_are_one_line_naming_the_setting(make_repo: MakeRepo, config: str, env: dict, args: tuple,
                                                      words: str) -> None:
    root = make_repo()
    if config:
        (root / ".codeseek.toml").write_text(config)
    result = codeseek(root, "find", "retry", *args, env={**os.environ, **env})
    one_line_error(result, words)


def test_a_full_disk_says_so_and_keeps_the_index(make_repo: MakeRepo, tmp_path: Path) -> None:
    """A small file system (a tmpfs in a private mount namespace) fills up during an update."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-rm", "true"]).returncode != 0:
        pytest.skip("needs unprivileged user and mount namespaces (unshare -rm)")
    root = make_repo()
    big = {f"gen/m{i}.py": "\n\n".join(f"def g_{i}_{j}(x):\n    return x * {j}  # {'pad ' * 40}" for j in range(200))
           for i in range(8)}
    mount = tmp_path / "small"
    mount.mkdir()
    script = f"""
        set -e
        mount -t tmpfs -o size=600k tmpfs {mount}
        export CODESEEK_INDEX_DIR={mount}/index
        {sys.executable} -P -m codeseek index --backend local >/dev/null 2>&1
        {sys.executable} -c "import json,pathlib; [pathlib.Path('{root}', p).parent.mkdir(parents=True, exist_ok=True)
or pathlib.Path('{root}', p).write_text(t) for p, t in json.loads(pathlib.Path('{tmp_path}/big.json').read_text()).items()]"
        set +e
        {sys.executable} -P -m codeseek update 2>{tmp_path}/update.err
        echo "update $?" > {tmp_path}/codes
        {sys.executable} -P -m codeseek find retry_with_backoff --mode lexical --no-update --json -k 1 \
            >{tmp_path}/find.out 2>{tmp_path}/find.err
        echo "find $?" >> {tmp_path}/codes
    """
    (tmp_path / "big.json").write_text(json.dumps(big))
    subprocess.run(["unshare", "-rm", "sh", "-c", script], cwd=root, timeout=600, check=True,
                   env={**os.environ, "CODESEEK_SERVER": "0"})
    codes = dict(line.split() for line in (tmp_path / "codes").read_text().splitlines())
    error = (tmp_path / "update.err").read_text().strip().splitlines()
    assert codes["update"] == "1" and len(error) == 1 and "is full" in error[0] and "rebuild" not in error[0], error
    assert codes["find"] == "0" and json.loads((tmp_path / "find.out").read_text())[0]["symbol"] == "retry_with_backoff"


# -- sparse checkout ------------------------------------------------------------------------------


def test_a_sparse_checkout_indexes_what_is_checked_out(make_repo: MakeRepo) -> None:
    root = make_repo()
    git(root, "sparse-checkout", "set", "--no-cone", "/net/", "/web/")
    assert not (root / "server" / "server.go").exists()
    outside = codeseek(root, "find", "LoadConfig", "--json", "--mode", "lexical")
    assert outside.returncode == 0 and json.loads(outside.stdout) == []  # server.go is not checked out
    inside = codeseek(root, "find", "retry_with_backoff", "--json", "--mode", "lexical", "-k", "1")
    assert json.loads(inside.stdout)[0]["path"] == "net/retry.py"
    assert json.loads(codeseek(root, "status", "--json").stdout)["files"] == 2


@pytest.mark.parametrize("numpy_first", [False, True])
def test_a_repositorys_own_modules_never_run_in_the_indexing_workers(numpy_first: bool, make_repo: MakeRepo,
                                                                     tmp_path: Path) -> None:
    """Run from the repository's root, as a user runs it, a first index's workers never import
    the repository's own `numpy.py`: forked from the command line (the installed command), or,
    where it cannot fork them (numpy loaded before it could set one BLAS thread), from a
    forkserver started as `python -c`, whose path Python 3.11 starts with the current folder
    whatever it is told (forking.SAFE_PATH)."""
    marker = tmp_path / "ran"
    files = {f"pkg/mod{i}.py": f"def handler_{i}(request):\n    return request\n" for i in range(PARALLEL_MIN_FILES + 6)}
    files["numpy.py"] = f"open({str(marker)!r}, 'w').write('ran')\n"
    root = make_repo(files)
    argv = ["find", "handler", "--mode", "lexical", "-k", "1"]
    # (Without -P, which a forkserver would inherit: its own path is what is tested; this one's drops the folder.)
    command = ([sys.executable, "-c", f"import sys; sys.path.remove(''); import numpy; "
                f"sys.argv = ['codeseek', *{argv!r}]; from codeseek.quick import main; main()"] if numpy_first
               else [str(Path(sys.executable).parent / "codeseek"), *argv])
    result = subprocess.run(command, cwd=root, env={**os.environ, "CODESEEK_SERVER": "0"}, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert "handler" in result.stdout and not marker.exists()
