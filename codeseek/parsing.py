"""Split a source file into the chunks a developer would name: functions, methods,
classes (and the like), plus the module-level code around them.

Language-specific knowledge lives in the query files (see languages.py); this module only
knows generic tree shapes: wrappers (decorators, export), doc comments, nesting.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import TypeVar

from tree_sitter import Node, QueryCursor

from . import languages, leading
from .kinds import Kind

# Nodes that wrap a definition and belong to its chunk (decorators, `export`, `const f = ...`).
WRAPPERS = frozenset(
    {
        "decorated_definition",
        "export_statement",
        "lexical_declaration",
        "variable_declaration",
        "expression_statement",
        "ambient_declaration",
        "template_declaration",
    }
)
# Raised when a change in this module or leading.py gives files other chunks (2: clauses joined, the earlier
# of two patterns wins; 3: namespaces elide their members, trailing comments lead on; 4: an end-of-line comment
# stays with its line, a Haskell module's first declaration keeps its haddock): see chunker_digests.
CHUNKS_VERSION = 4
TEXT_WINDOW = 50
TEXT_OVERLAP = 10
# Definitions nested deeper than this stay inside their ancestor's chunk: a chunk holds its
# nested definitions' text, so unbounded nesting would make the output grow with its square.
MAX_NESTING = 16
_T = TypeVar("_T")


@dataclass(frozen=True)
class Chunk:
    path: str
    language: str
    kind: Kind
    symbol: str
    start_line: int  # 1-based, inclusive
    end_line: int  # 1-based, inclusive
    text: str
    context: str = ""  # enclosing definition, e.g. "class JSONDecoder"

    def embedding_text(self) -> str:
        """The text that is embedded: a short header so a method's vector knows where it lives.

        The header names the file, not its directory, so a file moved between directories
        keeps its vectors (they are keyed by this text). A definition longer than the model's
        context is embedded truncated on the right: its name, signature and doc comment come
        first (splitting it into parts ranked worse on benchmarks/retrieval.py).
        """
        header = self.path.rpartition("/")[2]  # PurePosixPath's name, without its cost per chunk
        if self.context:
            header += f" > {self.context}"
        return f"{header}\n{self.text}"


@dataclass
class _Def:
    node: Node
    kind: Kind
    name: str
    name_row: int
    leading_row: int  # first row, doc comments and attributes included
    receiver: str = ""
    trait: str = ""
    children: list[_Def] = field(default_factory=list)

    start: int = 0  # first row of the node itself
    end: int = 0  # last row (a node ending at column 0 of a row ends on the row before)
    end_byte: int = 0  # where it ends: its node's end, or its last clause's (_join_clauses)
    clause: str = ""  # what its clauses share (_clause_of), where a language joins them


def decode(data: bytes) -> str:
    """Bytes to text without ever failing: strip a BOM, replace invalid UTF-8, normalise CRLF."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return data.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")


@functools.cache
def chunker_digests() -> dict[str, str]:
    """For each language, what decides its files' chunks: this module's version, its query file
    and its grammar's version. An index records them; the files of a language whose entry has
    changed since (a grammar upgraded, a better query) are chunked again on the next update, and
    only those (indexing.py). Computed once a process (10 ms of package metadata)."""
    digests = {}
    for name, spec in sorted(languages.registry().items()):
        package = spec.grammar.split(":")[0].split(".")[0].replace("_", "-")
        try:
            version = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            version = "?"
        text = f"{CHUNKS_VERSION}\0{version}\0{spec.query_text}{languages.detection(name)}".encode()
        digests[name] = hashlib.blake2b(text, digest_size=8).hexdigest()
    # Line windows have no grammar; a script among them may now be its interpreter's.
    text = f"{CHUNKS_VERSION}\0{TEXT_WINDOW}\0{TEXT_OVERLAP}\0{languages.detection('text')}".encode()
    digests["text"] = hashlib.blake2b(text, digest_size=8).hexdigest()
    return digests


def chunk_file(path: str, data: bytes) -> list[Chunk]:
    """All chunks of one file. Files with no grammar are split into line windows."""
    spec = languages.for_file(path, data)
    if spec is None:
        return _text_windows(path, decode(data))
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    tree = spec.parse(data)
    lines = decode(data).split("\n")
    roots = _definitions(tree.root_node, spec)
    chunks: list[Chunk] = []
    module = _module_chunk(path, spec.name, lines, roots)
    if module:
        chunks.append(module)
    _emit(roots, spec, path, data, lines, chunks)
    return chunks


def _node_text(node: Node) -> str:
    return (node.text or b"").decode("utf-8", errors="replace")


def _extend(node: Node) -> Node:
    while node.parent is not None and node.parent.type in WRAPPERS:
        node = node.parent
    return node


def _clause_of(captures: dict[str, list[Node]], name: Node) -> str:
    """What a clause must share with the one before it to join it: Elixir's `def` or `defp`
    and its argument count (f/1 and f/2 are two functions); Haskell's equations share both."""
    keyword = _node_text(captures["_def"][0]) if "_def" in captures else ""
    call = name.parent
    arguments = next((c for c in call.named_children if c.type == "arguments"), None) if call is not None \
        and call.type == "call" else None
    return f"{keyword}/{len(arguments.named_children) if arguments is not None else 0}"


def _definitions(root: Node, spec: languages.LanguageSpec) -> list[_Def]:
    captured: dict[tuple[int, int], tuple[str, dict[str, list[Node]]]] = {}
    first: dict[tuple[int, int], int] = {}  # a node two patterns match takes the earlier one's
    for pattern, captures in QueryCursor(spec.query).matches(root):
        kind = next((k.split(".", 1)[1] for k in captures if k.startswith("definition.")), None)
        if kind is None or "name" not in captures:
            continue
        node = captures[f"definition.{kind}"][0]
        key = (node.start_byte, node.end_byte)
        if key not in first or pattern < first[key]:
            first[key] = pattern
            captured[key] = (kind, captures)
    found: dict[tuple[int, int], _Def] = {}
    absorbed: set[tuple[int, int]] = set()
    for kind, captures in _shallow(captured):
        # Node.parent and prev_sibling walk down from the root (their cost grows with the
        # depth), so only definitions that can become chunks are looked at around.
        node = _extend(captures[f"definition.{kind}"][0])
        name_node = captures["name"][0]
        name = _node_text(name_node)
        content, _ = leading.trailing_comments(node)  # content: what comes before its trailing comments, if any
        end_node = content if content is not None else node
        (start_row, _), (end_row, end_column) = node.start_point, end_node.end_point
        leading_row, overloads = leading.start(node, name)
        absorbed.update((o.start_byte, o.end_byte) for o in overloads)
        d = _Def(
            node=node,
            kind=Kind(kind),
            name=name,
            name_row=name_node.end_point[0],
            leading_row=leading_row,
            start=start_row,
            end=end_row - 1 if end_column == 0 and end_row > start_row else end_row,
            receiver=_node_text(captures["receiver"][0]) if "receiver" in captures else "",
            trait=_node_text(captures["trait"][0]) if "trait" in captures else "",
            end_byte=end_node.end_byte,
            clause=_clause_of(captures, name_node) if spec.clauses else "",
        )
        found.setdefault((node.start_byte, node.end_byte), d)
    # Nest by byte ranges: sorted by start, then longest first, a stack holds open ancestors.
    roots: list[_Def] = []
    stack: list[_Def] = []
    kept = [d for key, d in sorted(found.items(), key=lambda kv: (kv[0][0], -kv[0][1])) if key not in absorbed]
    for d in _join_clauses(kept) if spec.clauses else kept:
        while stack and stack[-1].end_byte < d.end_byte:
            stack.pop()
        if len(stack) < MAX_NESTING:
            (stack[-1].children if stack else roots).append(d)
        stack.append(d)
    return roots


def _join_clauses(defs: list[_Def]) -> list[_Def]:
    """Consecutive same-named functions of one parent as one definition, from the first clause's
    doc comment to the last clause's end: Elixir's `def f(0)` then `def f(n)`, Haskell's equations
    are one function to the developer, and a chunk each would list it several times."""
    out: list[_Def] = []
    for d in defs:
        last = out[-1] if out else None
        if (last is not None and d.kind in (Kind.FUNCTION, Kind.MACRO)
                and (d.kind, d.name, d.clause) == (last.kind, last.name, last.clause)
                and last.end < d.leading_row <= last.end + 2 and d.node.parent == last.node.parent):
            last.end, last.end_byte = d.end, d.end_byte
            continue
        out.append(d)
    return out


def _shallow(captured: dict[tuple[int, int], _T]) -> list[_T]:
    """The captures nested in fewer than MAX_NESTING others, in source order: deeper ones
    stay inside their ancestor's chunk, so nothing more is asked about them (a file of
    20,000 nested functions took 48 s when each was)."""
    shallow: list[_T] = []
    ends: list[int] = []  # end bytes of the open ancestors
    for (start, end), value in sorted(captured.items(), key=lambda kv: (kv[0][0], -kv[0][1])):
        while ends and ends[-1] <= start:
            ends.pop()
        if len(ends) < MAX_NESTING:
            shallow.append(value)
        ends.append(end)
    return shallow


def _symbol(d: _Def, scopes: list[str], sep: str) -> str:
    if d.receiver:
        return f"({d.receiver}){sep}{d.name}"
    if d.kind == "impl":
        return f"impl {d.trait} for {d.name}" if d.trait else f"impl {d.name}"
    return sep.join([*scopes, d.name])


def _describe(d: _Def, scopes: list[str], sep: str) -> str:
    symbol = _symbol(d, scopes, sep)
    return symbol if symbol.startswith(f"{d.kind} ") else f"{d.kind} {symbol}"


def _emit(
    roots: list[_Def],
    spec: languages.LanguageSpec,
    path: str,
    data: bytes,
    lines: list[str],
    out: list[Chunk],
) -> None:
    """Chunks of every definition, parents before their members, in source order."""
    todo: list[tuple[_Def, list[str], _Def | None]] = [(d, [], None) for d in reversed(roots)]
    while todo:
        d, scopes, parent = todo.pop()
        is_method = d.kind == Kind.FUNCTION and parent is not None and parent.kind.is_container
        kind = Kind.METHOD if is_method else d.kind
        start = d.leading_row
        if d.start == d.end:
            # On one line (minified code, a one-liner): its own bytes, never the whole line.
            body = [*lines[start : d.start], data[d.node.start_byte : d.end_byte].decode("utf-8", errors="replace")]
        elif d.kind.elides_members:
            body = _elided(lines, start, d.end, d.children)
        else:
            body = lines[start : d.end + 1]
        context = _describe(parent, scopes[:-1], spec.separator) if parent else ""
        chunk = Chunk(
            path=path,
            language=spec.name,
            kind=kind,
            symbol=_symbol(d, scopes, spec.separator),
            start_line=start + 1,
            end_line=d.end + 1,
            text="\n".join(body),
            context=context,
        )
        out.append(chunk)
        todo.extend((child, [*scopes, d.name], d) for child in reversed(d.children))


def _elided(lines: list[str], start: int, end: int, children: list[_Def]) -> list[str]:
    """A container's lines with each member's body replaced by `...` (members are chunks)."""
    out: list[str] = []
    row = start
    for child in children:
        keep_to = max(child.name_row, child.start)
        out.extend(lines[row : keep_to + 1])
        if child.end > keep_to:
            inner = lines[keep_to + 1] if keep_to + 1 < len(lines) else ""
            indent = inner[: len(inner) - len(inner.lstrip())]
            out.append(f"{indent}...")
        row = child.end + 1
    out.extend(lines[row : end + 1])
    return out


def _module_chunk(path: str, language: str, lines: list[str], roots: list[_Def]) -> Chunk | None:
    """Code outside every top-level definition (imports, constants, statements) as one chunk."""
    kept: list[tuple[int, str]] = []
    row = 0
    for d in [*roots, None]:  # roots are sorted and disjoint: keep the rows between them
        stop = d.leading_row if d else len(lines)
        kept.extend((i, lines[i]) for i in range(row, stop) if lines[i].strip())
        row = max(row, d.end + 1) if d else row
    if not kept:
        return None
    text_lines: list[str] = []
    previous = kept[0][0]
    for i, line in kept:
        if i > previous + 1:
            text_lines.append("")
        text_lines.append(line)
        previous = i
    name = PurePosixPath(path).name
    return Chunk(path, language, Kind.MODULE, name, kept[0][0] + 1, kept[-1][0] + 1, "\n".join(text_lines))


def _text_windows(path: str, text: str) -> list[Chunk]:
    lines = text.split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    name = PurePosixPath(path).name
    chunks = []
    step = TEXT_WINDOW - TEXT_OVERLAP
    for start in range(0, max(len(lines), 1), step):
        window = lines[start : start + TEXT_WINDOW]
        if any(line.strip() for line in window):
            chunks.append(Chunk(path, "text", Kind.TEXT, name, start + 1, start + len(window), "\n".join(window)))
        if start + TEXT_WINDOW >= len(lines):
            break
    return chunks
