"""An index belongs to its model, not to how the model is run; a team shares one through its
own git remote. Real local HTTP servers, real clones of a real bare repository."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from codeseek import cli as cli_module

from .conftest import EmbeddingServer, MakeRepo, git


def cli(root: Path, monkeypatch: pytest.MonkeyPatch, *args: str, ok: bool = True):
    monkeypatch.chdir(root)
    result = CliRunner().invoke(cli_module.cli, list(args))
    if ok:
        assert result.exit_code == 0, result.output
    return result


def status(root: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    return json.loads(cli(root, monkeypatch, "status", "--json").stdout)


@pytest.fixture
def servers():
    made = [EmbeddingServer(), EmbeddingServer(), EmbeddingServer(model="another-embedder")]
    yield made
    for s in made:
        s.close()


def test_another_address_of_the_same_model_needs_no_rebuild(
    make_repo: MakeRepo, servers: list[EmbeddingServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second, other = servers
    root = make_repo()
    cli(root, monkeypatch, "index", "--base-url", first.url)
    first.close()  # the server that built the index is gone for good
    found = cli(root, monkeypatch, "find", "retry", "--json", "--base-url", second.url)
    assert json.loads(found.stdout) and second.embedded[-1] == "retry"
    (root / "net" / "more.py").write_text("def jitter(delay):\n    return delay * 1.5\n")
    cli(root, monkeypatch, "update", "--base-url", second.url)
    assert any("def jitter" in text for text in second.embedded)
    report = status(root, monkeypatch)
    assert (report["model"], report["dim"], report["engine"]) == ("tiny-embedder", 16, f"http {second.url}")
    refused = cli(root, monkeypatch, "find", "retry", "--base-url", other.url, ok=False)
    assert refused.exit_code == 1 and "another-embedder" in refused.output and "never mixed" in refused.output
    refused = cli(root, monkeypatch, "find", "retry", "--base-url", second.url, "--dim", "8", ok=False)
    assert refused.exit_code == 1 and "dimension asked for is 8" in refused.output


@pytest.fixture
def remote(make_repo: MakeRepo, tmp_path: Path) -> Path:
    """A bare repository holding a project of 120 functions."""
    files = {f"pkg/mod{i}.py": "\n\n".join(f"def op_{i}_{j}(x):\n    return x + {j}" for j in range(20))
             for i in range(6)}
    source = make_repo(files, name="source")
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(source), str(bare)], check=True)
    return bare


def clone(remote: Path, tmp_path: Path, name: str) -> Path:
    subprocess.run(["git", "clone", "-q", str(remote), str(tmp_path / name)], check=True)
    return tmp_path / name


@pytest.fixture
def published(remote: Path, tmp_path: Path, servers: list[EmbeddingServer],
              monkeypatch: pytest.MonkeyPatch) -> tuple[Path, EmbeddingServer]:
    """Clone a of the remote, indexed through a local server, its vectors pushed."""
    server = servers[0]
    a = clone(remote, tmp_path, "a")
    cli(a, monkeypatch, "index", "--base-url", server.url)
    assert len(server.embedded) >= 120
    pushed = cli(a, monkeypatch, "push")
    assert "refs/codeseek/tiny-embedder-16" in pushed.stderr
    return a, server


def test_a_clone_pulls_what_another_pushed_and_embeds_only_its_changes(
    remote: Path, tmp_path: Path, published: tuple[Path, EmbeddingServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, server = published
    heads = git(remote, "for-each-ref", "--format=%(refname)")
    assert "refs/codeseek/tiny-embedder-16" in heads and heads.count("refs/heads/") == 1  # no branch was touched

    b = clone(remote, tmp_path, "b")
    git(b, "checkout", "-q", "-b", "feature")
    (b / "pkg" / "mod0.py").write_text("def op_new(x):\n    return x * 42\n")
    (b / "pkg" / "mod9.py").write_text("def op_other(y):\n    return y - 1\n")
    git(b, "add", "-A")
    git(b, "commit", "-q", "-m", "feature")
    pulled = cli(b, monkeypatch, "pull")
    assert "imported" in pulled.stderr
    server.embedded.clear()
    found = cli(b, monkeypatch, "find", "op_new", "--json", "-k", "1", "--base-url", server.url)
    assert json.loads(found.stdout)[0]["symbol"] == "op_new"
    embedded = [t for t in server.embedded if t != "op_new"]
    # Only the two changed files' chunks were embedded (a function each), and the query.
    assert len(embedded) == 2 and all("op_new" in t or "op_other" in t for t in embedded), embedded
    assert git(b, "status", "--porcelain") == ""  # the working tree is untouched


def artifact(repo: Path, ref: str) -> dict[str, bytes]:
    listing = git(repo, "ls-tree", ref).splitlines()
    return {line.split("\t")[1]: subprocess.run(["git", "cat-file", "blob", line.split()[2]], cwd=repo,
                                                capture_output=True, check=True).stdout for line in listing}


def publish(repo: Path, remote: Path, ref: str, blobs: dict[str, bytes]) -> None:
    """Put a hand-made artifact on the remote under `ref`."""
    entries = []
    for name, data in sorted(blobs.items()):
        sha = subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=repo, input=data, capture_output=True,
                             check=True).stdout.decode().strip()
        entries.append(f"100644 blob {sha}\t{name}\n")
    tree = subprocess.run(["git", "mktree"], cwd=repo, input="".join(entries).encode(), capture_output=True,
                          check=True).stdout.decode().strip()
    commit = git(repo, "commit-tree", tree, "-m", "hostile").strip()
    git(repo, "push", "-q", str(remote), f"+{commit}:{ref}")


def test_corrupt_and_hostile_artifacts_are_refused_and_change_nothing(
    remote: Path, tmp_path: Path, published: tuple[Path, EmbeddingServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, server = published
    ref = "refs/codeseek/tiny-embedder-16"
    good = artifact(a, ref)
    manifest = json.loads(good["manifest.json"])

    def with_manifest(**changes: object) -> dict[str, bytes]:
        return {**good, "manifest.json": json.dumps({**manifest, **changes}).encode()}

    first_chunk = json.loads(good["chunks.jsonl"].split(b"\n")[0])
    traversal = json.dumps(["../../etc/passwd", *first_chunk[1:]]).encode()
    cases = {
        "truncated": ({**good, "vectors.bin": good["vectors.bin"][:-100]}, "truncated"),
        "wrong dimension": (with_manifest(dim=32), "not the"),
        "another model": (with_manifest(model="another-embedder"), "another-embedder"),
        "absurd count": (with_manifest(count=10**12), "absurd"),
        "path traversal": ({**good, "chunks.jsonl": b"\n".join([traversal, *good["chunks.jsonl"].split(b"\n")[1:]])},
                           "outside the repository"),
        "not json": ({**good, "manifest.json": b"\x80\x04pickle?"}, "not codeseek's"),
        "no manifest": ({k: v for k, v in good.items() if k != "manifest.json"}, "no manifest"),
    }
    b = clone(remote, tmp_path, "b")
    cli(b, monkeypatch, "index", "--base-url", server.url)
    before = status(b, monkeypatch)
    for name, (blobs, expected) in cases.items():
        publish(a, remote, ref, blobs)
        result = cli(b, monkeypatch, "pull", ok=False)
        lines = result.output.strip().splitlines()
        assert result.exit_code == 1 and len(lines) == 1 and expected in lines[0], (name, result.output)
        assert "Traceback" not in result.output and "internal error" not in result.output
        after = status(b, monkeypatch)
        assert (after["vectors"], after["segments"]) == (before["vectors"], before["segments"]), name
    found = cli(b, monkeypatch, "find", "op_3_4", "--json", "-k", "1", "--base-url", server.url)
    assert json.loads(found.stdout)[0]["symbol"] == "op_3_4"  # the index still answers


def test_a_pulled_artifact_never_chooses_where_code_is_sent(
    remote: Path, tmp_path: Path, published: tuple[Path, EmbeddingServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An artifact is data: an `engine` naming a server is ignored, and a clone with no settings
    of its own embeds with its own default, sending nothing to the server the artifact names."""
    a, server = published
    attacker = EmbeddingServer(model="tiny-embedder")  # a stand-in for a stranger's server
    try:
        ref = "refs/codeseek/tiny-embedder-16"
        blobs = artifact(a, ref)
        manifest = {**json.loads(blobs["manifest.json"]), "engine": f"http {attacker.url}"}
        publish(a, remote, ref, {**blobs, "manifest.json": json.dumps(manifest).encode()})
        b = clone(remote, tmp_path, "b")
        cli(b, monkeypatch, "pull")
        (b / "local_secrets.py").write_text("API_TOKEN = 'sk-very-secret'\n\ndef token():\n    return API_TOKEN\n")
        found = cli(b, monkeypatch, "find", "op_1_2", "--json", "-k", "1", ok=False)
        assert attacker.requests == []  # the stranger's server received nothing
        # This clone has no engine for that model of its own: it says so, sends nothing anywhere,
        # and words answer.
        assert found.exit_code == 0 and "cannot load model 'tiny-embedder'" in found.stderr
        assert json.loads(found.stdout)[0]["symbol"] == "op_1_2"
        report = status(b, monkeypatch)
        assert report["engine"] is None and report["model"] == "tiny-embedder"
    finally:
        attacker.close()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"model": "tiny-embedder\x1b]0;owned\x07"}, "not a name"),
        ({"engine": 5}, "wrong kind"),
        ({"model": "other-model"}, "not the ones its ref names"),
    ],
)
def test_hostile_manifest_fields_are_refused_and_leave_no_index(
    remote: Path, tmp_path: Path, published: tuple[Path, EmbeddingServer], monkeypatch: pytest.MonkeyPatch,
    change: dict, expected: str,
) -> None:
    a, _ = published
    ref = "refs/codeseek/tiny-embedder-16"
    blobs = artifact(a, ref)
    publish(a, remote, ref, {**blobs, "manifest.json": json.dumps({**json.loads(blobs["manifest.json"]),
                                                                   **change}).encode()})
    b = clone(remote, tmp_path, "b")
    result = cli(b, monkeypatch, "pull", ok=False)
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1 and expected in lines[0], result.output
    assert "\x1b" not in result.output
    assert not (b / ".git" / "codeseek" / "index.db").exists()  # nothing half-made is left behind


def test_git_errors_are_reported_whole(make_repo: MakeRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_repo()
    result = cli(root, monkeypatch, "pull", "/no/such/remote", ok=False)
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1
    assert "does not appear to be a git repository" in lines[0] and "and the repository exists" in lines[0]
