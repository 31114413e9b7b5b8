"""What belongs to a definition from around it: the doc comments, attributes and overload
signatures above it (they lead into its chunk), and the comments a grammar put at the end of
the definition before it, which are the next one's (parsing.py asks; tree shapes only)."""

from __future__ import annotations

from collections.abc import Iterator

from tree_sitter import Node

# Preceding siblings that belong to the definition after them (doc comments, attributes;
# Haskell's `-- |` haddock).
LEADING = ("comment", "attribute", "annotation", "decorator", "haddock")
# Elixir's module attributes (unary operators) that are about the function after them; others
# (`@moduledoc`, `@timeout 5000`) are the module's.
ELIXIR_LEADING = frozenset({"doc", "spec", "impl", "deprecated"})
# Declarations without a body that a same-named definition implements (TypeScript overloads,
# Haskell's type signatures): they lead into the implementation's chunk rather than being
# chunks of their own.
OVERLOADS = frozenset({"function_signature", "signature"})
# Nodes that only gather a file's definitions, whose first definition's doc comment the grammar
# leaves outside them (tree-sitter-haskell's `declarations`, after the `module ... where` header).
OPEN_CONTAINERS = frozenset({"declarations"})


def start(node: Node, name: str) -> tuple[int, list[Node]]:
    """First row of the doc comments, attributes and overload signatures directly above a
    definition (a `/**` block or an overload may stand one blank line above), and the
    overload signatures it took in."""
    row = node.start_point[0]
    absorbed: list[Node] = []
    for above, before in _above(node):
        if before == above.start_point[0] and _is_comment(above):
            # An end-of-line comment (`= GT  -- disjoint`, a signature's last `-- ^`): the code on
            # its line owns it, so it neither leads this definition nor stops the walk.
            continue
        overload = _overload_name(above) == name
        doc_block = above.type.endswith("comment") and (above.text or b"").startswith(b"/**")
        gap = row - above.end_point[0]
        if not (gap <= 1 or (gap == 2 and (overload or doc_block))):
            break
        if overload:
            absorbed.append(above)
        elif not _leads(above):
            break
        row = above.start_point[0]
    return row, absorbed


def _above(node: Node) -> Iterator[tuple[Node, int | None]]:
    """The nodes above a definition, nearest first: its previous siblings, each preceded by the
    comments its grammar put at its end (see trailing_comments); each with the row where what
    stands before it in the source ends (None: nothing)."""
    sibling, hopped = node.prev_sibling, False
    while True:
        if sibling is None and not hopped:  # Node.parent walks down from the root: asked only here
            hopped, container = True, node.parent
            if container is not None and container.type in OPEN_CONTAINERS:
                sibling = container.prev_sibling
        if sibling is None:
            return
        content, comments = trailing_comments(sibling)
        for i in reversed(range(len(comments))):
            before = comments[i - 1] if i else content
            yield comments[i], _last_row(before) if before is not None else None
        previous = sibling.prev_sibling
        yield sibling, _last_row(previous) if previous is not None else None
        sibling = previous


def _last_row(node: Node) -> int:
    """The last row holding the node's text: one that ends at a row's first column (a Rust line
    comment takes its newline, a C preprocessor line its break) ends on the row before."""
    (start_row, _), (end_row, end_column) = node.start_point, node.end_point
    return end_row - 1 if end_column == 0 and end_row > start_row else end_row


def trailing_comments(node: Node) -> tuple[Node | None, list[Node]]:
    """The comments at the very end of a node, in source order, and the node they follow, which
    ends its content. tree-sitter-scala ends `def f(x: Int): Int =` and its indented body at the
    next definition, so the doc comment of the definition after it would be the body's last line:
    they are that next definition's (issue 27's chunking review)."""
    content: Node | None = None
    levels: list[list[Node]] = []
    while node.child_count:
        children = node.children
        k = len(children)
        while k and children[k - 1].type.endswith("comment"):
            k -= 1
        if k == 0:
            break
        if k < len(children):
            levels.append(children[k:])
            content = children[k - 1]
        node = children[k - 1]
    return content, [comment for level in reversed(levels) for comment in level]


def _is_comment(node: Node) -> bool:
    return "comment" in node.type or node.type == "haddock"


def _leads(node: Node) -> bool:
    if node.type == "unary_operator":  # an Elixir module attribute: `@doc "..."`
        call = node.named_children[0] if node.named_children else None
        target = call.child_by_field_name("target") if call is not None and call.type == "call" else None
        return target is not None and (target.text or b"").decode("utf-8", errors="replace") in ELIXIR_LEADING
    return any(t in node.type for t in LEADING)


def _overload_name(node: Node) -> str | None:
    inner = node.named_children[0] if node.type == "export_statement" and node.named_children else node
    if inner.type not in OVERLOADS:
        return None
    name = inner.child_by_field_name("name")
    return (name.text or b"").decode("utf-8", errors="replace") if name is not None else None
