"""Every search answers in a blink, with nothing started by hand (issue #19).

    python benchmarks/warm_find.py [--workdir DIR] [--stdlib PATH]

1. A fresh clone of this repository in a fresh virtual environment, the README's first
   command as written (install, then `codeseek find "retry with exponential backoff"`), the
   background embedding left to finish, then 20 more `codeseek find --json` with different
   queries: p50 and p95 end to end, beside `python3 -c pass` and `codeseek find --mode
   lexical` measured in the same run.
2. What a warm `codeseek find` imports (python -X importtime): the heaviest modules.
3. With --stdlib (a repository indexed by index_stdlib.py): the CLI round trip through the
   warm process on the standard library's index.
4. Two repositories searched in turn: the warm process's resident memory after the first and
   after the second, and the models it holds.
5. A repeat search with the engine named in CODESEEK_BASE_URL (a local stand-in OpenAI-
   compatible server, answering at once) beside a default one, interleaved: the quick path
   takes both (issue #28: at most 1.3x). `--engine-env-only` measures this alone, with the
   codeseek installed here, on a clone of this repository.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
QUERIES = ["parse the config file", "start the warm process", "write a file atomically", "rank candidates by words",
           "check the Host header", "split an identifier into words", "merge vector segments",
           "retry a request with backoff", "find the repository root", "what changed since the last index",
           "embed texts in batches of similar length", "read a blob from git", "verify the server is ours",
           "load a bundled model", "print results as JSON", "install git hooks", "skip minified files",
           "similar code to a function", "the index is read-only", "progress of the embedding"]


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered):.0f} ms, p95 {p95:.0f} ms (n={len(ordered)})"


def timed(args: list[str], cwd: Path, env: dict[str, str]) -> float:
    began = time.perf_counter()
    subprocess.run(args, cwd=cwd, env=env, check=True, capture_output=True)
    return (time.perf_counter() - began) * 1000


def fresh_clone(workdir: Path) -> tuple[Path, dict[str, str]]:
    """A clone and a venv with the README's first command run in it."""
    clone, venv = workdir / "clone", workdir / "venv"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
           "CODESEEK_RUNTIME_DIR": str(workdir / "run")}
    env.pop("CODESEEK_SERVER", None)
    readme = (clone / "README.md").read_text()
    first = readme.split("```bash\n", 1)[1].split("\n", 1)[0]  # the quick start's first line
    began = time.perf_counter()
    subprocess.run(["bash", "-c", first], cwd=clone, env=env, check=True, capture_output=True)
    print(f"README's first command ({first[:60]}...): {time.perf_counter() - began:.0f} s")
    return clone, env


def settle(clone: Path, env: dict[str, str]) -> None:
    """Wait for the warm process to embed every chunk."""
    began = time.perf_counter()
    while True:
        status = json.loads(subprocess.run(["codeseek", "status", "--json"], cwd=clone, env=env,
                                           capture_output=True, text=True, check=True).stdout)
        if status["embedded"] == status["total"] and status["embedding"] is None:
            break
        time.sleep(2)
    print(f"every chunk embedded {time.perf_counter() - began:.0f} s after the first command "
          f"({status['total']} chunks)")


class StandIn:
    """An OpenAI-compatible embeddings server on 127.0.0.1 that answers at once, serving one
    model: the cost measured is codeseek's, not a model's. Its vectors come from `vectorise`
    (default: each text's hash, at the dimension asked). It counts the texts it embeds and keeps
    the first few of each request (a search that embeds only its query sends one)."""

    def __init__(self, model: str = "stand-in", vectorise: Callable[[list[str], int], np.ndarray] | None = None,
                 dim: int = 64) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.texts = 0
        self.seen: list[str] = []
        stand_in = self
        vectorise = vectorise or hashed

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _json(self, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._json({"data": [{"id": model}]})

            def do_POST(self) -> None:
                payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                texts = payload["input"]
                stand_in.texts += len(texts)
                stand_in.seen.extend(texts[:3])
                rows = vectorise(texts, payload.get("dimensions") or dim)
                self._json({"data": [{"index": i, "embedding": [float(x) for x in row]} for i, row in enumerate(rows)],
                            "model": payload.get("model", model)})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def hashed(texts: list[str], size: int) -> np.ndarray:
    """A vector of each text's hash bytes: meaningless, and costless to compute."""
    return np.array([[b / 255 - 0.5 for b in hashlib.shake_256(t.encode()).digest(size)] for t in texts],
                    dtype=np.float32)


def engine_in_environment(clone: Path, env: dict[str, str], workdir: Path) -> None:
    """A repeat find with the engine named in CODESEEK_BASE_URL beside a default one."""
    team = workdir / "team"
    shutil.rmtree(team, ignore_errors=True)
    subprocess.run(["git", "clone", "-q", str(clone), str(team)], check=True)
    stand_in = StandIn()
    team_env = {**env, "CODESEEK_BASE_URL": stand_in.url}
    for repo, repo_env in ((clone, env), (team, team_env)):
        subprocess.run(["codeseek", "find", "warm up", "--json"], cwd=repo, env=repo_env, check=True,
                       capture_output=True)
        settle(repo, repo_env)
    default, named = [], []
    for query in QUERIES:
        default.append(timed(["codeseek", "find", query, "--json"], clone, env))
        named.append(timed(["codeseek", "find", query, "--json"], team, team_env))
    print(f"repeat `codeseek find --json`, default engine: {percentiles(default)}; engine in CODESEEK_BASE_URL "
          f"(stand-in server): {percentiles(named)}; ratio of p50s "
          f"{statistics.median(named) / statistics.median(default):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "codeseek-warm")
    parser.add_argument("--stdlib", type=Path, help="a repository indexed by index_stdlib.py")
    parser.add_argument("--engine-env-only", action="store_true", help="measure 5 alone, with this codeseek")
    args = parser.parse_args()
    if args.engine_env_only:
        shutil.rmtree(args.workdir, ignore_errors=True)
        args.workdir.mkdir(parents=True)
        clone = args.workdir / "clone"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        env = {**os.environ, "CODESEEK_RUNTIME_DIR": str(args.workdir / "run")}
        env.pop("CODESEEK_SERVER", None)
        engine_in_environment(clone, env, args.workdir)
        subprocess.run(["codeseek", "serve", "--stop"], cwd=clone, env=env, capture_output=True)
        return
    clone, env = fresh_clone(args.workdir)
    settle(clone, env)
    python = str(args.workdir / "venv" / "bin" / "python3")
    bare = [timed([python, "-c", "pass"], clone, env) for _ in range(20)]
    warm = [timed(["codeseek", "find", query, "--json"], clone, env) for query in QUERIES]
    lexical = [timed(["codeseek", "find", query, "--json", "--mode", "lexical"], clone, env) for query in QUERIES]
    print(f"`python3 -c pass`: {percentiles(bare)}")
    print(f"`codeseek find --json` (hybrid, warm process started by the first search): {percentiles(warm)}")
    print(f"`codeseek find --json --mode lexical`: {percentiles(lexical)}")

    trace = subprocess.run([python, "-X", "importtime", "-m", "codeseek", "find", QUERIES[0], "--json"], cwd=clone,
                           env=env, capture_output=True, text=True, check=True).stderr
    rows = [line.split("|") for line in trace.splitlines() if line.startswith("import time:") and "|" in line]
    total = sum(int(r[0].split(":")[1]) for r in rows[1:] if r[0].split(":")[1].strip().isdigit())
    heaviest = sorted(((int(r[1]), r[2].strip()) for r in rows[1:] if r[1].strip().isdigit()), reverse=True)[:8]
    print(f"a warm find imports {len(rows) - 1} modules in {total / 1000:.0f} ms: "
          + ", ".join(f"{name} {us / 1000:.1f} ms" for us, name in heaviest))

    if args.stdlib is not None:
        subprocess.run(["codeseek", "find", "warm up", "--json"], cwd=args.stdlib, env=env, check=True,
                       capture_output=True)
        stdlib = [timed(["codeseek", "find", query, "--json"], args.stdlib, env) for query in QUERIES]
        print(f"CLI round trip through the warm process, stdlib index: {percentiles(stdlib)}")

    other = args.workdir / "other"
    subprocess.run(["git", "clone", "-q", str(clone), str(other)], check=True)
    rss = []
    for repo in (clone, other):
        subprocess.run(["codeseek", "find", "retry with backoff", "--json"], cwd=repo, env=env, check=True,
                       capture_output=True)
        settle(repo, env)  # the warm process embeds the second repository with the model it holds
        subprocess.run(["codeseek", "find", "retry with backoff", "--json"], cwd=repo, env=env, check=True,
                       capture_output=True)
        ping = json.loads(subprocess.run([python, "-c", "import json; from codeseek import client; "
                                          "print(json.dumps(client.running()))"], cwd=repo, env=env,
                                         capture_output=True, text=True, check=True).stdout)
        rss.append(ping["rss_bytes"])
    models = ", ".join(m["model"] for m in ping["models"])
    print(f"warm process resident memory: {rss[0] / 2**20:.0f} MiB after one repository, {rss[1] / 2**20:.0f} MiB "
          f"after a second ({ping['repositories']} repositories, models loaded: {models})")
    engine_in_environment(clone, env, args.workdir)
    subprocess.run(["codeseek", "serve", "--stop"], cwd=clone, env=env, capture_output=True)


if __name__ == "__main__":
    main()
