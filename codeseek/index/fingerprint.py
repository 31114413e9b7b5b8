"""What a vector segment file was when it was written: its size, time and digest. A file
that differs is never handed to USearch (a damaged file could make it read out of bounds or
allocate without limit)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

SEGMENT_DIR = "vectors"  # the folder of segment files, inside the index folder
STATIC_DIR = "static"  # the static tier's segment files


@dataclass(frozen=True)
class Fingerprint:
    """What a segment file was when written: a file that differs is never handed to USearch."""

    bytes: int
    mtime_ns: int
    digest: str

    @classmethod
    def of(cls, path: Path) -> Fingerprint:
        with open(path, "rb") as f:
            digest = hashlib.file_digest(f, lambda: hashlib.blake2b(digest_size=16)).hexdigest()
            stat = os.fstat(f.fileno())
        return cls(stat.st_size, stat.st_mtime_ns, digest)
