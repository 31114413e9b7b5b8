"""Build the (description, code) training corpus for fine-tuning the CPU embedding model.

    python training/corpus.py --workdir /work/data/corpus

Fetches every package of training/sources.py into the work folder (a cache: a re-run fetches
nothing and re-reads a package only when the extraction code or its entry changed), takes one
pair per documented definition (extract.py), and filters:

1. licence: only permissive packages (fetch.is_permissive), read from the package itself;
2. held-out projects (HELDOUT.md) and benchmark projects (benchmarks/corpora.py): by package
   name, and by path for vendored copies (names.py);
3. tests, docs, examples, vendored, generated and minified files;
4. the same query twice in one package, exact duplicate code, queries shared by more than
   MAX_QUERY_CODES codes (boilerplate), code overlapping the benchmark (exact, near or the same
   query; written to training/OVERLAP.md), then near-duplicate code (MinHash, dedup.py);
5. at most --cap pairs per package and Python at most --python-share of the corpus.

Whole packages chosen by a seeded hash of the name (~3%) go to valid.jsonl, the rest to
pairs.jsonl, both ordered by package, path and line. training/MANIFEST.tsv lists every source.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT), str(ROOT / "benchmarks")]

import fetch  # noqa: E402
import names  # noqa: E402
from dedup import LSHIndex, exact_key, signature  # noqa: E402
from extract import Pair, pairs_of  # noqa: E402
from overlap import build_reference  # noqa: E402
from queries import is_implementation  # noqa: E402
from sources import Source, all_sources  # noqa: E402

from codeseek import languages  # noqa: E402
from codeseek.skipping import SkipRules  # noqa: E402

OVERSAMPLE = 2  # read files until a package has this many times --cap candidates
MAX_QUERY_CODES = 3
VENDORED = frozenset({"_vendor", "vendored", "vendor", "node_modules", "third_party", "third-party", "thirdparty",
                      "3rdparty", "external", "externals", "deps", "bower_components"})
DECLARATIONS = (".d.ts", ".d.mts", ".d.cts")
FINGERPRINT_FILES = ("extract.py", "names.py")  # what shapes a package's pairs (licences are re-checked)


@dataclass
class Extracted:
    """One source after reading: its licence and candidate pairs, and why files were skipped."""

    licence: str = ""
    artefact: str = ""
    status: str = "ok"
    pairs: list[Pair] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)


def file_reason(path: str, data: bytes, excluded: names.Excluded, rules: SkipRules) -> str | None:
    """Why a file gives no pairs (held-out or benchmark copy, test, vendored, generated)."""
    if label := excluded.path(path):
        return label
    if not is_implementation(path):
        return "tests/docs/examples"
    if VENDORED & {p.lower() for p in PurePosixPath(path).parts[:-1]}:
        return "vendored"
    reason = rules.reason(path, data)
    return f"skip: {reason.split(' (')[0]}" if reason else None


def _wanted(source: Source, path: str) -> str | None:
    """The file's language if the source's keep/exts select it and codeseek parses it."""
    if source.keep and not any(path.startswith(k.rstrip("/") + "/") for k in source.keep):
        return None
    if source.exts and not path.endswith(source.exts):
        return None
    spec = languages.for_path(path)
    return spec.name if spec else None


def _order(seed: int, *parts: object) -> str:
    return hashlib.sha1(":".join(map(str, (seed, *parts))).encode()).hexdigest()


def extract_source(source: Source, workdir: Path, excluded: names.Excluded, cap: int, seed: int) -> Extracted:
    """Candidate pairs of one fetched source, files read in a seeded order until enough."""
    package = fetch.read(source, workdir)
    out = Extracted(licence=fetch.licence_of(source, package.licence_text), artefact=package.artefact)
    if not fetch.is_permissive(out.licence):
        out.status = "licence not permissive or unknown"
        return out
    rules = SkipRules()
    files = [(p, d, lang) for p, d in package.files if (lang := _wanted(source, p))]
    if any(p.endswith(".ts") and not p.endswith(DECLARATIONS) for p, _, _ in files):
        files = [f for f in files if not f[0].endswith(DECLARATIONS)]  # they repeat the .ts files' docs
    files.sort(key=lambda f: _order(seed, source.key, f[0]))
    for index, (path, data, lang) in enumerate(files):
        if len(out.pairs) >= OVERSAMPLE * cap:
            out.skipped["not read (package has enough)"] += len(files) - index
            break
        if reason := file_reason(path, data, excluded, rules):
            out.skipped[reason] += 1
            continue
        try:
            out.pairs.extend(pairs_of(path, data, source.key, lang))
        except Exception:  # noqa: BLE001 - one unparsable file must not lose the package
            out.skipped["parse error"] += 1
    return out


def cached_extract(source: Source, workdir: Path, excluded: names.Excluded, cap: int, seed: int,
                   fingerprint: str) -> Extracted:
    """extract_source, kept on disk keyed by the code and the inputs that shape its output."""
    path = workdir / "extracted" / f"{fetch.folder(source, workdir).name}.{source.registry}.json.gz"
    key = _order(seed, fingerprint, cap, source)
    if path.exists():
        saved = json.loads(gzip.decompress(path.read_bytes()))
        if saved["key"] == key and (saved["status"] == "ok" or not fetch.is_permissive(saved["licence"])):
            return Extracted(saved["licence"], saved["artefact"], saved["status"],
                             [Pair(**p) for p in saved["pairs"]], Counter(saved["skipped"]))
    fetch.download(source, workdir)
    result = extract_source(source, workdir, excluded, cap, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(json.dumps({
        "key": key, "licence": result.licence, "artefact": result.artefact, "status": result.status,
        "pairs": [asdict(p) for p in result.pairs], "skipped": result.skipped}).encode()))
    return result


def prefetch_debs(sources: list[Source], workdir: Path) -> None:
    """Download Debian binary packages forty to an apt-get call (one call each is slow)."""
    missing = [s for s in sources if s.registry == "deb" and not (fetch.folder(s, workdir) / ".done").exists()]
    for start in range(0, len(missing), 40):
        batch = missing[start:start + 40]
        with tempfile.TemporaryDirectory(dir=workdir) as scratch:
            got = subprocess.run(["apt-get", "download", *(f"{s.name}={s.version}" for s in batch)], cwd=scratch,
                                 capture_output=True)
            if got.returncode != 0:
                continue  # one bad name fails the batch; each is then fetched alone
            for source in batch:
                into = fetch.folder(source, workdir)
                into.mkdir(parents=True, exist_ok=True)
                for deb in Path(scratch).glob(f"{source.name}_*.deb"):
                    deb.rename(into / deb.name)
                (into / ".done").touch()


@dataclass
class Tally:
    """Counts for the report: pairs per language at each stage, and what was dropped why."""

    stages: dict[str, Counter] = field(default_factory=dict)
    dropped: Counter = field(default_factory=Counter)
    overlap: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))

    def stage(self, name: str, pairs: list[Pair]) -> None:
        self.stages[name] = Counter(p.language for p in pairs)


def filter_pairs(pairs: list[Pair], reference, tally: Tally) -> list[Pair]:
    """Duplicate, boilerplate and benchmark filters, in the order the module docstring gives."""
    seen_query: set[tuple[str, str]] = set()
    seen_code: set[str] = set()
    kept = []
    for pair in pairs:
        if (pair.package, pair.query.lower()) in seen_query:
            tally.dropped["same query twice in a package"] += 1
        elif (key := exact_key(pair.body())) in seen_code:
            tally.dropped["exact duplicate code"] += 1
        else:
            seen_query.add((pair.package, pair.query.lower()))
            seen_code.add(key)
            kept.append(pair)
    codes_per_query = Counter(p.query.lower() for p in kept)
    boiler = {q for q, n in codes_per_query.items() if n > MAX_QUERY_CODES}
    tally.dropped["query shared by more than 3 codes"] += sum(codes_per_query[q] for q in boiler)
    kept = [p for p in kept if p.query.lower() not in boiler]
    tally.stage("after exact dedupe and boilerplate", kept)
    index = LSHIndex()
    out = []
    for pair in kept:
        sig = signature(pair.body())
        if hit := reference.match(pair.body(), sig, pair.query):
            tally.overlap[hit] += 1
            tally.dropped[f"benchmark overlap ({hit[0]})"] += 1
            continue
        if index.near(sig) is not None:
            tally.dropped["near-duplicate code"] += 1
            continue
        index.add(sig, pair.package)
        out.append(pair)
    tally.stage("after overlap and near dedupe", out)
    return out


def cap_pairs(pairs: list[Pair], cap: int, python_share: float, seed: int, tally: Tally) -> list[Pair]:
    """At most `cap` pairs per package and Python at most `python_share`, sampled by seeded hash."""
    by_package: dict[str, list[Pair]] = defaultdict(list)
    for pair in pairs:
        by_package[pair.package].append(pair)
    kept = []
    for package, items in by_package.items():
        ranked = sorted(items, key=lambda p: _order(seed, package, p.path, p.line, p.symbol))
        tally.dropped["over the per-package cap"] += max(0, len(ranked) - cap)
        kept.extend(ranked[:cap])
    python = [p for p in kept if p.language == "python"]
    limit = int(python_share / (1 - python_share) * (len(kept) - len(python)))
    if len(python) > limit:
        chosen = {id(p) for p in sorted(python, key=lambda p: _order(seed, p.package, p.path, p.line))[:limit]}
        tally.dropped["over the Python share"] += len(python) - limit
        kept = [p for p in kept if p.language != "python" or id(p) in chosen]
    return sorted(kept, key=lambda p: (p.package, p.path, p.line, p.symbol))


def write_outputs(pairs: list[Pair], workdir: Path, seed: int, valid_share: float) -> tuple[int, int]:
    valid_cut = int(valid_share * 10_000)
    counts = [0, 0]
    with open(workdir / "pairs.jsonl", "w") as train, open(workdir / "valid.jsonl", "w") as valid:
        for pair in pairs:
            is_valid = int(_order(seed, "split", pair.package)[:8], 16) % 10_000 < valid_cut
            record = {k: v for k, v in asdict(pair).items() if k != "line"}
            (valid if is_valid else train).write(json.dumps(record, ensure_ascii=False) + "\n")
            counts[is_valid] += 1
    return counts[0], counts[1]


def write_manifest(path: Path, rows: list[tuple[Source, str, str, str]], final: list[Pair]) -> None:
    """One line per source: registry, package, version, licence, languages, pairs kept, note."""
    kept = Counter(p.package for p in final)
    langs: dict[str, Counter] = defaultdict(Counter)
    for pair in final:
        langs[pair.package][pair.language] += 1
    lines = ["registry\tpackage\tversion\tlicence\tlanguage\tpairs_kept\tnote"]
    for source, licence, version, note in rows:
        language = ",".join(lang for lang, _ in langs[source.key].most_common())
        clean = " ".join(licence.split())[:80] or "-"
        lines.append(f"{source.registry}\t{source.name}\t{version}\t{clean}\t{language or '-'}\t"
                     f"{kept[source.key]}\t{note}")
    path.write_text("\n".join(lines) + "\n")


def write_overlap(path: Path, reference, tally: Tally, candidates: int) -> str:
    corpora = sorted(reference.chunks)
    lines = ["# Training corpus vs retrieval benchmark: overlap", "",
             "Training pairs (after exact dedupe and boilerplate filters, "
             f"{candidates:,} pairs) whose code matches a chunk of a benchmark corpus "
             "(doc comments blanked, as the benchmark indexes it) exactly (whitespace-normalised) or "
             "nearly (MinHash Jaccard >= 0.8 on token 5-shingles), or whose query is one of the corpus's "
             "doc sentences. All such pairs were dropped. Made by `python training/corpus.py`.", "",
             "| corpus | chunks | exact | near | same query |", "|---|---:|---:|---:|---:|"]
    for name in corpora:
        counts = [tally.overlap.get((how, name), 0) for how in ("exact", "near", "query")]
        lines.append(f"| {name} | {reference.chunks[name]:,} | " + " | ".join(map(str, counts)) + " |")
    text = "\n".join(lines) + "\n"
    path.write_text(text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path("/work/data/corpus"))
    parser.add_argument("--cap", type=int, default=3000, help="most pairs from one package")
    parser.add_argument("--python-share", type=float, default=0.4)
    parser.add_argument("--valid-share", type=float, default=0.03)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--only", nargs="*", help="package names (a quick partial run)")
    parser.add_argument("--benchmark-repos", type=Path,
                        default=Path(os.environ.get("TMPDIR", tempfile.gettempdir())) / "codeseek-retrieval" / "corpora")
    parser.add_argument("--manifest", type=Path, default=HERE / "MANIFEST.tsv")
    parser.add_argument("--overlap", type=Path, default=HERE / "OVERLAP.md")
    args = parser.parse_args()
    began = time.time()
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    benchmark = names.benchmark_corpora()
    heldout_text = names.HELDOUT_MD.read_text()
    excluded = names.build(heldout_text, [(c.name, c.package) for c in benchmark])
    fingerprint = _order(0, *((HERE / f).read_text() for f in FINGERPRINT_FILES))
    fingerprint = _order(0, fingerprint, heldout_text, benchmark)
    sources = [s for s in all_sources() if not args.only or s.name in args.only]
    print(f"{len(sources)} sources; {len(excluded.patterns)} excluded name patterns; "
          f"benchmark corpora: {', '.join(c.name for c in benchmark)}", flush=True)
    fetch.apt_update(workdir)
    prefetch_debs(sources, workdir)
    rows: list[tuple[Source, str, str, str]] = []
    candidates: list[Pair] = []
    file_skips: Counter = Counter()
    for number, source in enumerate(sources, 1):
        version = source.version or sys.version.split()[0]
        if label := excluded.package(source.name):
            rows.append((source, "", version, f"excluded: {label}"))
            continue
        try:
            result = cached_extract(source, workdir, excluded, args.cap, args.seed, fingerprint)
        except (subprocess.CalledProcessError, StopIteration, OSError) as error:
            rows.append((source, "", version, f"fetch failed: {type(error).__name__}"))
            print(f"[{number}/{len(sources)}] {source.key}: fetch failed ({error})", flush=True)
            continue
        if result.status == "ok" and not fetch.is_permissive(result.licence):
            result = Extracted(result.licence, result.artefact, "licence not permissive or unknown")
        file_skips.update(result.skipped)
        note = result.status if result.status != "ok" else f"{len(result.pairs)} candidates"
        rows.append((source, result.licence, version, note))
        candidates.extend(result.pairs if result.status == "ok" else [])
        print(f"[{number}/{len(sources)}] {source.key}: {note} ({result.licence or 'no licence'})", flush=True)
    tally = Tally()
    tally.stage("candidates", candidates)
    reference = build_reference(benchmark, args.benchmark_repos, workdir)
    filtered = filter_pairs(candidates, reference, tally)
    final = cap_pairs(filtered, args.cap, args.python_share, args.seed, tally)
    tally.stage("final", final)
    train, valid = write_outputs(final, workdir, args.seed, args.valid_share)
    write_manifest(args.manifest, rows, final)
    print(write_overlap(args.overlap, reference, tally, sum(tally.stages["after exact dedupe and boilerplate"].values())))
    report(tally, rows, file_skips, final, train, valid, time.time() - began, workdir)


def report(tally: Tally, rows, file_skips: Counter, final: list[Pair], train: int, valid: int, seconds: float,
           workdir: Path) -> None:
    languages_seen = sorted({lang for c in tally.stages.values() for lang in c})
    print("pairs per language at each stage:")
    print(f"  {'language':<12}" + "".join(f"{s[:24]:>26}" for s in tally.stages))
    for lang in languages_seen:
        print(f"  {lang:<12}" + "".join(f"{c[lang]:>26,}" for c in tally.stages.values()))
    print(f"  {'total':<12}" + "".join(f"{sum(c.values()):>26,}" for c in tally.stages.values()))
    print("pairs dropped:", dict(tally.dropped.most_common()))
    print("files skipped:", dict(file_skips.most_common()))
    notes = Counter(n.split(":")[0] if not n.endswith("candidates") else "used" for _, _, _, n in rows)
    registries = Counter(s.registry for s, _, _, n in rows if n.endswith("candidates"))
    licences = Counter(" ".join(lic.split())[:40] for _, lic, _, n in rows if n.endswith("candidates"))
    print("sources:", dict(notes), "used per registry:", dict(registries))
    print("licences of sources used:", dict(licences.most_common()))
    print("excluded by name:", [s.name + " (" + n + ")" for s, _, _, n in rows if n.startswith("excluded")])
    print(f"packages with pairs: {len({p.package for p in final})}; train {train:,} pairs, valid {valid:,} pairs "
          f"in {workdir}; {seconds / 60:.1f} min")


if __name__ == "__main__":
    main()
