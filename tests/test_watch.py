"""The warm process knows that nothing changed without asking git: real inotify watches on a
real repository, and a search through the warm process after each kind of change."""

from __future__ import annotations

import json
import sys

import pytest

from codeseek.repo import open_workspace
from codeseek.watch import Watch

from .conftest import MakeRepo, codeseek, git

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="inotify is Linux's")


def test_every_kind_of_change_is_seen(make_repo: MakeRepo) -> None:
    root = make_repo()
    (root / "untracked").mkdir()
    (root / "untracked" / "draft.py").write_text("x = 1\n")
    watch = Watch(open_workspace(root))
    assert watch.active and watch.changed()  # nothing is known before a first full check

    def after(change) -> bool:
        watch.clean()
        assert not watch.changed()
        change()
        return watch.changed()

    assert after(lambda: (root / "net" / "retry.py").write_text("def retry():\n    pass\n"))
    assert after(lambda: (root / "untracked" / "draft.py").write_text("x = 2\n"))  # a folder git does not track
    assert after(lambda: (root / "fresh").mkdir())
    assert after(lambda: (root / "fresh" / "new.py").write_text("def new():\n    pass\n"))  # watched once made
    assert after(lambda: (root / "fresh" / "deeper").mkdir() or (root / "fresh" / "deeper" / "a.py").write_text(""))
    assert after(lambda: git(root, "add", "-A"))  # git's index
    assert after(lambda: git(root, "commit", "-q", "-m", "more"))  # HEAD's branch moves
    assert after(lambda: git(root, "checkout", "-q", "-b", "other"))  # HEAD itself
    watch.clean()
    assert not watch.changed()  # and nothing more happened
    watch.close()


def test_a_warm_search_sees_a_file_saved_just_before_it(make_repo: MakeRepo, warm) -> None:
    root = make_repo()
    assert codeseek(root, "find", "retry", "--json").returncode == 0
    for i in range(5):
        (root / f"added_{i}.py").write_text(f"def freshly_saved_{i}():\n    return {i}\n")
        found = json.loads(codeseek(root, "find", f"freshly_saved_{i}", "--json", "-k", "1").stdout)
        assert found[0]["symbol"] == f"freshly_saved_{i}"
    (root / "added_0.py").write_text("\n\n\ndef freshly_saved_0():\n    return 0\n")  # moved down three lines
    moved = json.loads(codeseek(root, "find", "freshly_saved_0", "--json", "-k", "1").stdout)[0]
    assert (moved["start_line"], moved["end_line"]) == (4, 5)
