"""The index follows git: each test asserts exactly which texts reached the embedder."""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from codeseek import filling, indexing, report, search
from codeseek.embedding import Embedder, EngineChoice
from codeseek.errors import IndexBusy
from codeseek.index import Store
from codeseek.protocol import Mode, Source
from codeseek.repo import open_workspace

from .conftest import MakeRepo, git, index_all

FILES = {
    "a.py": '''
        def alpha(x):
            return x + 1


        def beta(y):
            return y * 2
        ''',
    "pkg/b.py": '''
        class Gamma:
            def delta(self):
                return "delta"
        ''',
}


class CountingEmbedder(Embedder):
    """The real model, recording every document text it is asked to embed."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.info = inner.info
        self.max_tokens = inner.max_tokens
        self.texts: list[str] = []

    def _embed(self, texts: list[str]) -> np.ndarray:
        self.texts.extend(texts)
        return self.inner.embed_documents(texts)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.embed_queries(texts)


@pytest.fixture
def counting(engine: EngineChoice) -> CountingEmbedder:
    return CountingEmbedder(engine.embedder())


@pytest.fixture
def update(counting: CountingEmbedder):
    """Update the index of `root`; return the first code line of every text embedded."""

    def run(root: Path, **kwargs) -> list[str]:
        counting.texts.clear()
        index_all(open_workspace(root), EngineChoice(embedder=counting), **kwargs)
        return sorted(text.split("\n")[1].strip() for text in counting.texts)

    return run


def indexed(root: Path) -> set[tuple[str, str, int, int]]:
    """(path, symbol, start, end) of every chunk in the index."""
    with Store(root / ".git" / "codeseek") as store:
        return {(r.path, r.symbol, r.start_line, r.end_line) for r in store.chunks.refs()}


def edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    path.write_text(path.read_text().replace(old, new))


def commit(root: Path, message: str = "change") -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)


@pytest.fixture
def repo(make_repo: MakeRepo, update) -> Path:
    root = make_repo(FILES)
    assert update(root) == ["class Gamma:", "def alpha(x):", "def beta(y):", "def delta(self):"]
    return root


def test_nothing_changed_embeds_nothing(repo: Path, update) -> None:
    assert update(repo) == []


def test_edit_embeds_only_the_changed_function_and_moves_the_others(repo: Path, update) -> None:
    edit(repo, "a.py", "def alpha(x):\n    return x + 1", "def alpha(x):\n    # one more\n    return x + 1")
    commit(repo)
    assert update(repo) == ["def alpha(x):"]
    assert ("a.py", "beta", 6, 7) in indexed(repo)


def test_added_and_deleted_files(repo: Path, update) -> None:
    (repo / "c.py").write_text("def epsilon():\n    pass\n")
    git(repo, "rm", "-q", "pkg/b.py")
    commit(repo)
    assert update(repo) == ["def epsilon():"]
    assert {p for p, *_ in indexed(repo)} == {"a.py", "c.py"}


def test_moved_file_is_not_embedded_again(repo: Path, update) -> None:
    git(repo, "mv", "pkg/b.py", "b.py")
    commit(repo)
    assert update(repo) == []
    assert ("b.py", "Gamma.delta", 2, 3) in indexed(repo)


def test_branch_switch_and_back(repo: Path, update) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    edit(repo, "a.py", "return y * 2", "return y * 3")
    commit(repo)
    assert update(repo) == ["def beta(y):"]
    git(repo, "checkout", "-q", "main")
    assert update(repo) == []
    assert ("a.py", "beta", 5, 6) in indexed(repo)
    git(repo, "checkout", "-q", "feature")
    assert update(repo) == []


def test_merge_of_seen_changes_embeds_nothing(repo: Path, update) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    edit(repo, "a.py", "return y * 2", "return y * 3")
    commit(repo, "feature")
    assert update(repo) == ["def beta(y):"]
    git(repo, "checkout", "-q", "main")
    edit(repo, "a.py", "return x + 1", "return x + 2")
    commit(repo, "main")
    assert update(repo) == ["def alpha(x):"]
    git(repo, "merge", "-q", "--no-edit", "feature")
    assert update(repo) == []
    assert "return y * 3" in (repo / "a.py").read_text()


def test_rebase_and_revert_embed_nothing_new(repo: Path, update) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    edit(repo, "pkg/b.py", '"delta"', '"DELTA"')
    commit(repo, "feature")
    assert update(repo) == ["def delta(self):"]
    git(repo, "checkout", "-q", "main")
    edit(repo, "a.py", "return x + 1", "return x + 2")
    commit(repo, "main")
    assert update(repo) == ["def alpha(x):"]
    git(repo, "checkout", "-q", "feature")
    git(repo, "rebase", "-q", "main")
    assert update(repo) == []
    git(repo, "revert", "--no-edit", "HEAD")
    assert update(repo) == []
    assert '"delta"' in (repo / "pkg/b.py").read_text()


def test_amend(repo: Path, update) -> None:
    edit(repo, "a.py", "return x + 1", "return x + 5")
    commit(repo)
    assert update(repo) == ["def alpha(x):"]
    edit(repo, "a.py", "return y * 2", "return y * 5")
    git(repo, "commit", "-q", "-a", "--amend", "--no-edit")
    assert update(repo) == ["def beta(y):"]
    with Store(repo / ".git" / "codeseek") as store:
        meta = store.db.meta()
    assert meta["indexed_commit"] == git(repo, "rev-parse", "HEAD").strip()


def test_indexed_commit_gone_falls_back_to_blob_ids(repo: Path, update) -> None:
    old = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "--orphan", "fresh")
    edit(repo, "a.py", "return x + 1", "return x + 9")
    commit(repo, "rewritten history")
    git(repo, "branch", "-q", "-D", "main")
    git(repo, "reflog", "expire", "--expire=now", "--all")
    git(repo, "gc", "-q", "--prune=now")
    assert subprocess.run(["git", "cat-file", "-e", old], cwd=repo).returncode != 0
    assert update(repo) == ["def alpha(x):"]


def test_working_tree_changes_and_their_undo(repo: Path, update) -> None:
    edit(repo, "a.py", "return y * 2", "return y * 7")
    (repo / "new.py").write_text("def zeta():\n    pass\n")
    assert update(repo, source=Source.COMMITTED) == []  # --committed ignores the working tree
    assert update(repo) == ["def beta(y):", "def zeta():"]
    assert ("new.py", "zeta", 1, 2) in indexed(repo)
    git(repo, "checkout", "--", "a.py")
    (repo / "new.py").unlink()
    assert update(repo) == []
    assert "new.py" not in {p for p, *_ in indexed(repo)}
    with Store(repo / ".git" / "codeseek") as store:
        hits = search.find(store, EngineChoice(), "multiply y by two", 1, mode=Mode.SEMANTIC).hits
    assert "return y * 2" in hits[0].code


def test_staged_change_is_indexed(repo: Path, update) -> None:
    edit(repo, "a.py", "return y * 2", "return y * 8")
    git(repo, "add", "a.py")
    assert update(repo) == ["def beta(y):"]
    commit(repo)
    assert update(repo) == []


def test_staged_source_ignores_unstaged_edits(repo: Path, update) -> None:
    edit(repo, "a.py", "return y * 2", "return y * 4")
    git(repo, "add", "a.py")
    edit(repo, "a.py", "return x + 1", "return x + 6")  # unstaged
    assert update(repo, source=Source.STAGED) == ["def beta(y):"]
    assert update(repo) == ["def alpha(x):"]  # the working tree has the unstaged edit too


def test_no_wait_does_not_wait_for_a_running_update(repo: Path, engine: EngineChoice) -> None:
    with Store(repo / ".git" / "codeseek") as store, store.writing():
        with pytest.raises(IndexBusy):
            indexing.update(open_workspace(repo), engine, wait=False)


def test_scope_limits_indexing_to_a_folder(make_repo: MakeRepo, update) -> None:
    root = make_repo(FILES)
    assert update(root, scope="pkg") == ["class Gamma:", "def delta(self):"]
    assert {p for p, *_ in indexed(root)} == {"pkg/b.py"}
    assert update(root, scope="") == ["def alpha(x):", "def beta(y):"]


def test_status_reports_pending_changes(repo: Path) -> None:
    found = report.status(open_workspace(repo)).to_json()
    assert found["pending"] == 0 and found["indexed_commit"] == found["head"]
    edit(repo, "a.py", "return x + 1", "return x + 3")
    found = report.status(open_workspace(repo)).to_json()
    assert (found["pending"], found["pending_files"]) == (1, ["a.py"])
    for key in ("indexed_commit", "head", "files", "chunks", "vectors", "pending", "model", "dim", "bytes"):
        assert key in found


class Interrupting(CountingEmbedder):
    def __init__(self, inner: Embedder, after: int) -> None:
        super().__init__(inner)
        self.after = after

    def _embed(self, texts: list[str]) -> np.ndarray:
        if len(self.texts) >= self.after:
            raise KeyboardInterrupt
        return super()._embed(texts)


def many_functions(count: int, salt: str = "") -> dict[str, str]:
    return {
        f"mod{i // 50}.py": "\n\n".join(
            f"def fn_{j}_{salt}(value):\n    return value * {j} + len('{salt}')" for j in range(i, i + 50)
        )
        for i in range(0, count, 50)
    }


def test_interrupted_first_index_resumes_without_embedding_twice(
    make_repo: MakeRepo, counting: CountingEmbedder, update, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_repo(many_functions(300))
    monkeypatch.setattr(filling, "CHECKPOINT_VECTORS", 64)
    interrupting = Interrupting(counting.inner, after=128)
    with pytest.raises(KeyboardInterrupt):
        index_all(open_workspace(root), EngineChoice(embedder=interrupting))
    assert interrupting.texts and len(interrupting.texts) == 128
    resumed = update(root)
    assert len(resumed) == 300 - 128  # all functions, less those saved before the interrupt
    assert not set(resumed) & {t.split("\n")[1].strip() for t in interrupting.texts}


def test_kill_9_at_random_moments_never_breaks_the_index(make_repo: MakeRepo, update, engine: EngineChoice) -> None:
    root = make_repo(many_functions(400, "v0"))
    update(root)
    rng = random.Random(7)
    for round_ in range(1, 6):
        for rel, text in many_functions(400, f"v{round_}").items():
            (root / rel).write_text(text)
        commit(root, f"round {round_}")
        proc = subprocess.Popen(
            [sys.executable, "-P", "-m", "codeseek", "update"], cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:  # a kill once the update has finished would hit nothing: stop waiting then
            proc.wait(timeout=rng.uniform(1.0, 9.0))
        except subprocess.TimeoutExpired:
            pass
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with Store(root / ".git" / "codeseek") as store:  # still opens and answers
            assert search.find(store, EngineChoice(None, engine.embedder()), "multiply value", 3).hits
    update(root)
    final = indexed(root)
    assert len(final) == 400
    assert all(symbol.endswith("_v5") for _, symbol, *_ in final if symbol.startswith("fn_"))
    assert update(root) == []
    # Every chunk has its vector, readable from the segments.
    with Store(root / ".git" / "codeseek") as store:
        keys = [ref.vector_key for ref in store.chunks.refs()]
        assert not store.chunks.unembedded()
        assert len(store.vectors.get(keys)) == len(set(keys))


def test_an_index_with_split_definitions_is_chunked_again_once(
    make_repo: MakeRepo, update, counting: CountingEmbedder
) -> None:
    """Indexes from before truncation had long definitions in parts: migration 6 has those
    files chunked again (and only those), the parts replaced by one chunk."""
    root = make_repo({"long.py": "def long(x):\n" + "    x += 1\n" * 50 + "    return x\n",
                      "short.py": "def short(y):\n    return y\n"})
    update(root)
    # Turned back by hand into an index of schema 5, before truncation, with the long
    # definition in parts (later steps' tables gone, so migrations 6-9 run on it).
    old = sqlite3.connect(root / ".git" / "codeseek" / "index.db")
    old.executescript("""
        ALTER TABLE chunks ADD COLUMN signature TEXT NOT NULL DEFAULT '';
        ALTER TABLE chunks ADD COLUMN part INTEGER NOT NULL DEFAULT 0;
        UPDATE chunks SET part = 1 WHERE path = 'long.py' AND kind = 'function';
        DROP TABLE term_docs;
        DROP TABLE static_segments;
        DROP TABLE static_vectors;
        PRAGMA user_version = 5;
    """)
    old.close()
    ws, engine = open_workspace(root), EngineChoice(embedder=counting)
    result = indexing.update(ws, engine)
    with Store(root / ".git" / "codeseek") as store:
        embedded = filling.fill(ws, store, engine)
        columns = {row[1] for row in store.db.execute("PRAGMA table_info(chunks)")}
    assert (result.files_changed, embedded) == (1, 0)  # only the split file, and its text is known
    assert "part" not in columns and "signature" not in columns
    assert indexing.update(open_workspace(root), EngineChoice(embedder=counting)).files_changed == 0


def _age(root: Path, *, chunkers: str | None, language: str | None = None) -> None:
    """Make the index look as an older codeseek left it: its record of chunkers replaced (None:
    none, as before the record), a.py's chunks named `stale`, and a.py chunked as `language`."""
    with Store(root / ".git" / "codeseek") as store:
        with store.db.transaction() as db:
            store.db.set_meta({"chunkers": chunkers}, db)
            db.execute("UPDATE chunks SET symbol = 'stale' WHERE path = 'a.py'")
            if language:
                db.execute("UPDATE files SET language = ? WHERE path = 'a.py'", (language,))


FRESH = {("a.py", "alpha"), ("a.py", "beta"), ("pkg/b.py", "Gamma"), ("pkg/b.py", "Gamma.delta")}


def test_files_of_a_language_whose_chunker_changed_are_chunked_again_keeping_their_vectors(
        repo: Path, update) -> None:
    """A grammar or query file changed since the index recorded it: that language's files are
    chunked again on the next update (chunks whose text is unchanged keep their vectors); once
    recorded, an update finds nothing to do."""
    recorded = {**indexing.chunker_record(), "python": "an older grammar"}
    _age(repo, chunkers=json.dumps(recorded, sort_keys=True))
    assert ("a.py", "stale", 1, 2) in indexed(repo)
    assert update(repo) == []  # the same texts: no vector is made again
    assert {(p, s) for p, s, *_ in indexed(repo)} == FRESH
    _age(repo, chunkers=json.dumps(indexing.chunker_record(), sort_keys=True))
    update(repo)
    assert ("a.py", "stale", 1, 2) in indexed(repo)  # the record is today's: nothing read again


def test_a_file_chunked_as_another_language_is_chunked_again(repo: Path, update) -> None:
    """An index from before the record (none kept) whose file was chunked as line windows, as
    an Elixir file was before codeseek parsed Elixir: that file, and only it, is read again."""
    _age(repo, chunkers=None, language="text")
    with Store(repo / ".git" / "codeseek") as store:
        with store.db.transaction() as db:
            db.execute("UPDATE chunks SET symbol = 'stale' WHERE path = 'pkg/b.py'")
    update(repo)
    assert ("a.py", "alpha", 1, 2) in indexed(repo)
    assert ("pkg/b.py", "stale", 1, 3) in indexed(repo)  # chunked as today: left alone


def test_a_bundle_indexed_before_bundles_were_known_goes_on_the_next_update(
        make_repo: MakeRepo, update, monkeypatch: pytest.MonkeyPatch) -> None:
    """What marks a generated file is part of the index's record: an index made when a bundle's
    bootstrap was not one of them reads every file again once it is, and drops the bundle."""
    from codeseek import skipping

    bundle = "(function webpackUniversalModuleDefinition(root, factory) {\n})(this, function() {});\n" \
             "function decodeMappings(text) {\n  return text.split(';');\n}\n"
    root = make_repo({**FILES, "dist/lib.js": bundle})
    monkeypatch.setattr(skipping, "BUNDLE_MARKERS", ())
    update(root)
    assert any(path == "dist/lib.js" for path, *_ in indexed(root))
    monkeypatch.undo()
    update(root)
    assert not any(path == "dist/lib.js" for path, *_ in indexed(root))
    assert {(p, s) for p, s, *_ in indexed(root)} >= {("a.py", "alpha")}


def test_a_plain_folder_is_chunked_again_too(tmp_path: Path, counting: CountingEmbedder) -> None:
    """Outside git (no commit recorded) the same holds."""
    root = tmp_path / "plain"
    root.mkdir()
    (root / "a.py").write_text("def alpha(x):\n    return x + 1\n")
    ws = open_workspace(root)
    index_all(ws, EngineChoice(embedder=counting))
    with Store(ws.index_dir) as store:
        with store.db.transaction() as db:
            store.db.set_meta({"chunkers": None}, db)
            db.execute("UPDATE chunks SET symbol = 'stale'")
            db.execute("UPDATE files SET language = 'text'")
    index_all(ws, EngineChoice(embedder=counting))
    with Store(ws.index_dir) as store:
        assert {r.symbol for r in store.chunks.refs()} == {"alpha"}


def test_a_script_kept_as_line_windows_by_an_older_codeseek_is_read_again_as_its_language(
        make_repo: MakeRepo, update) -> None:
    """An index recorded before a `#!` line chose a script's language holds it as line windows;
    the next update chunks that script again (its functions), and only it."""
    script = "#!/usr/bin/env bash\nprint_help() {\n  echo usage\n}\n"
    root = make_repo({**FILES, "bin/tool": script})
    update(root)
    assert ("bin/tool", "print_help", 1, 4) in indexed(root)
    older = {k: v for k, v in indexing.chunker_record().items() if k != "text"}
    _age(root, chunkers=json.dumps(older, sort_keys=True))
    with Store(root / ".git" / "codeseek") as store:
        with store.db.transaction() as db:
            db.execute("UPDATE files SET language = 'text' WHERE path = 'bin/tool'")
            db.execute("UPDATE chunks SET symbol = 'stale', language = 'text' WHERE path = 'bin/tool'")
    update(root)
    assert ("bin/tool", "print_help", 1, 4) in indexed(root)
    assert ("a.py", "stale", 1, 2) in indexed(root)  # Python's chunker is unchanged: left alone
