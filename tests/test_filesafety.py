"""codeseek writes and deletes only inside its own folders, and follows no link to do it: links
and other users' folders are planted at every place it writes (the index folder, its vectors,
its locks and logs, the warm process's folder, the crash logs), and nothing outside changes;
each refusal is one line naming the path. Real repositories, real processes, a real local
embedding server."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from codeseek import cli as cli_module

from .conftest import EmbeddingServer, MakeRepo, codeseek, git, write_files

SEGMENT_LIKE = "seg-" + "0" * 32 + ".usearch"
OTHER_UID = 65534  # nobody


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """Someone's folder outside every index, holding files named as codeseek names its own."""
    folder = tmp_path / "outside"
    write_files(folder, {"notes.txt": "precious\n", SEGMENT_LIKE: "not a segment\n", "index.db": "not an index\n",
                         "lock": "a file\n", "hooks.log": "someone's log\n", "deep/keep.txt": "deep\n"})
    return folder


def snapshot(folder: Path) -> dict[str, object]:
    """Every entry under `folder`, links not followed: what it is, its contents and time."""
    found: dict[str, object] = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_symlink():
            found[rel] = ("link", os.readlink(path))
        elif path.is_dir():
            found[rel] = ("folder",)
        else:
            found[rel] = ("file", path.read_bytes(), path.stat().st_mtime_ns, path.stat().st_mode)
    return found


def refused(result: subprocess.CompletedProcess[str], words: str) -> None:
    """Exit 1 and one error line (after any "codeseek: ..." notices) that says `words`."""
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.strip().splitlines() if not line.startswith("codeseek: ")]
    assert len(errors) == 1 and words in errors[0] and "internal error" not in errors[0], errors


def http(server: EmbeddingServer) -> tuple[str, ...]:
    return ("--base-url", server.url)


# -- the index folder and its vectors folder ------------------------------------------------------


@pytest.mark.parametrize("link", [".codeseek", ".codeseek/vectors", ".git/codeseek", ".git/codeseek/vectors"])
def test_a_linked_index_or_vectors_folder_is_refused_and_nothing_outside_changes(
        make_repo: MakeRepo, tmp_path: Path, outside: Path, server: EmbeddingServer, link: str) -> None:
    if link.startswith(".git"):
        root = make_repo()
    else:  # an unpacked archive: no git repository, the index folder comes with it
        root = tmp_path / "unpacked"
        write_files(root, {"net/retry.py": "def retry_with_backoff(fn):\n    return fn()\n"})
    (root / link).parent.mkdir(parents=True, exist_ok=True)
    (root / link).symlink_to(outside, target_is_directory=True)
    before = snapshot(outside)
    for args in (("find", "retry"), ("index", "--rebuild")):
        result = codeseek(root, *args, *http(server))
        refused(result, f"refusing to write in {root / link}: it is a link")
        assert snapshot(outside) == before, args


def test_links_and_strangers_inside_a_real_index_are_never_followed(
        make_repo: MakeRepo, outside: Path, server: EmbeddingServer) -> None:
    root = make_repo()
    assert codeseek(root, "index", *http(server)).returncode == 0
    index = root / ".git" / "codeseek"
    vectors = index / "vectors"
    (segment,) = vectors.iterdir()
    shutil.copy(segment, outside / "copy.usearch")
    segment.unlink()
    segment.symlink_to(outside / "copy.usearch")  # a link in place of a listed segment
    (vectors / ("seg-" + "1" * 32 + ".usearch")).symlink_to(outside / "notes.txt")  # an "orphan" that is a link
    (vectors / ("seg-" + "2" * 32 + ".usearch")).mkdir()  # an "orphan" that is a folder
    (vectors / ("seg-" + "2" * 32 + ".usearch") / "inside.txt").write_text("kept\n")
    (vectors / "README").write_text("not codeseek's\n")  # a name codeseek never gives
    before = snapshot(outside)

    indexed = codeseek(root, "index", *http(server))
    assert indexed.returncode == 0 and "embedded again" in indexed.stderr, indexed.stderr
    found = codeseek(root, "find", "retry with backoff", "--json", "-k", "1", *http(server))
    assert json.loads(found.stdout)[0]["symbol"] == "retry_with_backoff", found.stderr
    assert codeseek(root, "index", "--rebuild", *http(server)).returncode == 0
    assert snapshot(outside) == before
    assert (vectors / "README").read_text() == "not codeseek's\n"
    assert (vectors / ("seg-" + "2" * 32 + ".usearch") / "inside.txt").read_text() == "kept\n"

    for name, args in (("lock", ("update",)), ("embed.lock", ("index",)), ("index.db-wal", ("update",))):
        (index / name).unlink(missing_ok=True)
        (index / name).symlink_to(outside / ("lock" if name != "index.db-wal" else "index.db"))
        (root / "net" / "new.py").write_text(f"def made_for_{name.replace('.', '_').replace('-', '_')}():\n    pass\n")
        refused(codeseek(root, *args, *http(server)), f"refusing to write in {index / name}: it is a link")
        assert snapshot(outside) == before, name
        (index / name).unlink()


@pytest.mark.skipif(os.geteuid() != 0, reason="making a folder another user's needs root")
def test_another_users_index_is_searched_and_never_written(make_repo: MakeRepo, server: EmbeddingServer) -> None:
    root = make_repo()
    assert codeseek(root, "index", *http(server)).returncode == 0
    index = root / ".git" / "codeseek"
    for path in [index, *index.rglob("*")]:
        os.chown(path, OTHER_UID, OTHER_UID, follow_symlinks=False)
    before = snapshot(index)
    (root / "net" / "more.py").write_text("def jitter(delay):\n    return delay * 1.5\n")
    found = codeseek(root, "find", "retry_with_backoff", "--mode", "lexical", "--json", "-k", "1", *http(server))
    assert found.returncode == 0 and json.loads(found.stdout)[0]["symbol"] == "retry_with_backoff", found.stderr
    assert "read-only" in found.stderr
    refused(codeseek(root, "update", *http(server)), "cannot write to the index")
    refused(codeseek(root, "index", "--rebuild", *http(server)), "refusing to write in")
    assert snapshot(index) == before


def test_the_background_worker_follows_no_link_for_its_logs_and_markers(
        make_repo: MakeRepo, outside: Path, server: EmbeddingServer) -> None:
    root = make_repo()
    assert codeseek(root, "index", *http(server)).returncode == 0
    index = root / ".git" / "codeseek"
    for name in ("hooks.log", "background.json", "progress.json"):
        (index / name).symlink_to(outside / ("hooks.log" if name == "hooks.log" else "notes.txt"))
    before = snapshot(outside)
    (root / "net" / "more.py").write_text("def jitter(delay):\n    return delay * 1.5\n")
    assert codeseek(root, "hooks", "run", "post-commit", env={**os.environ, "CODESEEK_BASE_URL": server.url}).returncode == 0
    status = json.loads(codeseek(root, "status", "--json").stdout)
    assert status["pending"] == 0 and "jitter" in codeseek(root, "find", "jitter", "--mode", "lexical").stdout
    assert snapshot(outside) == before

    for name in ("update.requested", "worker.lock", "worker.starting"):
        (index / name).unlink(missing_ok=True)
        (index / name).symlink_to(outside / "lock")
    assert codeseek(root, "hooks", "run", "post-commit", env={**os.environ, "CODESEEK_BASE_URL": server.url}).returncode == 0  # a hook never fails
    assert snapshot(outside) == before


# -- the warm process's folder --------------------------------------------------------------------


def test_a_linked_runtime_folder_or_log_is_refused(make_repo: MakeRepo, tmp_path: Path, outside: Path,
                                                   monkeypatch: pytest.MonkeyPatch, warm) -> None:
    root = make_repo()
    before = snapshot(outside)
    linked = tmp_path / "run-link"
    linked.symlink_to(outside, target_is_directory=True)
    result = codeseek(root, "find", "retry", "--mode", "lexical", env={**os.environ, "CODESEEK_RUNTIME_DIR": str(linked)})
    refused(result, f"CODESEEK_RUNTIME_DIR: refusing to write in {linked}: it is not a folder of this user's")
    assert snapshot(outside) == before

    # The default folder, real, with links for its lock and log: the search runs in this process.
    monkeypatch.delenv("CODESEEK_RUNTIME_DIR")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "xdg"))
    folder = tmp_path / "xdg" / "codeseek"
    folder.mkdir(parents=True, mode=0o700)
    (folder / "spawn.lock").symlink_to(outside / "spawn.lock")
    (folder / "server.log").symlink_to(outside / "hooks.log")
    found = codeseek(root, "find", "retry_with_backoff", "--mode", "lexical", "--json", "-k", "1")
    assert found.returncode == 0 and json.loads(found.stdout)[0]["symbol"] == "retry_with_backoff", found.stderr
    (line,) = [line for line in found.stderr.splitlines() if "refusing" in line or "rror" in line]
    assert f"refusing to write in {folder / 'spawn.lock'}: it is a link" in line and "this process" in line
    assert snapshot(outside) == before


@pytest.mark.skipif(os.geteuid() != 0, reason="making a folder another user's needs root")
def test_a_runtime_folder_of_another_user_is_one_line_and_the_search_runs_here(
        make_repo: MakeRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, warm) -> None:
    root = make_repo()
    monkeypatch.delenv("CODESEEK_RUNTIME_DIR")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "xdg"))
    folder = tmp_path / "xdg" / "codeseek"
    folder.mkdir(parents=True, mode=0o700)
    os.chown(folder, OTHER_UID, OTHER_UID)
    found = codeseek(root, "find", "retry_with_backoff", "--mode", "lexical", "--json", "-k", "1")
    assert found.returncode == 0 and json.loads(found.stdout)[0]["symbol"] == "retry_with_backoff", found.stderr
    (line,) = [line for line in found.stderr.splitlines() if "refusing" in line or "rror" in line]
    assert f"refusing to write in {folder}: it is not a folder of this user's" in line and "this process" in line
    assert os.listdir(folder) == []


# -- crash logs -----------------------------------------------------------------------------------


@pytest.mark.parametrize("planted", ["link", "another user's"])
def test_a_refused_crash_log_folder_is_one_line_never_a_traceback(
        make_repo: MakeRepo, tmp_path: Path, outside: Path, monkeypatch: pytest.MonkeyPatch, planted: str) -> None:
    if planted != "link" and os.geteuid() != 0:
        pytest.skip("making a folder another user's needs root")
    root = make_repo()
    temp = tmp_path / "shared-tmp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    folder = temp / f"codeseek-{os.getuid()}"
    if planted == "link":
        folder.symlink_to(outside, target_is_directory=True)
    else:
        folder.mkdir(mode=0o777)
        os.chown(folder, OTHER_UID, OTHER_UID)
    before = snapshot(outside)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    from codeseek import report

    monkeypatch.setattr(report, "status", broken)  # stands in for any internal error
    monkeypatch.chdir(root)
    result = CliRunner().invoke(cli_module.cli, ["status"])
    assert result.exit_code == 1, result.output
    (line,) = result.output.strip().splitlines()
    assert "internal error: RuntimeError('a bug')" in line and "no traceback kept" in line and str(folder) in line
    assert snapshot(outside) == before and (planted == "link" or os.listdir(folder) == [])


# -- settings that name a place codeseek cannot use --------------------------------------------------


@pytest.mark.parametrize(("variable", "value"), [
    ("CODESEEK_INDEX_DIR", "/proc/1/nope"),
    ("CODESEEK_RUNTIME_DIR", "/dev/null"),
    ("CODESEEK_RUNTIME_DIR", "/proc/1"),
    ("CODESEEK_SERVER_IDLE", "abc"),
])
def test_a_place_that_cannot_be_is_one_line_naming_the_variable(make_repo: MakeRepo, variable: str, value: str,
                                                                 warm) -> None:
    root = make_repo()
    result = codeseek(root, "find", "retry", "--mode", "lexical", env={**os.environ, variable: value})
    refused(result, f"{variable}: ")
    assert not git(root, "status", "--porcelain")


# -- settings files ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "kind"), [(".codeseek.toml", "/dev/zero"), (".codeseek.toml", "fifo"),
                                            (".codeseek.toml", "huge"), ("pyproject.toml", "/dev/zero")])
def test_a_settings_file_is_read_only_when_small_and_regular(make_repo: MakeRepo, name: str, kind: str,
                                                             warm) -> None:
    root = make_repo()
    path = root / name
    if kind == "/dev/zero":
        path.symlink_to("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        path.write_text("# a comment\n" * 200_000)  # 2.4 MB of valid TOML
    result = codeseek(root, "find", "retry", "--mode", "lexical", memory=2 << 30, timeout=120)
    refused(result, str(path))
    assert "regular file" in result.stderr or "larger than 1,048,576 bytes" in result.stderr



def test_a_fifo_planted_as_the_index_lock_hangs_no_search(make_repo: MakeRepo, warm) -> None:
    """The quick path asks whether a writer holds the lock before it starts the warm process:
    a FIFO there would block its open forever; it is refused, as everywhere else."""
    root = make_repo()
    assert codeseek(root, "find", "retry", "--mode", "lexical").returncode == 0
    assert codeseek(root, "serve", "--stop").returncode == 0
    lock = root / ".git" / "codeseek" / "lock"
    lock.unlink()
    os.mkfifo(lock)
    result = codeseek(root, "find", "retry", "--mode", "lexical", timeout=60)
    refused(result, str(lock))

# -- sharing through a git remote ------------------------------------------------------------------


def cli(root: Path, monkeypatch: pytest.MonkeyPatch, *args: str):
    monkeypatch.chdir(root)
    return CliRunner().invoke(cli_module.cli, list(args))


@pytest.fixture
def shared(make_repo: MakeRepo, tmp_path: Path, server: EmbeddingServer,
           monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A bare remote and an indexed clone of it."""
    source = make_repo({"pkg/ops.py": "\n\n".join(f"def op_{j}(x):\n    return x + {j}" for j in range(12))},
                       name="source")
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(source), str(remote))
    a = tmp_path / "a"
    git(tmp_path, "clone", "-q", str(remote), str(a))
    assert cli(a, monkeypatch, "index", "--base-url", server.url).exit_code == 0
    return remote, a


def test_push_works_where_git_has_no_identity(shared: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    remote, a = shared
    for name in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL"):
        monkeypatch.delenv(name, raising=False)  # a CI runner
    git(a, "config", "user.useConfigOnly", "true")  # no name or email may be guessed either
    pushed = cli(a, monkeypatch, "push")
    assert pushed.exit_code == 0, pushed.output
    assert git(remote, "log", "-1", "--format=%an <%ae>", "refs/codeseek/tiny-embedder-16").strip() \
        == "codeseek <codeseek@localhost>"
    assert git(a, "config", "--default", "", "user.name").strip() == ""  # nothing was configured for it


def test_pull_asks_for_exact_refs_and_never_makes_a_branch(shared: tuple[Path, Path], tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    remote, a = shared
    assert cli(a, monkeypatch, "push").exit_code == 0
    # Someone moves the vectors to a branch whose name looks like codeseek's ref.
    git(remote, "update-ref", "refs/heads/refs/codeseek/tiny-embedder-16", "refs/codeseek/tiny-embedder-16")
    git(remote, "update-ref", "-d", "refs/codeseek/tiny-embedder-16")
    b = tmp_path / "b"
    git(tmp_path, "clone", "-q", str(remote), str(b))
    branches = git(b, "for-each-ref", "--format=%(refname)", "refs/heads", "refs/codeseek")
    for args in (("pull",), ("pull", "--model", "tiny-embedder")):
        result = cli(b, monkeypatch, *args)
        assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1, result.output
        assert "has no codeseek vectors" in result.output or "has no vectors for tiny-embedder" in result.output
    assert git(a, "for-each-ref", "--format=%(refname)", "refs/heads/refs").strip() == ""
    result = cli(a, monkeypatch, "pull")  # an index of that model: the exact ref is missing
    assert result.exit_code == 1 and "has no vectors for tiny-embedder (16 dims)" in result.output, result.output
    assert git(b, "for-each-ref", "--format=%(refname)", "refs/heads", "refs/codeseek") == branches
    assert git(a, "for-each-ref", "--format=%(refname)", "refs/heads/refs").strip() == ""


def test_pull_names_the_models_a_remote_has(shared: tuple[Path, Path], tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    remote, a = shared
    assert cli(a, monkeypatch, "push").exit_code == 0
    other = EmbeddingServer(dim=8, model="another-embedder")
    try:
        b = tmp_path / "b"
        git(tmp_path, "clone", "-q", str(remote), str(b))
        assert cli(b, monkeypatch, "index", "--base-url", other.url).exit_code == 0
        result = cli(b, monkeypatch, "pull")
    finally:
        other.close()
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1, result.output
    assert "has no vectors for another-embedder (8 dims)" in result.output and "tiny-embedder-16" in result.output
    assert "couldn't find remote ref" not in result.output


# -- a full disk while vectors are saved -------------------------------------------------------------


def test_a_full_disk_while_vectors_are_saved_says_so_and_keeps_the_index(make_repo: MakeRepo) -> None:
    """The file system refuses to grow any file past 256 KB (RLIMIT_FSIZE, as a full disk
    refuses every write): the segment of 300 vectors of 1024 dimensions (600 KB) cannot be
    saved, the index of words can."""
    root = make_repo({f"gen/m{i}.py": "\n\n".join(f"def g_{i}_{j}(x):\n    return x * {j}" for j in range(60))
                      for i in range(5)})
    server = EmbeddingServer(dim=1024)
    try:
        from codeseek import indexing
        from codeseek.embedding import EngineChoice, EngineSettings
        from codeseek.repo import open_workspace

        indexing.update(open_workspace(root), EngineChoice(EngineSettings(base_url=server.url)))  # words only

        small_disk = (sys.executable, "-c", "import os, resource, signal, sys; "
                      "signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "  # a write past the limit fails, as on a full disk
                      "resource.setrlimit(resource.RLIMIT_FSIZE, (256 << 10, 256 << 10)); "
                      "os.execv(sys.argv[1], sys.argv[1:])")
        full = codeseek(root, "index", "--base-url", server.url, prefix=small_disk)
        refused(full, f"the disk holding {root / '.git' / 'codeseek'} is full")
        assert "rebuild" not in full.stderr
        found = codeseek(root, "find", "g_3_7", "--mode", "lexical", "--json", "-k", "1", "--no-update")
        assert json.loads(found.stdout)[0]["symbol"] == "g_3_7", found.stderr
        assert not [p.name for p in (root / ".git" / "codeseek" / "vectors").iterdir()]  # no half-written file
        assert codeseek(root, "index", "--base-url", server.url).returncode == 0  # room again: it goes on
        assert json.loads(codeseek(root, "status", "--json").stdout)["pending"] == 0
    finally:
        server.close()


# -- sparse checkout ------------------------------------------------------------------------------------


def test_another_sparse_checkout_set_is_indexed_without_a_rebuild(make_repo: MakeRepo, server: EmbeddingServer) -> None:
    root = make_repo({"a/one.py": "def alpha_only():\n    pass\n", "b/two.py": "def beta_only():\n    pass\n",
                      "c/three.py": "def gamma_only():\n    pass\n"})
    git(root, "sparse-checkout", "set", "a")

    def symbols(*args: str) -> set[str]:
        found = codeseek(root, "find", "only", "--mode", "lexical", "--json", *args, *http(server))
        assert found.returncode == 0, found.stderr
        return {hit["symbol"] for hit in json.loads(found.stdout)}

    assert symbols() == {"alpha_only"}
    git(root, "sparse-checkout", "set", "a", "b")
    assert symbols() == {"alpha_only", "beta_only"}  # found by find's own update
    git(root, "sparse-checkout", "set", "a", "c")
    assert codeseek(root, "update", *http(server)).returncode == 0
    assert symbols("--no-update") == {"alpha_only", "gamma_only"}  # b left the results, c came
    git(root, "sparse-checkout", "disable")
    assert codeseek(root, "index", *http(server)).returncode == 0
    assert symbols("--no-update") == {"alpha_only", "beta_only", "gamma_only"}


# -- the warm process's requests name their repository by absolute path ------------------------------


def test_a_request_never_resolves_against_the_warm_process_folder(make_repo: MakeRepo, warm) -> None:
    from codeseek import __version__

    root = make_repo()
    warm.start(__version__)
    runtime = warm.runtime_dir()
    for repo in ({"root": ""}, {"root": "."}, {"root": "repo"}, {"root": str(root), "index_dir": "idx"},
                 {"root": str(runtime)}, {"root": str(root), "index_dir": str(runtime / "idx")}, {"root": 5}):
        conn = warm.connect()
        try:
            status, body = conn.request("POST", "/find", {"repo": repo, "request": {"query": "server key", "k": 3,
                                                                                    "mode": "lexical"}})
        finally:
            conn.close()
        assert status == 400 and ("absolute path" in body["error"] or "never indexed" in body["error"]), (repo, body)
    assert sorted(p.name for p in runtime.iterdir()) == sorted(["server.json", "server.key", "server.lock",
                                                                "server.log", "server.sock", "spawn.lock"])
    found = warm.call("/find", {"repo": {"root": str(root)}, "request": {"query": "retry", "mode": "lexical"}})
    assert found is not None and found["hits"], found


FORKED_HOLDER = """
import os, sys, time
from pathlib import Path
from codeseek.fsutil import locked

with locked(Path(sys.argv[1])):
    child = os.fork()
    if child == 0:
        quiet = os.open(os.devnull, os.O_RDWR)
        os.dup2(quiet, 1)  # (the test reads its parent's output to the end)
        os.dup2(quiet, 2)
        time.sleep(60)
        os._exit(0)
    print(child, flush=True)
    os._exit(0)  # the holder ends without letting go, as a killed one would
"""


def test_a_lock_is_let_go_when_its_holder_ends_though_a_child_it_forked_lives(tmp_path: Path) -> None:
    """An flock belongs to the open file, which a forked child shares (a first index's workers
    fork from the command line while it holds the index's writer lock): the child closes its
    copy, so the lock goes with its holder, not with the last of its children."""
    from codeseek.fsutil import held

    done = subprocess.run([sys.executable, "-c", FORKED_HOLDER, str(tmp_path / "lock")], capture_output=True,
                          text=True, timeout=60)
    child = int(done.stdout.strip())
    try:
        assert os.path.exists(f"/proc/{child}") and not held(tmp_path / "lock")
    finally:
        os.kill(child, signal.SIGKILL)

