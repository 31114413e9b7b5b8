"""Query sets made from a corpus's own code, and the doc-stripped copy they are asked of.

- docs: the first sentence of a function's doc comment. The copy that is indexed has every
  doc comment blanked out (newlines kept, so line numbers hold), so a query never meets its
  own text; tests stay in the copy as distractors.
- identifiers: a definition's exact name, the same name in the other case style
  (snake_case <-> camelCase), and a partial name (its leading words).

Definitions are found with codeseek's own query files, but the doc comments, the stripping
and the test-file rule are this module's, so the benchmark does not grade codeseek against
its own ranking rules.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tree_sitter import Node, QueryCursor

from codeseek import languages
from codeseek.parsing import WRAPPERS

FUNCTION_KINDS = ("function", "method")
NAMED_KINDS = ("function", "method", "class", "struct", "interface", "trait", "enum", "type")
# Folders and files that are not a project's implementation: queries never come from them.
OTHER_PARTS = frozenset({"test", "tests", "testing", "__tests__", "spec", "specs", "testdata", "bench", "benches",
                         "benchmarks", "examples", "example", "docs", "doc"})
TEST_NAME = re.compile(r"(^test_.*\.py$|_test\.(py|go)$|\.(test|spec)\.[jt]sx?$|Tests?\.java$|^Test.*\.java$)")
WORDS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")


def is_implementation(path: str) -> bool:
    parts = PurePosixPath(path).parts
    return not (OTHER_PARTS & {p.lower() for p in parts[:-1]}) and not TEST_NAME.search(parts[-1])


@dataclass(frozen=True)
class Target:
    """A place a query should find: a file and its lines (1-based, inclusive)."""

    path: str
    start_line: int
    end_line: int
    symbol: str = ""


@dataclass(frozen=True)
class Case:
    query: str
    targets: tuple[Target, ...]
    kind: str  # docs, identifier:exact, identifier:variant, identifier:partial, question


@dataclass
class _Definition:
    kind: str
    name: str
    start: int  # 0-based rows of the definition itself (decorators and a Haskell signature in, comments out)
    end: int
    leading: int  # 0-based first row with its doc comment
    doc: str
    doc_ranges: list[tuple[int, int]]  # byte ranges of its doc comment (or docstring)


def _extend(node: Node) -> Node:
    while node.parent is not None and node.parent.type in WRAPPERS:
        node = node.parent
    return node


def _docstring(node: Node) -> Node | None:
    """A Python function's or class's docstring node."""
    body = node.child_by_field_name("body")
    if body is None or not body.named_children:
        return None
    first = body.named_children[0]
    if first.type == "expression_statement" and first.named_children and first.named_children[0].type == "string":
        return first
    return None


def _is_comment(node: Node) -> bool:
    return "comment" in node.type or node.type == "haddock"  # Haskell's `-- |`


def _is_jsdoc(node: Node) -> bool:
    return "comment" in node.type and (node.text or b"").startswith(b"/**")


def definitions(path: str, data: bytes) -> list[_Definition]:
    spec = languages.for_file(path, data)  # as codeseek reads it (a C++ `.h`, a script's `#!`, its macros)
    if spec is None:
        return []
    tree = spec.parse(data)
    found: dict[tuple[int, int], _Definition] = {}
    for _, captures in QueryCursor(spec.query).matches(tree.root_node):
        kind = next((k.split(".", 1)[1] for k in captures if k.startswith("definition.")), None)
        if kind is None or "name" not in captures:
            continue
        raw = captures[f"definition.{kind}"][0]
        node = _extend(raw)
        comments: list[Node] = []
        sibling = node.prev_sibling
        row = node.start_point[0]
        # A Haskell function begins at its type signature (`f :: Int -> Int`), its haddock above that.
        signature = _signature_above(node, captures["name"][0]) if spec.name == "haskell" else None
        if signature is not None:
            sibling, row = signature.prev_sibling, signature.start_point[0]
        start = row
        # A JSDoc block may stand one blank line above its function.
        while sibling is not None and (
            sibling.end_point[0] >= row - 1 or (sibling.end_point[0] == row - 2 and _is_jsdoc(sibling))
        ) and (_is_comment(sibling) or "attribute" in sibling.type):
            if _is_comment(sibling):
                comments.insert(0, sibling)
            row = sibling.start_point[0]
            sibling = sibling.prev_sibling
        if spec.name == "haskell":  # its doc comments are haddock (`-- |`); a plain `--` is a note on the code
            comments = [c for c in comments if c.type == "haddock"]
        docstring = _docstring(raw) if spec.name == "python" else None
        if docstring is not None:
            comments, row = [docstring], node.start_point[0]
        doc = "\n".join((c.text or b"").decode("utf-8", "replace") for c in comments)
        end_row, end_col = node.end_point
        end = end_row - 1 if end_col == 0 and end_row > node.start_point[0] else end_row
        found.setdefault((node.start_byte, node.end_byte), _Definition(
            kind=kind, name=(captures["name"][0].text or b"").decode("utf-8", "replace"),
            start=start, end=end, leading=row, doc=doc,
            doc_ranges=[(c.start_byte, c.end_byte) for c in comments],
        ))
    defs = list(found.values())
    return _clauses_joined(defs) if spec.name == "haskell" else defs


def _signature_above(node: Node, name: Node) -> Node | None:
    """The type signature of the same name directly above a Haskell equation (comments between)."""
    above = node.prev_sibling
    while above is not None and _is_comment(above):
        above = above.prev_sibling
    if above is None or above.type != "signature" or above.end_point[0] < node.start_point[0] - 2:
        return None
    named = above.child_by_field_name("name")
    return above if named is not None and named.text == name.text else None


def _clauses_joined(defs: list[_Definition]) -> list[_Definition]:
    """A Haskell function's equations (`f [] = ...`, `f (x:xs) = ...`) as one definition, from the
    first one's signature and doc to the last one's end."""
    out: list[_Definition] = []
    for d in sorted(defs, key=lambda d: (d.start, -d.end)):
        last = out[-1] if out else None
        if last is not None and d.kind == last.kind == "function" and d.name == last.name and \
                last.end < d.start <= last.end + 2:
            last.end = d.end
            continue
        out.append(d)
    return out


def strip(data: bytes, ranges: list[tuple[int, int]], python: bool) -> bytes:
    """The bytes with each range blanked, newlines kept; a Python docstring becomes `pass`
    (a body may hold nothing else)."""
    out = bytearray(data)
    for start, end in sorted(set(ranges), reverse=True):
        newlines = data[start:end].count(b"\n")
        out[start:end] = (b"pass" if python else b"") + b"\n" * newlines
    return bytes(out)


def first_sentence(doc: str) -> str | None:
    """The first prose sentence of a doc comment, markers and markup removed; None if short."""
    lines = []
    for line in doc.split("\n"):
        line = re.sub(r"^\s*(/\*\*+|/\*!?|\*/|\*|///?!?|//|#|---?\s*[|^]?)\s?", "", line).rstrip()
        line = re.sub(r"\*/\s*$", "", line).strip().strip('"\'').strip()
        lines.append(line)
    joined = " \n".join(lines)
    # C#'s XML doc comments: the prose is the <summary>, its <see cref="X"/> references their names.
    summary = re.search(r"<summary>(.*?)</summary>", joined, re.DOTALL)
    if summary:
        joined = re.sub(r"<(?:see|seealso|paramref|typeparamref)\s+\w+=\"([^\"]*)\"\s*/>", r"\1", summary.group(1))
    paragraphs = joined.split(" \n \n")
    for paragraph in paragraphs:
        text = " ".join(paragraph.split())
        if not text or text.startswith(("#", "@", "```", "<")):
            continue
        text = re.sub(r"\{@(?:link|code|linkplain)\s+([^}]*)\}", r"\1", text)
        text = text.split(" @")[0]  # Javadoc and JSDoc tags end the prose
        text = re.sub(r":[a-z]+:`?~?", "", text)  # Sphinx roles (:func:`x`)
        text = re.sub(r"<[^>]+>", "", text).replace("`", "")
        text = re.sub(r"^\\\(.*?\\\)\.?\s*", "", text)  # a haddock's cost first: `\(O(\log n)\). Insert ...`
        sentence = re.split(r"(?<=[.!?])\s", text)[0].rstrip(".:")
        return sentence if len(sentence.split()) >= 4 else None
    return None


def words(name: str) -> list[str]:
    return [w.lower() for piece in name.split("_") for w in WORDS.findall(piece)]


def variant(name: str) -> str | None:
    """The name in the other case style: snake_case -> camelCase, CamelCase/camelCase -> snake_case."""
    parts = words(name)
    if len(parts) < 2:
        return None
    if "_" in name.strip("_"):
        return parts[0] + "".join(p.title() for p in parts[1:])
    return "_".join(parts)


def partial(name: str) -> str | None:
    """The name's leading words in its own style (`parse_header_value` -> `parse_header`)."""
    parts = words(name)
    if len(parts) < 3:
        return None
    if "_" in name.strip("_"):
        return "_".join(parts[:-1])
    head = parts[0] if name[:1].islower() else parts[0].title()
    return head + "".join(p.title() for p in parts[1:-1])


@dataclass
class Corpus:
    """A corpus's files, definitions and the query sets built from them."""

    files: dict[str, bytes]
    defs: dict[str, list[_Definition]]

    @classmethod
    def read(cls, root: Path, paths: list[str]) -> Corpus:
        files = {p: (root / p).read_bytes() for p in paths}
        return cls(files, {p: definitions(p, data) for p, data in files.items()})

    def enclosing(self, path: str, line: int) -> Target:
        """The innermost definition (with its doc comment) holding a 1-based line."""
        spans = [(d.end - d.leading, d) for d in self.defs[path] if d.leading < line <= d.end + 1]
        if not spans:
            raise LookupError(f"{path}:{line} is inside no definition")
        d = min(spans, key=lambda s: s[0])[1]
        return Target(path, d.leading + 1, d.end + 1, d.name)

    def stripped(self) -> dict[str, bytes]:
        return {
            path: strip(data, [r for d in self.defs[path] for r in d.doc_ranges], path.endswith(".py"))
            for path, data in self.files.items()
        }

    def doc_cases(self, limit: int, seed: int = 7) -> list[Case]:
        cases = [
            Case(sentence, (Target(path, d.start + 1, d.end + 1, d.name),), "docs")
            for path, defs in sorted(self.defs.items())
            if is_implementation(path)
            for d in defs
            if d.kind in FUNCTION_KINDS and (sentence := first_sentence(d.doc))
        ]
        # A sentence that documents several definitions (an interface and its implementation,
        # overloads) has no one right answer.
        seen = Counter(c.query for c in cases)
        return _sample([c for c in cases if seen[c.query] == 1], limit, seed)

    def identifier_cases(self, limit: int, seed: int = 7) -> list[Case]:
        names = Counter(d.name for defs in self.defs.values() for d in defs)
        cases: list[Case] = []
        for path, defs in sorted(self.defs.items()):
            if not is_implementation(path):
                continue
            for d in defs:
                if d.kind not in NAMED_KINDS or names[d.name] != 1 or len(d.name.strip("_")) < 5:
                    continue
                target = (Target(path, d.start + 1, d.end + 1, d.name),)
                cases.append(Case(d.name, target, "identifier:exact"))
                if (other := variant(d.name)) and other not in names:
                    cases.append(Case(other, target, "identifier:variant"))
                if (head := partial(d.name)) and head not in names:
                    cases.append(Case(head, target, "identifier:partial"))
        by_kind: dict[str, list[Case]] = {}
        for case in cases:
            by_kind.setdefault(case.kind, []).append(case)
        return [c for kind in sorted(by_kind) for c in _sample(by_kind[kind], limit, seed)]


def _sample(cases: list[Case], limit: int, seed: int) -> list[Case]:
    if len(cases) <= limit:
        return cases
    return sorted(random.Random(seed).sample(cases, limit), key=lambda c: (c.targets[0].path, c.targets[0].start_line))
