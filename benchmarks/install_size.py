"""What `pip install codeseek` weighs: a fresh virtual environment, pip's cache off, packages
from the package index only (this machine's local wheel folders and extra indexes are turned
off), then the size of site-packages, the time, and the heaviest distributions.

    python benchmarks/install_size.py CHECKOUT [--workdir DIR] [--preinstall REQ ...]

--preinstall installs requirements first, from anywhere pip is configured to look (local
wheels included), outside the measured time and counted apart: the old default needs
`torch==2.13.0` from a local CPU wheel here, since from the index that pin is the multi-GB
CUDA build.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def distributions(site: Path) -> list[tuple[int, str]]:
    """Each installed distribution's files on disk (from its RECORD), largest first."""
    out = []
    for info in site.glob("*.dist-info"):
        record = info / "RECORD"
        if not record.is_file():
            continue
        total = 0
        for line in record.read_text().splitlines():
            file = site / line.split(",")[0]
            if file.is_file():
                total += file.stat().st_size
        out.append((total, info.name.split("-")[0]))
    return sorted(out, reverse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkout", type=Path)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "codeseek-install")
    parser.add_argument("--preinstall", nargs="*", default=[])
    args = parser.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    clone = args.workdir / "codeseek"
    subprocess.run(["git", "clone", "-q", str(args.checkout.resolve()), str(clone)], check=True)
    venv = args.workdir / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "-q"]
    site = next((venv / "lib").glob("python3*/site-packages"))
    empty = size(site)
    before = empty
    if args.preinstall:
        began = time.perf_counter()
        subprocess.run([*pip, "install", "--no-cache-dir", *args.preinstall], check=True)
        before = size(site)
        print(f"preinstalled {' '.join(args.preinstall)} (local wheels allowed): {(before - empty) / 1e6:,.0f} MB, "
              f"{time.perf_counter() - began:.0f} s")
    index_only = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") or k == "PIP_CERT"}
    index_only["PIP_CONFIG_FILE"] = os.devnull  # no pip.conf: no local wheel folders, no extra indexes
    began = time.perf_counter()
    subprocess.run([*pip, "install", "--no-cache-dir", "-e", str(clone)], check=True, env=index_only)
    took = time.perf_counter() - began
    after = size(site)
    print(f"pip install --no-cache-dir -e . (from the package index): {took:.0f} s, "
          f"site-packages {(after - empty) / 1e6:,.0f} MB in all ({(after - before) / 1e6:,.0f} MB by this step)")
    heaviest = distributions(site)
    print("heaviest: " + ", ".join(f"{name} {bytes_ / 1e6:,.0f} MB" for bytes_, name in heaviest[:8]))
    names = {name.lower() for _, name in heaviest}
    print("torch engines installed: " + (", ".join(sorted(names & {"torch", "transformers", "sentence_transformers"}))
                                          or "none"))


if __name__ == "__main__":
    main()
