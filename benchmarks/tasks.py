"""The hand-written question and issue tasks of the retrieval benchmark, and their file-level scores.

- questions.toml: a developer's questions about a project as released, each of one kind
  (KINDS), answered by files and, where one definition answers, by that definition
  (`PATH:LINE label`); a fifth are `heldout = true`, never tuned on (heldout.py chose them).
- issues.toml: real issues of projects not held out, whose fixing commit is known; asked of
  the tree just before that commit (the fix's parent), answered by the implementation files
  the fix changed (tests, docs and changelogs left out).

File-level scores rank the distinct files of a result list in the order they first appear,
so five chunks of one file fill one place, not five.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

from corpora import MIRRORS, check_out, snapshot
from corpora import Corpus as Release
from index_stdlib import commit_all, git
from queries import Corpus, Target

HERE = Path(__file__).parent
QUESTIONS = HERE / "questions.toml"
ISSUES = HERE / "issues.toml"
KINDS = ("architecture", "semantic", "name-plain", "name-qualified", "name-multi")


@dataclass(frozen=True)
class Question:
    corpus: str
    query: str
    kind: str
    heldout: bool
    targets: tuple[Target, ...]  # definitions that answer it (may be empty)
    files: frozenset[str]  # every file that answers it (the definitions' files included)


@dataclass(frozen=True)
class Issue:
    project: str
    language: str
    repo: str  # owner/name on GitHub
    number: int
    fix: str  # the fixing commit
    commit: str  # its parent: the tree that is indexed
    query: str  # the issue's title and description as written
    files: frozenset[str]  # implementation files the fix changed

    @property
    def names_fix(self) -> bool:
        """Whether its text names a file the fix changed (the file's name is in it: a stack
        frame's, a path's): a third of the held-out evaluation's issues, where a plain BM25 put a
        fixed file first 78% of the time and codeseek 44%."""
        return any(Path(f).name in self.query for f in self.files)


@dataclass(frozen=True)
class FileScore:
    mrr: float  # 1 / rank of the first answering file (0 past the cut)
    ndcg: float
    first: bool  # the first file is an answer


def file_score(paths: list[str], answers: frozenset[str], k: int) -> FileScore:
    ranked = list(dict.fromkeys(paths))[:k]
    gains = [1 if p in answers else 0 for p in ranked]
    first = next((r for r, g in enumerate(gains) if g), None)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(len(answers), k)))
    return FileScore(
        mrr=1 / (first + 1) if first is not None else 0.0,
        ndcg=sum(g / math.log2(r + 2) for r, g in enumerate(gains)) / ideal,
        first=bool(gains) and gains[0] == 1,
    )


def questions(name: str, source: Corpus, path: Path = QUESTIONS) -> list[Question]:
    """One corpus's questions (of questions.toml, or a file in its form: questions_unseen.toml).
    An answer `PATH:LINE label` is the definition holding that line, doc comment included; the
    label must be in its first lines. `files` are answers as whole files."""
    out = []
    for q in tomllib.loads(path.read_text())["question"]:
        if q["corpus"] != name:
            continue
        if q.get("kind") not in KINDS or not isinstance(q.get("heldout"), bool):
            raise SystemExit(f"questions.toml: {q['query']!r}: needs a kind ({', '.join(KINDS)}) and heldout")
        targets = []
        for answer in q.get("answers", []):
            where, _, label = answer.partition(" ")
            path, _, line = where.rpartition(":")
            target = source.enclosing(path, int(line))
            head = b"\n".join(source.files[path].split(b"\n")[target.start_line - 1 : int(line) + 2])
            if label.encode() not in head:
                raise SystemExit(f"questions.toml: {answer}: {label!r} is not in that definition's first lines")
            targets.append(target)
        files = frozenset(q.get("files", [])) | {t.path for t in targets}
        if not files or not files <= source.files.keys():
            raise SystemExit(f"questions.toml: {q['query']!r}: no answer, or a file not in {name}")
        out.append(Question(name, q["query"], q["kind"], q["heldout"], tuple(targets), files))
    return out


def releases(path: Path) -> list[Release]:
    """The projects a questions file names itself (`[[corpus]]`: a GitHub repository at a
    commit, whole): questions_unseen.toml's, which corpora.py does not list."""
    return [Release(c["name"], c["language"], "github", c["repo"], c["commit"])
            for c in tomllib.loads(path.read_text()).get("corpus", [])]


def issues(path: Path = ISSUES) -> list[Issue]:
    """The issues of a file in issues.toml's form (issues_unseen.toml: measured, never tuned on)."""
    if not path.exists():
        return []
    return [Issue(i["project"], i["language"], i["repo"], i["number"], i["fix"], i["commit"], i["query"].strip(),
                  frozenset(i["answers"])) for i in tomllib.loads(path.read_text())["issue"]]


def issue_tree(issue: Issue, workdir: Path, mirrors: Path = MIRRORS) -> Path:
    """The project's tree at the fix's parent, as a git repository of one commit (made once)."""
    root = workdir / "issues" / f"{issue.repo.replace('/', '+')}-{issue.commit[:12]}"
    if (root / ".git").exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    mirror = snapshot(issue.repo, mirrors)
    if not mirror.exists():
        mirror = workdir / "clones" / issue.repo.replace("/", "+")
        if not mirror.exists():
            subprocess.run(["git", "clone", "-q", "--bare", f"https://github.com/{issue.repo}", str(mirror)],
                           check=True)
    check_out(mirror, issue.commit, root)
    git(root, "init", "-q")
    commit_all(root, f"{issue.repo} {issue.commit}")
    return root
