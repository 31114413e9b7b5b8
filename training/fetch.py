"""Fetching a source from its registry into the work folder, and reading its files and licence.

Every download lands in `<workdir>/downloads/<registry>/<name>/` with a `.done` marker, so a
re-run reads the cache and fetches nothing. Archives are read in place (tar and zip members,
a .deb's data through `dpkg-deb --fsys-tarfile`), so nothing is unpacked to disk.

PyPI: `pip download --no-binary :all:` has to build an sdist's metadata, which needs the build
backend (meson, hatchling, ...) and fails for most packages here, so the wheel is fetched
instead (`--only-binary :all:`): its Python modules are the sdist's, with the same licence
metadata, minus the tests we would skip anyway.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from sources import Source

from codeseek import languages

DEB_SOURCES = """Types: deb deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""
# Where Debian binary packages install the sources of each language; paths are taken
# relative to these, so a project's own folders are what the name rules see.
DEB_ROOTS = ("usr/share/gocode/src/", "usr/share/cargo/registry/", "usr/share/rubygems-integration/all/gems/",
             "usr/lib/ruby/vendor_ruby/", "usr/share/php/", "usr/share/lua/5.4/", "usr/share/lua/5.3/",
             "usr/share/lua/5.2/", "usr/share/lua/5.1/", "usr/share/nodejs/")
MAX_FILE = 1_000_000  # larger files are generated data, never read (SkipRules drops them too)


@dataclass
class Package:
    """What one source gave: its files (relative paths, bytes) and its licence text."""

    files: list[tuple[str, bytes]]
    licence_text: str  # DEP-5 copyright file, PKG-INFO/METADATA, or package.json
    artefact: str  # the file fetched (its name records version and form: sdist, wheel, deb)


def _run(args: list[str], cwd: Path) -> None:
    subprocess.run(args, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _apt_options(workdir: Path) -> list[str]:
    """apt options for a private deb + deb-src list (the system's has no deb-src)."""
    apt = workdir / "apt"
    (apt / "lists" / "partial").mkdir(parents=True, exist_ok=True)
    sources = apt / "debian.sources"
    sources.write_text(DEB_SOURCES)
    return [f"-oDir::Etc::SourceList={sources}", "-oDir::Etc::SourceParts=/dev/null", f"-oDir::State::Lists={apt / 'lists'}"]


def apt_update(workdir: Path) -> None:
    """Refresh the private lists once (a fresh workdir has none)."""
    if not any((workdir / "apt" / "lists").glob("*Sources*")):
        _run(["apt-get", *_apt_options(workdir), "update"], cwd=workdir)


def folder(source: Source, workdir: Path) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._+-]", "_", source.name)
    return workdir / "downloads" / source.registry / f"{safe}-{source.version}"


def download(source: Source, workdir: Path) -> Path:
    """The source's download folder, fetched unless it already is."""
    into = folder(source, workdir)
    if (into / ".done").exists() or source.registry == "stdlib":
        return into
    shutil.rmtree(into, ignore_errors=True)
    into.mkdir(parents=True)
    if source.registry == "pypi":
        _run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:",
              f"{source.name}=={source.version}", "-d", str(into)], cwd=into)
    elif source.registry == "npm":
        _run(["npm", "pack", "--silent", f"{source.name}@{source.version}"], cwd=into)
    elif source.registry == "deb":
        _run(["apt-get", "download", f"{source.name}={source.version}"], cwd=into)
    elif source.registry == "debsrc":
        # The mirror lacks a few .debian.tar.xz files: the upstream tarball is what we need
        # (the licence then comes from a binary package's copyright file, see _debsrc).
        subprocess.run(["apt-get", *_apt_options(workdir), "source", "--download-only",
                        f"{source.name}={source.version}"], cwd=into, capture_output=True)
        if not any(".debian.tar." not in p.name for p in into.glob("*.tar.*")):
            raise subprocess.CalledProcessError(100, f"apt-get source {source.name}")
    else:
        raise ValueError(source.registry)
    (into / ".done").touch()
    return into


def read(source: Source, workdir: Path) -> Package:
    """The source's files (paths relative to the project's root) and licence text."""
    into = folder(source, workdir)
    if source.registry == "stdlib":
        return _stdlib()
    if source.registry == "pypi":
        return _wheel(next(into.glob("*.whl")))
    if source.registry == "npm":
        return _npm(next(into.glob("*.tgz")))
    if source.registry == "deb":
        return _deb(next(into.glob("*.deb")))
    return _debsrc(into)


def _wanted(path: str, data_size: int) -> bool:
    """Source files codeseek parses and the files that state a licence; nothing else is read."""
    if path.endswith(("/copyright", "package.json", "/METADATA")):
        return 0 < data_size <= 50 * MAX_FILE  # boost's copyright file is 2 MB
    return 0 < data_size <= MAX_FILE and languages.for_path(path) is not None


def _stdlib() -> Package:
    root = Path(sysconfig.get_paths()["stdlib"])
    files = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if "site-packages" in path.parts or not _wanted(rel, path.stat().st_size):
            continue
        files.append((rel, path.read_bytes()))
    return Package(files, "License-Expression: PSF-2.0", f"python{sys.version.split()[0]}")


def _wheel(path: Path) -> Package:
    files, meta = [], ""
    with zipfile.ZipFile(path) as wheel:
        for info in sorted(wheel.infolist(), key=lambda i: i.filename):
            name = info.filename
            if name.endswith(".dist-info/METADATA"):
                meta = wheel.read(info).decode("utf-8", "replace")
            elif ".dist-info/" not in name and ".data/" not in name and _wanted(name, info.file_size):
                files.append((name, wheel.read(info)))
    return Package(files, meta, path.name)


def _tar_files(tar: tarfile.TarFile, strip: str = "") -> Iterator[tuple[str, bytes]]:
    """Regular members as (path without `strip`, bytes); streaming, in archive order."""
    for member in tar:
        if not member.isfile() or not _wanted(member.name, member.size):
            continue
        name = member.name.removeprefix("./")
        if strip and not name.startswith(strip):
            continue
        handle = tar.extractfile(member)
        if handle is not None:
            yield name[len(strip):], handle.read()


def _npm(path: Path) -> Package:
    """An npm tarball's files below its top folder (`package/`, or the name for @types)."""
    files, meta = [], ""
    with tarfile.open(path) as tar:
        for name, data in _tar_files(tar):
            name = name.split("/", 1)[1] if "/" in name else name
            if name == "package.json":
                meta = data.decode("utf-8", "replace")
            files.append((name, data))
    return Package(sorted(files), meta, path.name)


def _deb(path: Path) -> Package:
    """A binary package's sources (relative to their install root) and its copyright file."""
    files, licence = [], ""
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(path)], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
        for name, data in _tar_files(tar):
            if name.startswith("usr/share/doc/") and name.endswith("/copyright"):
                licence = licence or data.decode("utf-8", "replace")
                continue
            root = next((r for r in DEB_ROOTS if name.startswith(r)), None)
            if root is not None:
                files.append((name[len(root):], data))
    proc.wait()
    return Package(sorted(files), licence, path.name)


def _debsrc(into: Path) -> Package:
    """A source package: its upstream tarball(s) and debian/copyright."""
    licence = ""
    for debian in into.glob("*.debian.tar.*"):
        with tarfile.open(debian) as tar:
            for name, data in _tar_files(tar):
                if name == "debian/copyright":
                    licence = data.decode("utf-8", "replace")
    if not licence:
        licence = _binary_copyright(into)
    archives = sorted(into.glob("*.orig.tar.*")) or sorted(
        p for p in into.glob("*.tar.*") if ".debian." not in p.name and not p.name.endswith(".asc"))
    files = []
    for archive in archives:
        if archive.name.endswith(".asc"):
            continue
        with tarfile.open(archive) as tar:
            members = list(_tar_files(tar))
        top = {PurePosixPath(n).parts[0] for n, _ in members if len(PurePosixPath(n).parts) > 1}
        strip = f"{top.pop()}/" if len(top) == 1 else ""
        for name, data in members:
            if name == "debian/copyright" and not licence:
                licence = data.decode("utf-8", "replace")  # a native package
            files.append((name.removeprefix(strip), data))
    return Package(sorted(files), licence, archives[0].name if archives else "")


def _binary_copyright(into: Path) -> str:
    """The copyright file of the first binary package a source package builds (fetched once)."""
    dsc = next(into.glob("*.dsc"), None)
    binary = re.search(r"^Binary:\s*([^,\s]+)", dsc.read_text(errors="replace"), re.M) if dsc else None
    if binary is None:
        return ""
    target = into / "binary"
    if not any(target.glob("*.deb")):
        target.mkdir(exist_ok=True)
        subprocess.run(["apt-get", "download", binary.group(1)], cwd=target, capture_output=True)
    deb = next(target.glob("*.deb"), None)
    return _deb(deb).licence_text if deb else ""


def licence_of(source: Source, text: str) -> str:
    """The licence as the package states it ("" when it does not say)."""
    if source.registry in ("pypi", "stdlib"):
        return _python_licence(text)
    if source.registry == "npm":
        return _npm_licence(text)
    return _dep5_licence(text)


def _python_licence(meta: str) -> str:
    fields = [(k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in meta.split("\n\n")[0].splitlines())]
    for key, value in fields:
        if key == "License-Expression":
            return value
    classifiers = [v.split("::")[-1].strip() for k, v in fields if k == "Classifier" and v.startswith("License ::")]
    classifiers = [c for c in classifiers if c != "OSI Approved"]
    if classifiers:
        return " AND ".join(classifiers)
    for key, value in fields:
        if key == "License" and value and len(value) < 80:
            return value
    return ""


def _npm_licence(text: str) -> str:
    try:
        meta = json.loads(text)
    except json.JSONDecodeError:
        return ""
    found = meta.get("license") or meta.get("licenses") or ""
    if isinstance(found, dict):
        found = found.get("type", "")
    if isinstance(found, list):
        found = " OR ".join(f.get("type", "") if isinstance(f, dict) else str(f) for f in found)
    return str(found)


def _dep5_licence(text: str) -> str:
    """The `License:` of the DEP-5 paragraph whose `Files:` holds `*` (the package as a whole)."""
    if "Files:" not in text:
        return ""
    for paragraph in re.split(r"\n\s*\n", text):
        files = re.search(r"^Files:(.*(?:\n[ \t].*)*)", paragraph, re.M)
        licence = re.search(r"^License:[ \t]*(.*)", paragraph, re.M)
        if files and licence and "*" in files.group(1).split():
            return licence.group(1).strip()
    return ""


# SPDX-like names (lowercased, any of Debian's spellings) of the licences we accept.
PERMISSIVE = frozenset({
    "mit", "expat", "mit license", "mit-0", "x11", "bsd", "bsd-2", "bsd-3", "bsd-2-clause", "bsd-3-clause",
    "bsd license", "bsd-3-clause-clear", "bsd-2-clause-freebsd", "bsd-3-clause-cambridge", "apache-2.0", "apache-2",
    "apache 2.0", "apache2", "apache", "apache software license", "apache license 2.0", "apache license, version 2.0",
    "apache-2.0-with-llvm-exception", "isc", "isc license", "isc license (iscl)", "psf", "psf-2.0", "python-2.0",
    "python software foundation license", "zlib", "zlib/libpng license", "0bsd", "unlicense", "the unlicense (unlicense)",
    "cc0", "cc0-1.0", "bsl-1.0", "boost", "boost software license 1.0 (bsl-1.0)",
    # Debian's own spellings of the same licences
    "bsd-c3", "bsd3", "bsd-3-google", "boost-1", "boost-1.0", "bsl-1", "bsl", "mit-1", "mit-x", "mit/x", "x11-mit",
    "zlib/libpng",
})


def is_permissive(expression: str) -> bool:
    """Whether a licence expression allows use: "MIT OR Apache-2.0" yes, "MIT AND GPL-2" no,
    "(MIT OR Apache-2.0) AND Unicode-DFS-2016" no (an unknown name is never permissive)."""
    text = re.sub(r"\s+with\s+llvm[- ]exceptions?", "-with-llvm-exception", expression.lower())
    parts = [p.strip() for p in re.split(r"(\(|\)|\s+and\s+|\s+or\s+|\s*&\s*|\s*\|\s*|,\s*|\s*/\s*(?!libpng))", text)]
    items = [p for p in parts if p]
    if not items:
        return False
    try:
        value, rest = _or(items)
    except (IndexError, ValueError):
        return False
    return value and not rest


def _or(items: list[str]) -> tuple[bool, list[str]]:
    value, items = _and(items)
    while items and items[0] in ("or", "|", "/"):
        other, items = _and(items[1:])
        value = value or other
    return value, items


def _and(items: list[str]) -> tuple[bool, list[str]]:
    value, items = _atom(items)
    while items and items[0] in ("and", "&", ","):
        other, items = _atom(items[1:])
        value = value and other
    return value, items


def _atom(items: list[str]) -> tuple[bool, list[str]]:
    if items[0] == "(":
        value, rest = _or(items[1:])
        if not rest or rest[0] != ")":
            raise ValueError("unbalanced")
        return value, rest[1:]
    if items[0] in ("(", ")", "and", "or", "&", "|", "/", ","):
        raise ValueError(items[0])
    name = items[0].strip(";.").strip()
    # "BSD-3-Clause~Google": Debian marks a licence text that differs only in its holder's name.
    return name in PERMISSIVE or name.split("~")[0] in PERMISSIVE, items[1:]


if __name__ == "__main__":
    for expr in ["MIT or Apache-2.0", "Expat", "GPL-2+", "BSD-3-clause", "MIT AND GPL-2", "(MIT OR Apache-2.0) AND Unicode-DFS-2016",
                 "MPL-2.0", "Apache-2.0 with LLVM exception", "GPL-2 with linking exception", "BSD License AND MIT License"]:
        print(f"{expr!r}: {is_permissive(expr)}")
