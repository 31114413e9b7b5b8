"""The retrieval benchmark's hand-made sets: questions.toml and issues.toml stay well-formed and
balanced (kinds, languages, a held-out fifth), and their file-level scores mean what the tables
say. Nothing here fetches a corpus."""

from __future__ import annotations

import re
import sys
import tomllib
from collections import Counter
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCH))

import heldout  # noqa: E402
import tasks  # noqa: E402
from baseline import FileBM25  # noqa: E402
from corpora import CORPORA  # noqa: E402
from tasks import KINDS, file_score, issues  # noqa: E402

QUESTIONS = tomllib.loads((BENCH / "questions.toml").read_text())["question"]
LANGUAGE = {c.name: c.language for c in CORPORA}


def test_questions_cover_the_kinds_projects_and_languages_asked() -> None:
    assert len(QUESTIONS) >= 300
    assert all(q["kind"] in KINDS and isinstance(q["heldout"], bool) for q in QUESTIONS)
    assert all(q.get("answers") or q.get("files") for q in QUESTIONS)
    projects = Counter(q["corpus"] for q in QUESTIONS)
    assert set(projects) <= set(LANGUAGE) and len(projects) >= 14
    assert len({LANGUAGE[p] for p in projects}) >= 10
    assert set(Counter(q["kind"] for q in QUESTIONS)) == set(KINDS)
    assert len({q["query"] for q in QUESTIONS}) == len(QUESTIONS)


def test_a_fifth_of_the_questions_is_held_out_in_every_project() -> None:
    share = sum(q["heldout"] for q in QUESTIONS) / len(QUESTIONS)
    assert 0.18 <= share <= 0.22
    for project in {q["corpus"] for q in QUESTIONS}:
        mine = [q for q in QUESTIONS if q["corpus"] == project]
        assert 0 < sum(q["heldout"] for q in mine) < len(mine) / 2


def test_heldout_marks_only_new_questions_one_in_five(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = '[[question]]\ncorpus = "a"\nkind = "semantic"\nquery = "old"\nheldout = false\nanswers = []\n\n'
    new = "".join(f'[[question]]\ncorpus = "a"\nkind = "semantic"\nquery = "q{i}"\nanswers = []\n\n' for i in range(10))
    path = tmp_path / "questions.toml"
    path.write_text(old + new)
    monkeypatch.setattr(heldout, "QUESTIONS", path)
    heldout.main()
    marked = tomllib.loads(path.read_text())["question"]
    assert marked[0]["heldout"] is False
    assert sum(q["heldout"] for q in marked[1:]) == 2
    before = path.read_text()
    heldout.main()
    assert path.read_text() == before


def test_issue_tasks_name_a_fix_its_parent_and_implementation_files() -> None:
    tasks = issues()
    assert len(tasks) >= 40
    for task in tasks:
        assert re.fullmatch(r"[0-9a-f]{40}", task.fix) and re.fullmatch(r"[0-9a-f]{40}", task.commit)
        assert task.files and not any(re.search(r"(^|/)tests?/|_test\.|Test\.java$", f) for f in task.files)
        assert len(task.query) > len(task.query.splitlines()[0])  # a title and a description
    assert len({(t.repo, t.number) for t in tasks}) == len(tasks)
    # Issues come from the corpora's projects and others (session 14: tracebacks of src-layout Python packages, Go's
    # module cache, cargo's registry), in the corpora's languages, each project in one.
    assert not {t.language for t in tasks} - set(LANGUAGE.values())
    assert all(LANGUAGE.get(t.project, t.language) == t.language for t in tasks)
    assert len({t.project for t in tasks if t.names_fix}) >= 10  # texts naming a fixed file, from many projects


def test_the_sets_kept_aside_are_of_projects_no_other_set_uses() -> None:
    """questions_unseen.toml and issues_unseen.toml (never tuned on) ask about six projects in
    none of the tuned sets: every question is kept aside, each names a project its file pins,
    and every issue is of one of those projects."""
    unseen = tomllib.loads((BENCH / "questions_unseen.toml").read_text())
    releases = tasks.releases(BENCH / "questions_unseen.toml")
    asked = unseen["question"]
    named = {r.name for r in releases}
    assert len(releases) == 6 and all(r.registry == "github" and re.fullmatch(r"[0-9a-f]{40}", r.version)
                                      for r in releases)
    assert len(asked) >= 60 and all(q["heldout"] is True and q["kind"] in KINDS and q["corpus"] in named for q in asked)
    assert all(q.get("answers") or q.get("files") for q in asked)
    kept = issues(BENCH / "issues_unseen.toml")
    assert len(kept) >= 30 and {t.repo for t in kept} == {r.package for r in releases}
    tuned = {t.repo for t in issues()} | {c.package for c in CORPORA} | {t.project for t in issues()}
    assert not named & (set(LANGUAGE) | tuned) and not {r.package for r in releases} & tuned


def test_file_scores_count_a_file_once_in_the_order_it_first_appears() -> None:
    answers = frozenset({"b.py", "c.py"})
    five_of_one_file = ["a.py"] * 5 + ["b.py", "c.py"]
    score = file_score(five_of_one_file, answers, k=10)
    assert score.mrr == 0.5 and not score.first
    assert score.ndcg == pytest.approx((1 / 1.585 + 1 / 2) / (1 + 1 / 1.585), abs=1e-3)
    assert file_score(["c.py", "a.py"], answers, k=10).first
    assert file_score(["a.py", "b.py"], answers, k=1).mrr == 0.0


def test_file_bm25_ranks_by_whole_files_path_included() -> None:
    files = {
        "net/retry.py": b"def retry_with_backoff(fn):\n    return fn()\n",
        "net/connect.py": b"def open_socket(host):\n    return host\n",
        "docs/notes.md": b"Nothing about it here.\n",
    }
    model = FileBM25(files)
    assert model.search("RetryWithBackoff raised in retry_with_backoff")[0] == "net/retry.py"
    assert model.search("connect to a host")[0] == "net/connect.py"
    assert model.search("zebra") == []
