"""Latency of the web page: from the search box's debounce firing to the results on the page
(fetch, render and layout, timed by app.js with performance.now() and read back through
Playwright), for queries typed in a real headless Chromium, beside the same queries through
`codeseek find --json` (a new CLI process answered by the same warm process), in one run.

    python benchmarks/web_latency.py [--limit N] [--workdir DIR] [--rounds R]

Uses the standard-library repository that index_stdlib.py builds (same --limit/--workdir) and
indexes it fully first, vectors included, when it is not (about 25 minutes of CPU for the
whole stdlib on 2 cores; `--limit 300` takes a minute). Its warm process has a folder of its
own, so the user's is neither used nor disturbed. Needs Debian's chromium and playwright
(`apt-get install chromium`, `pip install playwright`).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from index_stdlib import CODESEEK, QUERIES, stdlib_arguments

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
MORE_QUERIES = [
    "split a path into directory and file name",
    "escape HTML special characters",
    "parse a URL into its components",
    "create a temporary directory",
    "compress data with gzip",
    "match a file name against a shell pattern",
    "read a CSV file row by row",
    "run a subprocess and capture its output",
    "base64 encode bytes",
    "wait for a thread to finish",
    "JSONDecoder.raw_decode",
    "urlsplit",
]
WEB_QUERIES = (QUERIES + MORE_QUERIES)[:20]
K = 20  # what the page asks for


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered):7.1f} ms   p95 {p95:7.1f} ms   (n={len(ordered)})"


def complete(root: Path, env: dict[str, str]) -> None:
    """The whole index, vectors included, so both sides search the same thing."""
    status = json.loads(subprocess.run([*CODESEEK, "status", "--json"], cwd=root, env=env, capture_output=True,
                                       text=True).stdout or "{}")
    if status.get("total") and not status.get("unembedded") and not status.get("pending"):
        return
    print("indexing the repository, vectors included (progress on stderr)...", flush=True)
    subprocess.run([*CODESEEK, "index"], cwd=root, env=env, check=True)


def start_web(root: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([*CODESEEK, "web", "--no-browser", "--port", "0"], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http://127.0.0.1:"):
        proc.kill()
        sys.exit(f"codeseek web did not start (it printed {url!r})")
    return proc, url


def in_browser(url: str, rounds: int) -> tuple[list[float], list[float]]:
    """Page times (debounce to rendered) and the server's share of them, per query typed."""
    from playwright.sync_api import sync_playwright

    page_ms, server_ms = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.set_default_timeout(120_000)
        page.goto(url)
        page.wait_for_function("() => document.querySelector('#repo').textContent !== ''")
        for round_ in range(rounds + 1):  # the first round warms up (model, caches) and is not counted
            for query in WEB_QUERIES:
                page.locator("#q").fill("")
                before = page.evaluate("window.codeseekTimings.length")
                page.locator("#q").press_sequentially(query, delay=30)  # typing: one debounce, at the end
                page.wait_for_function("([n, q]) => window.codeseekTimings.slice(n).some(t => t.query === q)",
                                       arg=[before, query])
                timing = [t for t in page.evaluate("window.codeseekTimings")[before:] if t["query"] == query][-1]
                if round_:
                    page_ms.append(timing["ms"])
                    server_ms.append(timing["server_ms"])
        browser.close()
    return page_ms, server_ms


def through_cli(root: Path, env: dict[str, str], rounds: int) -> list[float]:
    """`codeseek find --json` round trips: a new process, answered by the warm process."""
    timings = []
    for _ in range(rounds):
        for query in WEB_QUERIES:
            began = time.perf_counter()
            subprocess.run([*CODESEEK, "find", query, "--json", "-k", str(K)], cwd=root, env=env, check=True,
                           capture_output=True)
            timings.append((time.perf_counter() - began) * 1000)
    return timings


def main() -> None:
    if not Path(CHROMIUM).exists():
        sys.exit(f"{CHROMIUM} is missing: apt-get install chromium")
    args, root = stdlib_arguments(__doc__, rounds=1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODESEEK_")}
    env["CODESEEK_RUNTIME_DIR"] = str(args.workdir / "web-latency-run")  # a warm process of its own
    complete(root, env)
    proc, url = start_web(root, env)
    try:
        page_ms, server_ms = in_browser(url, args.rounds)
        cli_ms = through_cli(root, env, args.rounds)
    finally:
        proc.terminate()
        proc.wait()
        subprocess.run([*CODESEEK, "serve", "--stop"], cwd=root, env=env, capture_output=True)
    print(f"repository: {root} ({len(WEB_QUERIES)} queries x {args.rounds} rounds, k={K}, hybrid)")
    print(f"web page, debounce fired -> results rendered: {percentiles(page_ms)}")
    print(f"  of which the server's search (took_ms):     {percentiles(server_ms)}")
    print(f"`codeseek find --json` (new CLI process):    {percentiles(cli_ms)}")


if __name__ == "__main__":
    main()
