"""Latency of `find` on an indexed repository: through the warm process (what an editor or
the CLI sees once it runs; searches start it themselves) and as a cold command with the warm
process switched off (CODESEEK_SERVER=0: a new process that loads the model itself).

    python benchmarks/latency.py [--limit N] [--rounds R]

Uses the standard-library repository that index_stdlib.py builds (same --limit/--workdir).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time

from index_stdlib import CODESEEK, QUERIES, stdlib_arguments

from codeseek import client


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered):7.1f} ms   p95 {p95:7.1f} ms   (n={len(ordered)})"


def main() -> None:
    args, root = stdlib_arguments(__doc__, rounds=5)
    subprocess.run([*CODESEEK, "update"], cwd=root, check=True, capture_output=True)
    repo = {"root": str(root)}
    proc = subprocess.Popen([*CODESEEK, "serve", "--idle", "600"], cwd=root, stderr=subprocess.DEVNULL)
    try:
        while client.running() is None:
            time.sleep(0.2)
        for mode in ("hybrid", "lexical"):
            for no_update in (False, True):
                timings = []
                for _ in range(args.rounds):
                    for query in QUERIES:
                        began = time.perf_counter()
                        client.call("/find", {"repo": repo, "request": {"query": query, "k": 10, "mode": mode,
                                                                        "no_update": no_update}})
                        timings.append((time.perf_counter() - began) * 1000)
                label = "--no-update" if no_update else "update check included"
                print(f"warm process, {mode:<7} ({label}): {percentiles(timings)}")
        timings = []
        for _ in range(args.rounds):
            for query in QUERIES:
                began = time.perf_counter()
                subprocess.run([*CODESEEK, "find", query, "--json"], cwd=root, check=True, capture_output=True)
                timings.append((time.perf_counter() - began) * 1000)
        print(f"`codeseek find` through the warm process (new CLI process): {percentiles(timings)}")
    finally:
        proc.terminate()
        proc.wait()
    timings = []
    env = {**os.environ, "CODESEEK_SERVER": "0"}
    for query in QUERIES[:4]:
        began = time.perf_counter()
        subprocess.run([*CODESEEK, "find", query, "--json"], cwd=root, check=True, capture_output=True, env=env)
        timings.append((time.perf_counter() - began) * 1000)
    print(f"cold `codeseek find` (CODESEEK_SERVER=0: loads the model): {percentiles(timings)}")


if __name__ == "__main__":
    main()
