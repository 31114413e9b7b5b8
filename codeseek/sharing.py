"""Sharing an index's vectors through the team's own git remote, with no server of its own.

`push` publishes the vectors of the indexed commit (with its chunks' metadata) as a commit
under `refs/codeseek/<model>-<dim>`; `pull` fetches that ref and imports every vector the
local index lacks. Vectors are keyed by the exact text embedded, so a clone on another
branch reuses every chunk that matches and embeds only its own differences. Neither touches
branches, tags or the working tree.

The artifact is data only: a JSON manifest and raw little-endian arrays in git blobs.
Importing never runs code or unpickles anything; every blob's size is checked against the
manifest before it is read, and every field before anything is written. An artifact may
carry vectors, their keys, the chunks' places and the model's name: never an engine, an
address or anything that is run or contacted. Which engine computes a clone's own vectors
is its user's choice alone (flags, environment, config), within the rule every index keeps:
the publisher's engine is read only where the model's name is a former one and the engine
says whose vectors they are (the int8 file's, `ModelInfo.source`), and then they join only
an index of the same vectors.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import MISSING, asdict, dataclass, fields, replace
from pathlib import PurePosixPath

import numpy as np

from . import indexing, provenance
from .embedding import ModelInfo
from .errors import CodeseekError
from .index import STATIC_MODEL, Store, exists
from .index.segments import Vectors
from .repo import Workspace

FORMAT = "codeseek-vectors/1"
REF_PREFIX = "refs/codeseek/"
DTYPES = ("int8", "f16")
MAX_MANIFEST_BYTES = 1 << 20
MAX_COUNT = 50_000_000
MAX_DIM = 65_536
MAX_CHUNK_LINE = 8192  # bytes of one chunk's metadata line
IMPORT_BATCH = 65_536  # vectors a segment, as an import goes
# The artifact commit's own author and committer, for this git call only: push works where git
# has no identity (a CI runner), and a machine-made commit names no person.
ARTIFACT_IDENTITY = {"GIT_AUTHOR_NAME": "codeseek", "GIT_AUTHOR_EMAIL": "codeseek@localhost",
                     "GIT_COMMITTER_NAME": "codeseek", "GIT_COMMITTER_EMAIL": "codeseek@localhost"}


class BadArtifact(CodeseekError):
    def __init__(self, ref: str, why: str) -> None:
        super().__init__(f"refused {ref}: {why}; the local index is unchanged")


@dataclass(frozen=True)
class Manifest:
    format: str
    model: str
    dim: int
    dtype: str
    count: int  # vectors
    chunks: int  # chunk metadata lines
    commit: str | None  # the indexed commit the vectors belong to
    engine: str  # how the publisher computed them: informative, but for a former model name (`identity`)
    created: float
    # The static tier's vectors, under keys among the model's (absent from older artifacts).
    static_model: str | None = None
    static_dim: int = 0
    static_count: int = 0

    def identity(self) -> ModelInfo:
        """Whose vectors these are: the model's, or under its former name the int8 file's (the
        engine's name says which; its version or address is never read)."""
        return ModelInfo(self.model, self.dim, self.engine.partition(" ")[0], "")

    def sizes(self) -> dict[str, int]:
        """The exact size of every other blob, from the counts alone."""
        width = 1 if self.dtype == "int8" else 2
        sizes = {"keys.bin": 8 * self.count, "vectors.bin": width * self.dim * self.count}
        if self.dtype == "int8":
            sizes["scales.bin"] = 4 * self.count
        if self.static_model is not None:
            sizes |= {f"static_{name}": size for name, size in replace(
                self, dim=self.static_dim, count=self.static_count, static_model=None).sizes().items()}
        return sizes


def model_prefix(model: str) -> str:
    slug = re.sub(r"[^a-z0-9._]+", "-", model.lower()).strip("-.") or "model"
    return f"{REF_PREFIX}{slug}-"


def ref_for(model: str, dim: int) -> str:
    return f"{model_prefix(model)}{dim}"


def _require_git(ws: Workspace) -> None:
    if not ws.is_git:
        raise CodeseekError(f"{ws.root} is not a git repository: vectors are shared through a git remote")


def encode(vectors: np.ndarray, dtype: str) -> dict[str, bytes]:
    """Vectors as blobs. int8 keeps each vector's largest component at +-127 (cosines move
    by about 1e-3), half the size of f16."""
    if dtype == "f16":
        return {"vectors.bin": vectors.astype("<f2").tobytes()}
    scales = np.maximum(np.abs(vectors).max(axis=1), 1e-12) / 127.0
    quantized = np.clip(np.rint(vectors / scales[:, None]), -127, 127).astype(np.int8)
    return {"vectors.bin": quantized.tobytes(), "scales.bin": scales.astype("<f4").tobytes()}


def decode(blobs: dict[str, bytes], manifest: Manifest) -> np.ndarray:
    shape = (manifest.count, manifest.dim)
    if manifest.dtype == "f16":
        vectors = np.frombuffer(blobs["vectors.bin"], dtype="<f2").reshape(shape).astype(np.float32)
    else:
        scales = np.frombuffer(blobs["scales.bin"], dtype="<f4").astype(np.float32)
        vectors = np.frombuffer(blobs["vectors.bin"], dtype=np.int8).reshape(shape).astype(np.float32) * scales[:, None]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    if not np.isfinite(vectors).all() or (norms == 0).any():
        raise ValueError("vectors that are not finite, or zero")
    return vectors / norms


@dataclass(frozen=True)
class Pushed:
    ref: str
    remote: str
    vectors: int
    bytes: int


def push(ws: Workspace, remote: str, dtype: str = "int8") -> Pushed:
    """Publish the index's vectors (those of its current chunks) to `remote`."""
    _require_git(ws)
    if dtype not in DTYPES:
        raise CodeseekError(f"unknown vector type {dtype!r}; choose from {', '.join(DTYPES)}")
    with Store(ws.index_dir) as store:
        provenance.settle(store)
        info = store.db.model_info()
        if info is None:
            raise CodeseekError("the index has no vectors yet: run `codeseek index` first")
        if info.source != info.model:  # its ref would be the float32 model's, which both would share
            raise CodeseekError(f"this index holds the vectors of {info.source} under its former name, {info.model}: "
                                "`codeseek index --rebuild` records them under its own, then they can be pushed")
        refs = store.chunks.refs()
        vectors = store.vectors.get(sorted({ref.vector_key for ref in refs}))
        meta = store.db.meta()
        commit = meta.get("indexed_commit")
        static_model = meta.get(STATIC_MODEL)
        static = store.static.get(sorted(vectors)) if static_model else {}
    keys = sorted(vectors)
    chunk_lines = [json.dumps([r.path, r.start_line, r.end_line, r.symbol, r.kind, r.vector_key])
                   for r in refs if r.vector_key in vectors]
    static_keys = sorted(static)
    static_dim = len(static[static_keys[0]]) if static_keys else 0
    manifest = Manifest(FORMAT, info.model, info.dim, dtype, len(keys), len(chunk_lines), commit,
                        info.describe_engine(), time.time(), static_model if static_keys else None, static_dim,
                        len(static_keys))
    blobs = {
        "keys.bin": np.array(keys, dtype="<i8").tobytes(),
        **encode(np.stack([vectors[k] for k in keys]) if keys else np.zeros((0, info.dim), np.float32), dtype),
        "chunks.jsonl": "\n".join(chunk_lines).encode(),
    }
    if static_keys:
        blobs["static_keys.bin"] = np.array(static_keys, dtype="<i8").tobytes()
        blobs |= {f"static_{name}": data for name, data in encode(np.stack([static[k] for k in static_keys]),
                                                                   dtype).items()}
    blobs["manifest.json"] = json.dumps(asdict(manifest), indent=1).encode()
    tree = "".join(
        f"100644 blob {ws.git_bytes('hash-object', '-w', '--stdin', data=data).decode().strip()}\t{name}\n"
        for name, data in sorted(blobs.items())
    )
    tree_id = ws.git_bytes("mktree", data=tree.encode()).decode().strip()
    message = f"codeseek vectors of {info.describe()} for {commit or 'the working tree'}"
    commit_id = ws.git_bytes("commit-tree", tree_id, "-m", message, env=ARTIFACT_IDENTITY).decode().strip()
    ref = ref_for(info.model, info.dim)
    ws.git_bytes("update-ref", ref, commit_id)
    ws.git_bytes("push", "--quiet", remote, f"+{ref}:{ref}")
    return Pushed(ref, remote, len(keys), sum(len(b) for b in blobs.values()))


@dataclass(frozen=True)
class Pulled:
    ref: str
    vectors: int  # in the artifact
    imported: int  # new to the local index
    commit: str | None


def remote_refs(ws: Workspace, remote: str) -> list[str]:
    """The remote's refs named exactly refs/codeseek/*: ls-remote's pattern also matches
    refs/heads/refs/codeseek/... (a branch anyone may push), which is never vectors."""
    out = ws.git_bytes("ls-remote", "--refs", remote, f"{REF_PREFIX}*").decode()
    names = (line.split("\t", 1)[1] for line in out.splitlines() if "\t" in line)
    return [name for name in names if name.startswith(REF_PREFIX)]


def pull(ws: Workspace, remote: str, model: str | None = None, dim: int | None = None) -> Pulled:
    """Import the vectors published on `remote` for the local index's model (or, with no
    index yet, for the one model published there, or the one named). Only a ref the remote
    holds under exactly that name is fetched (git would otherwise take refs/heads/<name> for
    it), into the same name here: never a branch."""
    _require_git(ws)
    local = _local_identity(ws)
    refs = remote_refs(ws, remote)
    if local is not None:
        ref = ref_for(local.model, local.dim)
        if ref not in refs:
            found = ", ".join(r.removeprefix(REF_PREFIX) for r in refs) or "none"
            raise CodeseekError(f"{remote} has no vectors for {local.describe()} (no {ref}); it has vectors "
                                f"for: {found}")
    else:
        chosen = refs
        if model is not None:
            chosen = [r for r in refs if r == ref_for(model, dim)] if dim else [
                r for r in refs if r.startswith(model_prefix(model)) and r.removeprefix(model_prefix(model)).isdigit()]
        found = ", ".join(r.removeprefix(REF_PREFIX) for r in refs) or "none"
        if not refs:
            raise CodeseekError(f"{remote} has no codeseek vectors (no {REF_PREFIX}* refs): `codeseek push` puts them there")
        if model is not None and not chosen:
            wanted = f"{model} ({dim} dims)" if dim else model
            raise CodeseekError(f"{remote} has no vectors for {wanted}; it has vectors for: {found}")
        if len(chosen) != 1:
            raise CodeseekError(f"{remote} has vectors for {found}: name one with --model (and --dim)")
        ref = chosen[0]
    ws.git_bytes("fetch", "--quiet", "--no-tags", remote, f"+{ref}:{ref}")
    manifest, blobs = read_artifact(ws, ref)
    keys = np.frombuffer(blobs["keys.bin"], dtype="<i8")
    try:
        vectors = decode(blobs, manifest)
        static = _static_of(blobs, manifest)
    except ValueError as exc:
        raise BadArtifact(ref, str(exc)) from None
    # A former name that came without its engine: whose vectors, decided by the local chunks' texts.
    manifest = replace(manifest, engine=provenance.engine_of(ws.index_dir, manifest.model, manifest.engine, keys, vectors))
    if local is not None and (manifest.model != local.model or not manifest.identity().same_vectors(local)):
        raise BadArtifact(ref, f"it holds vectors of {manifest.identity().describe()}, this index "
                               f"{local.describe()}")
    return Pulled(ref, manifest.count, _import(ws, manifest, keys, vectors, static), manifest.commit)


def _static_of(blobs: dict[str, bytes], manifest: Manifest) -> tuple[np.ndarray, np.ndarray] | None:
    """The artifact's static vectors and their keys, if it has them and they are of the static
    model this codeseek pairs with the artifact's model (else they are left: computed here)."""
    from .embedding import static_tier

    tier = static_tier(manifest.model)
    if manifest.static_model is None or tier is None or tier.info.model != manifest.static_model:
        return None
    if manifest.static_dim != tier.info.dim:
        raise ValueError(f"static vectors of {manifest.static_dim} dims, not {tier.info.dim}")
    inner = replace(manifest, dim=manifest.static_dim, count=manifest.static_count, static_model=None)
    return (np.frombuffer(blobs["static_keys.bin"], dtype="<i8"),
            decode({name.removeprefix("static_"): data for name, data in blobs.items() if name.startswith("static_")},
                   inner))


def _local_identity(ws: Workspace) -> ModelInfo | None:
    if not exists(ws.index_dir):
        return None
    with Store(ws.index_dir) as store:
        provenance.settle(store)  # whose vectors, where the name alone cannot say
        return store.db.model_info()


def read_artifact(ws: Workspace, ref: str) -> tuple[Manifest, dict[str, bytes]]:
    """The artifact under `ref`, every size and field checked before it is trusted."""
    entries: dict[str, tuple[str, int]] = {}
    for line in ws.git_bytes("ls-tree", "-l", "-z", ref).decode("utf-8", "replace").split("\0"):
        meta, _, name = line.partition("\t")
        fields = meta.split()  # mode, type, object, size
        if len(fields) == 4 and fields[1] == "blob" and fields[3].isdigit():
            entries[name] = (fields[2], int(fields[3]))
    if "manifest.json" not in entries or entries["manifest.json"][1] > MAX_MANIFEST_BYTES:
        raise BadArtifact(ref, "it has no manifest of a sensible size")
    manifest = _manifest(ref, _blob(ws, entries["manifest.json"][0]))
    expected = manifest.sizes()
    for name, size in expected.items():
        if name not in entries or entries[name][1] != size:
            have = entries[name][1] if name in entries else "no"
            raise BadArtifact(ref, f"{name} has {have} bytes, not the {size} its manifest implies (truncated?)")
    chunk_limit = MAX_CHUNK_LINE * (manifest.chunks + 1)
    if "chunks.jsonl" not in entries or entries["chunks.jsonl"][1] > chunk_limit:
        raise BadArtifact(ref, "its chunk list is missing or larger than its count allows")
    blobs = {name: _blob(ws, entries[name][0]) for name in (*expected, "chunks.jsonl")}
    keys = set(np.frombuffer(blobs["keys.bin"], dtype="<i8").tolist())
    _check_chunks(ref, manifest, blobs["chunks.jsonl"], keys)
    if manifest.static_model is not None:
        static_keys = set(np.frombuffer(blobs["static_keys.bin"], dtype="<i8").tolist())
        if len(static_keys) != manifest.static_count or not static_keys <= keys:
            raise BadArtifact(ref, "its static vectors' keys are not among its vectors' keys")
    return manifest, blobs


def _blob(ws: Workspace, sha: str) -> bytes:
    return ws.git_bytes("cat-file", "blob", sha)


def _manifest(ref: str, data: bytes) -> Manifest:
    try:
        raw = json.loads(data)
        # A field with a default (the static tier's) may be absent: older artifacts lack it.
        manifest = Manifest(**{f.name: raw[f.name] for f in fields(Manifest) if f.name in raw or f.default is MISSING})
    except (ValueError, KeyError, TypeError):
        raise BadArtifact(ref, "its manifest is not codeseek's") from None
    checks = [
        (manifest.format == FORMAT, f"format {manifest.format!r} is not {FORMAT}"),
        (isinstance(manifest.model, str) and 0 < len(manifest.model) <= 512 and manifest.model.isprintable(),
         "the model name is not a name"),
        (isinstance(manifest.model, str) and ref_for(manifest.model, manifest.dim) == ref,
         f"it holds vectors of {str(manifest.model)[:80]} ({manifest.dim!r} dims), not the ones its ref names"),
        (isinstance(manifest.engine, str) and isinstance(manifest.commit, str | None), "its fields are of the wrong kind"),
        (type(manifest.dim) is int and 0 < manifest.dim <= MAX_DIM, f"{manifest.dim!r} is no dimension"),
        (manifest.dtype in DTYPES, f"vector type {manifest.dtype!r} is unknown"),
        (type(manifest.count) is int and 0 <= manifest.count <= MAX_COUNT, f"{manifest.count!r} vectors is absurd"),
        (type(manifest.chunks) is int and 0 <= manifest.chunks <= MAX_COUNT, f"{manifest.chunks!r} chunks is absurd"),
        (_static_fields_ok(manifest), "its static tier's fields are of the wrong kind"),
    ]
    for ok, why in checks:
        if not ok:
            raise BadArtifact(ref, why)
    return manifest


def _static_fields_ok(manifest: Manifest) -> bool:
    if manifest.static_model is None:
        return True
    return (isinstance(manifest.static_model, str) and 0 < len(manifest.static_model) <= 512
            and manifest.static_model.isprintable() and type(manifest.static_dim) is int
            and 0 < manifest.static_dim <= MAX_DIM and type(manifest.static_count) is int
            and 0 <= manifest.static_count <= manifest.count)


def _check_chunks(ref: str, manifest: Manifest, data: bytes, keys: set[int]) -> None:
    """Every chunk line well formed, its path inside a repository, its key among the vectors."""
    lines = data.split(b"\n") if data else []
    if len(lines) != manifest.chunks or len(keys) != manifest.count:
        raise BadArtifact(ref, "its counts do not match its contents")
    for line in lines:
        try:
            path, start, end, symbol, kind, key = json.loads(line)
        except (ValueError, TypeError):
            raise BadArtifact(ref, "a chunk line is not [path, start, end, symbol, kind, key]") from None
        if not _inside(path):
            raise BadArtifact(ref, f"a chunk's path {str(path)[:80]!r} is outside the repository")
        if not (isinstance(symbol, str) and isinstance(kind, str) and type(start) is int and type(end) is int
                and 0 < start <= end and key in keys):
            raise BadArtifact(ref, "a chunk line has fields of the wrong kind")


def _inside(path: object) -> bool:
    if not isinstance(path, str) or not 0 < len(path) <= 4096 or "\\" in path or any(ord(c) < 32 for c in path):
        return False
    parts = PurePosixPath(path).parts
    return not PurePosixPath(path).is_absolute() and ".." not in parts and "." not in parts and ".git" not in parts


def _import(ws: Workspace, manifest: Manifest, keys: np.ndarray, vectors: np.ndarray,
            static: tuple[np.ndarray, np.ndarray] | None) -> int:
    """Add the vectors the local index lacks, as new segments (each a checkpoint). A new index
    records the model and dimension, and no engine: its user's own settings choose one (but
    for a former name, whose engine says whose vectors they are). Static
    vectors join an index whose static tier is of the same model (or that has no chunks yet);
    returns how many of the model's vectors were new."""
    new = not exists(ws.index_dir)
    try:
        with Store(ws.index_dir, create=True) as store, store.writing():
            if store.db.model_info() is None:
                found = manifest.identity()
                # The engine's name only where it says whose vectors they are (a former name).
                former = {"engine": found.engine} if found.engine and provenance.ambiguous(found.model, "") else {}
                store.db.set_meta({"model": manifest.model, "dim": str(manifest.dim), **former})
            added = _add_missing(store.vectors, keys, vectors)
            fresh = store.chunks.counts().chunks == 0
            if static is not None and (fresh or store.db.meta().get(STATIC_MODEL) == manifest.static_model):
                _add_missing(store.static, *static)
                store.db.set_meta({STATIC_MODEL: manifest.static_model})
        return added
    except BaseException:
        if new:
            indexing.remove_index(ws)  # nothing half-made is left behind
        raise


def _add_missing(space: Vectors, keys: np.ndarray, vectors: np.ndarray) -> int:
    """Add the vectors a space lacks, a segment per batch; returns how many."""
    missing = space.missing(keys.tolist())
    chosen = np.array([i for i, k in enumerate(keys.tolist()) if k in missing], dtype=np.int64)
    for start in range(0, len(chosen), IMPORT_BATCH):
        part = chosen[start : start + IMPORT_BATCH]
        space.add(keys[part].tolist(), vectors[part])
    return len(chosen)
