"""How the last background update went (a hook's worker, the warm server's embedding thread):
kept in the index folder for `codeseek status`, with failures' details in a log beside it."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from .errors import CodeseekError
from .fsutil import append_own, atomic_write, own_folder

OUTCOME_NAME = "background.json"
LOG_NAME = "hooks.log"
LOG_MAX_BYTES = 1_000_000


@dataclass(frozen=True)
class Outcome:
    hook: str  # which hook (or "server", "background") ran it
    ok: bool
    summary: str = ""
    error: str = ""
    finished_at: str = ""
    log: str = ""

    def describe(self) -> str:
        if self.ok:
            return f"{self.hook}: {self.summary}"
        return f"{self.hook} FAILED: {self.error} (details in {self.log})"

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: object) -> Outcome | None:
        if not isinstance(raw, dict):
            return None
        try:
            return cls(**{k: raw[k] for k in cls.__dataclass_fields__ if k in raw})
        except TypeError:
            return None


def record(directory: Path, outcome: Outcome, detail: str = "") -> None:
    """Keep an outcome (and append it, with any traceback, to the log). Never raises: a
    hook's report must not fail the hook."""
    log = directory / LOG_NAME
    outcome = replace(outcome, finished_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"), log=str(log))
    try:
        if not own_folder(directory):
            return  # another user's index: not ours to write in
        if log.exists() and log.stat().st_size > LOG_MAX_BYTES:
            log.replace(log.with_suffix(".log.1"))
        append_own(log, json.dumps(outcome.to_json()) + "\n" + detail)
        atomic_write(directory / OUTCOME_NAME, json.dumps(outcome.to_json()))
    except (OSError, CodeseekError):
        pass  # nowhere left to report to (a refused folder or log included)


def last(directory: Path) -> Outcome | None:
    try:
        return Outcome.from_json(json.loads((directory / OUTCOME_NAME).read_text()))
    except (OSError, ValueError):
        return None
