"""The retrieval benchmark's code, to find and drop training pairs that overlap it.

The benchmark (benchmarks/retrieval.py) indexes each corpus with its doc comments blanked and
asks the doc comments' first sentences as queries. A training pair whose code is that code
(exactly or nearly), or whose query is one of those sentences, would train on the test; this
module gives the reference to compare with: every chunk of every benchmark corpus, the chunk
text taken from the doc-stripped file as the benchmark indexes it, and every doc sentence.

The corpora are read from `python benchmarks/corpora.py`'s git repositories when they are
there; otherwise they are fetched here from the same registries at the same versions (that
script may not import while the repository is being refactored).
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from dedup import LSHIndex, exact_key, signature
from extract import clean_doc, strip_docs
from fetch import Package, _npm, _tar_files, _wheel, download, folder, read
from names import BenchmarkCorpus
from queries import definitions, first_sentence
from sources import Source

from codeseek import languages
from codeseek.parsing import chunk_file


@dataclass
class Reference:
    """Benchmark chunks by exact key and by MinHash, and benchmark doc sentences."""

    exact: dict[str, str] = field(default_factory=dict)  # exact key -> corpus name
    index: LSHIndex = field(default_factory=LSHIndex)
    queries: dict[str, str] = field(default_factory=dict)  # lowercased sentence -> corpus name
    chunks: dict[str, int] = field(default_factory=dict)  # corpus name -> chunk count

    def match(self, body: str, sig: np.ndarray, query: str) -> tuple[str, str] | None:
        """(how, corpus) when a training pair overlaps the benchmark, else None."""
        if (corpus := self.exact.get(exact_key(body))) is not None:
            return "exact", corpus
        if (corpus := self.index.near(sig)) is not None:
            return "near", corpus
        if (corpus := self.queries.get(query.lower())) is not None:
            return "query", corpus
        return None


def corpus_files(corpus: BenchmarkCorpus, repos: Path, workdir: Path) -> list[tuple[str, bytes]]:
    """The corpus's files: from its benchmark git repository, or fetched like corpora.py does."""
    root = repos / corpus.name
    if (root / ".git").exists():
        names = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True, check=True).stdout
        return [(n, (root / n).read_bytes()) for n in names.split("\n") if n and (root / n).is_file()]
    source = Source(corpus.registry, corpus.package, corpus.version)
    if corpus.registry == "pypi":
        package = _sdist(source, workdir)
    else:
        download(source, workdir)
        package = read(source, workdir) if corpus.registry != "npm" else _npm(next(folder(source, workdir).glob("*.tgz")))
    base = corpus.base.strip("/")
    for root_prefix in ("usr/share/gocode/src/", "usr/share/cargo/registry/"):
        base = base.removeprefix(root_prefix)
    keep = [f"{base}/{k}".strip("./") if k != "." else base for k in corpus.keep]
    files = []
    for path, data in package.files:
        if keep and not any(path == k or path.startswith(k + "/") or not k for k in keep):
            continue
        rel = path[len(base) + 1:] if base else path
        if not any(rel.startswith(d.rstrip("/") + "/") for d in corpus.drop):
            files.append((rel, data))
    return files


def _sdist(source: Source, workdir: Path) -> Package:
    """A benchmark's PyPI sdist (tests included), or its wheel if the sdist will not download."""
    into = folder(source, workdir) / "sdist"
    if not (into / ".done").exists():
        into.mkdir(parents=True, exist_ok=True)
        result = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                                 f"{source.name}=={source.version}", "-d", str(into)], capture_output=True)
        if result.returncode == 0:
            (into / ".done").touch()
    archive = next(into.glob("*.tar.gz"), None)
    if archive is None:
        download(source, workdir)
        return _wheel(next(folder(source, workdir).glob("*.whl")))
    with tarfile.open(archive) as tar:
        top = f"{archive.name.removesuffix('.tar.gz')}/"
        return Package(sorted(_tar_files(tar, top)), "", archive.name)


def build_reference(corpora: list[BenchmarkCorpus], repos: Path, workdir: Path) -> Reference:
    """Chunk every benchmark corpus (doc comments blanked, as the benchmark indexes it)."""
    ref = Reference()
    for corpus in corpora:
        count = 0
        for path, data in corpus_files(corpus, repos, workdir):
            spec = languages.for_path(path)
            if spec is None:
                continue
            try:
                defs = definitions(path, data)
                chunks = chunk_file(path, strip_docs(data, defs, spec.name == "python"))
            except Exception:  # noqa: BLE001 - a file the parser rejects has no chunks to compare
                continue
            for d in defs:
                if d.doc and (sentence := first_sentence(clean_doc(d.doc, spec.name))):
                    ref.queries.setdefault(" ".join(sentence.split()).lower(), corpus.name)
            for chunk in chunks:
                if str(chunk.kind) == "text":
                    continue
                ref.exact.setdefault(exact_key(chunk.text), corpus.name)
                ref.index.add(signature(chunk.text), corpus.name)
                count += 1
        ref.chunks[corpus.name] = count
    return ref
