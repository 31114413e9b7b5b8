"""Progress a person can watch: the report says the model is loading before anything is
embedded, then how far the embedding is, every few seconds, never only at checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codeseek import indexing, progress, report
from codeseek.embedding import EngineChoice
from codeseek.progress import Phase, Reporter
from codeseek.repo import open_workspace

from .conftest import MakeRepo


def test_the_report_says_loading_then_counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])
    reporter = Reporter(tmp_path, total=100)
    first = progress.read(tmp_path)
    assert first is not None and first.phase == Phase.LOADING and first.done == 0 and first.eta_s is None
    clock[0] += 9.0  # the model took nine seconds to load: not counted in the rate
    reporter.embedding()
    assert progress.read(tmp_path).phase == Phase.EMBEDDING
    clock[0] += 1.0
    reporter.advance(10)
    assert progress.read(tmp_path).done == 0  # written at most every REPORT_SECONDS
    clock[0] += progress.REPORT_SECONDS
    reporter.advance(30, {"http://a/v1": 20, "http://b/v1": 10})
    report = progress.read(tmp_path)
    assert (report.done, report.rate, report.eta_s) == (30, 10.0, 7) and report.shares == {"http://a/v1": 20,
                                                                                            "http://b/v1": 10}
    raw = json.loads((tmp_path / progress.PROGRESS_NAME).read_text())
    assert raw["phase"] == "embedding"


def test_a_report_of_a_dead_process_is_no_report(tmp_path: Path) -> None:
    Reporter(tmp_path, total=5)
    raw = json.loads((tmp_path / progress.PROGRESS_NAME).read_text())
    (tmp_path / progress.PROGRESS_NAME).write_text(json.dumps({**raw, "pid": 2**22 + 12345}))
    assert progress.read(tmp_path) is None


def test_status_counts_what_a_run_computed_before_its_first_checkpoint(make_repo: MakeRepo,
                                                                         engine: EngineChoice) -> None:
    """A worker saves its vectors every CHECKPOINT_SECONDS: until then the store holds none, and
    status said "embedded 0 of N" though the run was well on. Both counts are said now."""
    ws = open_workspace(make_repo())
    indexing.update(ws, engine)  # words and static vectors: no model vector yet
    chunks = report.status(ws).counts.chunks
    reporter = Reporter(ws.index_dir, total=chunks)
    reporter.embedding()
    reporter.advance(2, force=True)
    said = report.status(ws).describe()
    assert f"embedded 0 of {chunks}; computing 2 of {chunks} distinct texts" in said
