"""Latency of `find` on an indexed repository: through the warm server (what an editor or the
CLI sees when `codeseek serve` runs) and as a cold command (a new process that loads the
model itself).

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
from codeseek.repo import open_workspace


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered):7.1f} ms   p95 {p95:7.1f} ms   (n={len(ordered)})"


def main() -> None:
    args, root = stdlib_arguments(__doc__, rounds=5)
    ws = open_workspace(root)
    subprocess.run([*CODESEEK, "update"], cwd=root, check=True, capture_output=True)

    proc = subprocess.Popen([*CODESEEK, "serve", "--idle", "600"], cwd=root, stderr=subprocess.DEVNULL)
    try:
        while client.running(ws) is None:
            time.sleep(0.2)
        for mode in ("hybrid", "lexical"):
            timings = []
            for _ in range(args.rounds):
                for query in QUERIES:
                    began = time.perf_counter()
                    client.call(ws, "POST", "/find", {"query": query, "k": 10, "mode": mode})
                    timings.append((time.perf_counter() - began) * 1000)
            print(f"warm server, {mode:<7} (update check included): {percentiles(timings)}")
            timings = []
            for _ in range(args.rounds):
                for query in QUERIES:
                    began = time.perf_counter()
                    client.call(ws, "POST", "/find", {"query": query, "k": 10, "mode": mode, "no_update": True})
                    timings.append((time.perf_counter() - began) * 1000)
            print(f"warm server, {mode:<7} (--no-update):          {percentiles(timings)}")
        timings = []
        for query in QUERIES[:4]:
            began = time.perf_counter()
            subprocess.run([*CODESEEK, "find", query, "--json"], cwd=root, check=True, capture_output=True)
            timings.append((time.perf_counter() - began) * 1000)
        print(f"`codeseek find` through the server (new CLI process): {percentiles(timings)}")
    finally:
        proc.terminate()
        proc.wait()
    timings = []
    env = {**os.environ}
    for query in QUERIES[:4]:
        began = time.perf_counter()
        subprocess.run([*CODESEEK, "find", query, "--json"], cwd=root, check=True, capture_output=True, env=env)
        timings.append((time.perf_counter() - began) * 1000)
    print(f"cold `codeseek find` (no server: loads the model): {percentiles(timings)}")


if __name__ == "__main__":
    main()
