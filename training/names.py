"""Which packages and files must never reach the corpus: held-out projects and benchmark projects.

Names are compared as token sequences, so `golang-github-spf13-cobra-dev`, `cobra` and
`github.com/spf13/cobra/command.go` all meet the held-out `spf13/cobra`. Both lists are read
at run time (HELDOUT.md and benchmarks/corpora.py), never copied, so a project added there is
excluded here without an edit. The rules err on the side of excluding too much: a Rust crate's
`src/serde.rs` is dropped because `serde` is held out, although it is that crate's own code.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

HELDOUT_MD = Path("/work/shared/HELDOUT.md")
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
HELDOUT_LINE = re.compile(r"^\s*[-*]\s+([\w.-]+)/([\w.-]+)\s*$")

# Registry prefixes and suffixes that are packaging, not the project's name.
PREFIXES = ("golang-", "librust-", "ruby-", "php-", "node-", "python3-", "python-", "lua-", "lib")
SUFFIXES = ("-dev", "-java", "-js", "-doc", "-perl")
# Tokens that name a language or a host, not a project (abseil-cpp is abseil; go-cmp is cmp).
NOISE_TOKENS = frozenset({"cpp", "js", "rs", "go", "golang", "py", "java", "php", "rb", "csharp", "dev",
                          "github", "gitlab", "com", "org", "www", "min", "v"})
# Repository names too common to exclude alone: they are matched with their owner
# (nlohmann/json is `nlohmann json`, never every `json`).
GENERIC = frozenset({"json", "cli", "framework", "core", "websocket", "http", "client", "server"})
# Names a held-out project is also published or vendored under (its monorepo's other packages).
ALIASES: dict[str, tuple[str, ...]] = {
    "rails/rails": ("activesupport", "activerecord", "activemodel", "actionpack", "actionview", "actioncable",
                    "actionmailer", "actionmailbox", "actiontext", "activejob", "activestorage", "railties"),
    "laravel/framework": ("laravel", "illuminate"),
    "nlohmann/json": ("nlohmann",),
    "abseil/abseil-cpp": ("absl",),
    "google/guava": ("com google common",),
    "junit-team/junit5": ("junit jupiter", "junit platform", "junit vintage"),
    "tj/commander.js": ("commander",),
    # Default gems whose code is kept inside ruby/ruby's own tree (lib/, ext/).
    "ruby/ruby": ("rubygems", "bundler", "rdoc", "irb", "reline", "racc", "psych"),
}


def tokens(text: str) -> list[str]:
    """A name as comparable tokens: lowercase words, trailing version digits dropped
    (commons-lang3 -> commons lang, jinja2 -> jinja), noise tokens and bare numbers removed."""
    out = []
    for token in re.split(r"[^a-z0-9]+", text.lower()):
        if not token or token.isdigit() or re.fullmatch(r"v\d+", token):
            continue
        token = re.sub(r"(?<=[a-z])\d+$", "", token)
        if token not in NOISE_TOKENS:
            out.append(token)
    return out


def package_tokens(name: str) -> list[str]:
    """A registry package name without its packaging prefix and suffix."""
    name = name.lower().lstrip("@")
    for suffix in SUFFIXES:
        name = name.removesuffix(suffix)
    for prefix in PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix):
            name = name[len(prefix):]
            break
    return tokens(name)


def path_tokens(path: str) -> list[str]:
    """Every directory and the file's stem (`underscore-min.js` -> underscore) as one sequence."""
    parts = list(PurePosixPath(path).parts)
    if parts:
        parts[-1] = parts[-1].split(".")[0]
    found: list[str] = []
    for part in parts:
        found.extend(package_tokens(part) if part.startswith("lib") else tokens(part))
    return found


def _contains(seq: list[str], sub: tuple[str, ...]) -> bool:
    n = len(sub)
    return any(tuple(seq[i:i + n]) == sub for i in range(len(seq) - n + 1))


@dataclass
class Excluded:
    """The names to keep out, each a token sequence labelled with the project it stands for."""

    patterns: dict[tuple[str, ...], str] = field(default_factory=dict)

    def add(self, label: str, name: str) -> None:
        seq = tuple(package_tokens(name))
        if seq:
            self.patterns.setdefault(seq, label)

    def match(self, seq: list[str]) -> str | None:
        """The project whose name appears in the token sequence, or None."""
        return next((label for pattern, label in self.patterns.items() if _contains(seq, pattern)), None)

    def package(self, name: str) -> str | None:
        return self.match(package_tokens(name))

    def path(self, path: str) -> str | None:
        return self.match(path_tokens(path))


def heldout_projects(text: str) -> list[tuple[str, str]]:
    """(owner, name) of every project listed in HELDOUT.md."""
    return [(m.group(1), m.group(2)) for line in text.splitlines() if (m := HELDOUT_LINE.match(line))]


def build(heldout_text: str, benchmark: Iterable[tuple[str, str]]) -> Excluded:
    """Held-out projects (HELDOUT.md's text) and benchmark corpora ((name, package) pairs)."""
    excluded = Excluded()
    for owner, name in heldout_projects(heldout_text):
        label = f"heldout:{owner}/{name}"
        seq = package_tokens(name)
        if not seq or (len(seq) == 1 and seq[0] in GENERIC):
            excluded.add(label, f"{owner}-{name}")
        else:
            excluded.add(label, name)
        for alias in ALIASES.get(f"{owner}/{name}", ()):
            excluded.add(label, alias)
    for name, package in benchmark:
        excluded.add(f"benchmark:{name}", name)
        excluded.add(f"benchmark:{name}", package)
    return excluded


@dataclass(frozen=True)
class BenchmarkCorpus:
    """One project of the retrieval benchmark, as benchmarks/corpora.py describes it."""

    name: str
    language: str
    registry: str
    package: str
    version: str
    keep: tuple[str, ...] = (".",)
    base: str = ""
    drop: tuple[str, ...] = ()


def benchmark_corpora(benchmarks: Path = BENCHMARKS) -> list[BenchmarkCorpus]:
    """Every corpus in benchmarks/corpora.py's CORPORA, as it stands when this runs.

    Imported when the module imports; read from its source otherwise (its imports may be
    broken for a while as the rest of the repository is refactored, the list stays readable).
    """
    fields = ("name", "language", "registry", "package", "version", "keep", "base", "drop")
    try:
        sys.path.insert(0, str(benchmarks))
        from corpora import CORPORA  # type: ignore[import-not-found]

        return [BenchmarkCorpus(**{f: getattr(c, f) for f in fields}) for c in CORPORA]
    except Exception:  # noqa: BLE001 - any import failure falls back to reading the source
        pass
    finally:
        sys.path.remove(str(benchmarks))
    tree = ast.parse((benchmarks / "corpora.py").read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "CORPORA" for t in node.targets):
            for call in getattr(node.value, "elts", []):
                values = dict(zip(fields, (ast.literal_eval(a) for a in call.args), strict=False))
                values.update({k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg})
                found.append(BenchmarkCorpus(**values))
    if not found:
        raise RuntimeError("benchmarks/corpora.py has no readable CORPORA list")
    return found
