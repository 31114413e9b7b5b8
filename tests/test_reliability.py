"""A damaged index, a dying server and hostile files: a clear one-line error or a correct
answer, never a crash, a traceback or lost work."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from codeseek.embedding import EngineChoice
from codeseek.embedding.http import HttpEmbedder
from codeseek.errors import CodeseekError
from codeseek.index import SEGMENT_DIR, Store
from codeseek.repo import open_workspace

from .conftest import EmbeddingServer, MakeRepo, codeseek, index_all, one_line_error

PAGE = 4096


# -- SQLite ------------------------------------------------------------------------------------


def test_every_damaged_page_of_the_database_is_a_clear_error(run, make_repo: MakeRepo) -> None:
    root = make_repo()
    run(root, "index")
    db = root / ".git" / "codeseek" / "index.db"
    pristine = db.read_bytes()
    assert not Path(f"{db}-wal").exists()  # everything is in the main file
    noticed = 0
    for page in range(1, len(pristine) // PAGE):
        data = bytearray(pristine)
        data[page * PAGE : (page + 1) * PAGE] = bytes(PAGE)
        db.write_bytes(bytes(data))
        for args in (["find", "retry", "--mode", "lexical", "--no-update"], ["status", "--check"]):
            result = run(root, *args, ok=False)
            assert result.exit_code in (0, 1), (page, args, result.output)
            assert "internal error" not in result.output and "Traceback" not in result.output, (page, result.output)
            if result.exit_code == 1:
                assert "rebuild it with `codeseek index --rebuild`" in result.output, (page, result.output)
        noticed += result.exit_code == 1
    db.write_bytes(pristine)
    assert noticed >= len(pristine) // PAGE - 2  # status --check notices damage on (nearly) every page
    assert run(root, "status", "--check").exit_code == 0


# -- vector segments ---------------------------------------------------------------------------


SAMPLE_PLUS_MANY = {
    **{f"gen/mod{i}.py": "\n\n".join(f"def f_{i}_{j}(x):\n    return x * {j}" for j in range(60)) for i in range(5)},
}


@pytest.mark.parametrize("where", [0.5, 0.9, 1.0])
def test_an_overwritten_segment_is_noticed_before_it_is_trusted(run, make_repo: MakeRepo, where: float) -> None:
    from .conftest import SAMPLE_REPO

    root = make_repo({**SAMPLE_REPO, **SAMPLE_PLUS_MANY})  # a segment of about 300 vectors
    run(root, "index")
    (segment,) = (root / ".git" / "codeseek" / SEGMENT_DIR).iterdir()
    data = bytearray(segment.read_bytes())
    at = min(int(len(data) * where), len(data) - PAGE)
    data[at : at + PAGE] = os.urandom(PAGE)
    segment.write_bytes(bytes(data))
    # A memory cap, so that a segment trusted blindly fails here rather than swapping the machine.
    found = codeseek(root, "find", "retry with backoff", "--no-update", memory=6 << 30)
    assert "is damaged" in one_line_error(found)
    # `codeseek index` embeds the damaged segment's vectors again: nothing to rebuild by hand.
    assert "embedded again" in run(root, "index").stderr
    result = run(root, "find", "retry with backoff", "--json", "--no-update")
    assert json.loads(result.stdout)[0]["symbol"] == "retry_with_backoff"


def test_a_truncated_segment_is_a_clear_error(run, make_repo: MakeRepo) -> None:
    root = make_repo()
    run(root, "index")
    (segment,) = (root / ".git" / "codeseek" / SEGMENT_DIR).iterdir()
    segment.write_bytes(segment.read_bytes()[:100])
    assert "is damaged" in run(root, "find", "retry", "--no-update", ok=False).output


# -- read-only index ---------------------------------------------------------------------------


def as_unprivileged() -> tuple[str, ...]:
    """Run as this user without the right to override file permissions (root has it)."""
    if os.geteuid() != 0:
        return ()
    if shutil.which("setpriv") is None:
        pytest.skip("running as root and setpriv is missing: cannot make a folder read-only to this user")
    caps = "-dac_override,-dac_read_search,-fowner"
    return ("setpriv", "--bounding-set", caps, "--inh-caps", caps, "--")


def test_a_read_only_index_can_be_searched(run, make_repo: MakeRepo) -> None:
    root = make_repo()
    run(root, "index")
    index = root / ".git" / "codeseek"
    prefix = as_unprivileged()
    modes = {path: path.stat().st_mode for path in [index, *index.rglob("*")]}
    try:
        for path in modes:
            path.chmod(modes[path] & 0o555)
        found = codeseek(root, "find", "retry with exponential backoff", "--json", prefix=prefix)
        assert found.returncode == 0, found.stderr
        assert json.loads(found.stdout)[0]["symbol"] == "retry_with_backoff"
        assert "read-only" in found.stderr  # changes could not be indexed first, and it says so
        lexical = codeseek(root, "find", "LoadConfig", "--mode", "lexical", "--json", "--no-update", prefix=prefix)
        assert json.loads(lexical.stdout)[0]["symbol"] == "LoadConfig"
        (root / "fresh.py").write_text("def brand_new():\n    pass\n")
        message = one_line_error(codeseek(root, "update", prefix=prefix))
        assert "cannot write" in message and "rebuild" not in message
        status = codeseek(root, "status", "--json", prefix=prefix)
        assert status.returncode == 0 and json.loads(status.stdout)["pending"] == 1
    finally:
        for path, mode in modes.items():
            path.chmod(mode)


# -- an embedding server that dies -------------------------------------------------------------


def test_a_half_sent_answer_is_retried(server: EmbeddingServer) -> None:
    embedder = HttpEmbedder(server.url, backoff=0.001)
    server.failures = ["half", "half"]
    assert embedder.embed_documents(["x"]).shape == (1, 16)
    server.failures = ["half"] * 3
    with pytest.raises(CodeseekError, match=f"cannot reach the embedding server at {server.url}/embeddings"):
        HttpEmbedder(server.url, retries=2, backoff=0.001).embed_documents(["y"])


def test_vectors_embedded_before_a_failure_are_kept(make_repo: MakeRepo, server: EmbeddingServer) -> None:
    files = {f"mod{i}.py": "\n\n".join(f"def f_{i}_{j}(x):\n    return x * {j}" for j in range(50)) for i in range(6)}
    root = make_repo(files)
    embedder = HttpEmbedder(server.url, retries=0, backoff=0.001, batch_size=32)
    embedder.batch_hint = 32  # one request at a time: the server dies between two of them
    engine = EngineChoice(embedder=embedder)
    server.embedded.clear()
    server.die_after = 5 * 32  # five batches, then the server dies
    with pytest.raises(CodeseekError, match="answered HTTP 503"):
        index_all(open_workspace(root), engine)
    first = len(server.embedded)
    assert first == 5 * 32
    server.die_after = None
    server.embedded.clear()
    index_all(open_workspace(root), engine)
    assert len(server.embedded) == 300 - first  # nothing embedded twice
    with Store(root / ".git" / "codeseek") as store:
        assert store.chunks.unembedded_count() == 0


# -- hostile files -----------------------------------------------------------------------------


def test_a_minified_file_gives_bounded_chunks(run, tmp_path: Path) -> None:
    functions = "".join(f"function f{i}(a){{return a*{i}+g(a,{i})}}" for i in range(9000))
    path = tmp_path / "bundle.js"
    path.write_text(functions)  # one 350 KB line
    shown = run(tmp_path, "chunks", str(path), "--json")
    assert "skipped" in shown.stderr and "minified" in shown.stderr and json.loads(shown.stdout) == []
    # Even when nothing skips it, each chunk holds its own bytes, not the whole line.
    from codeseek.parsing import chunk_file

    chunks = chunk_file("bundle.js", path.read_bytes())
    assert len(chunks) >= 9000
    assert sum(len(c.text) for c in chunks) < 3 * len(functions)


def test_deeply_nested_functions_are_chunked_without_recursion(run, tmp_path: Path) -> None:
    depth = 5000
    source = "".join(f"function f{i}() {{\n" for i in range(depth)) + "return 1;\n" + "}\n" * depth
    path = tmp_path / "nested.js"
    path.write_text(source)
    shown = run(tmp_path, "chunks", str(path), "--json")
    chunks = json.loads(shown.stdout)
    assert chunks and chunks[0]["symbol"] == "f0"
    assert sum(len(c["code"]) for c in chunks) < 40 * len(source)  # nesting is bounded, not quadratic
