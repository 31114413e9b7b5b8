"""What a chunk is, and what part of a project a path belongs to: the two classifications the
parser, the indexer (which embeds first) and the ranking (which ranks first) all share; and
which indexed path a file a query names is, which the index's lookup and the ranking share."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from enum import StrEnum
from pathlib import PurePosixPath


class Kind(StrEnum):
    """A chunk's kind: a definition's (from the query files' `@definition.<kind>`), or
    `module` for the code around definitions and `text` for a file with no grammar."""

    FUNCTION = "function"
    METHOD = "method"
    CLASS = "class"
    STRUCT = "struct"
    INTERFACE = "interface"
    TRAIT = "trait"
    IMPL = "impl"
    ENUM = "enum"
    TYPE = "type"
    MODULE = "module"
    NAMESPACE = "namespace"
    OBJECT = "object"
    EXTENSION = "extension"
    MACRO = "macro"
    TEXT = "text"

    @property
    def is_named(self) -> bool:
        """Whether the chunk's symbol is a definition's name (module code and text windows
        are named after their file)."""
        return self not in (Kind.MODULE, Kind.TEXT)

    @property
    def is_container(self) -> bool:
        """Whether its function members are methods, elided from its own chunk."""
        return self in CONTAINERS

    @property
    def elides_members(self) -> bool:
        """Whether its chunk shows its members' signatures but not their bodies (each member is a
        chunk of its own): a container's, and a namespace's, whose chunk would otherwise repeat its
        whole file (an Elixir `defmodule`, a Ruby `module`, a C++ `namespace`) and match any query
        about anything in it."""
        return self in CONTAINERS or self == Kind.NAMESPACE


CONTAINERS = frozenset({Kind.CLASS, Kind.STRUCT, Kind.INTERFACE, Kind.TRAIT, Kind.IMPL, Kind.ENUM, Kind.OBJECT,
                        Kind.EXTENSION})


class Role(StrEnum):
    """What part of a project a path is: the implementation, its tests, or auxiliary code
    (examples, benchmarks, documentation)."""

    IMPLEMENTATION = "implementation"
    TEST = "test"
    AUXILIARY = "auxiliary"


TEST_PARTS = frozenset({"test", "tests", "testing", "__tests__", "spec", "specs", "testdata", "fixtures"})
AUX_PARTS = frozenset({"examples", "example", "bench", "benches", "benchmarks", "docs", "doc", "samples"})
# Not a JVM or .NET file named `...Spec` (KotlinPoet's `FileSpec.kt`, a `PBEKeySpec.java`): a
# Kotest or ScalaTest spec sits in a test folder, which says so.
TEST_FILE = re.compile(
    r"^test_.*\.py$|_tests?\.(py|go|rb|exs?|zig)$|\.(test|spec)\.[cm]?[jt]sx?$|(Tests?|IT)\.(java|kt|scala|cs)$"
    r"|^Test\w*\.(java|kt|scala|cs)$|_spec\.rb$|Tests?\.swift$|Spec\.hs$"
)


# A folder's name is read as its words too: whole repositories name test and auxiliary trees
# after their package (`containers-tests/`, `Polly.Core.Tests/`, `Polly.Core.Benchmarks/`,
# `typing-examples/`, `test-utils/`), and Kotlin's multiplatform source sets after their platform
# (`jvmTest/`, `commonTest/`).
FOLDER_WORDS = re.compile(r"[-_.]")
CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def role_of_path(path: str, symbol: str = "") -> Role:
    """By folder and file name (and a Rust `tests::` module in the symbol)."""
    parts = PurePosixPath(path).parts
    folders = {word for p in parts[:-1]
               for word in (p.lower(), *FOLDER_WORDS.split(CAMEL_BOUNDARY.sub("-", p).lower()))}
    if folders & TEST_PARTS or TEST_FILE.search(parts[-1]) or re.search(r"(^|::)tests?::", symbol):
        return Role.TEST
    return Role.AUXILIARY if folders & AUX_PARTS else Role.IMPLEMENTATION


# Folders that hold a copy kept for old callers or someone else's code, not the project's
# current implementation (the held-out misses: a `deprecated/` module and vendored copies above
# the code itself). `old` and `compat` are whole segments only: `oldest.py` is not one.
LEGACY_PARTS = frozenset({"legacy", "deprecated", "compat", "_compat", "old", "obsolete", "vendor", "_vendor",
                          "vendored", "third_party", "thirdparty", "3rdparty", "backport", "backports"})
# Words that say so inside a longer folder name too (FOLDER_WORDS): `legacy-api/`, and a JVM
# build's relocated copy of another project (os-lib's `shaded_org_apache_tools_zip/`, Maven's
# shade plugin). Not `old` or `compat`, which name other things inside a word.
LEGACY_FOLDER_WORDS = frozenset({"legacy", "deprecated", "obsolete", "vendored", "shaded"})
VERSION_PART = re.compile(r"^v(\d+)$", re.IGNORECASE)


def legacy_part(path: str, newest: dict[str, int]) -> str:
    """The folder that makes a path a legacy or compatibility copy, or "". `newest` maps a
    versioned folder's parent (`lib/`) to the highest `vN` under it among the paths in view: a
    `v1/` or `v3/` tree is legacy beside a `v4/` one, never alone."""
    parts = PurePosixPath(path).parts[:-1]
    for i, part in enumerate(parts):
        lowered = part.lower()
        if lowered in LEGACY_PARTS or not LEGACY_FOLDER_WORDS.isdisjoint(FOLDER_WORDS.split(lowered)):
            return part
        version = VERSION_PART.match(part)
        if version and int(version.group(1)) < newest.get("/".join(parts[:i]), 0):
            return part
    return ""


def newest_versions(paths: Iterable[str]) -> dict[str, int]:
    """For each folder holding `vN` folders among these paths, the highest N (see legacy_part)."""
    newest: dict[str, int] = {}
    for path in paths:
        parts = PurePosixPath(path).parts[:-1]
        for i, part in enumerate(parts):
            version = VERSION_PART.match(part)
            if version:
                parent = "/".join(parts[:i])
                newest[parent] = max(newest.get(parent, 0), int(version.group(1)))
    return newest


# An installed Python package's path lacks its checkout's `src/` (or `lib/`) folder: a
# traceback's `site-packages/jinja2/compiler.py` is the checkout's `src/jinja2/compiler.py`.
PACKAGE_ROOTS = frozenset({"src", "lib"})


# A package manager's folder of a release names its version (`regex-syntax-0.6.2/` in cargo's
# registry, `gin@v1.9.1/` in Go's module cache, `sinatra-3.0.5/` among gems); the repository's
# folder does not (`regex-syntax/`).
RELEASE_SUFFIX = re.compile(r"(?<=[A-Za-z])(?:-|@v?)\d+(?:\.\d+)+[\w.+-]*(?=/)")


def names_path(named: str, path: str) -> bool:
    """Whether a file a query names (as written: relative, absolute, a bare file name) is this
    indexed path: equal, or one the other's tail at a folder, once the name's release folders
    lose their versions and, failing that, once the path's package root is dropped (a package
    folder and its file, never a bare `src/index.js` for any `index.js`)."""
    named = _unreleased(named)
    if path == named or path.endswith("/" + named) or named.endswith("/" + path):
        return True
    root, _, rest = path.partition("/")
    return root in PACKAGE_ROOTS and "/" in rest and named.endswith("/" + rest)


@functools.lru_cache(maxsize=1024)
def _unreleased(named: str) -> str:
    """The name without its release folders' versions (asked for every candidate: cached)."""
    return RELEASE_SUFFIX.sub("", named)
