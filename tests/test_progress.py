"""Progress a person can watch: the report says the model is loading before anything is
embedded, then how far the embedding is, every few seconds, never only at checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codeseek import progress
from codeseek.progress import Phase, Reporter


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
