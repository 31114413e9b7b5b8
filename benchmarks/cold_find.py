"""A repeat search when nothing is running, and a search kept in the calling process.

    python benchmarks/cold_find.py [--repo PATH] [--runs N]

On a copy of a small repository (default: this one), indexed with every vector:
1. the warm process stopped, then `codeseek find`: it starts the warm process, which loads
   the model and answers (what the first search of the day costs);
2. `CODESEEK_SERVER=0 codeseek find`: the search, the model's load and the query's embedding
   in the calling process;
each end to end, median and worst of N runs, with the peak resident memory of case 2;
3. the warm process's resident memory once a second clone is searched and fully embedded by it
   (two repositories, one model).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUERY = "retry with exponential backoff"


def timed(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Milliseconds end to end, and the process's peak resident memory in MiB."""
    began = time.perf_counter()
    process = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    took = (time.perf_counter() - began) * 1000
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({process.returncode})")
    return took, usage.ru_maxrss / 1024


def summary(samples: list[float]) -> str:
    return f"median {statistics.median(samples):.0f} ms, worst {max(samples):.0f} ms (n={len(samples)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", type=Path, default=ROOT)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="codeseek-cold-"))
    repo = work / "repo"
    subprocess.run(["git", "clone", "-q", str(args.repo.resolve()), str(repo)], check=True)
    env = {**os.environ, "CODESEEK_RUNTIME_DIR": str(work / "run")}
    env.pop("CODESEEK_SERVER", None)
    codeseek = [shutil.which("codeseek") or "codeseek"]
    subprocess.run([*codeseek, "index"], cwd=repo, env={**env, "CODESEEK_SERVER": "0"}, check=True,
                   capture_output=True)
    cold = []
    for _ in range(args.runs):
        subprocess.run([*codeseek, "serve", "--stop"], cwd=repo, env=env, capture_output=True)
        cold.append(timed([*codeseek, "find", QUERY, "--json"], repo, env)[0])
    print(f"repeat search, nothing running (starts the warm process): {summary(cold)}")
    other = work / "other"
    subprocess.run(["git", "clone", "-q", str(repo), str(other)], check=True)
    subprocess.run([*codeseek, "find", QUERY, "--json"], cwd=other, env=env, check=True, capture_output=True)
    while True:  # the warm process embeds the second repository behind the search
        status = json.loads(subprocess.run([*codeseek, "status", "--json"], cwd=other, env=env, capture_output=True,
                                           text=True, check=True).stdout)
        if status["embedded"] == status["total"] and status["embedding"] is None:
            break
        time.sleep(2)
    subprocess.run([*codeseek, "find", QUERY, "--json"], cwd=other, env=env, check=True, capture_output=True)
    ping = json.loads(subprocess.run([sys.executable, "-c", "import json; from codeseek import client; "
                                      "print(json.dumps(client.running()))"], cwd=other, env=env,
                                     capture_output=True, text=True, check=True).stdout)
    print(f"warm process resident memory with {ping['repositories']} repositories searched: "
          f"{ping['rss_bytes'] / 2**20:.0f} MiB (models loaded: {ping['models']})")
    subprocess.run([*codeseek, "serve", "--stop"], cwd=repo, env=env, capture_output=True)
    alone = [timed([*codeseek, "find", QUERY, "--json"], repo, {**env, "CODESEEK_SERVER": "0"})
             for _ in range(args.runs)]
    print(f"CODESEEK_SERVER=0 search: {summary([ms for ms, _ in alone])}; "
          f"peak resident memory {max(rss for _, rss in alone):.0f} MiB")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
