"""How far the process filling in vectors is: a small file in the index folder, rewritten
every few seconds, read by `status`, by a search that does not wait, and by the web page."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO

from .fsutil import atomic_write, pid_alive

PROGRESS_NAME = "embedding.json"
REPORT_SECONDS = 2.0  # how often the report is rewritten while vectors are embedded


class Phase(StrEnum):
    LOADING = "loading"  # the model is loading: nothing embedded yet
    EMBEDDING = "embedding"


@dataclass(frozen=True)
class Progress:
    pid: int
    phase: Phase
    done: int
    total: int
    rate: float  # chunks a second, since embedding began
    eta_s: float | None  # seconds left at that rate
    at: float  # when this report was written
    shares: dict[str, int] = field(default_factory=dict)  # chunks embedded per server, when several share it

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "phase": str(self.phase)}

    @classmethod
    def from_json(cls, raw: dict[str, object]) -> Progress:
        eta = raw.get("eta_s")
        return cls(int(raw["pid"]), Phase(raw.get("phase", Phase.EMBEDDING)), int(raw["done"]),  # type: ignore[arg-type]
                   int(raw["total"]), float(raw["rate"]), None if eta is None else float(eta),  # type: ignore[arg-type]
                   float(raw["at"]), {str(k): int(v) for k, v in dict(raw.get("shares") or {}).items()})  # type: ignore[call-overload]


def read(directory: Path) -> Progress | None:
    """The report of the process embedding now, if one is alive."""
    try:
        report = Progress.from_json(json.loads((directory / PROGRESS_NAME).read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return report if pid_alive(report.pid) else None


def clear(directory: Path) -> None:
    (directory / PROGRESS_NAME).unlink(missing_ok=True)


class Reporter:
    """Writes this process's progress, at most every REPORT_SECONDS (and at each phase change)."""

    def __init__(self, directory: Path, total: int) -> None:
        self.directory = directory
        self.began = time.monotonic()
        self.embedding_began: float | None = None
        self.last = 0.0
        self.report = Progress(os.getpid(), Phase.LOADING, 0, total, 0.0, None, time.time())
        self._write()

    def embedding(self) -> None:
        """The model is loaded; embedding starts now (its rate counts from here)."""
        self.embedding_began = time.monotonic()
        self.report = replace(self.report, phase=Phase.EMBEDDING)
        self._write()

    def advance(self, done: int, shares: dict[str, int] | None = None, force: bool = False) -> None:
        now = time.monotonic()
        began = self.embedding_began or now
        rate = done / (now - began) if now > began else 0.0
        left = self.report.total - done
        self.report = replace(self.report, done=done, rate=round(rate, 2), eta_s=round(left / rate) if rate else None,
                              shares=dict(shares or self.report.shares))
        if force or now - self.last >= REPORT_SECONDS:
            self._write()

    def _write(self) -> None:
        self.last = time.monotonic()
        self.report = replace(self.report, at=time.time())
        try:
            atomic_write(self.directory / PROGRESS_NAME, json.dumps(self.report.to_json()))
        except OSError:
            pass  # a report is a courtesy; a full disk or read-only folder must not stop the work


PROGRESS_LINE_SECONDS = 10.0


def duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def foreground(stream: TextIO) -> Callable[[str, int, int], None]:
    """Progress of a foreground command: a bar with its time left on a terminal; plain lines
    (at most every 10 s) otherwise."""
    if stream.isatty():
        import click

        bar: dict[str, Any] = {}

        def report(phase: str, done: int, total: int) -> None:
            if "bar" not in bar or bar["bar"].length != total:
                bar["bar"] = click.progressbar(length=total, label=f"{phase:>6}", file=stream, show_eta=True)
                bar["bar"].__enter__()
            bar["bar"].update(done - bar["bar"].pos)
            if done >= total:
                bar.pop("bar").__exit__(None, None, None)

        return report
    began, last = time.monotonic(), [0.0]

    def line(phase: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] < PROGRESS_LINE_SECONDS and done < total:
            return
        last[0] = now
        rate = done / (now - began) if now > began else 0.0
        left = f", about {duration((total - done) / rate)} left" if rate and done < total else ""
        print(f"codeseek: {phase} {done:,} of {total:,} ({done / max(total, 1):.0%}){left}", file=stream, flush=True)

    return line
