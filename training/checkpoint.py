"""Checkpoints that let one training run span sessions and continue exactly.

A run of the whole corpus takes longer than any one session has CPU for, so train.py writes
everything the next step depends on to one file, every few minutes and when it is stopped:
the weights, the optimizer (AdamW's moments and step counts), the schedule's position, the
epoch's batches and the position in them with the generator that draws hard negatives, the
random states of torch (dropout), numpy and random, the progress (steps, losses, times) and
the options. `train.py --resume DIR` rebuilds the model and optimizer from it and continues;
the final weights are bit-identical to an uninterrupted run's (training/README.md).

The file is written beside its final name and renamed over it (atomic on POSIX), so a run
killed while saving leaves the previous checkpoint whole.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

FILE = "checkpoint.pt"
PROGRESS_FILE = "progress.json"  # the last checkpoint's step, losses and speed, readable without torch
FORMAT = 1


@dataclass
class DataPosition:
    """Where the data stream stands: the epoch, its batches (the order is saved, not re-derived,
    so a change to the batching code cannot shift a run in flight), how many of them are done,
    and the state of the generator that drew their hard negatives."""

    epoch: int
    done: int
    batches: np.ndarray  # (batches, batch size) row indices of the training file
    rng_state: dict[str, Any]


def file_digest(path: Path) -> str:
    """A digest of the training file: a resumed run must read the rows the run started with."""
    h = hashlib.blake2b(digest_size=16)
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def random_states() -> dict[str, Any]:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "random": random.getstate()}


def restore_random_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    np.random.set_state(states["numpy"])
    random.setstate(states["random"])


def _write_atomic(path: Path, write) -> None:
    """Write through a temporary file in the same folder, flushed to disk, then rename it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def save(
    folder: Path,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    position: DataPosition,
    progress: dict[str, Any],
    options: dict[str, Any],
    extra: dict[str, Any],
) -> Path:
    """Write the checkpoint (and a small progress.json beside it); returns the checkpoint's path."""
    folder.mkdir(parents=True, exist_ok=True)
    state = {
        "format": FORMAT,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "position": asdict(position),
        "random": random_states(),
        "progress": progress,
        "options": options,
        "extra": extra,
    }
    path = folder / FILE
    _write_atomic(path, lambda handle: torch.save(state, handle))
    summary = {k: v for k, v in progress.items() if not isinstance(v, list)}
    summary["recent_loss"] = progress["losses"][-50:]
    summary["epoch"], summary["epoch_batches_done"] = position.epoch, position.done
    summary.update({k: v for k, v in extra.items() if k in ("total_steps", "train_pairs", "done")})
    text = json.dumps(summary, indent=1).encode()
    _write_atomic(folder / PROGRESS_FILE, lambda handle: handle.write(text))
    return path


def load(folder: Path) -> dict[str, Any]:
    """The checkpoint's state; a missing or foreign file is one clear error, not a traceback."""
    path = folder / FILE
    if not path.is_file():
        raise SystemExit(f"no checkpoint at {path}")
    state = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise SystemExit(f"{path} is not a train.py checkpoint of format {FORMAT}")
    state["position"] = DataPosition(**state["position"])
    return state
