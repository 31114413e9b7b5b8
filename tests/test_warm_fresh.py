"""A warm answer is never older than the working tree: the inotify watch may only save work.
Where it cannot prove it saw everything (untracked trees, new and moved folders, lost events,
changed ignore files) the full check runs, so every warm answer equals the in-process one."""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from codeseek.embedding import Embedder, ModelInfo, Models
from codeseek.index import Store
from codeseek.protocol import FindRequest, Mode, Wait
from codeseek.repo import open_workspace
from codeseek.service import Repository
from codeseek.watch import EVENT, IN_Q_OVERFLOW, Watch

from .conftest import MakeRepo, codeseek, fake_vector, git

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="inotify is Linux's")
ROUNDS = int(os.environ.get("CODESEEK_FRESH_ROUNDS", "200"))


def settled(watch: Watch) -> Watch:
    watch.clean()
    assert not watch.changed()
    return watch


def test_an_untracked_tree_present_at_start_is_watched_to_its_last_folder(make_repo: MakeRepo) -> None:
    root = make_repo()
    (root / "new" / "sub" / "empty").mkdir(parents=True)
    (root / "new" / "sub" / "deep.py").write_text("def old():\n    pass\n")
    watch = settled(Watch(open_workspace(root)))
    (root / "new" / "sub" / "deep.py").write_text("def rewritten():\n    pass\n")
    assert watch.changed()
    settled(watch)
    (root / "new" / "sub" / "empty" / "later.py").write_text("x = 1\n")  # a folder git never listed
    assert watch.changed()
    watch.close()


def test_a_moved_folder_and_lost_events_make_every_watch_anew(make_repo: MakeRepo) -> None:
    root = make_repo()
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "x.py").write_text("x = 1\n")
    watch = settled(Watch(open_workspace(root)))
    (root / "dest").mkdir()
    (root / "a").rename(root / "dest" / "a")  # the watches below `a` now sit under other names
    assert watch.changed()
    settled(watch)
    (root / "dest" / "a" / "b" / "c").mkdir()  # made inside the moved folder: watched at its new place
    assert watch.changed()
    settled(watch)
    (root / "dest" / "a" / "b" / "c" / "y.py").write_text("y = 1\n")
    assert watch.changed()
    settled(watch)
    # The kernel's queue overflowed: the events of a new tree were lost.
    (root / "lost" / "deeper").mkdir(parents=True)
    while True:
        try:
            os.read(watch._fd, 1 << 16)
        except BlockingIOError:
            break
    watch._handle(EVENT.pack(-1, IN_Q_OVERFLOW, 0, 0))
    assert watch.changed()
    settled(watch)
    (root / "lost" / "deeper" / "z.py").write_text("z = 1\n")
    assert watch.changed()
    watch.close()


def test_an_ignore_file_that_changes_makes_every_watch_anew(make_repo: MakeRepo) -> None:
    root = make_repo()
    (root / ".gitignore").write_text("build/\n")
    (root / "build" / "gen").mkdir(parents=True)
    (root / "build" / "gen" / "out.py").write_text("x = 1\n")
    watch = settled(Watch(open_workspace(root)))
    (root / ".gitignore").write_text("")  # build/ is listed from now on
    assert watch.changed()
    settled(watch)
    (root / "build" / "gen" / "out.py").write_text("x = 2\n")
    assert watch.changed()
    watch.close()


def test_the_warm_process_sees_a_rewritten_file_in_an_untracked_tree(make_repo: MakeRepo, warm) -> None:
    root = make_repo()
    (root / "new" / "sub").mkdir(parents=True)
    (root / "new" / "sub" / "deep.py").write_text("def first_symbol_here():\n    return 1\n")
    found = codeseek(root, "find", "first_symbol_here", "--mode", "lexical", "--json", "-k", "1")
    assert json.loads(found.stdout)[0]["symbol"] == "first_symbol_here", found.stderr
    assert warm.running() is not None
    (root / "new" / "sub" / "deep.py").write_text("\n\ndef second_symbol_here():\n    return 2\n")
    found = codeseek(root, "find", "second_symbol_here", "--mode", "lexical", "--json", "-k", "1")
    hit = json.loads(found.stdout)[0]
    assert (hit["symbol"], hit["start_line"]) == ("second_symbol_here", 3), hit



def test_a_warm_search_waits_for_another_process_writing_the_index(make_repo: MakeRepo, warm) -> None:
    """As a search in its own process would (ten first searches at once: one writes the first
    index, the others wait for it), never answering from the index as it is meanwhile."""
    root = make_repo()
    found = codeseek(root, "find", "retry", "--mode", "lexical", "--json", "-k", "1")
    assert found.returncode == 0 and warm.running() is not None, found.stderr
    (root / "later.py").write_text("def written_while_locked():\n    return 1\n")
    with ThreadPoolExecutor(1) as pool:
        with Store(open_workspace(root).index_dir) as store, store.writing():
            pending = pool.submit(codeseek, root, "find", "written_while_locked", "--mode", "lexical", "--json",
                                  "-k", "1")
            time.sleep(1.5)
            waited = not pending.done()  # waiting for this writer, not answering without the new file
        found = pending.result()
    assert waited, found.stderr
    assert json.loads(found.stdout)[0]["symbol"] == "written_while_locked", found.stderr
    assert "another update is running" not in found.stderr

# -- the randomised comparison ------------------------------------------------------------------


class HashEmbedder(Embedder):
    """A declared fake: vectors from hashes of the text (these searches rank by words)."""

    info = ModelInfo("fake-hash-embedder", 16, "test", "0")
    max_tokens = 512

    def _embed(self, texts: list[str]) -> np.ndarray:
        return np.array([fake_vector(t, 16) for t in texts], dtype=np.float32)


class FakeModels(Models):
    def load(self, backend, settings):  # noqa: ANN001, ANN201 - Models.load's signature
        return HashEmbedder(), threading.Lock()


class NoWorker:
    """Searches here wait for no vector: nobody is ever asked to fill them in."""

    who = "nobody"

    def running(self) -> bool:
        return False

    def start(self) -> str:
        raise AssertionError("a words-only search started a worker")


WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo", "lima"]


class Tree:
    """Random changes to a working tree: files and folders, tracked and untracked, nested."""

    def __init__(self, root: Path, rng: random.Random) -> None:
        self.root, self.rng = root, rng
        self.counter = 0

    def walk(self) -> list[tuple[Path, list[str]]]:
        found = []
        for folder, dirs, names in os.walk(self.root):
            dirs[:] = sorted(d for d in dirs if d != ".git")
            found.append((Path(folder), sorted(names)))
        return found

    def files(self) -> list[Path]:
        return [folder / n for folder, names in self.walk() for n in names if n.endswith(".py")]

    def folders(self) -> list[Path]:
        return [folder for folder, _ in self.walk()]

    def source(self) -> str:
        self.counter += 1
        blank = "\n" * self.rng.randrange(3)
        names = [f"{self.rng.choice(WORDS)}_{self.rng.choice(WORDS)}_{self.counter}_{i}" for i in range(2)]
        return blank + "".join(f"def {n}(value):\n    return value + {self.counter}\n\n\n" for n in names)

    def new_folder(self) -> Path:
        base = self.rng.choice(self.folders())
        folder = base
        for _ in range(self.rng.randrange(1, 3)):
            folder = folder / f"d{self.rng.randrange(20)}"
        return folder

    def step(self) -> str:
        files, rng = self.files(), self.rng
        action = rng.choice(["edit", "edit", "create", "create", "delete", "move_file", "move_folder",
                             "delete_folder", "tree", "commit", "ignore", "nothing"])
        if action == "edit" and files:
            rng.choice(files).write_text(self.source())
        elif action == "create" or (action in ("edit", "delete", "move_file") and not files):
            folder = self.new_folder() if rng.random() < 0.5 else rng.choice(self.folders())
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"f{rng.randrange(50)}.py").write_text(self.source())
        elif action == "delete":
            rng.choice(files).unlink()
        elif action == "move_file":
            target = self.new_folder()
            target.mkdir(parents=True, exist_ok=True)
            rng.choice(files).rename(target / f"m{rng.randrange(50)}.py")
        elif action in ("move_folder", "delete_folder"):
            folders = [f for f in self.folders() if f != self.root]
            if not folders:
                return "nothing"
            folder = rng.choice(folders)
            if action == "delete_folder":
                shutil.rmtree(folder)
            else:
                target = self.new_folder()
                if target.exists() or folder in target.parents or target == folder:
                    return "nothing"
                target.parent.mkdir(parents=True, exist_ok=True)
                folder.rename(target)
        elif action == "tree":
            folder = self.new_folder() / "x" / "y"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "deep.py").write_text(self.source())
        elif action == "commit":
            git(self.root, "add", "-A")
            git(self.root, "commit", "-q", "-m", "step", "--allow-empty")
        elif action == "ignore":
            ignored = rng.sample([f"d{i}/" for i in range(20)], 2)
            (self.root / ".gitignore").write_text("\n".join(ignored) if rng.random() < 0.7 else "")
        return action


def answer(repo: Repository, query: str) -> list[tuple[str, int, int, str]]:
    request = FindRequest(query, k=1000, mode=Mode.LEXICAL, wait=Wait.NONE)
    return sorted((h.path, h.start_line, h.end_line, h.symbol) for h in repo.find(request, {}).hits)


def test_every_warm_answer_equals_the_in_process_one(make_repo: MakeRepo, tmp_path: Path) -> None:
    seed = int(os.environ.get("CODESEEK_FRESH_SEED") or random.randrange(1 << 32))
    print(f"randomised freshness: seed {seed} (CODESEEK_FRESH_SEED={seed} reproduces it)")
    rng = random.Random(seed)
    root = make_repo({"start.py": "def start(value):\n    return value\n",
                      ".codeseek.toml": 'model = "fake-hash-embedder"\n'})
    models = FakeModels()

    def start_warm() -> Repository:  # as a warm process that starts (again) on a tree as it is
        return Repository(open_workspace(root, tmp_path / "warm-index"), models)

    warm = start_warm()
    local = Repository(open_workspace(root, tmp_path / "local-index"), models, NoWorker(), watching=False)
    tree = Tree(root, rng)
    try:
        for round_ in range(ROUNDS):
            action = tree.step()
            if rng.random() < 0.08:  # the warm process exited when idle; the next search starts one
                warm.close()
                warm = start_warm()
            query = "value" if rng.random() < 0.8 else rng.choice(WORDS)  # every chunk, or some
            here, there = answer(local, query), answer(warm, query)
            assert there == here, f"seed {seed}, round {round_} after {action!r}, query {query!r}"
    finally:
        warm.close()
        local.close()
